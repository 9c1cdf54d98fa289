//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:generate go run ./asmgen -out gemm_amd64.s -stubs gemm_amd64_stubs.go

var (
	// The speeds are relative GEMM throughputs measured on Zen 4: 8-row
	// tiles beat 12-row ones in place (12 rows of A streaming at once
	// prefetch worse), except for short k (see pick).
	avx512Variant = &variant{
		name: "avx512",
		dot8: dot8AVX512,
		kernels: []kernelInfo{
			{name: "kernel12x32AVX512", mr: 12, nr: 32, speed: 0.97, fn: kernel12x32AVX512, fnK: kernel12x32AVX512K, fnNT: kernel12x32AVX512NT, ntAlign: 64},
			{name: "kernel12x16AVX512", mr: 12, nr: 16, speed: 0.9, fn: kernel12x16AVX512, fnK: kernel12x16AVX512K, fnNT: kernel12x16AVX512NT, ntAlign: 64},
			{name: "kernel8x32AVX512", mr: 8, nr: 32, speed: 1, fn: kernel8x32AVX512, fnK: kernel8x32AVX512K, fnNT: kernel8x32AVX512NT, ntAlign: 64},
			{name: "kernel16x16AVX512K", mr: 16, nr: 16, speed: 1.02, fnK: kernel16x16AVX512K},
			{name: "kernel8x16AVX512", mr: 8, nr: 16, speed: 0.98, fn: kernel8x16AVX512, fnK: kernel8x16AVX512K, fnNT: kernel8x16AVX512NT, ntAlign: 64},
			// For a few rows (Linear layers on a small batch).
			{name: "kernel4x32AVX512", mr: 4, nr: 32, speed: 0.8, fn: kernel4x32AVX512, fnK: kernel4x32AVX512K, fnNT: kernel4x32AVX512NT, ntAlign: 64},
			{name: "kernel1x64AVX512", mr: 1, nr: 64, speed: 0.4, fn: kernel1x64AVX512, fnK: kernel1x64AVX512K, fnNT: kernel1x64AVX512NT, ntAlign: 64},
		},
	}
	avx2Variant = &variant{
		name:    "avx2",
		kernels: []kernelInfo{{name: "kernel6x16AVX2", mr: 6, nr: 16, speed: 1, fn: kernel6x16AVX2, fnK: kernel6x16AVX2K, fnNT: kernel6x16AVX2NT, ntAlign: 32}},
	}
)

func init() {
	var simd []*variant
	if cpu.X86.HasAVX512F {
		simd = append(simd, avx512Variant)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		simd = append(simd, avx2Variant)
	}
	if cpu.X86.HasAVX {
		packBRowsFn = packBRowsAVX2
		transposePackFn = transposePackAVX2
	}
	sfenceFn = sfence
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 {
		cvtRowBF16Fn, cvtPairsBF16Fn = cvtRowBF16AVX512, cvtPairsBF16AVX512
		bf16Variant = &variant{
			name: "avx512bf16",
			kernels: []kernelInfo{
				{name: "kernelBF16x12x32AVX512", mr: 12, nr: 32, speed: 1, fn: kernelBF16x12x32AVX512},
				{name: "kernelBF16x12x16AVX512", mr: 12, nr: 16, speed: 0.95, fn: kernelBF16x12x16AVX512},
			},
		}
	}
	variants = append(simd, variants...)
	active.Store(variants[0])
}
