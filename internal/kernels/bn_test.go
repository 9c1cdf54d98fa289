package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBNKernels checks the BN kernels against their definitions, with and
// without the ReLU mask (y has exact zeros, as after a ReLU), for channel
// counts that fill whole registers and that end in a partial (masked)
// group; nothing past the outputs may be written.
func TestBNKernels(t *testing.T) {
	if !BNSupported(16) {
		if BNAffine(nil, nil, nil, nil, 1, 16, false) {
			t.Fatal("BNAffine ran although BNSupported(16) is false")
		}
		t.Skip("no AVX-512 BN kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-4*(1+math.Abs(want)) }
	for _, c := range []int{16, 32, 64, 24, 8, 3, 17, 264} {
		for _, rows := range []int{1, 37} {
			for _, relu := range []bool{false, true} {
				x, dy := vec(rows*c), vec(rows*c)
				y := vec(rows * c)
				for i := range y {
					y[i] = max(y[i], 0)
				}
				scale, shift, mean, invStd, k, a, cc := vec(c), vec(c), vec(c), vec(c), vec(c), vec(c), vec(c)
				g := func(i int) float64 {
					if relu && !(y[i] > 0) {
						return 0
					}
					return float64(dy[i])
				}
				out, outIntact := guarded(rows * c)
				BNAffine(out, x, scale, shift, rows, c, relu)
				outIntact(t, "BNAffine")
				for i, v := range out {
					want := float64(x[i])*float64(scale[i%c]) + float64(shift[i%c])
					if relu {
						want = max(want, 0)
					}
					if !near(float64(v), want) {
						t.Fatalf("BNAffine c=%d rows=%d relu=%v: y[%d] = %g, want %g", c, rows, relu, i, v, want)
					}
				}
				bm, bmIntact := guarded(c)
				bm2, bm2Intact := guarded(c)
				BNBlockStats(bm, bm2, x, rows, c)
				bmIntact(t, "BNBlockStats mean")
				bm2Intact(t, "BNBlockStats m2")
				for j := 0; j < c; j++ {
					var s float64
					for r := 0; r < rows; r++ {
						s += float64(x[r*c+j])
					}
					m := s / float64(rows)
					var q float64
					for r := 0; r < rows; r++ {
						d := float64(x[r*c+j]) - m
						q += d * d
					}
					if !near(float64(bm[j]), m) || !near(float64(bm2[j]), q) {
						t.Fatalf("BNBlockStats c=%d rows=%d: channel %d mean %g m2 %g, want %g %g", c, rows, j, bm[j], bm2[j], m, q)
					}
				}
				sg, sgIntact := guarded(c)
				sgx, sgxIntact := guarded(c)
				BNGradSums(sg, sgx, x, y, dy, mean, invStd, rows, c, relu)
				sgIntact(t, "BNGradSums sg")
				sgxIntact(t, "BNGradSums sgx")
				for j := 0; j < c; j++ {
					var s, sx float64
					for r := 0; r < rows; r++ {
						i := r*c + j
						s += g(i)
						sx += g(i) * (float64(x[i]) - float64(mean[j])) * float64(invStd[j])
					}
					if !near(float64(sg[j]), s) || !near(float64(sgx[j]), sx) {
						t.Fatalf("BNGradSums c=%d rows=%d relu=%v: channel %d sums %g %g, want %g %g", c, rows, relu, j, sg[j], sgx[j], s, sx)
					}
				}
				for _, withRes := range []bool{false, true} {
					var res []float32
					if withRes {
						res = dy
					}
					copy(out, x)
					BiasResReLU(out, shift, res, rows, c, relu)
					outIntact(t, "BiasResReLU")
					for i, v := range out {
						want := float64(x[i]) + float64(shift[i%c])
						if withRes {
							want += float64(dy[i])
						}
						if relu {
							want = max(want, 0)
						}
						if !near(float64(v), want) {
							t.Fatalf("BiasResReLU c=%d rows=%d relu=%v res=%v: y[%d] = %g, want %g", c, rows, relu, withRes, i, v, want)
						}
					}
				}
				BNGrad(out, x, y, dy, k, a, cc, rows, c, relu)
				outIntact(t, "BNGrad")
				for i, v := range out {
					j := i % c
					want := float64(k[j])*g(i) + float64(a[j])*float64(x[i]) + float64(cc[j])
					if !near(float64(v), want) {
						t.Fatalf("BNGrad c=%d rows=%d relu=%v: dx[%d] = %g, want %g", c, rows, relu, i, v, want)
					}
				}
			}
		}
	}
}
