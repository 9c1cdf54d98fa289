package nn

import (
	"math/rand/v2"
	"testing"
)

func TestReLUForwardAndGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	r := NewReLU("relu")
	x := gcRandn(rng, 3, 4, 4, 2)
	gcAwayFromZero(x, 0.05)
	y := r.Forward(x, false)
	for i, v := range x.Data {
		if y.Data[i] != max(v, 0) {
			t.Fatalf("y[%d] = %g for x = %g", i, y.Data[i], v)
		}
	}
	gcLayer(t, r, x, 1e-2, 1e-3, nil)
}

func TestReLUShapeErrors(t *testing.T) {
	_, err := NewReLU("act").OutShape([]int{0, 3})
	gcWantErr(t, err, "act", "(0,3)")
}

func TestReLUZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	r := NewReLU("relu")
	x := gcRandn(rng, 8, 16, 16, 16)
	dy := gcRandn(rng, 8, 16, 16, 16)
	gcZeroAllocs(t, "ReLU", func() { r.Forward(x, true); r.Backward(dy) })
}

func benchElementwise(b *testing.B, fwd, bwd func()) {
	fwd()
	bwd()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fwd()
		bwd()
	}
}

func BenchmarkReLUC16(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	r := NewReLU("relu")
	x := gcRandn(rng, 64, 48, 48, 16)
	dy := gcRandn(rng, 64, 48, 48, 16)
	b.SetBytes(int64(4 * x.Len()))
	benchElementwise(b, func() { r.Forward(x, true) }, func() { r.Backward(dy) })
}
