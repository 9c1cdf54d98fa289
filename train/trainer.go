// Package train trains the ResNets of package model: a Trainer runs
// epochs over a data.Loader with a softmax cross-entropy loss (label
// smoothing, class weights), an optimizer (SGD, Nesterov, AdamW) and a
// learning-rate schedule (cosine, step, plateau, constant, with linear
// warm-up), validates after every epoch, keeps the best model as a model
// file, stops early, and checkpoints every epoch so that Resume continues
// bit for bit where training stopped.
//
// A run directory holds:
//
//	config.json          the resolved Config
//	checkpoint.safetensors  the last checkpoint (see checkpoint.go)
//	best.residual        the best model so far (model.Save format)
//	last.residual        the model after the last epoch
//	metrics.csv          one row per epoch (see EpochStats)
//	metrics.jsonl        the same rows as JSON lines
//	training_curves.png  loss and accuracy per epoch
//	report.txt, metrics.json, confusion.png, per_class_accuracy.png
//	                     the best model on the validation set, at the end
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/eval"
	"github.com/residual-go/residual/internal/atomicfile"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/optim"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// File names in a run directory.
const (
	ConfigFile     = "config.json"
	CheckpointFile = "checkpoint.safetensors"
	BestModelFile  = "best" + model.FileExt
	LastModelFile  = "last" + model.FileExt
	LastONNXFile   = "last.onnx" // fine-tuning an ONNX network
	MetricsCSVFile = "metrics.csv"
	MetricsJSONL   = "metrics.jsonl"
)

// ErrInterrupted is returned by Run when its context is cancelled; a
// checkpoint of the exact position was written first.
var ErrInterrupted = errors.New("train: interrupted")

// Options control how a Trainer reports, not what it computes.
type Options struct {
	// Out receives progress and log lines (default os.Stdout).
	Out io.Writer
	// Progress is "auto" (default: a progress bar when Out is a terminal,
	// plain lines otherwise), "bar", "lines" or "none".
	Progress string
	// StopAfter ends Run after this many epochs of this call, with a
	// checkpoint, as if interrupted (0: train to the end).
	StopAfter int
	// Overwrite lets a new run start in a directory that already holds a
	// checkpoint (default false: Run refuses, to protect earlier runs).
	Overwrite bool

	// afterStep, when set, is called after every step (tests).
	afterStep func(epoch, batch int)
}

// EpochStats is one row of metrics.csv / metrics.jsonl.
type EpochStats struct {
	Epoch        int     `json:"epoch"` // 1-based
	LR           float64 `json:"lr"`    // learning rate at the last step
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_acc"`
	ValLoss      float64 `json:"val_loss"`
	ValAcc       float64 `json:"val_acc"`
	ValMacroF1   float64 `json:"val_macro_f1"`
	ImagesPerSec float64 `json:"images_per_sec"` // training throughput
	Seconds      float64 `json:"seconds"`        // training + validation
}

// progress is the mutable training position, saved in checkpoints.
type progress struct {
	Epoch     int     `json:"epoch"` // completed epochs
	Batch     int     `json:"batch"` // completed batches of the current epoch
	Step      int64   `json:"step"`  // global step
	BestEpoch int     `json:"best_epoch"`
	Best      float64 `json:"best"` // best score (higher is better) when BestEpoch > 0
	BadEpochs int     `json:"bad_epochs"`
	// Running sums of the current epoch.
	LossSum float64 `json:"loss_sum"`
	Correct int     `json:"correct"`
	Seen    int     `json:"seen"`
	Seconds float64 `json:"seconds"`
	LR      float64 `json:"lr"`

	History []EpochStats `json:"history"`
}

// Trainer trains one network. Build it with New or Resume, then Run.
type Trainer struct {
	Config Config
	// Net is the network trained, unless Graph is: an ONNX network
	// fine-tuned with Config.From.
	Net        *model.Net
	Graph      *onnx.Graph
	Classes    []string
	Preprocess vision.Preprocess
	Data       *data.TrainVal

	opts      Options
	loader    *data.Loader
	valLoader *data.Loader
	loss      *nn.SoftmaxCrossEntropy
	opt       optim.Optimizer
	sched     *optim.Schedule
	dropouts  []*nn.Dropout
	pred      *Predictor
	st        progress
	net       Network            // Net (as a *NetNetwork) or Graph
	head      map[*nn.Param]bool // the new classifier of a fine-tuning run
	mixer     *data.Mixer        // mixup/CutMix, nil when off
	mixPCG    *rand.PCG          // the mixer's stream, seeded per batch
	mixRand   *rand.Rand
	ema       *ema       // weight average, nil when off
	distill   *distiller // teachers, nil without
	frozen    bool       // the backbone is frozen (Config.Freeze)
	resumed   bool       // built by Resume: Run continues the run in Out
}

// New prepares a run of cfg on the loaded data (see LoadData). Input size,
// channels and classes come from the data.
func New(cfg Config, tv *data.TrainVal, opts Options) (*Trainer, error) {
	return newTrainer(cfg, tv, opts, nil)
}

func newTrainer(cfg Config, tv *data.TrainVal, opts Options, pre *vision.Preprocess) (*Trainer, error) {
	cfg.Resolve()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tv.Train == nil || tv.Val == nil || tv.Train.Len() == 0 || tv.Val.Len() == 0 {
		return nil, fmt.Errorf("train: %s: need non-empty training and validation sets", cfg.Data)
	}
	if strings.Join(tv.Train.Classes, "\x00") != strings.Join(tv.Val.Classes, "\x00") {
		return nil, fmt.Errorf("train: training classes %v differ from validation classes %v", tv.Train.Classes, tv.Val.Classes)
	}
	if cfg.Task == "" {
		cfg.Task = tv.Format
	}
	if cfg.Out == "" {
		cfg.Out = runName(&cfg, tv.Format)
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Progress == "" {
		opts.Progress = "auto"
	}
	t := &Trainer{Config: cfg, Classes: tv.Train.Classes, Data: tv, opts: opts}
	if pre != nil {
		t.Preprocess = *pre
	} else {
		t.Preprocess = preprocessFor(tv.Train, cfg.ImageSize, cfg.Channels)
	}

	var err error
	if cfg.From != "" {
		if err := t.buildPretrained(pre != nil); err != nil {
			return nil, err
		}
	} else if err := t.buildNet(); err != nil {
		return nil, err
	}
	if t.Net != nil {
		for _, l := range t.Net.Layers() {
			if d, ok := l.(*nn.Dropout); ok {
				t.dropouts = append(t.dropouts, d)
			}
		}
	}

	trainSet := tv.Train
	if cfg.Sampler == "balanced" {
		trainSet = Balance(trainSet, cfg.Seed)
	}
	t.loader, err = data.NewLoader(trainSet, data.LoaderOptions{
		BatchSize: cfg.BatchSize, Shuffle: true, DropLast: trainSet.Len() >= cfg.BatchSize,
		Seed: cfg.Seed, Augment: cfg.augment(), Preprocess: t.Preprocess, Workers: cfg.Workers,
	})
	if err != nil {
		return nil, err
	}
	t.valLoader, err = data.NewLoader(tv.Val, data.LoaderOptions{BatchSize: cfg.BatchSize, Preprocess: t.Preprocess})
	if err != nil {
		t.loader.Close()
		return nil, err
	}

	ce := nn.CrossEntropyConfig{Classes: len(t.Classes), LabelSmoothing: float32(cfg.LabelSmoothing)}
	if cfg.ClassWeights == "auto" {
		ce.Weights = ClassWeights(tv.Train)
	}
	if t.loss, err = nn.NewSoftmaxCrossEntropy(ce); err != nil {
		t.Close()
		return nil, err
	}
	if t.opt, err = newOptimizer(&cfg, t.net.Params(), t.head); err != nil {
		t.Close()
		return nil, err
	}
	if t.mixer, err = cfg.mixer(); err != nil {
		t.Close()
		return nil, err
	}
	t.mixPCG = rand.NewPCG(0, 0)
	t.mixRand = rand.New(t.mixPCG)
	if cfg.EMA > 0 {
		t.ema = newEMA(cfg.EMA, append(t.net.Params(), t.net.Buffers()...))
	}
	if t.distill, err = newDistiller(&cfg, t.Classes, t.Preprocess); err != nil {
		t.Close()
		return nil, err
	}
	t.sched, err = optim.NewSchedule(optim.ScheduleConfig{
		Kind: cfg.Schedule, BaseLR: *cfg.LR, WarmupEpochs: cfg.Warmup, Epochs: cfg.Epochs, MinLR: cfg.MinLR,
		Milestones: cfg.Milestones, Gamma: cfg.Gamma, Patience: cfg.PlateauPatience,
	})
	if err != nil {
		t.Close()
		return nil, err
	}
	mode := "none"
	if cfg.TTA {
		mode = "flip"
	}
	if t.Net != nil {
		t.pred, _ = NewPredictor(t.Net, mode)
	} else {
		t.pred, _ = NewNetworkPredictor(t.Graph, len(t.Classes), t.inputShape(), mode)
	}
	return t, nil
}

// buildNet builds the configured architecture with fresh weights.
func (t *Trainer) buildNet() error {
	cfg := &t.Config
	var arch model.Config
	if cfg.Arch != nil {
		arch = *cfg.Arch
	} else {
		var err error
		if arch, err = model.Preset(cfg.Model); err != nil {
			return err
		}
		arch.WidthMult = cfg.WidthMult
	}
	if cfg.Dropout > 0 {
		arch.Dropout = cfg.Dropout
	}
	arch.Input = t.inputShape()
	arch.Classes = len(t.Classes)
	net, err := model.New(arch, cfg.Seed)
	if err != nil {
		return err
	}
	t.Net, t.net = net, &NetNetwork{Net: net}
	return nil
}

// buildPretrained loads Config.From with a new head. A new run takes the
// pretrained preprocessing (mean/std) at the data's input size; resumed
// runs keep the checkpoint's.
func (t *Trainer) buildPretrained(resumed bool) error {
	p, err := loadPretrained(&t.Config, len(t.Classes))
	if err != nil {
		return err
	}
	if !resumed && p.pre != nil {
		in := t.Preprocess
		t.Preprocess = *p.pre
		t.Preprocess.Width, t.Preprocess.Height, t.Preprocess.Channels = in.Width, in.Height, in.Channels
		if len(t.Preprocess.Mean) > 1 && len(t.Preprocess.Mean) != in.Channels || len(t.Preprocess.Std) > 1 && len(t.Preprocess.Std) != in.Channels {
			return fmt.Errorf("train: --from %s: preprocessing mean %v std %v for %d channels", t.Config.From, p.pre.Mean, p.pre.Std, in.Channels)
		}
	}
	t.head = p.head
	if p.net != nil {
		if p.net.Config.Input != t.inputShape() {
			return fmt.Errorf("train: --from %s takes (H,W,C)=%v, the data is %v", t.Config.From, p.net.Config.Input, t.inputShape())
		}
		t.Net, t.net = p.net, &NetNetwork{Net: p.net}
	} else {
		t.Graph, t.net = p.graph, p.graph
	}
	// Check the freeze setting now rather than at the first epoch.
	if err := t.setFrozen(t.Config.Freeze != FreezeNone); err != nil {
		return err
	}
	return t.setFrozen(false)
}

// inputShape is the network's (H,W,C) input.
func (t *Trainer) inputShape() [3]int {
	return [3]int{t.Preprocess.Height, t.Preprocess.Width, t.Preprocess.Channels}
}

// bestPath is the best model's file: a model file, or an ONNX file when
// fine-tuning an ONNX network.
func (t *Trainer) bestPath() string {
	if t.Graph != nil {
		return filepath.Join(t.Config.Out, BestONNXFile)
	}
	return filepath.Join(t.Config.Out, BestModelFile)
}

// lastPath is the last epoch's model file (see bestPath).
func (t *Trainer) lastPath() string {
	if t.Graph != nil {
		return filepath.Join(t.Config.Out, LastONNXFile)
	}
	return filepath.Join(t.Config.Out, LastModelFile)
}

// numParams counts the learnable values.
func (t *Trainer) numParams() int {
	n := 0
	for _, p := range t.net.Params() {
		n += p.Value.Len()
	}
	return n
}

// Close stops the data loaders.
func (t *Trainer) Close() {
	t.loader.Close()
	t.valLoader.Close()
}

// Dir is the run directory.
func (t *Trainer) Dir() string { return t.Config.Out }

// History returns the statistics of the epochs trained so far.
func (t *Trainer) History() []EpochStats { return t.st.History }

// Result summarises a finished run.
type Result struct {
	Dir       string
	ModelPath string
	BestEpoch int
	Epochs    int           // epochs trained
	Stopped   string        // why training ended before Config.Epochs ("" if it did not)
	Val       *eval.Metrics // the best model on the validation set
	ValLoss   float64
}

// Run trains until Config.Epochs (or early stopping), then writes the
// final report of the best model. It resumes from the Trainer's position
// (after Resume). A cancelled ctx saves a checkpoint of the exact position
// and returns ErrInterrupted.
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	cfg := &t.Config
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	unlock, err := LockRunDir(cfg.Out)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(cfg.Out, CheckpointFile)); err == nil && !t.resumed && !t.opts.Overwrite {
		return nil, fmt.Errorf("train: %s already holds a training run; resume it, choose another output directory, or overwrite it", cfg.Out)
	}
	// Under the lock no other writer is active: temporary files here were
	// left by a crash.
	stale, err := atomicfile.RemoveStale(cfg.Out)
	if err != nil {
		return nil, fmt.Errorf("train: removing stale temporary files in %s: %w", cfg.Out, err)
	}
	if len(stale) > 0 {
		t.logf("removed %d stale temporary files of a crashed run: %s\n", len(stale), strings.Join(stale, ", "))
	}
	if err := writeFileAtomic(filepath.Join(cfg.Out, ConfigFile), cfg.json()); err != nil {
		return nil, err
	}
	if t.resumed && t.st.Batch == 0 && t.st.Epoch > 0 {
		// A crash may have come between the epoch-end checkpoint and the
		// files derived from it: rewrite them (the same bytes otherwise).
		if err := t.commitDerived(t.st.BestEpoch == t.st.Epoch); err != nil {
			return nil, err
		}
	}
	t.logf("training %s (%d parameters) on %d images, validating on %d; %d classes; input %dx%dx%d; run dir %s\n",
		t.describeModel(), t.numParams(), t.loader.Len(), t.valLoader.Len(), len(t.Classes),
		t.Preprocess.Height, t.Preprocess.Width, t.Preprocess.Channels, cfg.Out)
	if g := data.GroupSummary(t.Data.Train, 12); g != "" {
		t.logf("group-wise split: training on %s; validating on %s\n", g, data.GroupSummary(t.Data.Val, 12))
	}
	if l := t.describeLevers(); l != "" {
		t.logf("levers: %s\n", l)
	}
	if t.Data.Warning != "" {
		t.logf("warning: %s\n", t.Data.Warning)
	}
	if t.Data.Report.Skipped > 0 {
		t.logf("skipped %d bad samples: %s\n", t.Data.Report.Skipped, strings.Join(t.Data.Report.Reasons, "; "))
	}

	res := &Result{Dir: cfg.Out, ModelPath: t.bestPath()}
	done := 0
	for t.st.Epoch < cfg.Epochs {
		if t.opts.StopAfter > 0 && done == t.opts.StopAfter {
			return nil, ErrInterrupted
		}
		if err := t.runEpoch(ctx); err != nil {
			return nil, err
		}
		done++
		if cfg.Patience > 0 && t.st.BadEpochs >= cfg.Patience {
			res.Stopped = fmt.Sprintf("early stop: no improvement of %s for %d epochs", cfg.Metric, cfg.Patience)
			t.logf("%s\n", res.Stopped)
			break
		}
	}
	res.Epochs, res.BestEpoch = t.st.Epoch, t.st.BestEpoch
	if err := t.finalReport(res); err != nil {
		return nil, err
	}
	return res, nil
}

func (t *Trainer) describeModel() string {
	if t.Config.From != "" {
		s := "fine-tuning " + t.Config.From
		if t.Config.Freeze != FreezeNone {
			s += ", frozen through " + t.Config.Freeze
			if t.Config.UnfreezeAfter > 0 {
				s += fmt.Sprintf(" for %d epochs", t.Config.UnfreezeAfter)
			}
		}
		if t.Config.BackboneLRMult != 1 {
			s += fmt.Sprintf(", backbone lr x%g", t.Config.BackboneLRMult)
		}
		return s
	}
	if t.Config.Arch != nil {
		return "custom ResNet"
	}
	if t.Config.WidthMult != 1 {
		return fmt.Sprintf("%s x%g", t.Config.Model, t.Config.WidthMult)
	}
	return t.Config.Model
}

// runEpoch trains the epoch t.st.Epoch from batch t.st.Batch, validates,
// keeps the best model and writes the metrics and a checkpoint.
func (t *Trainer) runEpoch(ctx context.Context) error {
	cfg := &t.Config
	epoch := t.st.Epoch
	steps := t.loader.BatchesPerEpoch()
	if cfg.StepsPerEpoch > 0 {
		steps = min(steps, cfg.StepsPerEpoch)
	}
	if on := cfg.frozenPhase(epoch); on != t.frozen {
		if !on && t.st.Batch == 0 {
			t.logf("epoch %d: unfreezing every layer\n", epoch+1)
		}
		if err := t.setFrozen(on); err != nil {
			return err
		}
	}
	bar := newProgress(t, epoch, steps)
	t.loader.Start(epoch, t.st.Batch)
	start := time.Now()
	base := t.st.Seconds
	for t.st.Batch < steps {
		if ctx.Err() != nil {
			t.st.Seconds = base + time.Since(start).Seconds()
			bar.finish()
			if err := t.saveCheckpoint(); err != nil {
				return err
			}
			return ErrInterrupted
		}
		b, ok := t.loader.Next()
		if !ok {
			break
		}
		lr := t.sched.LR(float64(epoch) + float64(t.st.Batch)/float64(steps))
		var partner []int
		lambda := 1.0
		if t.mixer != nil {
			t.mixPCG.Seed(cfg.Seed^0x6d6978757063, uint64(epoch)<<32|uint64(t.st.Batch))
			partner, lambda = t.mixer.Apply(t.mixRand, b.X, b.Labels)
		}
		loss, correct, err := t.stepMix(b.X, b.Labels, partner, lambda, lr)
		n := len(b.Labels)
		t.loader.Release(b)
		if err != nil {
			bar.finish()
			return fmt.Errorf("train: epoch %d, step %d of %d (global step %d): %w", epoch+1, t.st.Batch+1, steps, t.st.Step+1, err)
		}
		t.st.LossSum += float64(loss) * float64(n)
		t.st.Correct += correct
		t.st.Seen += n
		t.st.Batch++
		t.st.Step++
		t.st.LR = lr
		if cfg.CheckpointEvery > 0 && t.st.Step%int64(cfg.CheckpointEvery) == 0 && t.st.Batch < steps {
			t.st.Seconds = base + time.Since(start).Seconds()
			if err := t.saveCheckpoint(); err != nil {
				bar.finish()
				return err
			}
		}
		bar.update(t.st.Batch, t.st.LossSum/float64(t.st.Seen), float64(t.st.Correct)/float64(t.st.Seen), float64(t.st.Seen)/(base+time.Since(start).Seconds()))
		if t.opts.afterStep != nil {
			t.opts.afterStep(epoch, t.st.Batch)
		}
	}
	bar.finish()
	trainSecs := base + time.Since(start).Seconds()

	var ev *Evaluation
	err := t.withAverage(func() (err error) {
		ev, err = Evaluate(t.pred, t.valLoader, t.Classes)
		return err
	})
	if err != nil {
		return fmt.Errorf("train: epoch %d validation: %w", epoch+1, err)
	}
	s := EpochStats{
		Epoch: epoch + 1, LR: t.st.LR,
		TrainLoss: t.st.LossSum / float64(max(t.st.Seen, 1)), TrainAcc: float64(t.st.Correct) / float64(max(t.st.Seen, 1)),
		ValLoss: ev.Loss, ValAcc: ev.Metrics.Accuracy, ValMacroF1: ev.Metrics.MacroF1,
		ImagesPerSec: float64(t.st.Seen) / trainSecs, Seconds: base + time.Since(start).Seconds(),
	}
	score := t.score(s)
	t.sched.Observe(score)
	best, improved := t.st.isBest(score, s.ValLoss)
	if best {
		t.st.Best, t.st.BestEpoch = score, epoch+1
	}
	if improved {
		t.st.BadEpochs = 0
	} else {
		t.st.BadEpochs++
	}
	t.st.History = append(t.st.History, s)
	t.st.Epoch, t.st.Batch = epoch+1, 0
	t.st.LossSum, t.st.Correct, t.st.Seen, t.st.Seconds = 0, 0, 0, 0
	// The checkpoint first: best.residual and the metrics are derived from
	// it (the weights of the epoch just ended, the history), so a crash
	// before they are written leaves them behind the checkpoint, never
	// ahead of it, and Resume rewrites them (see commitDerived).
	if err := t.saveCheckpoint(); err != nil {
		return err
	}
	if err := t.commitDerived(best); err != nil {
		return err
	}
	mark := ""
	if best {
		mark = "  *best*"
	}
	t.logf("epoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%% macro-F1 %.4f  lr %.3g  %.0f img/s  %s%s\n",
		s.Epoch, cfg.Epochs, s.TrainLoss, 100*s.TrainAcc, s.ValLoss, 100*s.ValAcc, s.ValMacroF1, s.LR, s.ImagesPerSec,
		time.Duration(s.Seconds*float64(time.Second)).Round(time.Second), mark)
	return nil
}

// commitDerived writes what follows from the checkpoint of an epoch end:
// last.residual (the weights of that epoch), best.residual when best, and
// the metrics files from the history. With EMA both models hold the
// averaged weights.
func (t *Trainer) commitDerived(best bool) error {
	s := t.st.History[len(t.st.History)-1]
	err := t.withAverage(func() error {
		if err := t.saveLast(s); err != nil {
			return err
		}
		if best {
			return t.saveBest(s)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return t.writeMetrics()
}

// withAverage runs f with the EMA weights in the network (the live
// weights when EMA is off), then puts the live weights back.
func (t *Trainer) withAverage(f func() error) error {
	if t.ema == nil {
		return f()
	}
	if err := t.ema.swap(t.net); err != nil {
		return fmt.Errorf("train: EMA: %w", err)
	}
	err := f()
	if err2 := t.ema.swap(t.net); err2 != nil && err == nil {
		err = fmt.Errorf("train: EMA: %w", err2)
	}
	return err
}

// step runs one training step on an unmixed batch (see stepMix).
func (t *Trainer) step(x *tensor.Tensor, labels []int, lr float64) (float32, int, error) {
	return t.stepMix(x, labels, nil, 1, lr)
}

// stepMix runs one training step: forward (and the teachers' forward when
// distilling), loss (labels mixed with partner by lambda), backward,
// update, EMA. After the first steps it allocates nothing.
func (t *Trainer) stepMix(x *tensor.Tensor, labels, partner []int, lambda, lr float64) (float32, int, error) {
	var targets *tensor.Tensor
	if t.distill != nil {
		var err error
		if targets, err = t.distill.softTargets(x); err != nil {
			return 0, 0, err
		}
	}
	logits, err := t.net.Forward(x, true)
	if err != nil {
		return 0, 0, err
	}
	loss, err := t.loss.ForwardMix(logits, labels, partner, lambda)
	if err != nil {
		return 0, 0, err
	}
	grad := t.loss.Backward()
	if t.distill != nil {
		kd, err := t.distill.loss.Forward(logits, targets)
		if err != nil {
			return 0, 0, err
		}
		a := t.distill.alpha
		loss = (1-a)*loss + a*kd
		dk := t.distill.loss.Backward()
		for i, g := range grad.Data[:grad.Len()] {
			grad.Data[i] = (1-a)*g + a*dk.Data[i]
		}
	}
	if err := t.net.Backward(grad); err != nil {
		return 0, 0, err
	}
	t.opt.Step(lr)
	if t.ema != nil {
		t.ema.update(t.st.Step + 1)
	}
	return loss, t.loss.Correct(), nil
}

// isBest decides whether an epoch with this score (higher is better) and
// validation loss becomes the best model: a strictly better score does
// (improved), and so does a tie with a validation loss no higher than the
// best epoch's, so ties go to the lower loss, then to the later epoch.
// Patience counts the epochs that did not improve.
func (st *progress) isBest(score, valLoss float64) (best, improved bool) {
	if st.BestEpoch == 0 || score > st.Best {
		return true, true
	}
	return score == st.Best && valLoss <= st.History[st.BestEpoch-1].ValLoss, false
}

// score is the epoch's value of Config.Metric, higher is better.
func (t *Trainer) score(s EpochStats) float64 {
	switch t.Config.Metric {
	case "val_f1":
		return s.ValMacroF1
	case "val_loss":
		return -s.ValLoss
	}
	return s.ValAcc
}

// saveBest writes the current weights as the run's best model.
func (t *Trainer) saveBest(s EpochStats) error {
	m := t.meta(s)
	if t.Graph != nil {
		return saveGraph(t.bestPath(), t.Graph, t.Classes, t.Preprocess, m.Training)
	}
	return model.Save(t.bestPath(), t.Net, m)
}

// saveLast writes the current weights as the run's last model (epoch
// s.Epoch; the best epoch so far in its training info).
func (t *Trainer) saveLast(s EpochStats) error {
	m := t.meta(s)
	m.Training.BestEpoch = t.st.BestEpoch
	if t.Graph != nil {
		return saveGraph(t.lastPath(), t.Graph, t.Classes, t.Preprocess, m.Training)
	}
	return model.Save(t.lastPath(), t.Net, m)
}

// describeLevers lists the levers in use ("" when none).
func (t *Trainer) describeLevers() string {
	c := &t.Config
	var l []string
	if c.Mixup > 0 {
		l = append(l, fmt.Sprintf("mixup alpha %g", c.Mixup))
	}
	if c.CutMix > 0 {
		l = append(l, fmt.Sprintf("CutMix alpha %g", c.CutMix))
	}
	if t.mixer != nil && c.MixProb != 1 {
		l = append(l, fmt.Sprintf("mixing probability %g", c.MixProb))
	}
	if t.ema != nil {
		l = append(l, fmt.Sprintf("EMA decay %g (validation and saved models use the average)", c.EMA))
	}
	if t.distill != nil {
		l = append(l, fmt.Sprintf("distillation from %d teacher(s), alpha %g, temperature %g", len(t.distill.teachers), c.DistillAlpha, c.DistillTemperature))
	}
	return strings.Join(l, "; ")
}

// meta describes the current weights for the model file.
func (t *Trainer) meta(s EpochStats) model.Meta {
	return model.Meta{
		Task: t.Config.Task, Classes: t.Classes, Preprocess: t.Preprocess,
		Training: &model.TrainingInfo{
			Dataset: t.Config.Data, Format: t.Data.Format,
			TrainSamples: t.Data.Train.Len(), ValSamples: t.Data.Val.Len(),
			Epochs: s.Epoch, BestEpoch: s.Epoch,
			ValAccuracy: s.ValAcc, ValMacroF1: s.ValMacroF1, ValLoss: s.ValLoss,
			Config: json.RawMessage(t.Config.json()),
		},
	}
}

// finalReport evaluates the best model on the validation set and writes
// the report files into the run directory.
func (t *Trainer) finalReport(res *Result) error {
	var p *Predictor
	if t.Graph != nil {
		g, err := onnx.ImportFile(res.ModelPath, onnx.Options{})
		if err != nil {
			return err
		}
		if p, err = NewNetworkPredictor(g, len(t.Classes), t.inputShape(), t.pred.Mode); err != nil {
			return err
		}
	} else {
		net, _, err := model.Load(res.ModelPath)
		if err != nil {
			return err
		}
		if p, err = NewPredictor(net, t.pred.Mode); err != nil {
			return err
		}
	}
	ev, err := Evaluate(p, t.valLoader, t.Classes)
	if err != nil {
		return err
	}
	res.Val, res.ValLoss = ev.Metrics, ev.Loss
	rep := eval.Report{
		Metrics: ev.Metrics, Digits: 4, Curves: t.curves(),
		Title: fmt.Sprintf("%s validation, best epoch %d of %d", t.Config.Task, res.BestEpoch, res.Epochs),
	}
	if err := rep.WriteDir(t.Config.Out); err != nil {
		return err
	}
	t.logf("\nbest model (epoch %d) on the validation set:\n\n%s\nmodel: %s\nreport: %s\n",
		res.BestEpoch, ev.Metrics.ClassificationReport(4), res.ModelPath, filepath.Join(t.Config.Out, eval.ReportTextFile))
	return nil
}

func (t *Trainer) curves() []eval.EpochRecord {
	recs := make([]eval.EpochRecord, len(t.st.History))
	for i, s := range t.st.History {
		recs[i] = eval.EpochRecord{Epoch: s.Epoch, TrainLoss: s.TrainLoss, TrainAcc: s.TrainAcc, ValLoss: s.ValLoss, ValAcc: s.ValAcc}
	}
	return recs
}

func (t *Trainer) logf(format string, args ...any) {
	if t.opts.Progress != "none" {
		fmt.Fprintf(t.opts.Out, format, args...)
	}
}
