package nn

import (
	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
)

// im2col lays out the receptive fields of a convolution as the rows of a
// matrix, so that the convolution becomes one GEMM. Its source is an
// NHWC tensor (N,H,W,C); the field of output pixel (n,oy,ox) is the
// (KH,KW,C) window at rows oy*Stride-PadH+ky and columns ox*Stride-PadW+kx,
// zeros where the window hangs over the border. Rows of the matrix are
// output pixels in (n,oy,ox) order; one call fills the rows of a range of
// "output rows" r = n*Ho+oy, so a batch can be processed in cache-sized
// blocks.
type im2col struct {
	src                []float32 // (N,H,W,C)
	c, h, w            int       // source channels and image size
	ho, wo             int       // output image size
	kh, kw             int       // kernel size
	stride, padH, padW int

	dst    []float32 // ((r1-r0)*Wo, KH*KW*C) for the current block
	r0, r1 int       // current block of output rows
	fn     func(lo, hi int)
}

func newIm2col() *im2col {
	j := &im2col{}
	j.fn = j.rows
	return j
}

// k is the length of a matrix row.
func (j *im2col) k() int { return j.kh * j.kw * j.c }

// fill fills dst with the fields of output rows [r0,r1), in parallel.
func (j *im2col) fill(dst []float32, r0, r1 int) {
	j.dst, j.r0, j.r1 = dst, r0, r1
	parallel.For(r1-r0, grainFor(j.wo*j.k(), minParallelWork), j.fn)
}

// rows fills the matrix rows of output rows [r0+lo, r0+hi). In NHWC the
// KW*C values of one kernel row are contiguous in the source, so each
// kernel row is a single copy (a strided 1x1 convolution, as in a
// projection shortcut, is the special case that gathers every S-th pixel).
func (j *im2col) rows(lo, hi int) {
	c, kh, kw, s := j.c, j.kh, j.kw, j.stride
	h, w, ho, wo := j.h, j.w, j.ho, j.wo
	k := j.k()
	seg := kw * c // floats per kernel row
	for i := lo; i < hi; i++ {
		r := j.r0 + i
		n, oy := r/ho, r%ho
		img := j.src[n*h*w*c : (n+1)*h*w*c]
		rows := j.dst[i*wo*k : (i+1)*wo*k]
		for ox := 0; ox < wo; ox++ {
			row := rows[ox*k : (ox+1)*k]
			ix0 := ox*s - j.padW
			// valid kernel columns [kx0,kx1): those with 0 <= ix0+kx < w
			kx0, kx1 := max(0, -ix0), min(kw, w-ix0)
			for ky := 0; ky < kh; ky++ {
				dst := row[ky*seg : (ky+1)*seg]
				iy := oy*s - j.padH + ky
				if iy < 0 || iy >= h || kx0 >= kx1 {
					clear(dst)
					continue
				}
				if kx0 > 0 {
					clear(dst[:kx0*c])
				}
				copy(dst[kx0*c:kx1*c], img[(iy*w+ix0+kx0)*c:(iy*w+ix0+kx1)*c])
				if kx1 < kw {
					clear(dst[kx1*c:])
				}
			}
		}
	}
}

// padded is a zero-padded copy of an NHWC tensor, the source of an
// implicit-GEMM convolution. Its borders are zeroed when the geometry
// changes and never written again; each fill rewrites the interior only.
type padded struct {
	buf            []float32
	n, h, w, c     int  // geometry of the last fill
	pt, pb, pl, pr int  // padding at the top, bottom, left and right
	bf16           bool // values stored as bfloat16 pairs (c counts words)
	src            []float32
	fn             func(lo, hi int)
}

// fillBF16 is fill with the values rounded to bfloat16, two per 32-bit
// word (kernels.ToBF16Pairs): src is (N,H,W,2*cw), the buffer
// (N, pt+H+pb, pl+W+pr, cw) words.
func (p *padded) fillBF16(src []float32, n, h, w, cw, pt, pb, pl, pr int) []float32 {
	return p.fillMode(true, src, n, h, w, cw, pt, pb, pl, pr)
}

// fill copies src (N,H,W,C) into the interior of a
// (N, pt+H+pb, pl+W+pr, C) buffer with zero borders and returns the buffer.
func (p *padded) fill(src []float32, n, h, w, c, pt, pb, pl, pr int) []float32 {
	return p.fillMode(false, src, n, h, w, c, pt, pb, pl, pr)
}

func (p *padded) fillMode(bf16 bool, src []float32, n, h, w, c, pt, pb, pl, pr int) []float32 {
	size := n * (pt + h + pb) * (pl + w + pr) * c
	if p.n != n || p.h != h || p.w != w || p.c != c || p.pt != pt || p.pb != pb || p.pl != pl || p.pr != pr || p.bf16 != bf16 || len(p.buf) != size {
		p.buf = growFloats(p.buf, size)
		clear(p.buf)
		p.n, p.h, p.w, p.c, p.pt, p.pb, p.pl, p.pr, p.bf16 = n, h, w, c, pt, pb, pl, pr, bf16
	}
	if p.fn == nil {
		p.fn = p.rows
	}
	p.src = src
	parallel.For(n*h, grainFor(w*c, minParallelWork), p.fn)
	p.src = nil
	return p.buf
}

// rows copies source rows [lo,hi) (indexed n*H+y) into place.
func (p *padded) rows(lo, hi int) {
	wc := p.w * p.c
	hp, wp := p.pt+p.h+p.pb, p.pl+p.w+p.pr
	for i := lo; i < hi; i++ {
		n, y := i/p.h, i%p.h
		dst := ((n*hp+y+p.pt)*wp + p.pl) * p.c
		if p.bf16 {
			kernels.ToBF16Pairs(p.buf[dst:dst+wc], p.src[2*i*wc:2*(i+1)*wc], wc)
		} else {
			copy(p.buf[dst:dst+wc], p.src[i*wc:(i+1)*wc])
		}
	}
}
