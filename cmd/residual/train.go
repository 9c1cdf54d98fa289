package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/train"
)

// trainFlags maps each flag to the Config field it sets, so that a flag
// given on the command line (pflag's Changed state) overrides the --config
// file and an absent one leaves it alone.
//
// Adding a training option: add the field to train.Config with its default
// documented on it and set in train.Defaults(); register the flag below
// in newTrainCmd with the field as its variable and fc.Field (the default
// from train.Defaults()) as its value, using floatVar/countVar (flags.go)
// for numbers so NaN, Inf and out-of-range counts fail when parsed; add
// one line here. Never give 0 a "use the default" meaning.
var trainFlags = map[string]func(dst, src *train.Config){
	"data":             func(d, s *train.Config) { d.Data = s.Data },
	"format":           func(d, s *train.Config) { d.Format = s.Format },
	"val-split":        func(d, s *train.Config) { d.ValSplit = s.ValSplit },
	"val-groups":       func(d, s *train.Config) { d.ValGroups = s.ValGroups },
	"random-split":     func(d, s *train.Config) { d.RandomSplit = s.RandomSplit },
	"skip-bad":         func(d, s *train.Config) { d.SkipBad = s.SkipBad },
	"max-per-class":    func(d, s *train.Config) { d.MaxPerClass = s.MaxPerClass },
	"train-fraction":   func(d, s *train.Config) { d.TrainFraction = s.TrainFraction },
	"image-size":       func(d, s *train.Config) { d.ImageSize = s.ImageSize },
	"channels":         func(d, s *train.Config) { d.Channels = s.Channels },
	"task":             func(d, s *train.Config) { d.Task = s.Task },
	"model":            func(d, s *train.Config) { d.Model = s.Model },
	"width-mult":       func(d, s *train.Config) { d.WidthMult = s.WidthMult },
	"dropout":          func(d, s *train.Config) { d.Dropout = s.Dropout },
	"from":             func(d, s *train.Config) { d.From = s.From },
	"freeze":           func(d, s *train.Config) { d.Freeze = s.Freeze },
	"unfreeze-after":   func(d, s *train.Config) { d.UnfreezeAfter = s.UnfreezeAfter },
	"backbone-lr-mult": func(d, s *train.Config) { d.BackboneLRMult = s.BackboneLRMult },
	"epochs":           func(d, s *train.Config) { d.Epochs = s.Epochs },
	"batch":            func(d, s *train.Config) { d.BatchSize = s.BatchSize },
	"lr":               func(d, s *train.Config) { d.LR = s.LR },
	"optimizer":        func(d, s *train.Config) { d.Optimizer = s.Optimizer },
	"momentum":         func(d, s *train.Config) { d.Momentum = s.Momentum },
	"wd":               func(d, s *train.Config) { d.WeightDecay = s.WeightDecay },
	"schedule":         func(d, s *train.Config) { d.Schedule = s.Schedule },
	"warmup":           func(d, s *train.Config) { d.Warmup = s.Warmup },
	"min-lr":           func(d, s *train.Config) { d.MinLR = s.MinLR },
	"milestones":       func(d, s *train.Config) { d.Milestones = s.Milestones },
	"gamma":            func(d, s *train.Config) { d.Gamma = s.Gamma },
	"label-smoothing":  func(d, s *train.Config) { d.LabelSmoothing = s.LabelSmoothing },
	"class-weights":    func(d, s *train.Config) { d.ClassWeights = s.ClassWeights },
	"sampler":          func(d, s *train.Config) { d.Sampler = s.Sampler },
	"augment":          func(d, s *train.Config) { d.Augment = s.Augment },
	"tta":              func(d, s *train.Config) { d.TTA = s.TTA },
	"metric":           func(d, s *train.Config) { d.Metric = s.Metric },
	"patience":         func(d, s *train.Config) { d.Patience = s.Patience },
	"seed":             func(d, s *train.Config) { d.Seed = s.Seed },
	"out":              func(d, s *train.Config) { d.Out = s.Out },
	"workers":          func(d, s *train.Config) { d.Workers = s.Workers },
	"steps-per-epoch":  func(d, s *train.Config) { d.StepsPerEpoch = s.StepsPerEpoch },
	"log-every":        func(d, s *train.Config) { d.LogEvery = s.LogEvery },
	"checkpoint-every": func(d, s *train.Config) { d.CheckpointEvery = s.CheckpointEvery },
	"group-by":         func(d, s *train.Config) { d.GroupBy = s.GroupBy },
	"rotate":           func(d, s *train.Config) { d.Rotate = s.Rotate },
	"translate":        func(d, s *train.Config) { d.Translate = s.Translate },
	"resized-crop":     func(d, s *train.Config) { d.ResizedCrop = s.ResizedCrop },
	"crop-scale":       func(d, s *train.Config) { d.CropScale = s.CropScale },
	"erase":            func(d, s *train.Config) { d.Erase = s.Erase },
	"mixup":            func(d, s *train.Config) { d.Mixup = s.Mixup },
	"cutmix":           func(d, s *train.Config) { d.CutMix = s.CutMix },
	"mix-prob":         func(d, s *train.Config) { d.MixProb = s.MixProb },
	"ema":              func(d, s *train.Config) { d.EMA = s.EMA },
	"teacher":          func(d, s *train.Config) { d.Teachers = s.Teachers },
	"distill-alpha":    func(d, s *train.Config) { d.DistillAlpha = s.DistillAlpha },
	"distill-t":        func(d, s *train.Config) { d.DistillTemperature = s.DistillTemperature },
}

// resumeFlags may change on --resume without changing the run's results
// (epochs extends or shortens it).
var resumeFlags = []string{"epochs", "patience", "workers", "log-every", "steps-per-epoch", "checkpoint-every"}

func newTrainCmd() *cobra.Command {
	var (
		fc         = train.Defaults()
		configFile string
		resume     string
		progress   string
		printCfg   bool
		overwrite  bool
	)
	cmd := &cobra.Command{
		Use:   "train --data PATH [flags]",
		Short: "Train a ResNet classifier (FER2013, gestures, any image folders)",
		Long: `train trains a ResNet on a dataset and writes a run directory:

  config.json              the resolved configuration
  checkpoint.safetensors   the last checkpoint (every epoch, every --checkpoint-every
                           steps; Ctrl-C saves one too)
  best.residual            the best model so far (by --metric), for eval/predict/serve
  last.residual            the model after the last epoch (with --ema both hold the average)
  metrics.csv, metrics.jsonl, training_curves.png
  report.txt, metrics.json, confusion.png, per_class_accuracy.png
                           the best model on the validation set, at the end

The data layout is detected (--format auto): a FER2013 CSV (Training rows
train, PublicTest rows validate), the FER2013 folders (train/, publictest/),
LeapGestRecog, the sign-digits set or <class>/ image folders (split by
--val-split, by subject/session when the data has groups). Input size,
channels and classes come from the data. Settings can come from a JSON file
(--config, field names as in config.json); flags given override it.
--resume continues a run exactly where it stopped (only --epochs,
--patience, --workers, --log-every, --steps-per-epoch and
--checkpoint-every may change). Every value given, 0 included, is kept
(0 never means "the default"); NaN, Inf and negative counts are errors.
One trainer at a time may use a run directory (a lock file holds its PID).

Transfer learning: --from MODEL starts from a pretrained network, a model
file (.residual) or an ONNX file (.onnx), instead of --model. Its classifier
is replaced by a new one for the data's classes; every other weight is kept.
Images are resized to its input size and channels and normalised with its
preprocessing. --freeze backbone (or a layer name: it and every layer before
it) trains only the rest, with frozen BatchNorm statistics; --unfreeze-after N
trains everything from epoch N+1; --backbone-lr-mult 0.1 gives the pretrained
layers a tenth of the learning rate. Fine-tuning an ONNX network writes
best.onnx instead of best.residual.`,
		Example: `  residual train --data data/fer2013 --model resnet20 --epochs 30 --out runs/fer-r20
  residual train --data fer2013.csv --optimizer adamw --lr 0.001 --class-weights auto --label-smoothing 0.1
  residual train --resume runs/fer-r20
  residual train --data data/sign-language-digits --from models/emotion-fer2013.residual \
      --freeze backbone --unfreeze-after 2 --backbone-lr-mult 0.1 --lr 0.01 --epochs 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := train.Options{Out: cmd.OutOrStdout(), Progress: progress, Overwrite: overwrite}
			if !map[string]bool{"auto": true, "bar": true, "lines": true, "none": true}[progress] {
				return fmt.Errorf("train: --progress %q, want auto, bar, lines or none", progress)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			var (
				t   *train.Trainer
				err error
			)
			if resume != "" {
				var bad []string
				cmd.Flags().Visit(func(f *pflag.Flag) {
					if _, ok := trainFlags[f.Name]; ok && !contains(resumeFlags, f.Name) {
						bad = append(bad, "--"+f.Name)
					}
				})
				if len(bad) > 0 || configFile != "" {
					return fmt.Errorf("train: --resume continues the saved configuration; %s cannot change (only --%s)", strings.Join(append(bad, nonEmpty(configFile, "--config")...), ", "), strings.Join(resumeFlags, ", --"))
				}
				t, err = train.Resume(resume, opts, func(c *train.Config) { applyFlags(cmd.Flags(), c, &fc) })
			} else {
				cfg := train.Defaults()
				if configFile != "" {
					if cfg, err = train.LoadConfig(configFile); err != nil {
						return err
					}
				}
				applyFlags(cmd.Flags(), &cfg, &fc)
				if cfg.Data != "" {
					// Record an absolute path, so that --resume and the model
					// file's training info work from any directory.
					if abs, err := filepath.Abs(cfg.Data); err == nil {
						cfg.Data = abs
					}
				}
				if cfg.From != "" {
					if abs, err := filepath.Abs(cfg.From); err == nil {
						cfg.From = abs
					}
				}
				for i, p := range cfg.Teachers {
					if abs, err := filepath.Abs(p); err == nil {
						cfg.Teachers[i] = abs
					}
				}
				if st, err := os.Stat(cfg.GroupBy); err == nil && st.Mode().IsRegular() && strings.EqualFold(filepath.Ext(cfg.GroupBy), ".csv") {
					if abs, err := filepath.Abs(cfg.GroupBy); err == nil {
						cfg.GroupBy = abs // a manifest: found again from any directory
					}
				}
				cfg.Resolve()
				if err := cfg.Validate(); err != nil {
					return err
				}
				if printCfg {
					_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s", mustJSON(cfg))
					return err
				}
				tv, err := train.LoadData(&cfg)
				if err != nil {
					return err
				}
				t, err = train.New(cfg, tv, opts)
				if err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			defer t.Close()
			res, err := t.Run(ctx)
			if errors.Is(err, train.ErrInterrupted) {
				fmt.Fprintf(cmd.ErrOrStderr(), "interrupted: checkpoint saved; continue with\n  residual train --resume %s\n", t.Dir())
				return err
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "done: %d epochs, best epoch %d, validation accuracy %.2f%%, macro-F1 %.4f\n",
				res.Epochs, res.BestEpoch, 100*res.Val.Accuracy, res.Val.MacroF1)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON configuration file (train.Config fields); flags given override it")
	f.StringVar(&resume, "resume", "", "continue the run in this directory (or from this checkpoint file)")
	f.StringVar(&progress, "progress", "auto", "progress output: auto (bar on a terminal, lines otherwise), bar, lines or none")
	f.BoolVar(&printCfg, "print-config", false, "print the resolved configuration as JSON and exit")
	f.BoolVar(&overwrite, "overwrite", false, "start a new run even if --out already holds one (its files are replaced)")

	// Defaults: fc = train.Defaults(); each flag is registered with its
	// field's default (see the note on trainFlags).
	f.StringVar(&fc.Data, "data", "", "dataset path (FER2013 CSV or folders, LeapGestRecog, sign digits, <class>/ folders)")
	f.StringVar(&fc.Format, "format", fc.Format, "data layout: "+strings.Join(train.Formats, "|"))
	floatVar(f, &fc.ValSplit, "val-split", fc.ValSplit, "validation share when the layout has no validation split (not FER2013)")
	f.StringSliceVar(&fc.ValGroups, "val-groups", nil, "hold out exactly these subjects/sessions (grouped data)")
	f.BoolVar(&fc.RandomSplit, "random-split", false, "split grouped data at random (leaks near-duplicate frames; warns)")
	f.BoolVar(&fc.SkipBad, "skip-bad", false, "skip unreadable images and bad CSV rows (counted) instead of failing")
	countVar(f, &fc.MaxPerClass, "max-per-class", fc.MaxPerClass, 0, "load at most this many files per class folder (0: all)")
	floatVar(f, &fc.TrainFraction, "train-fraction", fc.TrainFraction, "train on about this share (0,1] of the training split (whole sessions/subjects when grouped; validation unchanged)")
	countVar(f, &fc.ImageSize, "image-size", fc.ImageSize, 0, "model input side in pixels; images are resized (0: the data's size)")
	countVar(f, &fc.Channels, "channels", fc.Channels, 0, "model input channels, 1 or 3 (0: the data's)")
	f.StringVar(&fc.Task, "task", "", "task name stored in the model (default: the data format)")

	f.StringVar(&fc.Model, "model", fc.Model, "architecture preset: "+strings.Join(model.Presets(), ", "))
	floatVar(f, &fc.WidthMult, "width-mult", fc.WidthMult, "channel width multiplier (0,64]")
	floatVar(f, &fc.Dropout, "dropout", fc.Dropout, "dropout before the classifier, [0,1)")
	f.StringVar(&fc.From, "from", "", "fine-tune this pretrained model (.residual or .onnx) with a new classifier, instead of --model")
	f.StringVar(&fc.Freeze, "freeze", fc.Freeze, "with --from: none, backbone, or a layer name (it and every layer before it are frozen)")
	countVar(f, &fc.UnfreezeAfter, "unfreeze-after", fc.UnfreezeAfter, 0, "with --freeze: unfreeze everything after this many epochs (0: never)")
	floatVar(f, &fc.BackboneLRMult, "backbone-lr-mult", fc.BackboneLRMult, "with --from: learning-rate factor of every layer but the classifier (0: keep them)")

	countVar(f, &fc.Epochs, "epochs", fc.Epochs, 1, "epochs to train")
	countVar(f, &fc.BatchSize, "batch", fc.BatchSize, 1, "batch size")
	optFloatVar(f, &fc.LR, "lr", "peak learning rate (default 0.1 for sgd/nesterov, 0.001 for adamw)")
	f.StringVar(&fc.Optimizer, "optimizer", fc.Optimizer, "optimizer: "+strings.Join(train.Optimizers, "|"))
	floatVar(f, &fc.Momentum, "momentum", fc.Momentum, "SGD momentum, [0,1) (0: plain SGD)")
	optFloatVar(f, &fc.WeightDecay, "wd", "weight decay (default 5e-4 for sgd/nesterov, 0.05 for adamw; 0: none)")
	f.StringVar(&fc.Schedule, "schedule", fc.Schedule, "learning-rate schedule: "+strings.Join(train.Schedules, "|"))
	floatVar(f, &fc.Warmup, "warmup", fc.Warmup, "linear warm-up in epochs (0: none)")
	floatVar(f, &fc.MinLR, "min-lr", fc.MinLR, "cosine schedule floor")
	f.IntSliceVar(&fc.Milestones, "milestones", nil, "step schedule epochs (default 50% and 75% of --epochs)")
	floatVar(f, &fc.Gamma, "gamma", fc.Gamma, "step/plateau factor")
	floatVar(f, &fc.LabelSmoothing, "label-smoothing", fc.LabelSmoothing, "label smoothing in [0,1)")
	f.StringVar(&fc.ClassWeights, "class-weights", fc.ClassWeights, "class weights in the loss: none|auto (inverse frequency)")
	f.StringVar(&fc.Sampler, "sampler", fc.Sampler, "training sampler: shuffle|balanced (equal samples per class)")
	f.StringVar(&fc.Augment, "augment", fc.Augment, "augmentation: "+strings.Join(train.AugmentSets, "|"))
	f.BoolVar(&fc.TTA, "tta", false, "validate on each image and its mirror (flip test-time augmentation)")
	f.StringVar(&fc.Metric, "metric", fc.Metric, "best-model and early-stopping metric: "+strings.Join(train.Metrics, "|"))
	countVar(f, &fc.Patience, "patience", fc.Patience, 0, "stop after this many epochs without improvement (0: never)")
	f.Uint64Var(&fc.Seed, "seed", fc.Seed, "random seed (weights, split, shuffling, augmentation, dropout); 0 is a seed too")
	f.StringVar(&fc.Out, "out", "", "run directory (default runs/<task>-<model>)")
	countVar(f, &fc.Workers, "workers", fc.Workers, 1, "data-preparation goroutines")
	countVar(f, &fc.StepsPerEpoch, "steps-per-epoch", fc.StepsPerEpoch, 0, "cap the steps of each epoch (quick checks; 0: all)")
	countVar(f, &fc.LogEvery, "log-every", fc.LogEvery, 1, "steps between progress lines when not on a terminal")
	countVar(f, &fc.CheckpointEvery, "checkpoint-every", fc.CheckpointEvery, 0, "also checkpoint every this many steps inside an epoch (0: at epoch ends only)")

	// Groups and training levers (train.Config documents each; all off by default).
	f.StringVar(&fc.GroupBy, "group-by", "", `<class>/ folders: group files by a file-name regexp (first capture group or whole match, e.g. '^(subject\d+)_') or a path,group CSV manifest; validation holds out whole groups`)
	optFloatVar(f, &fc.Rotate, "rotate", "largest random rotation in degrees, [0,180] (default: the --augment set's; default set 10)")
	optFloatVar(f, &fc.Translate, "translate", "largest random shift as a fraction of the side, [0,1] (default: the set's; default set 0)")
	optFloatVar(f, &fc.ResizedCrop, "resized-crop", "probability of a random resized crop, [0,1] (default: the set's; default set 0)")
	optFloatVar(f, &fc.CropScale, "crop-scale", "smallest area fraction a resized crop keeps, (0,1] (default 0.7)")
	optFloatVar(f, &fc.Erase, "erase", "probability of random erasing, [0,1] (default: the set's; default set 0.25)")
	floatVar(f, &fc.Mixup, "mixup", fc.Mixup, "mixup Beta alpha (0: off; 0.2 is usual)")
	floatVar(f, &fc.CutMix, "cutmix", fc.CutMix, "CutMix Beta alpha (0: off; 1 is usual)")
	floatVar(f, &fc.MixProb, "mix-prob", fc.MixProb, "probability that a batch is mixed when --mixup or --cutmix is on, [0,1]")
	floatVar(f, &fc.EMA, "ema", fc.EMA, "decay of an exponential moving average of the weights, used for validation and the saved models (0: off; 0.999 is usual)")
	f.StringSliceVar(&fc.Teachers, "teacher", nil, "distil from this model file (repeat or comma-separate for an ensemble; same classes and input size)")
	floatVar(f, &fc.DistillAlpha, "distill-alpha", fc.DistillAlpha, "weight of the distillation loss against the label loss, [0,1]")
	floatVar(f, &fc.DistillTemperature, "distill-t", fc.DistillTemperature, "distillation temperature (> 0)")
	return cmd
}

// applyFlags copies the flags set on the command line from src to dst.
func applyFlags(fs *pflag.FlagSet, dst, src *train.Config) {
	fs.Visit(func(f *pflag.Flag) {
		if set, ok := trainFlags[f.Name]; ok {
			set(dst, src)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func nonEmpty(v, name string) []string {
	if v == "" {
		return nil
	}
	return []string{name}
}

// mustJSON formats v as indented JSON (v is always encodable here).
func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return []byte(err.Error())
	}
	return append(b, '\n')
}
