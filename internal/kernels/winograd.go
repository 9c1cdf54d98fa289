package kernels

import "fmt"

// Tile transforms of the Winograd convolution F(2x2,3x3) (Lavin & Gray
// 2016, "Fast Algorithms for Convolutional Neural Networks"), used by
// nn's Winograd path, in AVX-512 16 channels at a time. They are
// elementwise additions, memory-bound; nn keeps plain-Go versions of them
// for other CPUs and channel counts (and as their test reference).
//
//	Bᵀ = | 1  0 -1  0 |    Aᵀ = | 1  1  1  0 |
//	     | 0  1  1  0 |         | 0  1 -1 -1 |
//	     | 0 -1  1  0 |
//	     | 0  1  0 -1 |

// WinogradSupported reports whether WinogradInput and WinogradOutput run
// for c channels: on an AVX-512 CPU, for any c > 0 (a last partial group
// of 16 channels is masked).
func WinogradSupported(c int) bool { return hasBNAVX512 && c > 0 }

// WinogradInput transforms tiles consecutive 4x4 input blocks of an NHWC
// image with c channels: block t's top-left pixel is at src[base+2*t*c],
// its rows rowStride floats apart, and
//
//	v[t*16*c + (4i+j)*c + ch] = (Bᵀ d B)[i][j],  d[i][j] = src[base + 2*t*c + i*rowStride + j*c + ch].
//
// It reports false, doing nothing, when !WinogradSupported(c).
func WinogradInput(v, src []float32, base, rowStride, c, tiles int) bool {
	if !WinogradSupported(c) || tiles <= 0 {
		return false
	}
	last := base + 3*rowStride + (2*tiles+2)*c // one past the last value read
	if base < 0 || rowStride < 4*c || last > len(src) || len(v) < 16*c*tiles {
		panic(fmt.Sprintf("kernels.WinogradInput: src of %d values (need %d from %d, rows %d apart), v of %d values (need %d) for %d tiles of %d channels",
			len(src), last, base, rowStride, len(v), 16*c*tiles, tiles, c))
	}
	winoInputAVX512(&v[0], &src[base], uintptr(rowStride)*4, uintptr(c)*4, uintptr(tiles))
	return true
}

// WinogradOutput transforms tiles consecutive transformed output tiles
// m (tiles, 16, c) into their 2x2 pixels of an NHWC image with c
// channels, with an epilogue: tile t's top-left pixel goes to
// y[off+2*t*c], its second row rowStride floats further, and
//
//	y[o] = (Aᵀ M A)[i][j] + bias[ch] + res[o],  then max(y[o], 0) if relu,
//	o = off + 2*t*c + i*rowStride + j*c + ch,  M[k][l] = m[t*16*c + (4k+l)*c + ch],
//
// where a nil bias or res adds nothing. It reports false, doing nothing,
// when !WinogradSupported(c).
func WinogradOutput(y []float32, off, rowStride int, m []float32, c, tiles int, bias, res []float32, relu bool) bool {
	if !WinogradSupported(c) || tiles <= 0 {
		return false
	}
	last := off + rowStride + 2*tiles*c
	if off < 0 || rowStride < 2*c || last > len(y) || len(m) < 16*c*tiles || (bias != nil && len(bias) < c) || (res != nil && last > len(res)) {
		panic(fmt.Sprintf("kernels.WinogradOutput: y of %d values (need %d from %d, rows %d apart), m of %d values (need %d) for %d tiles of %d channels, bias of %d, residual of %d values",
			len(y), last, off, rowStride, len(m), 16*c*tiles, tiles, c, len(bias), len(res)))
	}
	var bp, rp *float32
	if bias != nil {
		bp = &bias[0]
	}
	if res != nil {
		rp = &res[off]
	}
	winoOutputAVX512(&y[off], &m[0], bp, rp, uintptr(rowStride)*4, uintptr(c)*4, uintptr(tiles), relu)
	return true
}

// WinogradGrad transforms the output gradient of tiles consecutive
// whole 2x2 tiles of an NHWC image with c channels into the gradient with
// respect to their transformed tiles, A dY Aᵀ (the transpose of
// WinogradOutput's transform): tile t's top-left pixel is at
// dy[off+2*t*c], its second row rowStride floats further, and
//
//	v[t*16*c + (4i+j)*c + ch] = sum over a, b < 2 of Aᵀ[a][i] Aᵀ[b][j] dy[off + 2*t*c + a*rowStride + b*c + ch].
//
// It reports false, doing nothing, when !WinogradSupported(c).
func WinogradGrad(v, dy []float32, off, rowStride, c, tiles int) bool {
	if !WinogradSupported(c) || tiles <= 0 {
		return false
	}
	last := off + rowStride + 2*tiles*c
	if off < 0 || rowStride < 2*c || last > len(dy) || len(v) < 16*c*tiles {
		panic(fmt.Sprintf("kernels.WinogradGrad: dy of %d values (need %d from %d, rows %d apart), v of %d values (need %d) for %d tiles of %d channels",
			len(dy), last, off, rowStride, len(v), 16*c*tiles, tiles, c))
	}
	winoGradAVX512(&v[0], &dy[off], uintptr(rowStride)*4, uintptr(c)*4, uintptr(tiles))
	return true
}
