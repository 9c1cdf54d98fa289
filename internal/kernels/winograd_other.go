//go:build !amd64 || purego

package kernels

// Without AVX-512 assembly, WinogradSupported is false and nn runs its
// plain-Go transforms; these are never called.

func winoInputAVX512(v, src *float32, rowStride, c, tiles uintptr) {}
func winoOutputAVX512(y, m, bias, res *float32, rowStride, c, tiles uintptr, relu bool) {
}
func winoGradAVX512(v, dy *float32, rowStride, c, tiles uintptr)         {}
func wino4InputAVX512(v, src, tmp *float32, rowStride, c, tiles uintptr) {}
func wino4OutputAVX512(y, m, tmp, bias, res *float32, rowStride, c, tiles uintptr, relu bool) {
}
