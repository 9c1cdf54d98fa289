package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// TestForwardMix: the mixed loss is lambda*L(a) + (1-lambda)*L(b) of two
// plain Forwards (PyTorch's mixup criterion), with smoothing and class
// weights, and its gradient passes finite differences.
func TestForwardMix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	l, err := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 5, LabelSmoothing: 0.1, Weights: []float32{0.5, 2, 1, 0.25, 3}})
	if err != nil {
		t.Fatal(err)
	}
	z := gcRandn(rng, 6, 5)
	a, b := []int{0, 4, 2, 2, 1, 3}, []int{3, 1, 1, 0, 4, 2}
	const lam = 0.3
	w := []float64{0.5, 2, 1, 0.25, 3}
	want := lam*ceRef(z, a, 0.1, w) + (1-lam)*ceRef(z, b, 0.1, w)
	got, err := l.ForwardMix(z, a, b, lam)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mixed loss %.8g, reference %.8g", got, want)
	if math.Abs(float64(got)-want) > 1e-6*(1+want) {
		t.Fatalf("mixed loss %.8g, want %.8g", got, want)
	}
	dz := l.Backward().Clone()
	gcCheck(t, func() float64 {
		v, err := l.ForwardMix(z, a, b, lam)
		if err != nil {
			t.Fatal(err)
		}
		return float64(v)
	}, []gcTarget{{"logits", z, dz}}, 1e-2, 2e-3, 30)
	// lambda 1 is the plain loss; errors name the problem.
	one, _ := l.ForwardMix(z, a, b, 1)
	plain, _ := l.Forward(z, a)
	if one != plain {
		t.Errorf("lambda 1 gives %g, Forward %g", one, plain)
	}
	if _, err := l.ForwardMix(z, a, b, 1.5); err == nil {
		t.Error("lambda 1.5 accepted")
	}
	if _, err := l.ForwardMix(z, a, []int{0, 9, 0, 0, 0, 0}, 0.5); err == nil {
		t.Error("partner label 9 of 5 classes accepted")
	}
}

// TestDistillation: the loss equals T²·KL(t||softmax(z/T)) computed in
// float64, is 0 when the student matches the targets, and its gradient
// T·(s-t)/N passes finite differences.
func TestDistillation(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, temp := range []float64{1, 4} {
		d, err := NewDistillation(temp)
		if err != nil {
			t.Fatal(err)
		}
		z := gcRandn(rng, 5, 7)
		teacher := gcRandn(rng, 5, 7)
		targets := d.SoftTargets(nil, teacher).Clone()
		var want float64
		for i := 0; i < 5; i++ {
			var se, st float64
			for j := 0; j < 7; j++ {
				se += math.Exp(float64(z.Data[i*7+j]) / temp)
				st += math.Exp(float64(teacher.Data[i*7+j]) / temp)
			}
			for j := 0; j < 7; j++ {
				tp := math.Exp(float64(teacher.Data[i*7+j])/temp) / st
				logs := float64(z.Data[i*7+j])/temp - math.Log(se)
				want += tp * (math.Log(tp) - logs)
			}
		}
		want *= temp * temp / 5
		got, err := d.Forward(z, targets)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("T=%g: loss %.8g, reference %.8g", temp, got, want)
		if math.Abs(float64(got)-want) > 1e-5*(1+want) {
			t.Fatalf("T=%g: loss %.8g, want %.8g", temp, got, want)
		}
		dz := d.Backward().Clone()
		gcCheck(t, func() float64 {
			v, err := d.Forward(z, targets)
			if err != nil {
				t.Fatal(err)
			}
			return float64(v)
		}, []gcTarget{{"logits", z, dz}}, 1e-2, 2e-3, 35)
		// The teacher itself scores 0.
		if self, _ := d.Forward(teacher, targets); math.Abs(float64(self)) > 1e-5 {
			t.Errorf("T=%g: teacher against its own targets: %g, want 0", temp, self)
		}
	}
	if _, err := NewDistillation(0); err == nil {
		t.Error("temperature 0 accepted")
	}
	d, _ := NewDistillation(2)
	if _, err := d.Forward(tensor.New(2, 3), tensor.New(2, 4)); err == nil {
		t.Error("mismatched shapes accepted")
	}
}
