// Package optim updates parameters from their gradients: SGD with momentum
// (optionally Nesterov) and AdamW, with PyTorch's update rules, and the
// learning-rate schedules used for training.
package optim

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/nn"
)

// Optimizer applies one update to every non-frozen parameter from its Grad.
type Optimizer interface {
	// Step updates the parameters with learning rate lr.
	Step(lr float64)
	// State returns the optimizer's per-parameter buffers, keyed by
	// "<param name>.<buffer>", and its step count, for checkpoints.
	State() (buffers map[string][]float32, steps int64)
	// SetState restores what State returned.
	SetState(buffers map[string][]float32, steps int64) error
}

// SGDConfig configures SGD. The zero value is plain SGD.
type SGDConfig struct {
	Momentum    float64 // default 0 (none); 0.9 is usual
	Nesterov    bool    // Nesterov momentum (needs Momentum > 0)
	WeightDecay float64 // L2 penalty added to the gradient, skipped for NoDecay params
}

// SGD is stochastic gradient descent with PyTorch's momentum rule:
// buf = momentum*buf + g; step = g + momentum*buf (Nesterov) or buf.
type SGD struct {
	cfg    SGDConfig
	params []*nn.Param
	bufs   [][]float32
	steps  int64
}

// NewSGD returns an SGD optimizer over params.
func NewSGD(params []*nn.Param, cfg SGDConfig) (*SGD, error) {
	if cfg.Momentum < 0 || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("optim: SGD momentum %g and weight decay %g must be >= 0", cfg.Momentum, cfg.WeightDecay)
	}
	if cfg.Nesterov && cfg.Momentum == 0 {
		return nil, fmt.Errorf("optim: Nesterov SGD needs momentum > 0")
	}
	s := &SGD{cfg: cfg, params: params, bufs: make([][]float32, len(params))}
	if cfg.Momentum > 0 {
		for i, p := range params {
			s.bufs[i] = make([]float32, p.Value.Len())
		}
	}
	return s, nil
}

// Step implements Optimizer.
func (s *SGD) Step(lr float64) {
	mom := float32(s.cfg.Momentum)
	first := s.steps == 0
	for i, p := range s.params {
		if p.Frozen || p.Grad == nil {
			continue
		}
		w, g := p.Value.Data[:p.Value.Len()], p.Grad.Data[:p.Value.Len()]
		wd := float32(s.cfg.WeightDecay)
		if p.NoDecay {
			wd = 0
		}
		buf := s.bufs[i]
		lr32 := float32(lr)
		for j := range w {
			gj := g[j] + wd*w[j]
			if mom != 0 {
				if first {
					buf[j] = gj
				} else {
					buf[j] = mom*buf[j] + gj
				}
				if s.cfg.Nesterov {
					gj += mom * buf[j]
				} else {
					gj = buf[j]
				}
			}
			w[j] -= lr32 * gj
		}
		p.Changed()
	}
	s.steps++
}

// State implements Optimizer.
func (s *SGD) State() (map[string][]float32, int64) {
	m := map[string][]float32{}
	for i, p := range s.params {
		if s.bufs[i] != nil {
			m[p.Name+".momentum"] = s.bufs[i]
		}
	}
	return m, s.steps
}

// SetState implements Optimizer.
func (s *SGD) SetState(buffers map[string][]float32, steps int64) error {
	for i, p := range s.params {
		if s.bufs[i] == nil {
			continue
		}
		if err := restore(s.bufs[i], buffers, p.Name+".momentum"); err != nil {
			return err
		}
	}
	s.steps = steps
	return nil
}

// AdamWConfig configures AdamW. Zero fields take the documented defaults.
type AdamWConfig struct {
	Beta1       float64 // default 0.9
	Beta2       float64 // default 0.999
	Eps         float64 // default 1e-8
	WeightDecay float64 // decoupled decay, default 0.01; skipped for NoDecay params
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), with
// PyTorch's update rule.
type AdamW struct {
	cfg    AdamWConfig
	params []*nn.Param
	m, v   [][]float32
	steps  int64
}

// NewAdamW returns an AdamW optimizer over params.
func NewAdamW(params []*nn.Param, cfg AdamWConfig) (*AdamW, error) {
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	if cfg.Beta1 < 0 || cfg.Beta1 >= 1 || cfg.Beta2 < 0 || cfg.Beta2 >= 1 || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("optim: AdamW betas (%g, %g) must be in [0,1) and weight decay %g >= 0", cfg.Beta1, cfg.Beta2, cfg.WeightDecay)
	}
	a := &AdamW{cfg: cfg, params: params, m: make([][]float32, len(params)), v: make([][]float32, len(params))}
	for i, p := range params {
		a.m[i] = make([]float32, p.Value.Len())
		a.v[i] = make([]float32, p.Value.Len())
	}
	return a, nil
}

// Step implements Optimizer.
func (a *AdamW) Step(lr float64) {
	a.steps++
	b1, b2 := a.cfg.Beta1, a.cfg.Beta2
	bc1 := 1 - math.Pow(b1, float64(a.steps))
	bc2 := 1 - math.Pow(b2, float64(a.steps))
	stepSize := float32(lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	eps := float32(a.cfg.Eps)
	for i, p := range a.params {
		if p.Frozen || p.Grad == nil {
			continue
		}
		w, g := p.Value.Data[:p.Value.Len()], p.Grad.Data[:p.Value.Len()]
		decay := float32(1 - lr*a.cfg.WeightDecay)
		if p.NoDecay {
			decay = 1
		}
		m, v := a.m[i], a.v[i]
		for j := range w {
			w[j] *= decay
			m[j] = float32(b1)*m[j] + float32(1-b1)*g[j]
			v[j] = float32(b2)*v[j] + float32(1-b2)*g[j]*g[j]
			denom := float32(math.Sqrt(float64(v[j])))/sqrtBC2 + eps
			w[j] -= stepSize * m[j] / denom
		}
		p.Changed()
	}
}

// State implements Optimizer.
func (a *AdamW) State() (map[string][]float32, int64) {
	s := map[string][]float32{}
	for i, p := range a.params {
		s[p.Name+".exp_avg"] = a.m[i]
		s[p.Name+".exp_avg_sq"] = a.v[i]
	}
	return s, a.steps
}

// SetState implements Optimizer.
func (a *AdamW) SetState(buffers map[string][]float32, steps int64) error {
	for i, p := range a.params {
		if err := restore(a.m[i], buffers, p.Name+".exp_avg"); err != nil {
			return err
		}
		if err := restore(a.v[i], buffers, p.Name+".exp_avg_sq"); err != nil {
			return err
		}
	}
	a.steps = steps
	return nil
}

func restore(dst []float32, buffers map[string][]float32, name string) error {
	src, ok := buffers[name]
	if !ok {
		return fmt.Errorf("optim: state has no buffer %q", name)
	}
	if len(src) != len(dst) {
		return fmt.Errorf("optim: state buffer %q has %d values, want %d", name, len(src), len(dst))
	}
	copy(dst, src)
	return nil
}
