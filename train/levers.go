package train

// Training levers beyond the plain recipe, each off by default (see the
// Config fields): batch mixing (mixup, CutMix), an exponential moving
// average of the weights, and knowledge distillation from teacher model
// files. Augmentation overrides are in Config.augment.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// validateLevers checks the lever fields of a configuration.
func (c *Config) validateLevers() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for _, f := range []struct {
		name   string
		v      *float64
		lo, hi float64
		openLo bool
	}{
		{"rotate (--rotate)", c.Rotate, 0, 180, false},
		{"translate (--translate)", c.Translate, 0, 1, false},
		{"resized_crop (--resized-crop)", c.ResizedCrop, 0, 1, false},
		{"crop_scale (--crop-scale)", c.CropScale, 0, 1, true},
		{"erase (--erase)", c.Erase, 0, 1, false},
	} {
		if f.v == nil {
			continue
		}
		if v := *f.v; !finite(v) || v < f.lo || v > f.hi || (f.openLo && v == f.lo) {
			bracket := "["
			if f.openLo {
				bracket = "("
			}
			return fmt.Errorf("train: %s %g, want %s%g,%g]", f.name, v, bracket, f.lo, f.hi)
		}
	}
	switch {
	case !finite(c.Mixup) || c.Mixup < 0:
		return fmt.Errorf("train: mixup (--mixup) %g, want an alpha >= 0 (0: off)", c.Mixup)
	case !finite(c.CutMix) || c.CutMix < 0:
		return fmt.Errorf("train: cutmix (--cutmix) %g, want an alpha >= 0 (0: off)", c.CutMix)
	case !(c.MixProb >= 0 && c.MixProb <= 1):
		return fmt.Errorf("train: mix_prob (--mix-prob) %g, want [0,1]", c.MixProb)
	case !(c.EMA >= 0 && c.EMA < 1):
		return fmt.Errorf("train: ema (--ema) %g, want a decay in [0,1) (0: off)", c.EMA)
	case !(c.DistillAlpha >= 0 && c.DistillAlpha <= 1):
		return fmt.Errorf("train: distill_alpha (--distill-alpha) %g, want [0,1]", c.DistillAlpha)
	case !(c.DistillTemperature > 0) || !finite(c.DistillTemperature):
		return fmt.Errorf("train: distill_temperature (--distill-t) %g, want > 0", c.DistillTemperature)
	}
	for i, p := range c.Teachers {
		if p == "" {
			return fmt.Errorf("train: teachers (--teacher) entry %d is empty", i+1)
		}
	}
	if c.GroupBy != "" && c.Format != "folders" && c.Format != "auto" {
		return fmt.Errorf("train: group_by (--group-by) %q applies to <class>/ folders, not --format %s (its groups are its own)", c.GroupBy, c.Format)
	}
	return c.augmentConfig().Validate()
}

// augmentConfig is augment() as a value (the zero Augment for none).
func (c *Config) augmentConfig() data.Augment {
	if a := c.augment(); a != nil {
		return *a
	}
	return data.Augment{}
}

// mixer returns the batch mixer of the configuration, or nil.
func (c *Config) mixer() (*data.Mixer, error) {
	m := data.Mix{MixupAlpha: c.Mixup, CutMixAlpha: c.CutMix, Prob: c.MixProb}
	if !m.Enabled() {
		return nil, nil
	}
	return data.NewMixer(m)
}

// mixRNG is the random stream of one batch's mixing: a function of the
// seed and the batch's position only, so a resumed run draws the same.
func mixRNG(pcg *rand.PCG, seed uint64, epoch, batch int) *rand.Rand {
	pcg.Seed(seed^0x6d6978757063, uint64(epoch)<<32|uint64(batch))
	return rand.New(pcg)
}

// ema is an exponential moving average of a network's parameters and
// buffers (BN statistics; counters are copied).
type ema struct {
	decay  float64
	state  []*nn.Param // the network's tensors, in Params-then-Buffers order
	shadow [][]float32 // their averages
	backup [][]float32 // the live values while the average is swapped in
	byName map[string]int
}

func newEMA(decay float64, state []*nn.Param) *ema {
	e := &ema{decay: decay, state: state, byName: map[string]int{}}
	for i, p := range state {
		e.shadow = append(e.shadow, append([]float32(nil), p.Value.Data[:p.Value.Len()]...))
		e.backup = append(e.backup, make([]float32, p.Value.Len()))
		e.byName[p.Name] = i
	}
	return e
}

// update folds the current values in after optimizer step number step
// (1-based), with the warm-up decay min(decay, (1+step)/(10+step)).
func (e *ema) update(step int64) {
	d := min(e.decay, float64(1+step)/float64(10+step))
	a, b := float32(d), float32(1-d)
	for i, p := range e.state {
		v, s := p.Value.Data[:p.Value.Len()], e.shadow[i]
		if strings.HasSuffix(p.Name, ".num_batches_tracked") {
			copy(s, v)
			continue
		}
		for j := range s {
			s[j] = a*s[j] + b*v[j]
		}
	}
}

// swap exchanges the live values with the averages through the network's
// own loader (so folded inference weights see the change); calling it
// twice restores the live values.
func (e *ema) swap(n Network) error {
	for i, p := range e.state {
		copy(e.backup[i], p.Value.Data[:p.Value.Len()])
	}
	err := loadState(n, func(name string) (*tensor.Tensor, bool) {
		i, ok := e.byName[name]
		if !ok {
			return nil, false
		}
		return tensor.FromData(e.shadow[i], e.state[i].Value.Shape...), true
	})
	if err != nil {
		return err
	}
	e.shadow, e.backup = e.backup, e.shadow
	return nil
}

// teacher is one distillation teacher: a network with its preprocessing.
type teacher struct {
	path string
	net  *model.Net
	pre  vision.Preprocess
	same bool           // pre normalises as the student does
	x    *tensor.Tensor // the batch in the teacher's normalisation
}

// distiller holds the teachers and the soft-target loss.
type distiller struct {
	teachers []*teacher
	loss     *nn.Distillation
	alpha    float32
	targets  *tensor.Tensor // (N,K) averaged soft targets
	one      *tensor.Tensor // one teacher's soft targets
	student  vision.Preprocess
}

// newDistiller loads the teacher files of cfg for a student with these
// classes and preprocessing.
func newDistiller(cfg *Config, classes []string, student vision.Preprocess) (*distiller, error) {
	if len(cfg.Teachers) == 0 {
		return nil, nil
	}
	loss, err := nn.NewDistillation(cfg.DistillTemperature)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	d := &distiller{loss: loss, alpha: float32(cfg.DistillAlpha), student: student}
	for _, path := range cfg.Teachers {
		net, meta, err := model.Load(path)
		if err != nil {
			return nil, fmt.Errorf("train: teacher: %w", err)
		}
		if strings.Join(meta.Classes, "\x00") != strings.Join(classes, "\x00") {
			return nil, fmt.Errorf("train: teacher %s has classes %v, the data %v (same names in the same order needed)", path, meta.Classes, classes)
		}
		p := meta.Preprocess
		if p.Height != student.Height || p.Width != student.Width || p.Channels != student.Channels {
			return nil, fmt.Errorf("train: teacher %s takes %dx%dx%d images (HxWxC), the student %dx%dx%d", path, p.Height, p.Width, p.Channels, student.Height, student.Width, student.Channels)
		}
		d.teachers = append(d.teachers, &teacher{path: path, net: net, pre: p, same: samePreprocess(p, student)})
	}
	return d, nil
}

// softTargets runs every teacher on the student's batch x (evaluation
// mode) and averages their soft predictions at the temperature.
func (d *distiller) softTargets(x *tensor.Tensor) (*tensor.Tensor, error) {
	for i, t := range d.teachers {
		in := x
		if !t.same {
			t.x = renormalize(t.x, x, d.student, t.pre)
			in = t.x
		}
		logits, err := t.net.Forward(in, false)
		if err != nil {
			return nil, fmt.Errorf("teacher %s: %w", t.path, err)
		}
		if i == 0 {
			d.targets = d.loss.SoftTargets(d.targets, logits)
			continue
		}
		d.one = d.loss.SoftTargets(d.one, logits)
		for j, v := range d.one.Data[:d.one.Len()] {
			d.targets.Data[j] += v
		}
	}
	if n := float32(len(d.teachers)); n > 1 {
		for j := range d.targets.Data[:d.targets.Len()] {
			d.targets.Data[j] /= n
		}
	}
	return d.targets, nil
}

func samePreprocess(a, b vision.Preprocess) bool {
	return a.Width == b.Width && a.Height == b.Height && a.Channels == b.Channels &&
		fmt.Sprint(a.Mean) == fmt.Sprint(b.Mean) && fmt.Sprint(a.Std) == fmt.Sprint(b.Std)
}

// renormalize maps x, normalised by from, to the normalisation of to
// (same shape), into dst: pixel units first, then to's mean and std.
func renormalize(dst, x *tensor.Tensor, from, to vision.Preprocess) *tensor.Tensor {
	dst = tensor.Ensure(dst, x.Shape...)
	size := from.Size()
	for i := 0; i+size <= x.Len(); i += size {
		img := dst.Data[i : i+size]
		from.Denormalize(img, x.Data[i:i+size])
		to.NormalizeUnit(img, img)
	}
	return dst
}
