//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

var hasBNAVX512 = cpu.X86.HasAVX512F

//go:noescape
func bnAffineAVX512(y, x, scale, shift *float32, rows, c int, relu bool)

//go:noescape
func bnGradSumsAVX512(sg, sgx, x, y, dy, mean, invStd *float32, rows, c int, relu bool)

//go:noescape
func bnGradAVX512(dx, x, y, dy, k, a, cc *float32, rows, c int, relu bool)

//go:noescape
func biasResReLUAVX512(y, bias, res *float32, rows, c int, relu bool)

//go:noescape
func bnBlockStatsAVX512(mean, m2, x *float32, rows, c int, inv float32)
