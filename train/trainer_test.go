package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/optim"
	"github.com/residual-go/residual/tensor"
)

// tinyArch is a one-stage ResNet with 4 channels and dropout: fast, and it
// has every kind of state a checkpoint must carry.
func tinyArch() *model.Config {
	return &model.Config{Block: "basic", Layers: []int{1}, Widths: []int{4}, Dropout: 0.2}
}

// synthCSV writes a FER2013-format CSV of synthetic faces and returns its
// path.
func synthCSV(t testing.TB, train, val int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "faces.csv")
	if err := data.GenerateFER2013CSV(path, train, val, 0, 5); err != nil {
		t.Fatal(err)
	}
	return path
}

// with returns Defaults changed by edit.
func with(edit func(*Config)) Config {
	c := Defaults()
	edit(&c)
	return c
}

func tinyConfig(path, out string) Config {
	return with(func(c *Config) {
		c.Data, c.Out, c.Arch, c.ImageSize, c.Epochs, c.BatchSize, c.LR = path, out, tinyArch(), 24, 4, 16, Float(0.05)
		c.Warmup, c.Seed, c.LabelSmoothing, c.ClassWeights = 1, 3, 0.1, "auto"
	})
}

func mustTrainer(t testing.TB, cfg Config, opts Options) *Trainer {
	t.Helper()
	tv, err := LoadData(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Progress == "" {
		opts.Progress = "none"
	}
	tr, err := New(cfg, tv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// sameState fails unless both networks hold bit-identical tensors.
func sameState(t *testing.T, what string, a, b *model.Net) {
	t.Helper()
	sa, sb := a.State(), b.State()
	for i := range sa {
		for j, v := range sa[i].Value.Data {
			if math.Float32bits(v) != math.Float32bits(sb[i].Value.Data[j]) {
				t.Fatalf("%s: %s[%d] = %g, want %g", what, sa[i].Name, j, sb[i].Value.Data[j], v)
			}
		}
	}
}

// TestResumeIsExact trains 4 epochs in one go, then the same run stopped
// after 2 epochs and resumed, then stopped in the middle of epoch 2 and
// resumed: all three end with bit-identical weights, BN statistics and
// metrics.
func TestResumeIsExact(t *testing.T) {
	path := synthCSV(t, 96, 32)
	dir := t.TempDir()

	full := mustTrainer(t, tinyConfig(path, filepath.Join(dir, "full")), Options{})
	if _, err := full.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Stop at an epoch boundary.
	half := mustTrainer(t, tinyConfig(path, filepath.Join(dir, "half")), Options{StopAfter: 2})
	if _, err := half.Run(context.Background()); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopped run: %v, want ErrInterrupted", err)
	}
	half.Close()
	resumed, err := Resume(filepath.Join(dir, "half"), Options{Progress: "none"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	if resumed.st.Epoch != 2 {
		t.Fatalf("resumed at epoch %d, want 2", resumed.st.Epoch)
	}
	if _, err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameState(t, "resumed at an epoch boundary", full.Net, resumed.Net)

	// Interrupt in the middle of the second epoch.
	ctx, cancel := context.WithCancel(context.Background())
	mid := mustTrainer(t, tinyConfig(path, filepath.Join(dir, "mid")), Options{afterStep: func(epoch, batch int) {
		if epoch == 1 && batch == 2 {
			cancel()
		}
	}})
	if _, err := mid.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v, want ErrInterrupted", err)
	}
	mid.Close()
	resumed2, err := Resume(filepath.Join(dir, "mid", CheckpointFile), Options{Progress: "none"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed2.Close()
	if resumed2.st.Epoch != 1 || resumed2.st.Batch != 2 {
		t.Fatalf("resumed at epoch %d batch %d, want 1 and 2", resumed2.st.Epoch, resumed2.st.Batch)
	}
	if _, err := resumed2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameState(t, "resumed mid-epoch", full.Net, resumed2.Net)

	for _, r := range []*Trainer{resumed, resumed2} {
		h, want := r.History(), full.History()
		if len(h) != len(want) {
			t.Fatalf("%d epochs of history, want %d", len(h), len(want))
		}
		for i := range h {
			if h[i].TrainLoss != want[i].TrainLoss || h[i].ValAcc != want[i].ValAcc || h[i].LR != want[i].LR {
				t.Errorf("epoch %d: %+v, want %+v", i+1, h[i], want[i])
			}
		}
	}
}

// TestRunDirectory checks the files a run leaves and that the best model
// reloads with the run's classes and preprocessing.
func TestRunDirectory(t *testing.T) {
	path := synthCSV(t, 64, 32)
	out := filepath.Join(t.TempDir(), "run")
	cfg := tinyConfig(path, out)
	cfg.Epochs = 2
	cfg.TTA = true
	var log bytes.Buffer
	tr := mustTrainer(t, cfg, Options{Out: &log, Progress: "lines"})
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ConfigFile, CheckpointFile, BestModelFile, MetricsCSVFile, MetricsJSONL,
		"training_curves.png", "report.txt", "metrics.json", "confusion.png", "per_class_accuracy.png"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	again := mustTrainer(t, cfg, Options{})
	if _, err := again.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already holds a training run") {
		t.Errorf("a new run over an old one: %v", err)
	}
	csv, _ := os.ReadFile(filepath.Join(out, MetricsCSVFile))
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 3 || lines[0] != MetricsCSVHeader {
		t.Errorf("metrics.csv:\n%s", csv)
	}
	jsonl, _ := os.ReadFile(filepath.Join(out, MetricsJSONL))
	if n := strings.Count(string(jsonl), "\n"); n != 2 {
		t.Errorf("metrics.jsonl has %d lines, want 2", n)
	}
	net, meta, err := model.Load(res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(meta.Classes, ",") != strings.Join(data.FER2013ClassNames(), ",") || meta.Preprocess.Width != 24 || len(meta.Preprocess.Mean) != 1 {
		t.Errorf("meta %+v", meta)
	}
	if meta.Training == nil || meta.Training.BestEpoch != res.BestEpoch || meta.Task != data.FormatFERCSV {
		t.Errorf("training info %+v, best epoch %d", meta.Training, res.BestEpoch)
	}
	if net.Config.Classes != 7 {
		t.Errorf("%d classes", net.Config.Classes)
	}
	for _, want := range []string{"epoch 1/2 step 4/4", "epoch 2/2  train loss", "precision    recall", "macro avg"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestSchedulesWired checks that every step uses the rate the configured
// schedule gives at that point of training.
func TestSchedulesWired(t *testing.T) {
	path := synthCSV(t, 48, 16)
	for _, kind := range []string{"cosine", "step", "constant", "plateau"} {
		t.Run(kind, func(t *testing.T) {
			cfg := tinyConfig(path, filepath.Join(t.TempDir(), "run"))
			cfg.Epochs, cfg.Schedule, cfg.Milestones = 3, kind, []int{1, 2}
			var lrs []float64
			var tr *Trainer
			tr = mustTrainer(t, cfg, Options{afterStep: func(epoch, batch int) { lrs = append(lrs, tr.st.LR) }})
			if _, err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			want, err := optim.NewSchedule(optim.ScheduleConfig{Kind: kind, BaseLR: 0.05, WarmupEpochs: 1, Epochs: 3, Milestones: []int{1, 2}, Patience: 3})
			if err != nil {
				t.Fatal(err)
			}
			steps := tr.loader.BatchesPerEpoch()
			if len(lrs) != 3*steps {
				t.Fatalf("%d steps, want %d", len(lrs), 3*steps)
			}
			for i, lr := range lrs {
				if w := want.LR(float64(i/steps) + float64(i%steps)/float64(steps)); lr != w {
					t.Fatalf("step %d: lr %g, want %g", i, lr, w)
				}
			}
			if lrs[0] >= 0.05 || (kind == "step" && lrs[len(lrs)-1] > 0.05*0.01+1e-12) {
				t.Errorf("rates %v", lrs)
			}
		})
	}
}

// TestTrainingLearnsSynthFaces trains a small network for a few epochs on
// synthetic faces downscaled to 16x16: it must beat chance (1/7) by a
// wide margin (it reaches about 0.83).
func TestTrainingLearnsSynthFaces(t *testing.T) {
	path := synthCSV(t, 1400, 280)
	cfg := with(func(c *Config) {
		c.Data, c.Out, c.ImageSize = path, filepath.Join(t.TempDir(), "run"), 16
		c.Arch = &model.Config{Block: "basic", Layers: []int{1, 1}, Widths: []int{8, 16}}
		c.Epochs, c.BatchSize, c.Optimizer, c.LR, c.Warmup, c.Augment, c.Seed = 10, 32, "adamw", Float(0.01), 0.5, "flip", 1
	})
	tr := mustTrainer(t, cfg, Options{})
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("validation accuracy %.3f, macro-F1 %.3f (best epoch %d)", res.Val.Accuracy, res.Val.MacroF1, res.BestEpoch)
	if res.Val.Accuracy < 0.6 {
		t.Errorf("validation accuracy %.3f, want >= 0.6 (chance is 0.143)", res.Val.Accuracy)
	}
}

func TestNonFiniteLossStops(t *testing.T) {
	path := synthCSV(t, 48, 16)
	cfg := tinyConfig(path, filepath.Join(t.TempDir(), "run"))
	cfg.LR, cfg.Warmup, cfg.Schedule, cfg.Optimizer = Float(1e30), 0, "constant", "sgd"
	tr := mustTrainer(t, cfg, Options{})
	_, err := tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "epoch 1, step") {
		t.Fatalf("error %v, want one naming the epoch and step", err)
	}
}

func TestEarlyStopping(t *testing.T) {
	path := synthCSV(t, 48, 16)
	cfg := tinyConfig(path, filepath.Join(t.TempDir(), "run"))
	cfg.Epochs, cfg.Patience, cfg.LR, cfg.Schedule = 20, 1, Float(1e-9), "constant"
	tr := mustTrainer(t, cfg, Options{})
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs >= 20 || res.Stopped == "" {
		t.Errorf("trained %d epochs (%q), want an early stop", res.Epochs, res.Stopped)
	}
}

// TestStepDoesNotAllocate checks the hot loop: forward, loss, backward and
// the optimizer step allocate nothing once warmed up.
func TestStepDoesNotAllocate(t *testing.T) {
	path := synthCSV(t, 48, 16)
	cfg := tinyConfig(path, filepath.Join(t.TempDir(), "run"))
	for _, opt := range []string{"nesterov", "adamw"} {
		cfg.Optimizer = opt
		tr := mustTrainer(t, cfg, Options{})
		x := tensor.New(16, 24, 24, 1)
		for i := range x.Data {
			x.Data[i] = float32(i%97) / 97
		}
		labels := make([]int, 16)
		for i := range labels {
			labels[i] = i % 7
		}
		for i := 0; i < 3; i++ {
			if _, _, err := tr.step(x, labels, 0.01); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(5, func() { tr.step(x, labels, 0.01) }); n != 0 {
			t.Errorf("%s: %v allocations per step", opt, n)
		}
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"data":"x.csv","epochs":5,"optimizer":"adamw"}`), 0o644)
	c, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	c.Resolve()
	if c.Epochs != 5 || *c.LR != 0.001 || *c.WeightDecay != 0.05 || c.BatchSize != 64 || c.Model != "reference" {
		t.Errorf("resolved %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	example, err := LoadConfig("testdata/fer_resnet20.json")
	if err != nil {
		t.Fatal(err)
	}
	example.Resolve()
	if err := example.Validate(); err != nil || example.Model != "resnet20" || example.Warmup != 2 || !example.TTA {
		t.Errorf("example config %+v: %v", example, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"data":"x.csv","epoch":5}`), 0o644)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), `"epoch"`) {
		t.Errorf("unknown field: %v", err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Optimizer = "rmsprop" }, `optimizer "rmsprop"`},
		{func(c *Config) { c.Schedule = "linear" }, `schedule "linear"`},
		{func(c *Config) { c.Model = "resnet9000" }, `unknown model "resnet9000"`},
		{func(c *Config) { c.LabelSmoothing = 1 }, "label_smoothing (--label-smoothing) 1"},
		{func(c *Config) { c.Epochs = -2 }, "epochs (--epochs) -2"},
		{func(c *Config) { c.Epochs = 0 }, "epochs (--epochs) 0, want at least 1"},
		{func(c *Config) { c.BatchSize = 0 }, "batch_size (--batch) 0, want at least 1"},
		{func(c *Config) { c.WidthMult = 0 }, "width_mult (--width-mult) 0"},
		{func(c *Config) { c.WidthMult = math.NaN() }, "width_mult (--width-mult) NaN, want a finite number"},
		{func(c *Config) { c.LR = Float(math.Inf(1)) }, "lr (--lr) +Inf, want a finite number"},
		{func(c *Config) { c.LR = Float(0) }, "lr (--lr) 0, want > 0"},
		{func(c *Config) { c.WeightDecay = Float(-1) }, "weight_decay (--wd) -1"},
		{func(c *Config) { c.Warmup = -1 }, "warmup (--warmup) -1"},
		{func(c *Config) { c.Workers = 0 }, "workers (--workers) 0"},
		{func(c *Config) { c.CheckpointEvery = -5 }, "checkpoint_every (--checkpoint-every) -5"},
		{func(c *Config) { c.BackboneLRMult = 0 }, "need a pretrained network"},
		{func(c *Config) { c.TrainFraction = 0 }, "train_fraction (--train-fraction) 0"},
		{func(c *Config) { c.Schedule, c.Milestones = "step", []int{} }, "needs milestones"},
		{func(c *Config) { c.ValSplit = 1.5 }, "val_split (--val-split) 1.5"},
		{func(c *Config) { c.Data = "" }, "no data path"},
	} {
		c := with(func(c *Config) { c.Data = "x.csv" })
		tc.edit(&c)
		c.Resolve()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestBalanceAndWeights(t *testing.T) {
	d := data.NewDataset(1, 1, 1, []string{"a", "b", "c"})
	for i, l := range []int{0, 0, 0, 0, 0, 0, 0, 1, 1, 2} {
		d.Append([]uint8{uint8(i)}, l, "", "")
	}
	w := ClassWeights(d)
	if math.Abs(float64(w[0])-10.0/21) > 1e-6 || math.Abs(float64(w[2])-10.0/3) > 1e-6 {
		t.Errorf("weights %v", w)
	}
	b := Balance(d, 1)
	if c := b.ClassCounts(); c[0] != 4 || c[1] != 4 || c[2] != 4 {
		t.Errorf("balanced counts %v, want 4 each", c)
	}
}

// TestFlipTTA checks that flip TTA averages the probabilities of an image
// and its mirror.
func TestFlipTTA(t *testing.T) {
	net, err := model.New(model.Config{Layers: []int{1}, Widths: []int{4}, Input: [3]int{6, 6, 1}, Classes: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 6, 6, 1)
	for i := range x.Data {
		x.Data[i] = float32(i*i%11) / 11
	}
	mirror := tensor.New(2, 6, 6, 1)
	for i := 0; i < 2; i++ {
		data.FlipHorizontal(mirror.Data[i*36:(i+1)*36], x.Data[i*36:(i+1)*36], 6, 6, 1)
	}
	plain, _ := NewPredictor(net, "none")
	a, b, got := make([]float32, 6), make([]float32, 6), make([]float32, 6)
	plain.Probs(a, x)
	plain.Probs(b, mirror)
	flip, _ := NewPredictor(net, "flip")
	if err := flip.Probs(got, x); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if w := (a[i] + b[i]) / 2; math.Abs(float64(got[i]-w)) > 1e-6 {
			t.Fatalf("prob %d = %g, want %g", i, got[i], w)
		}
	}
	ten, _ := NewPredictor(net, "ten-crop")
	if err := ten.Probs(got, x); err != nil || ten.Views() != 10 {
		t.Fatal(err)
	}
	if s := got[0] + got[1] + got[2]; math.Abs(float64(s)-1) > 1e-5 {
		t.Errorf("ten-crop probabilities sum to %g", s)
	}
	if _, err := NewPredictor(net, "five"); err == nil {
		t.Error("unknown TTA mode accepted")
	}
}
