package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// This file holds the finite-difference gradient checker shared by the
// layer tests. Its names start with gc to keep clear of other test files.

// gcRandn returns a tensor of N(0,1) values.
func gcRandn(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// gcAwayFromZero pushes values out of (-margin, margin), keeping their
// sign, so that a finite difference does not straddle a ReLU kink.
func gcAwayFromZero(t *tensor.Tensor, margin float32) {
	for i, v := range t.Data {
		if v >= 0 && v < margin {
			t.Data[i] = v + margin
		} else if v < 0 && v > -margin {
			t.Data[i] = v - margin
		}
	}
}

// gcDot is sum(y*r) in float64: the scalar loss the checks differentiate.
func gcDot(y, r *tensor.Tensor) float64 {
	var s float64
	for i := 0; i < y.Len(); i++ {
		s += float64(y.Data[i]) * float64(r.Data[i])
	}
	return s
}

// gcTarget is a tensor to perturb and the analytic gradient of the loss
// with respect to it.
type gcTarget struct {
	name  string
	value *tensor.Tensor
	grad  *tensor.Tensor
}

// gcCheck compares each target's analytic gradient with central
// differences of loss(), on up to samples entries per target. An entry
// fails when |numeric - analytic| > tol*(|analytic| + 0.1*max|analytic|).
func gcCheck(t *testing.T, loss func() float64, targets []gcTarget, eps float64, tol float64, samples int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, tg := range targets {
		n := tg.value.Len()
		if tg.grad == nil || tg.grad.Len() != n {
			t.Fatalf("%s: missing or mis-shaped gradient", tg.name)
		}
		var gmax float64
		for _, g := range tg.grad.Data[:n] {
			gmax = max(gmax, math.Abs(float64(g)))
		}
		idx := make([]int, 0, samples)
		if n <= samples {
			for i := 0; i < n; i++ {
				idx = append(idx, i)
			}
		} else {
			for i := 0; i < samples; i++ {
				idx = append(idx, rng.IntN(n))
			}
		}
		failures := 0
		for _, i := range idx {
			orig := tg.value.Data[i]
			plus, minus := float32(float64(orig)+eps), float32(float64(orig)-eps)
			tg.value.Data[i] = plus
			lp := loss()
			tg.value.Data[i] = minus
			lm := loss()
			tg.value.Data[i] = orig
			num := (lp - lm) / (float64(plus) - float64(minus))
			ana := float64(tg.grad.Data[i])
			if math.Abs(num-ana) > tol*(math.Abs(ana)+0.1*gmax) || math.IsNaN(ana) {
				failures++
				if failures <= 5 {
					t.Errorf("%s[%d]: analytic %.6g, numeric %.6g (max |grad| %.4g)", tg.name, i, ana, num, gmax)
				}
			}
		}
		if failures > 5 {
			t.Errorf("%s: %d of %d entries failed", tg.name, failures, len(idx))
		}
	}
}

// gcLayer checks dL/dx and every parameter gradient of a single-input
// layer in training mode, with L = sum(Forward(x)*r) for a fixed random r.
// before, if not nil, runs before every Forward (to reset random state).
func gcLayer(t *testing.T, l Layer, x *tensor.Tensor, eps, tol float64, before func()) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	shape, err := l.OutShape(x.Shape)
	if err != nil {
		t.Fatal(err)
	}
	r := gcRandn(rng, shape...)
	run := func() *tensor.Tensor {
		if before != nil {
			before()
		}
		y := l.Forward(x, true)
		if !tensor.SameShape(y.Shape, shape) {
			t.Fatalf("Forward returned %v, OutShape said %v", y.Shape, shape)
		}
		return y
	}
	run()
	var targets []gcTarget
	if dx := l.Backward(r); dx != nil {
		if !tensor.SameShape(dx.Shape, x.Shape) {
			t.Fatalf("Backward returned %v for input %v", dx.Shape, x.Shape)
		}
		targets = append(targets, gcTarget{"input", x, dx.Clone()})
	}
	for _, p := range l.Params() {
		targets = append(targets, gcTarget{p.Name, p.Value, p.Grad.Clone()})
	}
	gcCheck(t, func() float64 { return gcDot(run(), r) }, targets, eps, tol, 40)
}

// gcZeroAllocs checks that a warmed-up step allocates nothing.
func gcZeroAllocs(t *testing.T, name string, step func()) {
	t.Helper()
	step()
	if a := testing.AllocsPerRun(5, step); a != 0 {
		t.Errorf("%s: %v allocations per Forward+Backward after warm-up, want 0", name, a)
	}
}

// gcWantErr checks that err is non-nil and mentions every fragment.
func gcWantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got nil", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}
