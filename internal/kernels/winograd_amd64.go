//go:build amd64 && !purego

package kernels

//go:noescape
func winoInputAVX512(v, src *float32, rowStride, c, tiles uintptr)

//go:noescape
func winoOutputAVX512(y, m, bias, res *float32, rowStride, c, tiles uintptr, relu bool)

//go:noescape
func winoGradAVX512(v, dy *float32, rowStride, c, tiles uintptr)

//go:noescape
func wino4InputAVX512(v, src, tmp *float32, rowStride, c, tiles uintptr)

//go:noescape
func wino4OutputAVX512(y, m, tmp, bias, res *float32, rowStride, c, tiles uintptr, relu bool)
