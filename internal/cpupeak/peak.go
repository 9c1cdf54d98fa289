// Package cpupeak measures the machine's fp32 FMA throughput with a loop of
// independent AVX-512 fused multiply-adds: the ceiling every GEMM and
// convolution figure in docs/BENCHMARKS.md is compared with.
package cpupeak

import (
	"sync"
	"time"
)

// Measure runs the FMA loop on `threads` goroutines for about d and returns
// GFLOP/s, or 0 when the CPU (or build) has no AVX-512.
func Measure(threads int, d time.Duration) float64 {
	if !available() || threads < 1 {
		return 0
	}
	const iters = 1 << 22
	best := 0.0
	for start := time.Now(); time.Since(start) < d; {
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := 0; i < threads; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); loop(iters) }()
		}
		wg.Wait()
		// The best short run is the least disturbed by other processes.
		best = max(best, float64(threads*iters*flopsPerIter)/time.Since(t0).Seconds()/1e9)
	}
	return best
}
