package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"residual/internal/kernels"
	"residual/internal/parallel"
	"residual/tensor"
)

// Conv2DConfig describes a 2-D convolution over NHWC activations.
// Zero values select the documented defaults.
type Conv2DConfig struct {
	InC, OutC int // input and output channels (required, > 0)
	// Kernel is the side of a square kernel. KernelH and KernelW, when
	// non-zero, override it for a rectangular kernel.
	Kernel, KernelH, KernelW int
	Stride                   int  // step between windows; default 1
	Padding                  int  // zeros added on every side of H and W; default 0
	Bias                     bool // learnable per-channel bias (ResNets use none)
	// NoInputGrad makes Backward skip dL/dx and return nil: the first layer
	// of a network has no use for it.
	NoInputGrad bool
}

// Conv2D is a 2-D convolution, computed as im2col followed by one GEMM:
//
//	cols (N*Ho*Wo, KH*KW*Cin) = im2col(x)
//	y    (N*Ho*Wo, Cout)      = cols · Wᵀ + bias
//
// The weight is stored (Cout, KH, KW, Cin) ("OHWI"): PyTorch's (Cout, Cin,
// KH, KW) weight permuted so that one row of W matches one row of cols.
//
// The batch is processed in blocks of output rows whose cols matrix fits
// in cache (colsBlockFloats): im2col and GEMM of a block then work on
// cache-resident data instead of streaming a (N*Ho*Wo, K) matrix through
// memory, and the layer needs only block-sized workspaces (at most 8 MiB
// each). Backward
// recomputes the blocks' im2col, which is cheap next to the GEMMs.
//
// For dx, a stride-1 convolution uses the transposed convolution: dx is
// the convolution of dy, padded by K-1-P, with the weight flipped in space
// and with its channel axes swapped, which is again im2col + GEMM and
// needs no scatter. Other strides compute dcols = dy · W per block of whole
// images and gather it back into dx (col2im).
//
// A 1x1 convolution with stride 1 and no padding skips im2col: the input
// itself is the cols matrix, and the whole batch is one GEMM.
type Conv2D struct {
	name   string
	cfg    Conv2DConfig
	kh, kw int
	err    error // configuration error, reported by OutShape

	Weight *Param // (Cout, KH, KW, Cin)
	Bias   *Param // (Cout), nil without bias

	// Shapes of the last Forward.
	n, h, w, ho, wo int

	x    *tensor.Tensor // input of the last Forward (N,H,W,Cin), not owned
	out  *tensor.Tensor // (N,Ho,Wo,Cout)
	dx   *tensor.Tensor // (N,H,W,Cin)
	bsum colSummer

	fwd     *im2col   // im2col of x
	cols    []float32 // workspace of fwd
	blkRows int       // output rows per forward block
	// the block whose im2col cols holds, so Backward can reuse it
	colsX          *tensor.Tensor
	colsR0, colsR1 int

	tr      *im2col   // im2col of dy for the transposed convolution
	trCols  []float32 // workspace of tr
	trRows  int       // input rows per transposed block
	wFlip   []float32 // (Cin, KH, KW, Cout) flipped weight
	dcols   []float32 // (images*Ho*Wo, K) workspace of col2im
	dcolImg int       // images per col2im block
	blk0    int       // first image of the current col2im block

	// col2im tables for the current H and W; see buildTaps.
	rowTap, colTap []int32
	tapH, tapW     int

	// Parallel loop bodies, created once so that calls do not allocate.
	col2imFn, biasFillFn func(lo, hi int)
}

// colsBlockFloats bounds the size of a block's cols matrix (8 MiB): small
// enough to stay in the L3 cache between im2col and the GEMM, large enough
// (about 14k GEMM rows for a 3x3 conv on 16 channels) for the parallel
// GEMM to use both cores; blocks of ~1k rows ran slower on 2 cores than
// on 1. A variable only so that tests can force many small blocks.
var colsBlockFloats = 1 << 21

// NewConv2D builds a convolution named name (its parameters are
// "<name>.weight" and "<name>.bias"). The weight gets Kaiming-normal
// initialisation with fan_out and ReLU gain, std = sqrt(2/(Cout*KH*KW)), as
// torchvision's ResNet; the bias, if any, PyTorch's default
// uniform(±1/sqrt(Cin*KH*KW)). rng makes models reproducible.
// An invalid configuration is reported by OutShape.
func NewConv2D(name string, cfg Conv2DConfig, rng *rand.Rand) *Conv2D {
	c := &Conv2D{name: name}
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	c.kh, c.kw = cfg.Kernel, cfg.Kernel
	if cfg.KernelH != 0 {
		c.kh = cfg.KernelH
	}
	if cfg.KernelW != 0 {
		c.kw = cfg.KernelW
	}
	c.cfg = cfg
	switch {
	case cfg.InC <= 0 || cfg.OutC <= 0:
		c.err = configError(name, "channels InC=%d OutC=%d must be > 0", cfg.InC, cfg.OutC)
	case c.kh <= 0 || c.kw <= 0:
		c.err = configError(name, "kernel %dx%d must be at least 1x1", c.kh, c.kw)
	case cfg.Stride < 0:
		c.err = configError(name, "stride %d must be > 0", cfg.Stride)
	case cfg.Padding < 0:
		c.err = configError(name, "padding %d must be >= 0", cfg.Padding)
	case c.kh*c.kw > maxGatherTaps:
		c.err = configError(name, "kernel %dx%d has more than %d taps", c.kh, c.kw, maxGatherTaps)
	}
	if c.err != nil {
		c.Weight = newParam(name+".weight", false, 0)
		return c
	}
	c.Weight = newParam(name+".weight", false, cfg.OutC, c.kh, c.kw, cfg.InC)
	std := math.Sqrt(2 / float64(cfg.OutC*c.kh*c.kw))
	for i := range c.Weight.Value.Data {
		c.Weight.Value.Data[i] = float32(rng.NormFloat64() * std)
	}
	if cfg.Bias {
		c.Bias = newParam(name+".bias", true, cfg.OutC)
		bound := 1 / math.Sqrt(float64(cfg.InC*c.kh*c.kw))
		for i := range c.Bias.Value.Data {
			c.Bias.Value.Data[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	c.fwd = newIm2col()
	c.tr = newIm2col()
	c.col2imFn = c.col2imRows
	c.biasFillFn = c.biasFillRows
	return c
}

// Name returns the layer's name.
func (c *Conv2D) Name() string { return c.name }

// Config returns the configuration with defaults filled in.
func (c *Conv2D) Config() Conv2DConfig { return c.cfg }

// Params returns the weight and, if present, the bias.
func (c *Conv2D) Params() []*Param {
	if c.Bias != nil {
		return []*Param{c.Weight, c.Bias}
	}
	return []*Param{c.Weight}
}

// Buffers returns nil: a convolution has no running state.
func (c *Conv2D) Buffers() []*Param { return nil }

// OutShape maps (N,H,W,Cin) to (N,Ho,Wo,Cout) with
// Ho = (H+2*Padding-KH)/Stride + 1 (and the same for W).
func (c *Conv2D) OutShape(in []int) ([]int, error) {
	if c.err != nil {
		return nil, c.err
	}
	want := fmt.Sprintf("(N,H,W,%d) with H+2*%d >= %d and W+2*%d >= %d", c.cfg.InC, c.cfg.Padding, c.kh, c.cfg.Padding, c.kw)
	if len(in) != 4 || in[0] <= 0 || in[3] != c.cfg.InC {
		return nil, shapeError(c.name, in, want)
	}
	ho, wo := c.outHW(in[1], in[2])
	if in[1] <= 0 || in[2] <= 0 || ho < 1 || wo < 1 {
		return nil, shapeError(c.name, in, want)
	}
	return []int{in[0], ho, wo, c.cfg.OutC}, nil
}

func (c *Conv2D) outHW(h, w int) (int, int) {
	p, s := c.cfg.Padding, c.cfg.Stride
	ho := (h + 2*p - c.kh)
	wo := (w + 2*p - c.kw)
	if ho < 0 || wo < 0 {
		return 0, 0
	}
	return ho/s + 1, wo/s + 1
}

// direct reports whether the input can serve as the cols matrix as is.
func (c *Conv2D) direct() bool {
	return c.kh == 1 && c.kw == 1 && c.cfg.Stride == 1 && c.cfg.Padding == 0
}

// Forward computes y = conv(x) + bias. x is (N,H,W,Cin), y (N,Ho,Wo,Cout).
func (c *Conv2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	c.setShape(x)
	cout := c.cfg.OutC
	k := c.kh * c.kw * c.cfg.InC
	c.out = tensor.Ensure(c.out, c.n, c.ho, c.wo, cout)
	// Bias epilogue: pre-fill y with the bias and let the GEMM accumulate
	// onto it (beta = 1), instead of a separate pass over y.
	beta := float32(0)
	if c.Bias != nil {
		parallel.For(c.n*c.ho*c.wo, grainFor(cout, minParallelWork), c.biasFillFn)
		beta = 1
	}
	if c.direct() {
		// y (N*H*W,Cout) = x (N*H*W,Cin) · W(Cout,Cin)ᵀ
		kernels.Sgemm(false, true, c.n*c.h*c.w, cout, k, 1, x.Data, k, c.Weight.Value.Data, k, beta, c.out.Data, cout)
		return c.out
	}
	total := c.n * c.ho
	for r0 := 0; r0 < total; r0 += c.blkRows {
		r1 := min(total, r0+c.blkRows)
		c.im2col(r0, r1)
		// y[rows] (rows,Cout) = cols (rows,K) · W(Cout,K)ᵀ
		rows := (r1 - r0) * c.wo
		kernels.Sgemm(false, true, rows, cout, k, 1, c.cols, k, c.Weight.Value.Data, k, beta, c.out.Data[r0*c.wo*cout:], cout)
	}
	return c.out
}

// setShape records the shapes of a Forward's input and sizes the
// forward workspace.
func (c *Conv2D) setShape(x *tensor.Tensor) {
	c.x = x
	c.n, c.h, c.w = x.Shape[0], x.Shape[1], x.Shape[2]
	c.ho, c.wo = c.outHW(c.h, c.w)
	c.colsX = nil
	if c.direct() {
		return
	}
	f := c.fwd
	f.src, f.c, f.h, f.w, f.ho, f.wo = x.Data, c.cfg.InC, c.h, c.w, c.ho, c.wo
	f.kh, f.kw, f.stride, f.padH, f.padW = c.kh, c.kw, c.cfg.Stride, c.cfg.Padding, c.cfg.Padding
	rowFloats := c.wo * f.k()
	c.blkRows = max(1, min(c.n*c.ho, colsBlockFloats/rowFloats))
	if size := c.blkRows * rowFloats; cap(c.cols) < size {
		c.cols = make([]float32, size)
	}
}

// im2col fills cols with the fields of output rows [r0,r1), unless it
// already holds them.
func (c *Conv2D) im2col(r0, r1 int) {
	if c.colsX == c.x && c.colsR0 == r0 && c.colsR1 == r1 {
		return
	}
	c.fwd.fill(c.cols, r0, r1)
	c.colsX, c.colsR0, c.colsR1 = c.x, r0, r1
}

// biasFillRows writes the bias into output rows [lo,hi) of the (M,Cout) y.
func (c *Conv2D) biasFillRows(lo, hi int) {
	cout := c.cfg.OutC
	b := c.Bias.Value.Data[:cout]
	y := c.out.Data
	for r := lo; r < hi; r++ {
		copy(y[r*cout:(r+1)*cout], b)
	}
}

// Backward takes dy (N,Ho,Wo,Cout) and computes
//
//	dBias (Cout)       = column sums of dy
//	dW    (Cout,K)     = sum over blocks of dy[block]ᵀ · cols[block]
//	dx    (N,H,W,Cin)  = transposed convolution of dy, or col2im(dy · W)
//
// It returns dx, or nil when the layer was built with NoInputGrad. Frozen
// parameters get no gradient (their Grad is left as it was). The dW
// blocks run last to first, so the first one reuses the cols that Forward
// left behind (x must not have changed since Forward, as for every layer).
func (c *Conv2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	cout := c.cfg.OutC
	k := c.kh * c.kw * c.cfg.InC
	dW, W := c.Weight.Grad.Data, c.Weight.Value.Data
	if c.Bias != nil && !c.Bias.Frozen {
		c.bsum.sum(dy.Data, c.n*c.ho*c.wo, cout, c.Bias.Grad.Data)
	}
	if c.direct() {
		m := c.n * c.h * c.w
		if !c.Weight.Frozen {
			kernels.Sgemm(true, false, cout, k, m, 1, dy.Data, cout, c.x.Data, k, 0, dW, k)
		}
		if c.cfg.NoInputGrad {
			return nil
		}
		// dx (M,Cin) = dy (M,Cout) · W (Cout,Cin)
		c.dx = tensor.Ensure(c.dx, c.n, c.h, c.w, c.cfg.InC)
		kernels.Sgemm(false, false, m, k, cout, 1, dy.Data, cout, W, k, 0, c.dx.Data, k)
		return c.dx
	}
	total := c.n * c.ho
	last := (total - 1) / c.blkRows * c.blkRows
	if c.Weight.Frozen {
		last = -1 // no dW
	}
	for r0 := last; r0 >= 0; r0 -= c.blkRows {
		r1 := min(total, r0+c.blkRows)
		c.im2col(r0, r1)
		beta := float32(1)
		if r0 == last {
			beta = 0
		}
		// dW (Cout,K) += dy[rows]ᵀ (Cout,rows) · cols (rows,K)
		kernels.Sgemm(true, false, cout, k, (r1-r0)*c.wo, 1, dy.Data[r0*c.wo*cout:], cout, c.cols, k, beta, dW, k)
	}
	if c.cfg.NoInputGrad {
		return nil
	}
	c.dx = tensor.Ensure(c.dx, c.n, c.h, c.w, c.cfg.InC)
	if c.transposable() {
		c.backwardTransposed(dy)
	} else {
		c.backwardCol2im(dy)
	}
	return c.dx
}

// transposable reports whether dx can be computed as a transposed
// convolution: stride 1 and padding at most K-1.
func (c *Conv2D) transposable() bool {
	return c.cfg.Stride == 1 && c.cfg.Padding <= c.kh-1 && c.cfg.Padding <= c.kw-1
}

// backwardTransposed computes dx (N,H,W,Cin) as the stride-1 convolution
// of dy (N,Ho,Wo,Cout), padded by KH-1-P rows and KW-1-P columns, with
// wFlip[ci,ky,kx,co] = W[co,KH-1-ky,KW-1-kx,ci]:
//
//	dx[n,iy,ix,ci] = sum over co,ky,kx of dy[n,iy+P-ky,ix+P-kx,co] * W[co,ky,kx,ci]
func (c *Conv2D) backwardTransposed(dy *tensor.Tensor) {
	cin, cout, kh, kw := c.cfg.InC, c.cfg.OutC, c.kh, c.kw
	kt := kh * kw * cout // row length of the transposed cols
	if cap(c.wFlip) < cin*kt {
		c.wFlip = make([]float32, cin*kt)
	}
	c.wFlip = c.wFlip[:cin*kt]
	W := c.Weight.Value.Data
	for co := 0; co < cout; co++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				src := W[((co*kh+ky)*kw+kx)*cin:][:cin]
				fy, fx := kh-1-ky, kw-1-kx
				for ci, v := range src {
					c.wFlip[((ci*kh+fy)*kw+fx)*cout+co] = v
				}
			}
		}
	}
	t := c.tr
	t.src, t.c, t.h, t.w, t.ho, t.wo = dy.Data, cout, c.ho, c.wo, c.h, c.w
	t.kh, t.kw, t.stride = kh, kw, 1
	t.padH, t.padW = kh-1-c.cfg.Padding, kw-1-c.cfg.Padding
	rowFloats := c.w * kt
	c.trRows = max(1, min(c.n*c.h, colsBlockFloats/rowFloats))
	if size := c.trRows * rowFloats; cap(c.trCols) < size {
		c.trCols = make([]float32, size)
	}
	total := c.n * c.h
	for r0 := 0; r0 < total; r0 += c.trRows {
		r1 := min(total, r0+c.trRows)
		t.fill(c.trCols, r0, r1)
		// dx[rows] (rows,Cin) = trCols (rows,KT) · wFlip (Cin,KT)ᵀ
		kernels.Sgemm(false, true, (r1-r0)*c.w, cin, kt, 1, c.trCols, kt, c.wFlip, kt, 0, c.dx.Data[r0*c.w*cin:], cin)
	}
}

// backwardCol2im computes dx per block of whole images: dcols = dy · W,
// then col2im gathers dcols back into dx.
func (c *Conv2D) backwardCol2im(dy *tensor.Tensor) {
	cout := c.cfg.OutC
	k := c.kh * c.kw * c.cfg.InC
	pix := c.ho * c.wo
	c.dcolImg = max(1, min(c.n, colsBlockFloats/(pix*k)))
	if size := c.dcolImg * pix * k; cap(c.dcols) < size {
		c.dcols = make([]float32, size)
	}
	c.buildTaps()
	for n0 := 0; n0 < c.n; n0 += c.dcolImg {
		n1 := min(c.n, n0+c.dcolImg)
		// dcols (rows,K) = dy[images] (rows,Cout) · W (Cout,K)
		kernels.Sgemm(false, false, (n1-n0)*pix, k, cout, 1, dy.Data[n0*pix*cout:], cout, c.Weight.Value.Data, k, 0, c.dcols, k)
		c.blk0 = n0
		parallel.For((n1-n0)*c.h, grainFor(c.w*k, minParallelWork), c.col2imFn)
	}
}

// col2imRows computes the dx rows [lo,hi) of the current block, indexed
// (n-blk0)*H+iy, from the block's dcols by gathering (rather than
// scattering) the entries that read each input pixel: x[iy,ix] fed output
// (oy,ox) through kernel tap (ky,kx) when iy = oy*S - P + ky and
// ix = ox*S - P + kx (rowTap and colTap list these). Gathering lets rows of
// dx be computed independently and in parallel, without atomics, and
// writes each dx value once.
func (c *Conv2D) col2imRows(lo, hi int) {
	cin, kh, kw := c.cfg.InC, c.kh, c.kw
	h, w, ho, wo := c.h, c.w, c.ho, c.wo
	k := kh * kw * cin
	dx, dcols := c.dx.Data[c.blk0*h*w*cin:], c.dcols
	var offBuf [maxGatherTaps]int
	for r := lo; r < hi; r++ {
		n, iy := r/h, r%h // n counts from the block's first image
		rowTap := c.rowTap[iy*kh : (iy+1)*kh]
		for ix := 0; ix < w; ix++ {
			// offsets in dcols of the Cin-vectors that sum into dx[n,iy,ix,:]
			offs := offBuf[:0]
			colTap := c.colTap[ix*kw : (ix+1)*kw]
			for ky, oy := range rowTap {
				if oy < 0 {
					continue
				}
				base := (n*ho + int(oy)) * wo
				for kx, ox := range colTap {
					if ox >= 0 {
						offs = append(offs, (base+int(ox))*k+(ky*kw+kx)*cin)
					}
				}
			}
			dst := dx[(r*w+ix)*cin : (r*w+ix+1)*cin]
			sumVectors(dst, dcols, offs)
		}
	}
}

// maxGatherTaps bounds the taps of one pixel (KH*KW) kept on the stack.
const maxGatherTaps = 64

// sumVectors sets dst[i] = sum over o in offs of src[o+i]. Four channels
// are summed at a time in local variables, so each dst value is stored
// once and the adds form four independent chains.
func sumVectors(dst, src []float32, offs []int) {
	n := len(dst)
	i := 0
	for ; i+4 <= n; i += 4 {
		var a0, a1, a2, a3 float32
		for _, o := range offs {
			s := src[o+i : o+i+4 : o+i+4]
			a0 += s[0]
			a1 += s[1]
			a2 += s[2]
			a3 += s[3]
		}
		d := dst[i : i+4 : i+4]
		d[0], d[1], d[2], d[3] = a0, a1, a2, a3
	}
	for ; i < n; i++ {
		var a float32
		for _, o := range offs {
			a += src[o+i]
		}
		dst[i] = a
	}
}

// buildTaps fills rowTap (H,KH) and colTap (W,KW): the output row (column)
// that input row iy (column ix) feeds through kernel row ky (column kx),
// or -1. They depend only on the input's H and W.
func (c *Conv2D) buildTaps() {
	if c.tapH == c.h && c.tapW == c.w && c.rowTap != nil {
		return
	}
	c.tapH, c.tapW = c.h, c.w
	c.rowTap = c.fillTaps(c.rowTap, c.h, c.kh, c.ho)
	c.colTap = c.fillTaps(c.colTap, c.w, c.kw, c.wo)
}

// fillTaps returns, for i in [0,size) and tap t in [0,kernel), the output
// index o with i = o*Stride - Padding + t, or -1 when there is none.
func (c *Conv2D) fillTaps(dst []int32, size, kernel, outSize int) []int32 {
	s, p := c.cfg.Stride, c.cfg.Padding
	if cap(dst) < size*kernel {
		dst = make([]int32, size*kernel)
	}
	dst = dst[:size*kernel]
	for i := 0; i < size; i++ {
		for t := 0; t < kernel; t++ {
			o := int32(-1)
			if q := i + p - t; q >= 0 && q%s == 0 && q/s < outSize {
				o = int32(q / s)
			}
			dst[i*kernel+t] = o
		}
	}
	return dst
}
