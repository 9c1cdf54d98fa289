package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/residual-go/residual/eval"
	"github.com/residual-go/residual/internal/atomicfile"
)

// writeFileAtomic writes b to path atomically (internal/atomicfile).
func writeFileAtomic(path string, b []byte) error {
	if err := atomicfile.WriteBytes(path, b, 0o644); err != nil {
		return fmt.Errorf("train: write %s: %w", path, err)
	}
	return nil
}

// MetricsCSVHeader is the header row of metrics.csv.
const MetricsCSVHeader = "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_macro_f1,images_per_sec,seconds"

// writeMetrics rewrites metrics.csv, metrics.jsonl and training_curves.png
// from the whole history (which the checkpoint holds, so a resumed run's
// files stay consistent with its state).
func (t *Trainer) writeMetrics() error {
	var csv, jsonl bytes.Buffer
	csv.WriteString(MetricsCSVHeader + "\n")
	for _, s := range t.st.History {
		fmt.Fprintf(&csv, "%d,%g,%g,%g,%g,%g,%g,%.1f,%.2f\n", s.Epoch, s.LR, s.TrainLoss, s.TrainAcc, s.ValLoss, s.ValAcc, s.ValMacroF1, s.ImagesPerSec, s.Seconds)
		b, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("train: metrics of epoch %d: %w", s.Epoch, err)
		}
		jsonl.Write(append(b, '\n'))
	}
	dir := t.Config.Out
	if err := writeFileAtomic(filepath.Join(dir, MetricsCSVFile), csv.Bytes()); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, MetricsJSONL), jsonl.Bytes()); err != nil {
		return err
	}
	var png bytes.Buffer
	w := bufio.NewWriter(&png)
	if err := eval.WriteTrainingCurvesPNG(w, t.curves(), eval.CurvePlotOptions{Title: t.Config.Task}); err != nil {
		return fmt.Errorf("train: training curves: %w", err)
	}
	w.Flush()
	return writeFileAtomic(filepath.Join(dir, eval.TrainingCurvesPNGFile), png.Bytes())
}

// epochProgress shows the progress of one epoch: a progress bar on a
// terminal, a plain line every LogEvery steps otherwise.
type epochProgress struct {
	t          *Trainer
	epoch      int
	steps      int
	bar        *progressbar.ProgressBar
	lastDraw   time.Time
	lastBatch  int
	start      time.Time
	startBatch int
}

func newProgress(t *Trainer, epoch, steps int) *epochProgress {
	p := &epochProgress{t: t, epoch: epoch, steps: steps, start: time.Now(), startBatch: t.st.Batch, lastBatch: t.st.Batch}
	mode := t.opts.Progress
	if mode == "auto" {
		mode = "lines"
		if f, ok := t.opts.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	if mode == "bar" {
		p.bar = progressbar.NewOptions(steps,
			progressbar.OptionSetWriter(t.opts.Out),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch+1, t.Config.Epochs)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		p.bar.Set(t.st.Batch)
	}
	if mode != "bar" && mode != "lines" {
		p.steps = 0 // "none": report nothing
	}
	return p
}

// update reports that batch (1-based) is done with the epoch's running
// loss, accuracy and throughput.
func (p *epochProgress) update(batch int, loss, acc, ips float64) {
	if p.steps == 0 {
		return
	}
	if p.bar != nil {
		if time.Since(p.lastDraw) > 250*time.Millisecond || batch == p.steps {
			p.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f acc %.1f%% %.0f img/s", p.epoch+1, p.t.Config.Epochs, loss, 100*acc, ips))
			p.lastDraw = time.Now()
		}
		p.bar.Set(batch)
		return
	}
	if batch%p.t.Config.LogEvery != 0 && batch != p.steps {
		return
	}
	done := batch - p.startBatch
	eta := time.Duration(0)
	if done > 0 {
		eta = time.Duration(float64(time.Since(p.start)) / float64(done) * float64(p.steps-batch))
	}
	fmt.Fprintf(p.t.opts.Out, "epoch %d/%d step %d/%d loss %.4f acc %.2f%% lr %.3g %.0f img/s eta %s\n",
		p.epoch+1, p.t.Config.Epochs, batch, p.steps, loss, 100*acc, p.t.st.LR, ips, eta.Round(time.Second))
}

func (p *epochProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
