package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
)

// Config is everything a training run depends on. Start from Defaults,
// which sets every field to the default documented on it, and change what
// differs: any value, zero included, is then kept as given (0 is never
// read as "the default"). The only fields without a fixed default are the
// pointers and slices whose default depends on other fields (LR and
// WeightDecay on Optimizer, Milestones on Epochs): nil takes that default
// in Resolve. A JSON file (LoadConfig) is decoded over Defaults, so a
// field present in the file, 0 included, is kept and an absent one keeps
// its default.
//
// The configuration is saved, resolved, as config.json in the run
// directory and inside every checkpoint, so a run can be reproduced and
// resumed. Fields whose default is not the zero value must not be
// "omitempty" (an explicit 0 would vanish from the saved file and come
// back as the default).
type Config struct {
	// Data is the dataset path: a FER2013 CSV, the FER2013 folder layout,
	// LeapGestRecog, the sign-digits set or a <class>/ image folder.
	Data string `json:"data"`
	// Format forces the layout: "auto" (default: detected), "fer-csv",
	// "fer-folders", "folders", "leap" or "sign-digits".
	Format string `json:"format"`
	// ValSplit is the share held out for validation when the layout has
	// no validation split of its own (everything but FER2013; default 0.2).
	ValSplit float64 `json:"val_split"`
	// ValGroups holds out exactly these subjects/sessions (grouped sets).
	ValGroups []string `json:"val_groups,omitempty"`
	// RandomSplit splits grouped sets at random instead of by group
	// (leaks near-duplicate frames into validation; a warning is shown).
	RandomSplit bool `json:"random_split,omitempty"`
	// SkipBad skips unreadable images and malformed CSV rows (counted and
	// reported) instead of failing on the first.
	SkipBad bool `json:"skip_bad,omitempty"`
	// TrainFraction, in (0,1], trains on about this share of the training
	// split (whole groups when the data has them, else stratified; seeded),
	// with the same validation set (default 1: all of it).
	TrainFraction float64 `json:"train_fraction"`
	// MaxPerClass loads only the first n files per class folder (0: all).
	MaxPerClass int `json:"max_per_class,omitempty"`
	// GroupBy gives the files of a <class>/ folder dataset groups
	// (subjects, sessions) so the validation split holds out whole groups:
	// a regular expression matched against each file name (its first
	// capture group, or the whole match, names the group, e.g.
	// "^(subject\d+)_"), or the path of a CSV manifest with the columns
	// path (relative to Data) and group. Every file must get a group.
	// Default "": no groups (a random stratified split). The other
	// layouts have groups of their own (LeapGestRecog subjects, the sign
	// digits' session_id) and refuse it.
	GroupBy string `json:"group_by,omitempty"`
	// ImageSize, when > 0, is the model's input side: images are resized
	// to ImageSize x ImageSize (image-file layouts at load time, others by
	// the loader). Channels, when > 0, converts images to 1 (gray) or 3
	// (RGB) channels. 0 keeps the data's size and channels (48x48 gray for
	// FER2013 and LeapGestRecog, 100x100 RGB for sign digits).
	ImageSize int `json:"image_size,omitempty"`
	Channels  int `json:"channels,omitempty"`
	// Task names the model's task in the model file (default: the
	// detected data format).
	Task string `json:"task,omitempty"`

	// Model is a preset name (model.Presets; default "reference").
	Model string `json:"model"`
	// Arch, when set, is the architecture itself and Model is ignored.
	// Its Input and Classes are always taken from the data.
	Arch *model.Config `json:"arch,omitempty"`
	// WidthMult scales every channel count of the preset (default 1).
	WidthMult float64 `json:"width_mult"`
	// Dropout before the classifier (default 0: none).
	Dropout float64 `json:"dropout"`

	// From fine-tunes a pretrained network instead of building Model: a
	// model file (.residual) or an ONNX file (.onnx). Its classifier is
	// replaced for the data's classes (fresh weights), every other weight
	// is kept, and its input size, channels and preprocessing (mean/std)
	// are used (images are resized to its input). See transfer.go.
	From string `json:"from,omitempty"`
	// Freeze is "none" (default), "backbone" (everything before the
	// classifier) or a layer name: that layer and every one before it are
	// frozen (no updates; BN uses and keeps its running statistics). For
	// model files the names are the top-level layers ("conv1", "bn1",
	// "layer2.1"; a stage name "layer2" freezes through its last block);
	// for ONNX, node or value names. Needs From.
	Freeze string `json:"freeze"`
	// UnfreezeAfter unfreezes everything after this many epochs
	// (default 0: stay frozen).
	UnfreezeAfter int `json:"unfreeze_after,omitempty"`
	// BackboneLRMult scales the learning rate of every parameter but the
	// classifier's (default 1; e.g. 0.1 to change pretrained weights
	// slowly, 0 to keep them). A value other than 1 needs From.
	BackboneLRMult float64 `json:"backbone_lr_mult"`

	// Epochs to train (default 30).
	Epochs int `json:"epochs"`
	// BatchSize per step (default 64).
	BatchSize int `json:"batch_size"`
	// LR is the peak learning rate (nil: 0.1 for SGD, 0.001 for AdamW;
	// Resolve fills it in).
	LR *float64 `json:"lr,omitempty"`
	// Optimizer is "sgd", "nesterov" (default; SGD with Nesterov momentum)
	// or "adamw".
	Optimizer string `json:"optimizer"`
	// Momentum of SGD (default 0.9; 0: plain SGD).
	Momentum float64 `json:"momentum"`
	// WeightDecay is the L2 penalty of SGD or AdamW's decoupled decay
	// (nil: 5e-4 for SGD, 0.05 for AdamW; Resolve fills it in; 0: none).
	// Biases and BN scales are not decayed.
	WeightDecay *float64 `json:"weight_decay,omitempty"`
	// Schedule is "cosine" (default), "step", "plateau" or "constant".
	Schedule string `json:"schedule"`
	// Warmup is the linear warm-up in epochs (default 1; 0: none).
	Warmup float64 `json:"warmup"`
	// MinLR is the floor of the cosine schedule (default 0).
	MinLR float64 `json:"min_lr"`
	// Milestones are the step schedule's epochs (nil: 50% and 75% of
	// Epochs, filled in by Resolve); Gamma its factor and plateau's
	// (default 0.1).
	Milestones []int   `json:"milestones,omitempty"`
	Gamma      float64 `json:"gamma"`
	// PlateauPatience is the plateau schedule's patience in epochs
	// (default 3; 0: reduce after any epoch without improvement).
	PlateauPatience int `json:"plateau_patience"`

	// LabelSmoothing eps in [0,1) (default 0).
	LabelSmoothing float64 `json:"label_smoothing"`
	// ClassWeights is "none" (default) or "auto": weights inversely
	// proportional to class frequency, n/(K*n_k), as sklearn's "balanced".
	ClassWeights string `json:"class_weights"`
	// Sampler is "shuffle" (default) or "balanced": the training set is
	// resampled once (seeded) so every class has the same number of
	// samples per epoch, with the epoch size unchanged.
	Sampler string `json:"sampler"`
	// Augment is "default" (data.DefaultAugment: flip, pad-crop 4,
	// rotation 10°, brightness/contrast 20%, erasing 0.25), "light" (flip
	// and pad-crop only), "flip" or "none".
	Augment string `json:"augment"`
	// TTA averages the validation predictions of each image and its
	// mirror (default false).
	TTA bool `json:"tta,omitempty"`
	// Rotate, Translate, ResizedCrop, CropScale and Erase override the
	// Augment set's rotation (largest angle, degrees, [0,180]),
	// translation (largest shift, fraction of the side, [0,1]), random
	// resized crop (probability, [0,1]; CropScale is the smallest area
	// fraction kept, (0,1], default 0.7) and random erasing (probability,
	// [0,1]). Unset (nil), each keeps the set's value (DefaultAugment:
	// rotation 10, no translation, no resized crop, erasing 0.25); with
	// --augment none they add to no augmentation.
	Rotate      *float64 `json:"rotate,omitempty"`
	Translate   *float64 `json:"translate,omitempty"`
	ResizedCrop *float64 `json:"resized_crop,omitempty"`
	CropScale   *float64 `json:"crop_scale,omitempty"`
	Erase       *float64 `json:"erase,omitempty"`
	// Mixup and CutMix are the Beta(alpha, alpha) parameters of batch
	// mixing (data.Mix; default 0: off; 0.2 and 1 are usual); MixProb is
	// the probability that a batch is mixed (default 1). The loss mixes
	// the two labels with the same weight; training accuracy counts the
	// original labels. Every draw depends only on (Seed, epoch, batch), so
	// resumed runs mix the same way.
	Mixup   float64 `json:"mixup,omitempty"`
	CutMix  float64 `json:"cutmix,omitempty"`
	MixProb float64 `json:"mix_prob"`
	// EMA, in [0,1), keeps an exponential moving average of the weights
	// and BN statistics, updated after every step with decay
	// min(EMA, (1+step)/(10+step)); validation, best.residual and
	// last.residual then use the averaged weights (default 0: off; 0.999
	// is usual). The average is saved in the checkpoint.
	EMA float64 `json:"ema,omitempty"`
	// Teachers are model files (.residual) whose averaged soft predictions
	// the network learns from (knowledge distillation): the loss is
	// (1-DistillAlpha)*CE + DistillAlpha*T²*KL(teachers || student) at
	// temperature T = DistillTemperature. Teachers must have the data's
	// classes (same order) and input size; their own normalisation is
	// applied. They see the same augmented (and mixed) images. Default
	// none; DistillAlpha default 0.5, DistillTemperature default 4.
	Teachers           []string `json:"teachers,omitempty"`
	DistillAlpha       float64  `json:"distill_alpha"`
	DistillTemperature float64  `json:"distill_temperature"`

	// Metric chooses the best model and drives early stopping and the
	// plateau schedule: "val_acc" (default), "val_f1" or "val_loss".
	Metric string `json:"metric"`
	// Patience stops training after this many epochs without improvement
	// of Metric (default 0: never).
	Patience int `json:"patience"`

	// Seed makes the run deterministic: initial weights, split, shuffling,
	// augmentation and dropout (default 1; 0 is a seed like any other).
	Seed uint64 `json:"seed"`
	// Out is the run directory (default "runs/<task>-<model>").
	Out string `json:"out"`
	// Workers is the number of data-preparation goroutines (default 1).
	Workers int `json:"workers"`
	// StepsPerEpoch caps the steps of an epoch (0: the whole training
	// set). For quick checks; a capped epoch still validates and saves.
	StepsPerEpoch int `json:"steps_per_epoch,omitempty"`
	// LogEvery is the number of steps between plain progress lines when
	// the output is not a terminal (default 50).
	LogEvery int `json:"log_every"`
	// CheckpointEvery also writes the checkpoint every this many steps
	// inside an epoch, so that a crash loses at most that many steps
	// (default 0: at the end of each epoch only). Resume continues exactly
	// from a mid-epoch checkpoint.
	CheckpointEvery int `json:"checkpoint_every,omitempty"`
}

// Valid option values.
var (
	Formats     = []string{"auto", "fer-csv", "fer-folders", "folders", "leap", "sign-digits"}
	Optimizers  = []string{"sgd", "nesterov", "adamw"}
	Schedules   = []string{"cosine", "step", "plateau", "constant"}
	AugmentSets = []string{"default", "light", "flip", "none"}
	Metrics     = []string{"val_acc", "val_f1", "val_loss"}
)

// Defaults returns the configuration with every default set: the one
// place the defaults documented on the fields are given. LR, WeightDecay
// and Milestones stay nil (their defaults depend on other fields; see
// Resolve).
//
// Adding an option: document its default on the field, set it here (a
// zero default needs no line), give the field no "omitempty" unless its
// default is the zero value, check its range in Validate, and declare
// its flag in cmd/residual/train.go with the field as the flag's default.
func Defaults() Config {
	return Config{
		Format:          "auto",
		ValSplit:        0.2,
		TrainFraction:   1,
		Model:           "reference",
		WidthMult:       1,
		Freeze:          FreezeNone,
		BackboneLRMult:  1,
		Epochs:          30,
		BatchSize:       64,
		Optimizer:       "nesterov",
		Momentum:        0.9,
		Schedule:        "cosine",
		Warmup:          1,
		Gamma:           0.1,
		PlateauPatience: 3,
		ClassWeights:    "none",
		Sampler:         "shuffle",
		Augment:         "default",
		Metric:          "val_acc",
		Seed:            1,
		Workers:         1,
		LogEvery:        50,

		MixProb:            1,
		DistillAlpha:       0.5,
		DistillTemperature: 4,
	}
}

// LoadConfig reads a JSON configuration file over Defaults: fields in the
// file, 0 included, are kept, absent ones keep their defaults. Unknown
// fields are errors (a misspelt option must not be silently ignored).
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("train: config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("train: config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a JSON configuration over Defaults (see LoadConfig).
// Trailing data after the object is an error.
func ParseConfig(b []byte) (Config, error) {
	c := Defaults()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, err
	}
	if dec.More() {
		return Config{}, fmt.Errorf("data after the configuration object")
	}
	return c, nil
}

// Resolve fills in the defaults that depend on other fields: LR and
// WeightDecay by Optimizer, Milestones by Epochs. Every other field keeps
// its value (start from Defaults).
func (c *Config) Resolve() {
	adam := c.Optimizer == "adamw"
	if c.LR == nil {
		lr := 0.1
		if adam {
			lr = 0.001
		}
		c.LR = &lr
	}
	if c.WeightDecay == nil {
		wd := 5e-4
		if adam {
			wd = 0.05
		}
		c.WeightDecay = &wd
	}
	if c.Schedule == "step" && c.Milestones == nil {
		c.Milestones = []int{max(1, c.Epochs/2), max(1, c.Epochs*3/4)}
	}
}

// Float returns a pointer to v, for Config.LR and Config.WeightDecay.
func Float(v float64) *float64 { return &v }

// Validate checks a resolved configuration; errors name the field, its
// flag and the offending value. Every number must be finite.
func (c *Config) Validate() error {
	oneOf := func(field, v string, allowed []string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("train: %s %q, want one of %s", field, v, strings.Join(allowed, ", "))
		}
		return nil
	}
	for _, err := range []error{
		oneOf("format", c.Format, Formats),
		oneOf("optimizer", c.Optimizer, Optimizers),
		oneOf("schedule", c.Schedule, Schedules),
		oneOf("augment", c.Augment, AugmentSets),
		oneOf("metric", c.Metric, Metrics),
		oneOf("class_weights (--class-weights)", c.ClassWeights, []string{"none", "auto"}),
		oneOf("sampler", c.Sampler, []string{"shuffle", "balanced"}),
	} {
		if err != nil {
			return err
		}
	}
	if c.LR == nil || c.WeightDecay == nil {
		return fmt.Errorf("train: configuration not resolved (lr or weight_decay unset)")
	}
	lr, wd := *c.LR, *c.WeightDecay
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"val_split (--val-split)", c.ValSplit}, {"train_fraction (--train-fraction)", c.TrainFraction},
		{"width_mult (--width-mult)", c.WidthMult}, {"dropout (--dropout)", c.Dropout},
		{"backbone_lr_mult (--backbone-lr-mult)", c.BackboneLRMult}, {"lr (--lr)", lr},
		{"momentum (--momentum)", c.Momentum}, {"weight_decay (--wd)", wd}, {"warmup (--warmup)", c.Warmup},
		{"min_lr (--min-lr)", c.MinLR}, {"gamma (--gamma)", c.Gamma}, {"label_smoothing (--label-smoothing)", c.LabelSmoothing},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("train: %s %g, want a finite number", f.name, f.v)
		}
	}
	for _, m := range c.Milestones {
		if m < 1 {
			return fmt.Errorf("train: milestones (--milestones) %v, want epochs >= 1", c.Milestones)
		}
	}
	switch {
	case c.Data == "":
		return fmt.Errorf("train: no data path (--data)")
	case c.Arch == nil && !slices.Contains(model.Presets(), strings.ToLower(c.Model)):
		return fmt.Errorf("train: unknown model %q, want one of %s", c.Model, strings.Join(model.Presets(), ", "))
	case c.Epochs < 1:
		return fmt.Errorf("train: epochs (--epochs) %d, want at least 1", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("train: batch_size (--batch) %d, want at least 1", c.BatchSize)
	case !(lr > 0):
		return fmt.Errorf("train: lr (--lr) %g, want > 0", lr)
	case wd < 0:
		return fmt.Errorf("train: weight_decay (--wd) %g, want >= 0", wd)
	case c.Momentum < 0 || c.Momentum >= 1:
		return fmt.Errorf("train: momentum (--momentum) %g, want [0,1)", c.Momentum)
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return fmt.Errorf("train: label_smoothing (--label-smoothing) %g, want [0,1)", c.LabelSmoothing)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("train: dropout (--dropout) %g, want [0,1)", c.Dropout)
	case c.ValSplit <= 0 || c.ValSplit >= 1:
		return fmt.Errorf("train: val_split (--val-split) %g, want (0,1)", c.ValSplit)
	case c.WidthMult <= 0 || c.WidthMult > 64:
		return fmt.Errorf("train: width_mult (--width-mult) %g, want (0,64]", c.WidthMult)
	case c.Warmup < 0:
		return fmt.Errorf("train: warmup (--warmup) %g, want >= 0 epochs", c.Warmup)
	case c.MinLR < 0:
		return fmt.Errorf("train: min_lr (--min-lr) %g, want >= 0", c.MinLR)
	case c.Gamma <= 0:
		return fmt.Errorf("train: gamma (--gamma) %g, want > 0", c.Gamma)
	case c.PlateauPatience < 0:
		return fmt.Errorf("train: plateau_patience %d, want >= 0", c.PlateauPatience)
	case c.Schedule == "step" && len(c.Milestones) == 0:
		return fmt.Errorf("train: the step schedule needs milestones (--milestones), got none")
	case c.Patience < 0:
		return fmt.Errorf("train: patience (--patience) %d, want >= 0", c.Patience)
	case c.StepsPerEpoch < 0:
		return fmt.Errorf("train: steps_per_epoch (--steps-per-epoch) %d, want >= 0", c.StepsPerEpoch)
	case c.CheckpointEvery < 0:
		return fmt.Errorf("train: checkpoint_every (--checkpoint-every) %d, want >= 0 steps", c.CheckpointEvery)
	case c.MaxPerClass < 0:
		return fmt.Errorf("train: max_per_class (--max-per-class) %d, want >= 0", c.MaxPerClass)
	case c.Workers < 1:
		return fmt.Errorf("train: workers (--workers) %d, want at least 1", c.Workers)
	case c.LogEvery < 1:
		return fmt.Errorf("train: log_every (--log-every) %d, want at least 1", c.LogEvery)
	case c.ImageSize < 0 || c.ImageSize > 4096:
		return fmt.Errorf("train: image_size (--image-size) %d, want 0 (the data's) to 4096", c.ImageSize)
	case c.Channels != 0 && c.Channels != 1 && c.Channels != 3:
		return fmt.Errorf("train: channels (--channels) %d, want 1 or 3", c.Channels)
	case c.TrainFraction <= 0 || c.TrainFraction > 1:
		return fmt.Errorf("train: train_fraction (--train-fraction) %g, want (0,1]", c.TrainFraction)
	case c.BackboneLRMult < 0:
		return fmt.Errorf("train: backbone_lr_mult (--backbone-lr-mult) %g, want >= 0", c.BackboneLRMult)
	case c.UnfreezeAfter < 0:
		return fmt.Errorf("train: unfreeze_after (--unfreeze-after) %d, want >= 0", c.UnfreezeAfter)
	case c.From == "" && (c.Freeze != FreezeNone || c.UnfreezeAfter != 0 || c.BackboneLRMult != 1):
		return fmt.Errorf("train: freeze %q, unfreeze-after %d and backbone-lr-mult %g need a pretrained network (from)", c.Freeze, c.UnfreezeAfter, c.BackboneLRMult)
	case c.Freeze == "":
		return fmt.Errorf("train: freeze (--freeze) \"\", want none, backbone or a layer name")
	case c.UnfreezeAfter > 0 && c.Freeze == FreezeNone:
		return fmt.Errorf("train: unfreeze-after %d without freeze", c.UnfreezeAfter)
	}
	return c.validateLevers()
}

// augment returns the augmentation of the configuration (nil for none):
// the Augment set with the overrides of Rotate, Translate, ResizedCrop,
// CropScale and Erase.
func (c *Config) augment() *data.Augment {
	var a data.Augment
	switch c.Augment {
	case "default":
		a = data.DefaultAugment()
	case "light":
		a = data.Augment{FlipProb: 0.5, Pad: 4}
	case "flip":
		a = data.Augment{FlipProb: 0.5}
	}
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.RotateDeg, c.Rotate)
	set(&a.Translate, c.Translate)
	set(&a.ResizedCropProb, c.ResizedCrop)
	set(&a.EraseProb, c.Erase)
	if c.CropScale != nil {
		a.ScaleMin, a.ScaleMax = *c.CropScale, 1
	}
	probe := a
	probe.ScaleMin, probe.ScaleMax = 0, 0 // a range alone does nothing
	if probe == (data.Augment{}) {
		return nil
	}
	return &a
}

// json returns the configuration as indented JSON.
func (c *Config) json() []byte {
	b, _ := json.MarshalIndent(c, "", "  ")
	return append(b, '\n')
}
