package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

func TestAddGradients(t *testing.T) {
	for _, relu := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(1, 2))
		s := NewAdd("layer1.0.add", relu)
		a := gcRandn(rng, 2, 3, 3, 4)
		b := gcRandn(rng, 2, 3, 3, 4)
		// keep a+b away from the ReLU kink
		for i := range a.Data {
			if v := a.Data[i] + b.Data[i]; v > -0.05 && v < 0.05 {
				a.Data[i] += 0.2
			}
		}
		y := s.Forward(a, b)
		for i := range y.Data {
			want := a.Data[i] + b.Data[i]
			if relu {
				want = max(want, 0)
			}
			if y.Data[i] != want {
				t.Fatalf("relu=%v: y[%d] = %g, want %g", relu, i, y.Data[i], want)
			}
		}
		r := gcRandn(rng, 2, 3, 3, 4)
		da, db := s.Backward(r)
		if relu && da != db {
			t.Error("with fused ReLU, da and db must be the same tensor")
		}
		targets := []gcTarget{{"a", a, da.Clone()}, {"b", b, db.Clone()}}
		gcCheck(t, func() float64 { return gcDot(s.Forward(a, b), r) }, targets, 1e-2, 1e-3, 40)
	}
}

func TestAddShapeErrors(t *testing.T) {
	s := NewAdd("layer3.1.add", true)
	if got, err := s.OutShape([]int{2, 4, 4, 8}, []int{2, 4, 4, 8}); err != nil || !tensor.SameShape(got, []int{2, 4, 4, 8}) {
		t.Fatalf("OutShape = %v, %v", got, err)
	}
	_, err := s.OutShape([]int{2, 4, 4, 8}, []int{2, 2, 2, 8})
	gcWantErr(t, err, "layer3.1.add", "(2,4,4,8)", "(2,2,2,8)")
}

func TestAddZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	s := NewAdd("add", true)
	a := gcRandn(rng, 8, 16, 16, 16)
	b := gcRandn(rng, 8, 16, 16, 16)
	gcZeroAllocs(t, "Add", func() { s.Forward(a, b); s.Backward(a) })
}

func BenchmarkAddReLUC16(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	s := NewAdd("add", true)
	x := gcRandn(rng, 64, 48, 48, 16)
	y := gcRandn(rng, 64, 48, 48, 16)
	b.SetBytes(int64(4 * x.Len()))
	benchElementwise(b, func() { s.Forward(x, y) }, func() { s.Backward(x) })
}
