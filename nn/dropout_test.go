package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDropoutStatisticsAndEval(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	d := NewDropout("drop", 0.3, 42)
	x := gcRandn(rng, 100, 100)
	y := d.Forward(x, true)
	zeros := 0
	for i, v := range y.Data {
		switch {
		case v == 0:
			zeros++
		case math.Abs(float64(v)-float64(x.Data[i])/0.7) > 1e-5*math.Abs(float64(v)):
			t.Fatalf("kept y[%d] = %g, want x/(1-p) = %g", i, v, x.Data[i]/0.7)
		}
	}
	if frac := float64(zeros) / float64(y.Len()); math.Abs(frac-0.3) > 0.015 {
		t.Errorf("dropped %.3f of the values, want 0.3", frac)
	}
	y = d.Forward(x, false)
	for i, v := range y.Data {
		if v != x.Data[i] {
			t.Fatalf("eval y[%d] = %g, want x = %g", i, v, x.Data[i])
		}
	}
	// p = 1 drops everything, p = 0 nothing.
	for _, p := range []float32{0, 1} {
		y := NewDropout("drop", p, 1).Forward(x, true)
		for i, v := range y.Data {
			if want := x.Data[i] * (1 - p); v != want {
				t.Fatalf("p=%g: y[%d] = %g, want %g", p, i, v, want)
			}
		}
	}
}

func TestDropoutStateResume(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := gcRandn(rng, 4, 50)
	a := NewDropout("drop", 0.5, 7)
	a.Forward(x, true)
	state, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	want := a.Forward(x, true).Clone()
	b := NewDropout("drop", 0.5, 99)
	if err := b.SetState(state); err != nil {
		t.Fatal(err)
	}
	got := b.Forward(x, true)
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("resumed mask differs at %d", i)
		}
	}
	// Same seed, same masks; another seed, other masks.
	c := NewDropout("drop", 0.5, 7)
	c2 := NewDropout("drop", 0.5, 8)
	same, diff := c.Forward(x, true).Clone(), c2.Forward(x, true)
	b = NewDropout("drop", 0.5, 7)
	again := b.Forward(x, true)
	differs := false
	for i := range same.Data {
		if again.Data[i] != same.Data[i] {
			t.Fatal("same seed, different masks")
		}
		differs = differs || diff.Data[i] != same.Data[i]
	}
	if !differs {
		t.Error("different seeds gave the same mask")
	}
	err = b.SetState([]byte("junk"))
	gcWantErr(t, err, "drop", "random state")
}

func TestDropoutGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	d := NewDropout("drop", 0.4, 3)
	state, _ := d.State()
	x := gcRandn(rng, 3, 10)
	// Restore the stream before every Forward so each sees the same mask.
	gcLayer(t, d, x, 1e-2, 1e-3, func() {
		if err := d.SetState(state); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDropoutErrors(t *testing.T) {
	_, err := NewDropout("drop", 1.5, 1).OutShape([]int{2, 3})
	gcWantErr(t, err, "drop", "1.5")
	_, err = NewDropout("drop", 0.5, 1).OutShape([]int{0, 3})
	gcWantErr(t, err, "drop", "(0,3)")
}

func TestDropoutZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	d := NewDropout("drop", 0.5, 1)
	x := gcRandn(rng, 64, 64)
	gcZeroAllocs(t, "Dropout", func() { d.Forward(x, true); d.Backward(x) })
}

func BenchmarkDropout64x64(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	d := NewDropout("drop", 0.5, 1)
	x := gcRandn(rng, 64, 64)
	benchElementwise(b, func() { d.Forward(x, true) }, func() { d.Backward(x) })
}
