//go:build !amd64 || purego

package kernels

func winoInputAVX512(v, src *float32, rowStride, c, tiles uintptr)       {}
func winoOutputAVX512(y, m *float32, rowStride, c, tiles uintptr)        {}
func winoGradAVX512(v, dy *float32, rowStride, c, tiles uintptr)         {}
func wino4InputAVX512(v, src, tmp *float32, rowStride, c, tiles uintptr) {}
func wino4OutputAVX512(y, m, tmp, bias, res *float32, rowStride, c, tiles uintptr, relu bool) {
}
