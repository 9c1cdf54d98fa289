//go:build !amd64 || purego

package kernels

const hasBNAVX512 = false

func bnAffineAVX512(y, x, scale, shift *float32, rows, c int, relu bool)                {}
func bnGradSumsAVX512(sg, sgx, x, y, dy, mean, invStd *float32, rows, c int, relu bool) {}
func bnGradAVX512(dx, x, y, dy, k, a, cc *float32, rows, c int, relu bool)              {}

func biasResReLUAVX512(y, bias, res *float32, rows, c int, relu bool) {}

func bnBlockStatsAVX512(mean, m2, x *float32, rows, c int, inv float32) {}
