package kernels

import (
	"math"
	"unsafe"
)

// bf16Variant holds the bfloat16 micro-kernels (nil when the CPU or build
// has none). Their A and B operands are 32-bit words each holding two
// bfloat16 values of consecutive k (the lower half first), and their k
// counts such pairs; C is float32 as in every other kernel.
var bf16Variant *variant

// HasBF16 reports whether SgemmBF16 multiplies in bfloat16 on this machine
// (AVX512_BF16); when it does not, SgemmBF16 is Sgemm.
func HasBF16() bool { return bf16Variant != nil }

// SgemmBF16 computes C = alpha*op(A)*op(B) + beta*C like Sgemm, but with
// the values of A and B rounded to bfloat16 (8 significant bits, the
// exponent range of float32) and the products summed in float32 by
// VDPBF16PS. It is meant for inference, where about 3 significant digits
// of the inputs suffice; the results differ from Sgemm by a relative 1e-2
// or so. Denormals are flushed to zero and NaNs in A or B are not
// preserved. Without AVX512_BF16 (see HasBF16) it is exactly Sgemm.
//
// A and B are converted while they are packed, which costs time comparable
// to the multiplication itself unless n (for A) and m (for B) are large.
func SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if bf16Variant == nil {
		Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	call := getCall()
	*call.p = problem{kern: bf16Variant.pickK(m, n, k, false), transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, bf16: true}
	call.execute()
}

// toBF16 rounds x to the nearest bfloat16 (ties to even) and returns its
// bits. NaNs stay NaNs.
func toBF16(x float32) uint32 {
	bits := math.Float32bits(x)
	if bits&0x7fffffff > 0x7f800000 {
		return bits>>16 | 0x40 // quiet NaN
	}
	bits += 0x7fff + (bits>>16)&1
	return bits >> 16
}

// words views a float32 buffer as the 32-bit words the bf16 kernels read.
func words(buf []float32) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf))
}

// runBF16 is run for the bf16 kernels: the same loop nest, with k counted
// in pairs. A is always packed (row by row, kcp words per row) and B into
// panels of nr columns, kcp rows of nr words, both rounded to bfloat16.
func (p *problem) runBF16(ws *workspace) {
	mr, nr := p.kern.mr, p.kern.nr
	fn := p.kern.fn
	tile := grow(&ws.tile, mr*nr)
	pairs := (p.k + 1) / 2
	for j0 := 0; j0 < p.n; j0 += ncBlock {
		nc := min(ncBlock, p.n-j0)
		panels := (nc + nr - 1) / nr
		for q0 := 0; q0 < pairs; q0 += kcBlock {
			kcp := min(kcBlock, pairs-q0)
			p0 := 2 * q0
			kc := min(2*kcp, p.k-p0) // values of k in this block
			packB := words(grow(&ws.packB, panels*nr*kcp))
			p.packBBF16(packB, &ws.tmp, j0, nc, p0, kc, kcp, nr)
			packA := words(grow(&ws.packA, mr*kcp))
			beta := p.beta
			if q0 > 0 {
				beta = 1
			}
			for i0 := 0; i0 < p.m; i0 += mr {
				rows := min(mr, p.m-i0)
				p.packABF16(packA, i0, rows, p0, kc, kcp)
				aPtr := (*float32)(unsafe.Pointer(&packA[0]))
				rs := uintptr(kcp) * 4
				for jp := 0; jp < panels; jp++ {
					j := j0 + jp*nr
					cols := min(nr, p.n-j)
					bPtr := (*float32)(unsafe.Pointer(&packB[jp*nr*kcp]))
					if rows == mr && cols == nr {
						fn(kcp, aPtr, rs, rows, bPtr, uintptr(nr)*4, 0, &p.c[i0*p.ldc+j], uintptr(p.ldc)*4, p.alpha, beta)
						continue
					}
					fn(kcp, aPtr, rs, rows, bPtr, uintptr(nr)*4, 0, &tile[0], uintptr(nr)*4, p.alpha, 0)
					p.mergeTile(tile, nr, i0, j, rows, cols, beta)
				}
			}
		}
	}
}

// opA returns op(A)[i, q].
func (p *problem) opA(i, q int) float32 {
	if p.transA {
		return p.a[q*p.lda+i]
	}
	return p.a[i*p.lda+q]
}

// opB returns op(B)[q, j].
func (p *problem) opB(q, j int) float32 {
	if p.transB {
		return p.b[j*p.ldb+q]
	}
	return p.b[q*p.ldb+j]
}

// Assembly conversions for the packing of SgemmBF16 (nil without them).
var (
	cvtRowBF16Fn   func(dst *uint32, src *float32, n int)
	cvtPairsBF16Fn func(dst *uint32, src0 *float32, src1 *float32, n int)
)

// packABF16 packs op(A)[i0:i0+rows, p0:p0+kc] row by row as bf16 pairs
// (kcp words per row; an odd kc is padded with a zero).
func (p *problem) packABF16(dst []uint32, i0, rows, p0, kc, kcp int) {
	for r := 0; r < rows; r++ {
		d := dst[r*kcp : r*kcp+kcp]
		q0 := 0
		if !p.transA && cvtRowBF16Fn != nil && kc >= 16 {
			n16 := kc &^ 15
			src := p.a[(i0+r)*p.lda+p0 : (i0+r)*p.lda+p0+n16]
			cvtRowBF16Fn(&d[0], &src[0], n16)
			q0 = n16 / 2
		}
		for q := q0; q < kcp; q++ {
			lo := toBF16(p.opA(i0+r, p0+2*q))
			var hi uint32
			if 2*q+1 < kc {
				hi = toBF16(p.opA(i0+r, p0+2*q+1))
			}
			d[q] = lo | hi<<16
		}
	}
}

// packBBF16 packs op(B)[p0:p0+kc, j0:j0+nc] into panels of nr columns of
// bf16 pairs: word (q, jj) of a panel holds rows 2q and 2q+1 of column jj.
// Columns past nc and an odd last row are zero. tmp is scratch space.
func (p *problem) packBBF16(dst []uint32, tmp *[]float32, j0, nc, p0, kc, kcp, nr int) {
	for jp := 0; jp*nr < nc; jp++ {
		panel := dst[jp*nr*kcp : (jp+1)*nr*kcp]
		cols := min(nr, nc-jp*nr)
		jb := j0 + jp*nr
		if cols < nr {
			clear(panel)
		}
		switch {
		case !p.transB && cvtPairsBF16Fn != nil && cols == nr && nr%16 == 0:
			// Rows 2q and 2q+1 of B interleave into row q of the panel.
			for q := 0; 2*q+1 < kc; q++ {
				r0 := p.b[(p0+2*q)*p.ldb+jb : (p0+2*q)*p.ldb+jb+nr]
				r1 := p.b[(p0+2*q+1)*p.ldb+jb : (p0+2*q+1)*p.ldb+jb+nr]
				cvtPairsBF16Fn(&panel[q*nr], &r0[0], &r1[0], nr)
			}
			if kc%2 == 1 {
				p.packBBF16Scalar(panel, jb, cols, p0, kc, kcp-1, kcp, nr)
			}
		case p.transB && cvtRowBF16Fn != nil && transposePackFn != nil && kc >= 16:
			// Column j of op(B) is row j of B: convert 8 rows into tmp,
			// then transpose their words into the panel.
			n16 := kc &^ 15
			q16 := n16 / 2
			t := words(grow(tmp, 8*q16))
			jj := 0
			for ; jj+8 <= cols; jj += 8 {
				for r := 0; r < 8; r++ {
					src := p.b[(jb+jj+r)*p.ldb+p0 : (jb+jj+r)*p.ldb+p0+n16]
					cvtRowBF16Fn(&t[r*q16], &src[0], n16)
				}
				transposePackFn((*float32)(unsafe.Pointer(&panel[jj])), (*float32)(unsafe.Pointer(&t[0])), uintptr(q16)*4, q16, uintptr(nr)*4)
			}
			// Pairs past n16 for those columns, and the last columns.
			p.packBBF16Cols(panel, jb, 0, jj, p0, kc, q16, kcp, nr)
			p.packBBF16Cols(panel, jb, jj, cols, p0, kc, 0, kcp, nr)
		default:
			p.packBBF16Scalar(panel, jb, cols, p0, kc, 0, kcp, nr)
		}
	}
}

// packBBF16Scalar fills pairs [q0, q1) of columns [0, cols) of a panel.
func (p *problem) packBBF16Scalar(panel []uint32, jb, cols, p0, kc, q0, q1, nr int) {
	for q := q0; q < q1; q++ {
		row := panel[q*nr : q*nr+nr]
		for jj := 0; jj < cols; jj++ {
			lo := toBF16(p.opB(p0+2*q, jb+jj))
			var hi uint32
			if 2*q+1 < kc {
				hi = toBF16(p.opB(p0+2*q+1, jb+jj))
			}
			row[jj] = lo | hi<<16
		}
	}
}

// packBBF16Cols fills pairs [q0, kcp) of columns [c0, c1) of a panel.
func (p *problem) packBBF16Cols(panel []uint32, jb, c0, c1, p0, kc, q0, kcp, nr int) {
	for jj := c0; jj < c1; jj++ {
		for q := q0; q < kcp; q++ {
			lo := toBF16(p.opB(p0+2*q, jb+jj))
			var hi uint32
			if 2*q+1 < kc {
				hi = toBF16(p.opB(p0+2*q+1, jb+jj))
			}
			panel[q*nr+jj] = lo | hi<<16
		}
	}
}
