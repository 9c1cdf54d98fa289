//go:build !amd64 || purego

package kernels

func winoInputAVX512(v, src *float32, rowStride, c, tiles uintptr) {}
func winoOutputAVX512(y, m *float32, rowStride, c, tiles uintptr)  {}
func winoGradAVX512(v, dy *float32, rowStride, c, tiles uintptr)   {}
