// Package cpupeak measures the machine's arithmetic ceilings with loops of
// independent multiply-adds, the figures every GEMM and convolution number
// in docs/BENCHMARKS.md is compared with:
//
//   - Measure: fp32 AVX-512 FMAs (VFMADD231PS zmm), 32 FLOPs per instruction;
//   - MeasureBF16: AVX512-BF16 dot products (VDPBF16PS zmm: 16 lanes, each
//     a pair of bf16 products added to an fp32 sum), 64 FLOPs per instruction;
//   - MeasureAMX: AMX tile multiplies (TDPBF16PS on 16x64-byte tiles:
//     16x16 fp32 sums of 32 bf16 products each), 16,384 FLOPs per instruction.
//
// Each returns 0 where the CPU, the OS or the build lacks the instructions.
package cpupeak

import (
	"runtime"
	"sync"
	"time"
)

// Measure runs the fp32 FMA loop on `threads` goroutines for about d and
// returns GFLOP/s, or 0 when the CPU (or build) has no AVX-512.
func Measure(threads int, d time.Duration) float64 {
	return measure(threads, d, available(), loop, flopsPerIter)
}

// MeasureBF16 is Measure for the VDPBF16PS loop: 0 without AVX512-BF16.
func MeasureBF16(threads int, d time.Duration) float64 {
	return measure(threads, d, availableBF16(), loopBF16, flopsPerIterBF16)
}

// MeasureAMX is Measure for the TDPBF16PS tile loop: 0 without AMX-BF16
// or without the tile state granted by the OS (cpufeat.AMX).
func MeasureAMX(threads int, d time.Duration) float64 {
	return measure(threads, d, availableAMX(), loopAMX, flopsPerIterAMX)
}

// measure runs loop(iters) on threads goroutines, repeatedly for about d,
// and returns the best rate in GFLOP/s.
func measure(threads int, d time.Duration, ok bool, loop func(int), flops int) float64 {
	if !ok || threads < 1 {
		return 0
	}
	iters := (1 << 22) * (12 * 16 * 2) / flops // about 10 ms per call
	best := 0.0
	for start := time.Now(); time.Since(start) < d; {
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := 0; i < threads; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The tile state belongs to the thread (the loops are
				// single assembly calls, which Go never preempts inside).
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				loop(iters)
			}()
		}
		wg.Wait()
		// The best short run is the least disturbed by other processes.
		best = max(best, float64(threads*iters*flops)/time.Since(t0).Seconds()/1e9)
	}
	return best
}
