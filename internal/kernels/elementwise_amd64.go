//go:build amd64 && !purego

package kernels

//go:noescape
func addReLUAVX512(out, a, b *float32, n int, relu bool)

//go:noescape
func reluGradAVX512(dx, dy, y *float32, n int)
