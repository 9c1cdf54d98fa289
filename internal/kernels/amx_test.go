package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/internal/cpufeat"
)

// TestSgemmAMX checks the AMX tile GEMM against a float64 product of the
// inputs rounded to bfloat16, on shapes with partial tiles in m, n and k
// (k odd, and k past one 32-value tile). It needs a CPU with AMX-BF16.
func TestSgemmAMX(t *testing.T) {
	if !HasAMX() {
		if SgemmAMX(1, 1, 1, []float32{1}, 1, []float32{1}, 1, []float32{0}, 1) {
			t.Fatal("SgemmAMX ran without AMX")
		}
		t.Skipf("AMX cannot be tested on this machine (%v): run this test on a CPU with AMX-BF16", cpufeat.AMX())
	}
	r := rand.New(rand.NewPCG(31, 32))
	round := func(s []float32) []float32 {
		out := make([]float32, len(s))
		for i, v := range s {
			out[i] = math.Float32frombits(toBF16(v) << 16)
		}
		return out
	}
	for _, g := range []struct{ m, n, k int }{{1, 1, 1}, {16, 16, 32}, {17, 33, 45}, {40, 20, 301}, {64, 64, 1024}} {
		a, b := randSlice(r, g.m*g.k), randSlice(r, g.k*g.n)
		c := make([]float32, g.m*g.n)
		if !SgemmAMX(g.m, g.n, g.k, a, g.k, b, g.n, c, g.n) {
			t.Fatal("SgemmAMX refused with AMX present")
		}
		want := refGemm(false, false, g.m, g.n, g.k, 1, round(a), g.k, round(b), g.n, 0, c, g.n)
		tol := 1e-6 * float64(g.k+4)
		for i, w := range want {
			if d := math.Abs(float64(c[i]) - w); math.IsNaN(d) || d > tol {
				t.Fatalf("%+v: C[%d] = %g, want %g (tol %g)", g, i, c[i], w, tol)
			}
		}
	}
}
