package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestElementwise checks AddReLU and ReLUGrad against their definitions
// on lengths around the 16-value vector width.
func TestElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 5, 16, 37, 64} {
		a, b, y := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			y[i] = max(float32(rng.NormFloat64()), 0)
		}
		for _, relu := range []bool{false, true} {
			out := make([]float32, n)
			AddReLU(out, a, b, n, relu)
			for i, v := range out {
				want := a[i] + b[i]
				if relu {
					want = max(want, 0)
				}
				if v != want {
					t.Fatalf("AddReLU n=%d relu=%v: out[%d] = %g, want %g", n, relu, i, v, want)
				}
			}
		}
		dx := make([]float32, n)
		ReLUGrad(dx, a, y, n)
		for i, v := range dx {
			want := float32(0)
			if y[i] > 0 {
				want = a[i]
			}
			if v != want {
				t.Fatalf("ReLUGrad n=%d: dx[%d] = %g, want %g", n, i, v, want)
			}
		}
	}
}
