package optim

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

type torchOptimFixture struct {
	W0    []float32   `json:"w0"`
	Grads [][]float32 `json:"grads"`
	LRs   []float64   `json:"lrs"`
	Cases map[string]struct {
		Options map[string]any `json:"options"`
		Steps   [][]float32    `json:"steps"`
	} `json:"cases"`
}

func newTestParam(w []float32) *nn.Param {
	v := tensor.New(len(w))
	copy(v.Data, w)
	return &nn.Param{Name: "w", Value: v, Grad: tensor.New(len(w))}
}

// TestAgainstPyTorch replays the parameter and gradient sequence of
// scripts/torch_optim_reference.py and compares every step.
func TestAgainstPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_optim.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx torchOptimFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	opt := func(o map[string]any, key string, def float64) float64 {
		if v, ok := o[key].(float64); ok {
			return v
		}
		return def
	}
	for name, c := range fx.Cases {
		p := newTestParam(fx.W0)
		var o Optimizer
		switch name {
		case "adamw", "adamw_betas":
			cfg := AdamWConfig{WeightDecay: opt(c.Options, "weight_decay", 0.01), Eps: opt(c.Options, "eps", 1e-8)}
			if b, ok := c.Options["betas"].([]any); ok {
				cfg.Beta1, cfg.Beta2 = b[0].(float64), b[1].(float64)
			}
			o, err = NewAdamW([]*nn.Param{p}, cfg)
		default:
			nesterov, _ := c.Options["nesterov"].(bool)
			o, err = NewSGD([]*nn.Param{p}, SGDConfig{Momentum: opt(c.Options, "momentum", 0), Nesterov: nesterov, WeightDecay: opt(c.Options, "weight_decay", 0)})
		}
		if err != nil {
			t.Fatal(name, err)
		}
		for s, want := range c.Steps {
			copy(p.Grad.Data, fx.Grads[s])
			o.Step(fx.LRs[s])
			maxDiff := 0.0
			for i := range want {
				maxDiff = math.Max(maxDiff, math.Abs(float64(p.Value.Data[i]-want[i])))
			}
			t.Logf("%s step %d: max diff %.2e", name, s+1, maxDiff)
			if maxDiff > 1e-5 {
				t.Errorf("%s step %d: got %v, PyTorch %v", name, s+1, p.Value.Data, want)
			}
		}
	}
}

func TestFrozenAndNoDecay(t *testing.T) {
	frozen := newTestParam([]float32{1, 2})
	frozen.Frozen = true
	nodecay := newTestParam([]float32{1, 2})
	nodecay.NoDecay = true
	for _, p := range []*nn.Param{frozen, nodecay} {
		p.Grad.Data[0], p.Grad.Data[1] = 0.5, 0.5
	}
	s, err := NewSGD([]*nn.Param{frozen, nodecay}, SGDConfig{Momentum: 0.9, WeightDecay: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	s.Step(1)
	if frozen.Value.Data[0] != 1 || frozen.Value.Data[1] != 2 {
		t.Errorf("frozen parameter moved: %v", frozen.Value.Data)
	}
	if nodecay.Value.Data[0] != 0.5 || nodecay.Value.Data[1] != 1.5 {
		t.Errorf("NoDecay parameter got weight decay: %v, want [0.5 1.5]", nodecay.Value.Data)
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, kind := range []string{"sgd", "adamw"} {
		mk := func(p *nn.Param) Optimizer {
			if kind == "sgd" {
				o, _ := NewSGD([]*nn.Param{p}, SGDConfig{Momentum: 0.9, Nesterov: true})
				return o
			}
			o, _ := NewAdamW([]*nn.Param{p}, AdamWConfig{})
			return o
		}
		a, b := newTestParam([]float32{1, -1, 3}), newTestParam([]float32{1, -1, 3})
		oa := mk(a)
		for i := 0; i < 3; i++ {
			copy(a.Grad.Data, []float32{0.1 * float32(i), -0.2, 0.3})
			oa.Step(0.1)
		}
		// b starts from a's weights and state and must continue identically.
		copy(b.Value.Data, a.Value.Data)
		ob := mk(b)
		bufs, steps := oa.State()
		if err := ob.SetState(bufs, steps); err != nil {
			t.Fatal(err)
		}
		copy(a.Grad.Data, []float32{0.5, 0.5, -0.5})
		copy(b.Grad.Data, a.Grad.Data)
		oa.Step(0.05)
		ob.Step(0.05)
		for i := range a.Value.Data {
			if a.Value.Data[i] != b.Value.Data[i] {
				t.Fatalf("%s: resumed optimizer diverged: %v vs %v", kind, a.Value.Data, b.Value.Data)
			}
		}
		if err := ob.SetState(map[string][]float32{}, 0); err == nil {
			t.Errorf("%s: SetState with missing buffers returned no error", kind)
		}
	}
}

func TestBadConfig(t *testing.T) {
	p := []*nn.Param{newTestParam([]float32{1})}
	if _, err := NewSGD(p, SGDConfig{Nesterov: true}); err == nil {
		t.Error("Nesterov without momentum accepted")
	}
	if _, err := NewAdamW(p, AdamWConfig{Beta1: 1.5}); err == nil {
		t.Error("beta1 1.5 accepted")
	}
}
