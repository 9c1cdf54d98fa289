package kernels

import (
	"fmt"
	"sync"
	"unsafe"
)

// Implicit-GEMM convolution: the GEMM's A operand is read straight from a
// zero-padded NHWC image, so no im2col matrix is ever written.
//
// In NHWC, the KW*C values under one kernel row of the window of output
// pixel (oy,ox) are contiguous in the padded source: they start at pixel
// (oy*S+ky, ox*S). So, for a fixed kernel row ky, the windows of the Wo
// pixels of one output row form a matrix whose rows are KW*C long and
// S*C floats apart (they overlap when S < KW): exactly what a micro-kernel
// reading A in place wants (row i at a + i*rs). A convolution is then, for
// every output row, KH such GEMMs accumulated into the same C tiles:
//
//	y[n,oy,ox,:] = sum over ky of  xpad[n, oy*S+ky, ox*S : ox*S+KW, :] · W[:, ky, :, :]ᵀ
//
// and the C tile stays in registers/L1 across the KH calls. Compared with
// im2col + GEMM this saves writing and re-reading a matrix KH*KW times the
// size of the input.

// ConvWeights is a convolution weight (Cout, KH, KW*C) packed for
// ConvRow: for every kernel row, the (KW*C) x Cout matrix Wᵀ as panels of
// NR columns, zero-padded past Cout. Pack it again whenever the weight
// changes. The zero value is ready for Pack.
type ConvWeights struct {
	kern     *kernelInfo
	cout, kh int
	k        int // KW*C: the length of one kernel row
	panels   int // ceil(Cout / NR)
	packed   []float32
}

// Pack packs w (Cout, KH, K) for ConvRow, choosing the micro-kernel for
// output rows of wo pixels. It allocates only when the packed size grows.
func (cw *ConvWeights) Pack(w []float32, cout, kh, k, wo int) {
	if cout <= 0 || kh <= 0 || k <= 0 || wo <= 0 || len(w) < cout*kh*k {
		panic(fmt.Sprintf("kernels.ConvWeights.Pack: weight of %d values for cout=%d kh=%d k=%d wo=%d", len(w), cout, kh, k, wo))
	}
	cw.packFor(active.Load().pick(wo, cout, false), w, cout, kh, k)
}

// Suits reports whether the weights are packed for the micro-kernel that
// Pack would choose now for rows of wo pixels. ConvRow is correct for any
// wo whatever the packing; Suits lets callers whose row length varies
// (Winograd blocks follow the batch size) repack only when it pays.
func (cw *ConvWeights) Suits(wo int) bool {
	return cw.kern != nil && cw.kern == active.Load().pick(wo, cw.cout, false)
}

// packFor packs w for the micro-kernel kern.
func (cw *ConvWeights) packFor(kern *kernelInfo, w []float32, cout, kh, k int) {
	nr := kern.nr
	panels := (cout + nr - 1) / nr
	cw.kern, cw.cout, cw.kh, cw.k, cw.panels = kern, cout, kh, k, panels
	cw.packed = grow(&cw.packed, kh*panels*k*nr)
	// packed[ky][q][p][jj] = W[q*NR+jj, ky, p]
	for ky := 0; ky < kh; ky++ {
		for q := 0; q < panels; q++ {
			panel := cw.packed[(ky*panels+q)*k*nr : (ky*panels+q+1)*k*nr]
			for jj := 0; jj < nr; jj++ {
				co := q*nr + jj
				if co >= cout {
					for p := 0; p < k; p++ {
						panel[p*nr+jj] = 0
					}
					continue
				}
				src := w[(co*kh+ky)*k : (co*kh+ky+1)*k]
				for p, v := range src {
					panel[p*nr+jj] = v
				}
			}
		}
	}
}

// ConvScratch is ConvRow's scratch space (a register tile for the edges
// of y). Each goroutine running ConvRow needs its own: take one with
// GetConvScratch and give it back with PutConvScratch. (A stack array would
// escape to the heap: the micro-kernels are called through func values.)
type ConvScratch struct{ tile [512]float32 } // >= the largest MR x NR

var (
	scratchMu   sync.Mutex
	scratchFree []*ConvScratch
)

// GetConvScratch returns a ConvScratch from a free list (allocating one
// only when the list is empty).
func GetConvScratch() *ConvScratch {
	scratchMu.Lock()
	defer scratchMu.Unlock()
	if n := len(scratchFree); n > 0 {
		s := scratchFree[n-1]
		scratchFree = scratchFree[:n-1]
		return s
	}
	return new(ConvScratch)
}

// PutConvScratch returns s to the free list.
func PutConvScratch(s *ConvScratch) {
	scratchMu.Lock()
	scratchFree = append(scratchFree, s)
	scratchMu.Unlock()
}

// ConvRow computes one output row of a convolution on the calling
// goroutine (callers parallelise over rows):
//
//	y[ox*ldy + j] = beta*y[ox*ldy + j] + sum over ky < KH, p < K of
//	    src[off + ky*tapStride + ox*pixStride + p] * W[j, ky, p]
//
// for ox < wo and j < Cout: src is the padded image, off the position of
// the row's first window, tapStride the distance between kernel rows
// (padded width * C), pixStride the distance between windows (stride * C).
// y is (wo, ldy) with ldy >= Cout. With beta == 0, y is overwritten.
// scratch is the calling goroutine's own (see ConvScratch).
func (cw *ConvWeights) ConvRow(scratch *ConvScratch, src []float32, off, tapStride, pixStride, wo int, y []float32, ldy int, beta float32) {
	if cw.kern == nil {
		panic("kernels.ConvWeights.ConvRow: weights not packed")
	}
	k, kh, cout := cw.k, cw.kh, cw.cout
	if wo <= 0 {
		return
	}
	last := off + (kh-1)*tapStride + (wo-1)*pixStride + k // one past the last value read
	if off < 0 || pixStride <= 0 || tapStride < 0 || last > len(src) || ldy < cout || len(y) < (wo-1)*ldy+cout {
		panic(fmt.Sprintf("kernels.ConvWeights.ConvRow: src of %d values (need %d from offset %d), y of %d values for %d pixels of stride %d (cout %d)",
			len(src), last, off, len(y), wo, ldy, cout))
	}
	mr, nr := cw.kern.mr, cw.kern.nr
	fn := cw.kern.fn
	rs := uintptr(pixStride) * 4
	ldc := uintptr(ldy) * 4
	tile := scratch.tile[:mr*nr]
	for i0 := 0; i0 < wo; i0 += mr {
		rows := min(mr, wo-i0)
		for q := 0; q < cw.panels; q++ {
			j := q * nr
			cols := min(nr, cout-j)
			full := rows == mr && cols == nr
			cPtr, cs, b0 := &tile[0], uintptr(nr)*4, float32(0)
			if full {
				cPtr, cs, b0 = &y[i0*ldy+j], ldc, beta
			}
			for ky := 0; ky < kh; ky++ {
				a := &src[off+ky*tapStride+i0*pixStride]
				b := &cw.packed[(ky*cw.panels+q)*k*nr]
				bt := b0
				if ky > 0 {
					bt = 1
				}
				// Prefetch the next kernel row's (or tile's) A: it is in
				// L1/L2 already in most cases, so this is cheap.
				pf := uintptr(unsafe.Pointer(a)) + uintptr(tapStride)*4
				fn(k, a, rs, rows, b, uintptr(nr)*4, pf, cPtr, cs, 1, bt)
			}
			if !full {
				for r := 0; r < rows; r++ {
					crow := y[(i0+r)*ldy+j : (i0+r)*ldy+j+cols]
					trow := tile[r*nr : r*nr+cols]
					if beta == 0 {
						copy(crow, trow)
					} else {
						for c, v := range trow {
							crow[c] = v + beta*crow[c]
						}
					}
				}
			}
		}
	}
}

// ConvWeightGrad computes the weight gradient of an implicit-GEMM
// convolution row by row, reading dy and the padded input in place:
//
//	dW[co, ky, p] += sum over ox < Wo of dy[ox, co] * src[off + ky*tapStride + ox*pixStride + p]
//
// which is dW = dyᵀ · cols for one output row without the cols matrix. It
// runs the k-major micro-kernels (A = dy read MR channels at a time, B =
// the windows read in place, one window per pixel), so it needs Cout to be
// a multiple of their MR and K of their NR; Plan tells.
type ConvWeightGrad struct {
	kern        *kernelInfo
	cout, kh, k int
}

// Plan prepares g for a weight (Cout, KH, K) and reports whether the
// shapes suit it (else use an explicit im2col and Sgemm).
func (g *ConvWeightGrad) Plan(cout, kh, k int) bool {
	kern := active.Load().pick(cout, k, true)
	if kern.fnK == nil || cout%kern.mr != 0 || k%kern.nr != 0 {
		g.kern = nil
		return false
	}
	g.kern, g.cout, g.kh, g.k = kern, cout, kh, k
	return true
}

// Row adds one output row's contribution to dw (Cout, KH, K): dy holds the
// row's wo pixels, ldy floats apart (ldy >= Cout); src, off, tapStride
// and pixStride locate the windows as for ConvWeights.ConvRow.
func (g *ConvWeightGrad) Row(dy []float32, ldy int, src []float32, off, tapStride, pixStride, wo int, dw []float32) {
	if g.kern == nil {
		panic("kernels.ConvWeightGrad.Row: not planned")
	}
	cout, kh, k := g.cout, g.kh, g.k
	if wo <= 0 {
		return
	}
	last := off + (kh-1)*tapStride + (wo-1)*pixStride + k
	if off < 0 || pixStride <= 0 || tapStride < 0 || last > len(src) || ldy < cout || len(dy) < (wo-1)*ldy+cout || len(dw) < cout*kh*k {
		panic(fmt.Sprintf("kernels.ConvWeightGrad.Row: src of %d values (need %d from offset %d), dy of %d values for %d pixels of stride %d (cout %d), dw of %d values (need %d)",
			len(src), last, off, len(dy), wo, ldy, cout, len(dw), cout*kh*k))
	}
	mr, nr := g.kern.mr, g.kern.nr
	fn := g.kern.fnK
	ldw := kh * k
	for ky := 0; ky < kh; ky++ {
		for j := 0; j < k; j += nr {
			b := &src[off+ky*tapStride+j]
			for co := 0; co < cout; co += mr {
				fn(wo, &dy[co], uintptr(ldy)*4, mr, b, uintptr(pixStride)*4, uintptr(unsafe.Pointer(b)),
					&dw[co*ldw+ky*k+j], uintptr(ldw)*4, 1, 1)
			}
		}
	}
}

// HasConvBF16 reports whether PackBF16 can succeed on this machine (an
// AVX512_BF16 CPU).
func HasConvBF16() bool { return bf16Variant != nil }

// PackBF16 packs w (Cout, KH, K) for ConvRow with the bfloat16 micro-
// kernels (VDPBF16PS: twice the multiply-adds per instruction of float32,
// with inputs rounded to 8 significant bits; see SgemmBF16). The source
// given to ConvRow must then hold bf16 pairs (see ToBF16Pairs), one 32-bit
// word per two consecutive values, and every offset and stride is counted
// in words. It reports false, packing nothing, when the CPU has no
// AVX512_BF16 or K is odd (a pair must not straddle two windows).
func (cw *ConvWeights) PackBF16(w []float32, cout, kh, k, wo int) bool {
	if bf16Variant == nil || k%2 != 0 {
		return false
	}
	if cout <= 0 || kh <= 0 || k <= 0 || wo <= 0 || len(w) < cout*kh*k {
		panic(fmt.Sprintf("kernels.ConvWeights.PackBF16: weight of %d values for cout=%d kh=%d k=%d wo=%d", len(w), cout, kh, k, wo))
	}
	kern := bf16Variant.pick(wo, cout, false)
	nr, kp := kern.nr, k/2
	panels := (cout + nr - 1) / nr
	cw.kern, cw.cout, cw.kh, cw.k, cw.panels = kern, cout, kh, kp, panels
	cw.packed = grow(&cw.packed, kh*panels*kp*nr)
	packed := words(cw.packed)
	// packed[ky][q][p][jj] = bf16(W[q*NR+jj, ky, 2p]) | bf16(W[.., 2p+1])<<16
	for ky := 0; ky < kh; ky++ {
		for q := 0; q < panels; q++ {
			panel := packed[(ky*panels+q)*kp*nr : (ky*panels+q+1)*kp*nr]
			for jj := 0; jj < nr; jj++ {
				co := q*nr + jj
				if co >= cout {
					for p := 0; p < kp; p++ {
						panel[p*nr+jj] = 0
					}
					continue
				}
				src := w[(co*kh+ky)*k : (co*kh+ky+1)*k]
				for p := 0; p < kp; p++ {
					panel[p*nr+jj] = toBF16(src[2*p]) | toBF16(src[2*p+1])<<16
				}
			}
		}
	}
	return true
}

// ToBF16Pairs rounds src[:2*n] to bfloat16 and stores the pairs in dst[:n]
// (as the bit patterns of 32-bit words): dst[q] = bf16(src[2q]) |
// bf16(src[2q+1])<<16, the layout of ConvRow's source for PackBF16 weights.
func ToBF16Pairs(dst, src []float32, n int) {
	if len(dst) < n || len(src) < 2*n {
		panic(fmt.Sprintf("kernels.ToBF16Pairs: %d pairs from %d values into %d words", n, len(src), len(dst)))
	}
	d := words(dst[:n])
	q := 0
	if cvtRowBF16Fn != nil && n >= 8 {
		q = n &^ 7 // 16 values at a time
		cvtRowBF16Fn(&d[0], &src[0], 2*q)
	}
	for ; q < n; q++ {
		d[q] = toBF16(src[2*q]) | toBF16(src[2*q+1])<<16
	}
}
