package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGlobalAvgPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := NewGlobalAvgPool("avgpool")
	x := gcRandn(rng, 2, 3, 4, 5)
	y := g.Forward(x, false)
	for n := 0; n < 2; n++ {
		for c := 0; c < 5; c++ {
			var s float64
			for p := 0; p < 12; p++ {
				s += float64(x.Data[(n*12+p)*5+c])
			}
			if math.Abs(float64(y.Data[n*5+c])-s/12) > 1e-6 {
				t.Fatalf("y[%d,%d] = %g, want %g", n, c, y.Data[n*5+c], s/12)
			}
		}
	}
	gcLayer(t, g, x, 1e-2, 1e-3, nil)
}

func TestGlobalAvgPoolShapeErrors(t *testing.T) {
	_, err := NewGlobalAvgPool("avgpool").OutShape([]int{4, 64})
	gcWantErr(t, err, "avgpool", "(4,64)", "(N,H,W,C)")
}

func TestGlobalAvgPoolZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := NewGlobalAvgPool("avgpool")
	x := gcRandn(rng, 8, 6, 6, 64)
	dy := gcRandn(rng, 8, 64)
	gcZeroAllocs(t, "GlobalAvgPool", func() { g.Forward(x, true); g.Backward(dy) })
}

func BenchmarkGlobalAvgPoolC64(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := NewGlobalAvgPool("avgpool")
	x := gcRandn(rng, 64, 12, 12, 64)
	dy := gcRandn(rng, 64, 64)
	b.SetBytes(int64(4 * x.Len()))
	benchElementwise(b, func() { g.Forward(x, true) }, func() { g.Backward(dy) })
}
