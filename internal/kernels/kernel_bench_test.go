package kernels

import (
	"testing"
)

// BenchmarkMicroKernel measures each micro-kernel alone on one core with
// L1-resident operands: the ceiling for the whole GEMM.
func BenchmarkMicroKernel(b *testing.B) {
	all := variants
	if bf16Variant != nil {
		all = append(all[:len(all):len(all)], bf16Variant)
	}
	for _, v := range all {
		for i := range v.kernels {
			kern := &v.kernels[i]
			b.Run(kern.name, func(b *testing.B) {
				const kc = 256
				a := make([]float32, kern.mr*kc)
				bp := make([]float32, kc*kern.nr)
				c := make([]float32, kern.mr*kern.nr)
				fn, rs := kern.fn, uintptr(kc)*4 // A row by row
				if fn == nil {
					fn, rs = kern.fnK, uintptr(kern.mr)*4 // A k-major
				}
				for range b.N {
					fn(kc, &a[0], rs, kern.mr, &bp[0], uintptr(kern.nr)*4, 0, &c[0], uintptr(kern.nr)*4, 1, 1)
				}
				flops := 2 * float64(kern.mr*kern.nr*kc)
				if v == bf16Variant {
					flops *= 2 // k counts pairs of values
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
