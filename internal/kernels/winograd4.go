package kernels

import "fmt"

// Tile transforms of the Winograd convolution F(4x4,3x3) (Lavin & Gray
// 2016): 6x6 input blocks give 4x4 output tiles, 36 products per tile
// and channel pair where the direct convolution does 16*9 = 144 (4x
// fewer), at the price of larger transform coefficients and so a larger
// rounding error than F(2x2,3x3).
//
//	Bᵀ = | 4  0 -5  0  1  0 |    Aᵀ = | 1  1  1  1  1  0 |
//	     | 0 -4 -4  1  1  0 |         | 0  1 -1  2 -2  0 |
//	     | 0  4 -4 -1  1  0 |         | 0  1  1  4  4  0 |
//	     | 0 -2 -1  2  1  0 |         | 0  1 -1  8 -8  1 |
//	     | 0  2 -1 -2  1  0 |
//	     | 0  4  0 -5  0  1 |

// Winograd4Scratch is the per-goroutine scratch space of Winograd4Input
// and Winograd4Output (intermediate transforms of 16 channels).
type Winograd4Scratch struct{ tmp [36 * 16]float32 }

// Winograd4Input transforms tiles consecutive 6x6 input blocks of an NHWC
// image with c channels: block t's top-left pixel is at src[base+4*t*c],
// its rows rowStride floats apart, and
//
//	v[t*36*c + (6i+j)*c + ch] = (Bᵀ d B)[i][j],  d[i][j] = src[base + 4*t*c + i*rowStride + j*c + ch].
//
// It reports false, doing nothing, when !WinogradSupported(c).
func Winograd4Input(s *Winograd4Scratch, v, src []float32, base, rowStride, c, tiles int) bool {
	if !WinogradSupported(c) || tiles <= 0 {
		return false
	}
	last := base + 5*rowStride + (4*tiles+2)*c // one past the last value read
	if base < 0 || rowStride < 6*c || last > len(src) || len(v) < 36*c*tiles {
		panic(fmt.Sprintf("kernels.Winograd4Input: src of %d values (need %d from %d, rows %d apart), v of %d values (need %d) for %d tiles of %d channels",
			len(src), last, base, rowStride, len(v), 36*c*tiles, tiles, c))
	}
	wino4InputAVX512(&v[0], &src[base], &s.tmp[0], uintptr(rowStride)*4, uintptr(c)*4, uintptr(tiles))
	return true
}

// Winograd4Output transforms tiles consecutive transformed output tiles
// m (tiles, 36, c) into their 4x4 pixels of an NHWC image with c
// channels, with an epilogue: tile t's top-left pixel goes to
// y[off+4*t*c], its rows rowStride floats apart, and
//
//	y[o] = (Aᵀ M A)[i][j] + bias[ch] + res[o],  then max(y[o], 0) if relu,
//	o = off + 4*t*c + i*rowStride + j*c + ch,  M[k][l] = m[t*36*c + (6k+l)*c + ch],
//
// where a nil bias or res adds nothing. It reports false, doing nothing,
// when !WinogradSupported(c).
func Winograd4Output(s *Winograd4Scratch, y []float32, off, rowStride int, m []float32, c, tiles int, bias, res []float32, relu bool) bool {
	if !WinogradSupported(c) || tiles <= 0 {
		return false
	}
	last := off + 3*rowStride + 4*tiles*c
	if off < 0 || rowStride < 4*c || last > len(y) || len(m) < 36*c*tiles || (bias != nil && len(bias) < c) || (res != nil && last > len(res)) {
		panic(fmt.Sprintf("kernels.Winograd4Output: y of %d values (need %d from %d, rows %d apart), m of %d values (need %d) for %d tiles of %d channels, bias of %d, residual of %d values",
			len(y), last, off, rowStride, len(m), 36*c*tiles, tiles, c, len(bias), len(res)))
	}
	var bp, rp *float32
	if bias != nil {
		bp = &bias[0]
	}
	if res != nil {
		rp = &res[off]
	}
	wino4OutputAVX512(&y[off], &m[0], &s.tmp[0], bp, rp, uintptr(rowStride)*4, uintptr(c)*4, uintptr(tiles), relu)
	return true
}
