package kernels

import (
	"fmt"
	"github.com/residual-go/residual/internal/cputime"
	"testing"
)

// benchShapes are the GEMMs that matter for the project: a square
// reference and the three GEMMs of each 3x3 convolution stage of a
// CIFAR-style ResNet on 64 images of 48x48 in NHWC (im2col), plus batch-1
// inference and a Linear layer.
var benchShapes = []struct {
	name           string
	m, n, k        int
	transA, transB bool
}{
	{"square1024", 1024, 1024, 1024, false, false},
	{"fwd_c16", 64 * 48 * 48, 16, 9 * 16, false, true},
	{"fwd_c32", 64 * 24 * 24, 32, 9 * 32, false, true},
	{"fwd_c64", 64 * 12 * 12, 64, 9 * 64, false, true},
	{"bwdData_c16", 64 * 48 * 48, 9 * 16, 16, false, false},
	{"bwdData_c32", 64 * 24 * 24, 9 * 32, 32, false, false},
	{"bwdData_c64", 64 * 12 * 12, 9 * 64, 64, false, false},
	{"bwdWeight_c16", 16, 9 * 16, 64 * 48 * 48, true, false},
	{"bwdWeight_c32", 32, 9 * 32, 64 * 24 * 24, true, false},
	{"bwdWeight_c64", 64, 9 * 64, 64 * 12 * 12, true, false},
	{"infer1_c16", 48 * 48, 16, 9 * 16, false, true},
	{"infer1_c64", 12 * 12, 64, 9 * 64, false, true},
	{"linear64", 64, 512, 512, false, true},
}

// BenchmarkSgemm reports GFLOP/s (2*m*n*k per wall-clock second) and,
// because the machine may be shared, GFLOP/cpu-s: the same work per second
// of CPU time used by the whole process (both workers), i.e. the speed of
// one core as if it had not been interrupted. Workers waiting for each
// other are not counted, so multiply it by the cores only as an upper
// bound for the parallel speed.
func BenchmarkSgemm(b *testing.B) {
	for _, v := range Variants() {
		for _, s := range benchShapes {
			b.Run(fmt.Sprintf("%s/%s", v, s.name), func(b *testing.B) {
				restore, err := Use(v)
				if err != nil {
					b.Fatal(err)
				}
				defer restore()
				lda, ldb := s.k, s.n
				if s.transA {
					lda = s.m
				}
				if s.transB {
					ldb = s.k
				}
				a := make([]float32, s.m*s.k)
				bm := make([]float32, s.k*s.n)
				c := make([]float32, s.m*s.n)
				for i := range a {
					a[i] = float32(i%7) - 3
				}
				for i := range bm {
					bm[i] = float32(i%5) - 2
				}
				Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				b.ResetTimer()
				cpu0 := cputime.Process().Seconds()
				for range b.N {
					Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				cpu := cputime.Process().Seconds() - cpu0
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu > 0 {
					b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
