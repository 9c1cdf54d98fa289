package optim

import (
	"testing"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// TestStepAnnouncesChanges: both optimizers give every updated parameter
// a new version (nn.Param.Changed), so caches of derived weights notice,
// and leave frozen parameters' versions alone.
func TestStepAnnouncesChanges(t *testing.T) {
	mk := func(frozen bool) *nn.Param {
		p := &nn.Param{Name: "w", Value: tensor.New(4), Grad: tensor.New(4), Frozen: frozen}
		p.Changed()
		for i := range p.Grad.Data {
			p.Grad.Data[i] = 1
		}
		return p
	}
	for _, name := range []string{"sgd", "adamw"} {
		p, f := mk(false), mk(true)
		var step func(float64)
		if name == "sgd" {
			o, err := NewSGD([]*nn.Param{p, f}, SGDConfig{Momentum: 0.9})
			if err != nil {
				t.Fatal(err)
			}
			step = o.Step
		} else {
			o, err := NewAdamW([]*nn.Param{p, f}, AdamWConfig{})
			if err != nil {
				t.Fatal(err)
			}
			step = o.Step
		}
		pv, fv := p.Version(), f.Version()
		step(0.1)
		if p.Version() == pv {
			t.Errorf("%s: the step did not change the parameter's version", name)
		}
		if f.Version() != fv {
			t.Errorf("%s: the frozen parameter's version changed", name)
		}
	}
}
