package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

func TestFlatten(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	f := NewFlatten("flatten")
	x := gcRandn(rng, 2, 3, 4, 5)
	y := f.Forward(x, false)
	if !tensor.SameShape(y.Shape, []int{2, 60}) {
		t.Fatalf("shape %v, want (2,60)", y.Shape)
	}
	for i := range x.Data {
		if y.Data[i] != x.Data[i] {
			t.Fatalf("y[%d] = %g, want %g", i, y.Data[i], x.Data[i])
		}
	}
	if x.Shape[1] != 3 {
		t.Error("Flatten changed its input's shape")
	}
	gcLayer(t, f, x, 1e-2, 1e-3, nil)
	_, err := f.OutShape([]int{5})
	gcWantErr(t, err, "flatten", "(5)")
	gcZeroAllocs(t, "Flatten", func() { f.Forward(x, true); f.Backward(y) })
}

func BenchmarkFlatten(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	f := NewFlatten("flatten")
	x := gcRandn(rng, 64, 1, 1, 64)
	dy := gcRandn(rng, 64, 64)
	benchElementwise(b, func() { f.Forward(x, true) }, func() { f.Backward(dy) })
}
