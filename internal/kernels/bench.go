package kernels

import (
	"math/rand/v2"
	"time"
)

// BenchSgemm times Sgemm (with the active variant) on random matrices of
// the given shape for about d and returns the speed in GFLOP/s, counting
// 2*m*n*k floating-point operations per call. One untimed call warms up
// the packing buffers first.
func BenchSgemm(m, n, k int, transA, transB bool, d time.Duration) (gflops float64) {
	r := rand.New(rand.NewPCG(1, 1))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = r.Float32() - 0.5
		}
		return s
	}
	a, b, c := fill(m*k), fill(k*n), make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	run := func() { Sgemm(transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, n) }
	run()
	calls := 0
	start := time.Now()
	for calls == 0 || time.Since(start) < d {
		run()
		calls++
	}
	sec := time.Since(start).Seconds()
	return 2 * float64(m) * float64(n) * float64(k) * float64(calls) / sec / 1e9
}
