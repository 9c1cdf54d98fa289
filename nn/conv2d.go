package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
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

// Conv2D is a 2-D convolution. Mathematically it is im2col followed by
// one GEMM:
//
//	cols (N*Ho*Wo, KH*KW*Cin) = im2col(x)
//	y    (N*Ho*Wo, Cout)      = cols · Wᵀ + bias
//
// The weight is stored (Cout, KH, KW, Cin) ("OHWI"): PyTorch's (Cout, Cin,
// KH, KW) weight permuted so that one row of W matches one row of cols.
//
// It runs as an implicit GEMM (see implicit and kernels.ConvWeights): the
// input is copied once into a zero-padded buffer, and for every output
// row the micro-kernels read the KW*Cin values under each kernel row
// straight from it (contiguous in NHWC), accumulating the KH kernel rows
// into the same register tiles. No cols matrix is written. Output rows
// are spread over the cores.
//
// Backward reads dy and the padded input in place too: dW per output row
// with the k-major micro-kernels (kernels.ConvWeightGrad), in a fixed
// number of row blocks summed in order (deterministic), and dx as the
// transposed convolution of dy, phase by phase (one phase for stride 1),
// each phase an implicit GEMM writing its pixels straight into dx (see
// backwardData). Shapes the implicit kernels do not take (a weight
// gradient with Cout or KW*Cin not a multiple of the tile) go through
// im2col + GEMM in cache-sized blocks of output rows (colsBlockFloats).
//
// A 1x1 convolution with stride 1 and no padding is one plain GEMM: the
// input itself is the cols matrix.
//
// A 3x3 convolution with stride 1 and padding 1 and at least 16 input and
// output channels runs through Winograd's minimal filtering instead
// (winograd.go, winograd4.go): F(4x4,3x3) for the forward pass and dx
// where the sides are multiples of 4 and the channels of 16, else
// F(2x2,3x3); the weight gradient with F(2x2,3x3).
//
// For inference, ConvBN folds a following BatchNorm2D (and a residual add
// and ReLU) into the convolution and its epilogue.
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

	tr       *im2col   // im2col of dy for dx (see backwardData)
	trCols   []float32 // workspace of tr
	wSub     []float32 // (Cin, Ta, Tb, Cout) flipped sub-kernel of a phase
	phaseOut []float32 // dx pixels of one phase, before placing them

	ph phasePlacement // arguments of the running placePhase

	// Implicit GEMM (see implicit): the zero-padded input, the packed
	// weights, and the arguments of the running row loop.
	xpad       padded
	dypads     []padded // padded dy, one per phase of backwardData
	xpadBF     padded   // the padded input as bf16 pairs (inference in bf16)
	packW      kernels.ConvWeights
	packedFrom []float32           // the weight packW was packed from (Forward repacks only when it changes)
	packedKey  paramKey            // and the parameter state it was copied from (see sameSource)
	packWT     kernels.ConvWeights // flipped weights for the stride-1 dx
	ir         implicitRun
	implicitFn func(lo, hi int)
	wgrad      kernels.ConvWeightGrad
	dwPart     []float32 // (chunks, Cout*KH*KW*Cin) partial weight gradients
	wg         wgRun
	wgFn       func(lo, hi int)
	epiFn      func(lo, hi int)
	pr         phaseRun
	phaseFn    func(lo, hi int)

	// Winograd F(2x2,3x3) (see winograd.go): the weights transformed for
	// Forward, the running call, and the bias as an epilogue.
	winoW   winoWeights
	wino    winoRun
	biasEpi epilogue
	winoFwd bool // the last Conv2D.Forward went through Winograd
	// and for dx: the flipped weights and the running call.
	winoWT  winoWeights
	winoBwd winoRun
	// and for dW: the k-major micro-kernels and the running call.
	winoWG kernels.ConvWeightGrad
	winoG  winoGradRun
	// F(4x4,3x3) (winograd4.go): for Forward and ConvBN, and for dx.
	wino4    wino4Run
	wino4W   wino4Weights
	wino4Bwd wino4Run
	wino4WT  wino4Weights

	// Parallel loop bodies, created once so that calls do not allocate.
	biasFillFn, placeFn func(lo, hi int)

	algos ConvAlgorithms // what the last calls ran (see Algorithms)
}

// ConvAlgorithms names the algorithm each pass of a convolution ran on its
// last call (empty for a pass not run yet, "-" for one skipped: a frozen
// weight's gradient, a first layer's dx). The names are those of the
// Algo* constants.
type ConvAlgorithms struct {
	Forward         string `json:"forward"`
	BackwardData    string `json:"backward_data"`
	BackwardWeights string `json:"backward_weights"`
}

// The algorithms a convolution runs, chosen by shape (and CPU) in
// Conv2D.forward, Conv2D.Backward and backwardPhase.
const (
	AlgoWinograd4    = "winograd F(4x4,3x3)"
	AlgoWinograd2    = "winograd F(2x2,3x3)"
	AlgoGEMM1x1      = "1x1 GEMM"
	AlgoGEMM1x1BF16  = "1x1 GEMM bf16"
	AlgoImplicit     = "implicit GEMM"
	AlgoImplicitBF16 = "implicit GEMM bf16"
	AlgoIm2col       = "im2col + GEMM"
	AlgoSkipped      = "-"
)

// Algorithms returns the algorithms the last Forward (or ConvBN.Forward),
// and the last Backward ran.
func (c *Conv2D) Algorithms() ConvAlgorithms { return c.algos }

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
// uniform(±1/sqrt(Cin*KH*KW)). rng (required) makes models reproducible.
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
	c.biasFillFn = c.biasFillRows
	c.implicitFn = c.implicitRows
	c.wgFn = c.wgChunksRange
	c.epiFn = c.epiRows
	c.phaseFn = c.phaseRows
	c.placeFn = c.placeRows
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
	// In evaluation the weight's version spares comparing it with the
	// packed copy (see sameSource); in training it changes every step and
	// gradient checks edit it in place, so the values are compared.
	var key paramKey
	if !train {
		key = keyOf(c.Weight)
	}
	return c.forward(x, c.Weight.Value.Data, key, &c.packW, &c.winoW, &c.wino4W, true, nil, false)
}

// forward computes y = conv(x) with weight w (Cout,KH,KW,Cin), packed in
// pw for the implicit GEMM or transformed into ww for Winograd (packed
// again first when repack is set), then
// either adds the layer's bias (epi == nil) or applies epi.
//
// With bf16 (inference only; the caller checks bf16OK), the layers that
// do not run Winograd (which stays float32) compute their products in bfloat16 (kernels.ConvWeights.PackBF16): pw then holds
// bf16-packed weights and the padded input is stored as bf16 pairs.
func (c *Conv2D) forward(x *tensor.Tensor, w []float32, key paramKey, pw *kernels.ConvWeights, ww *winoWeights, ww4 *wino4Weights, repack bool, epi *epilogue, bf16 bool) *tensor.Tensor {
	c.setShape(x)
	cout := c.cfg.OutC
	k := c.kh * c.kw * c.cfg.InC
	c.out = tensor.Ensure(c.out, c.n, c.ho, c.wo, cout)
	if epi == nil {
		c.winoFwd = false
	}
	if c.winograd() && (epi != nil || c.winogradTiles()) {
		// Winograd F(2x2,3x3) (winograd.go), or F(4x4,3x3) where it pays
		// (winograd4.go). For Conv2D.Forward (epi nil) the padded input
		// goes to xpad as on the implicit path, for the weight gradient
		// (computed with F(2x2,3x3)); ConvBN (inference) needs no copy.
		train := epi == nil
		c.winoFwd = train
		if epi == nil && c.Bias != nil {
			c.biasEpi.bias = c.Bias.Value.Data
			epi = &c.biasEpi
		}
		if ww4 != nil && c.winograd4(c.n, c.h, c.w) {
			c.algos.Forward = AlgoWinograd4
			if train {
				pt, pb, pl, pr := winogradPad(c.h, c.w)
				c.xpad.fill(x.Data, c.n, c.h, c.w, c.cfg.InC, pt, pb, pl, pr)
			}
			c.wino4.conv(x.Data, c.n, c.h, c.w, c.cfg.InC, cout, w, key, ww4, repack, c.out.Data, epi)
			return c.out
		}
		pad := &c.xpad
		if !train {
			pad = nil
		}
		c.algos.Forward = AlgoWinograd2
		c.wino.conv(pad, x.Data, c.n, c.h, c.w, c.cfg.InC, cout, w, key, ww, repack, c.out.Data, epi)
		return c.out
	}
	// Bias epilogue: pre-fill y with the bias and let the GEMM accumulate
	// onto it (beta = 1), instead of a separate pass over y.
	beta := float32(0)
	if c.Bias != nil && epi == nil {
		parallel.For(c.n*c.ho*c.wo, grainFor(cout, minParallelWork), c.biasFillFn)
		beta = 1
	}
	switch {
	case c.direct() && bf16:
		c.algos.Forward = AlgoGEMM1x1BF16
		kernels.SgemmBF16(false, true, c.n*c.h*c.w, cout, k, 1, x.Data, k, w, k, beta, c.out.Data, cout)
	case c.direct():
		// y (N*H*W,Cout) = x (N*H*W,Cin) · W(Cout,Cin)ᵀ
		c.algos.Forward = AlgoGEMM1x1
		kernels.Sgemm(false, true, c.n*c.h*c.w, cout, k, 1, x.Data, k, w, k, beta, c.out.Data, cout)
	case bf16:
		// The padded input as bf16 pairs: offsets count 32-bit words.
		c.algos.Forward = AlgoImplicitBF16
		p, cw := c.cfg.Padding, c.cfg.InC/2
		src := c.xpadBF.fillBF16(x.Data, c.n, c.h, c.w, cw, p, p, p, p)
		if repack && !pw.PackBF16(w, cout, c.kh, c.kw*c.cfg.InC, c.wo) {
			panic("nn: bf16 convolution without AVX512_BF16 or with an odd channel count") // bf16OK rules this out
		}
		c.ir.epi = epi
		c.runImplicit(pw, src, c.h+2*p, c.w+2*p, cw, c.cfg.Stride, c.ho, c.wo, cout, c.out.Data, beta)
		c.ir.epi = nil
		return c.out
	case c.implicit(c.cfg.InC):
		c.algos.Forward = AlgoImplicit
		src, h, wd := x.Data, c.h, c.w
		if p := c.cfg.Padding; p > 0 {
			src = c.xpad.fill(x.Data, c.n, c.h, c.w, c.cfg.InC, p, p, p, p)
			h, wd = c.h+2*p, c.w+2*p
		}
		if repack && (pw != &c.packW || !pw.Suits(c.wo) || !sameSource(w, key, c.packedFrom, &c.packedKey)) {
			// Forward's own packing is kept while the weights stay the
			// same (inference, validation, frozen layers): the weight's
			// version tells, else a memory compare.
			pw.Pack(w, cout, c.kh, c.kw*c.cfg.InC, c.wo)
			if pw == &c.packW {
				c.packedFrom = append(c.packedFrom[:0], w...)
				c.packedKey = key
			}
		}
		// The epilogue runs on each output row right after its GEMM,
		// while the row is in L1.
		c.ir.epi = epi
		c.runImplicit(pw, src, h, wd, c.cfg.InC, c.cfg.Stride, c.ho, c.wo, cout, c.out.Data, beta)
		c.ir.epi = nil
		return c.out
	default:
		c.algos.Forward = AlgoIm2col
		total := c.n * c.ho
		for r0 := 0; r0 < total; r0 += c.blkRows {
			r1 := min(total, r0+c.blkRows)
			c.im2col(r0, r1)
			// y[rows] (rows,Cout) = cols (rows,K) · W(Cout,K)ᵀ
			rows := (r1 - r0) * c.wo
			kernels.Sgemm(false, true, rows, cout, k, 1, c.cols, k, w, k, beta, c.out.Data[r0*c.wo*cout:], cout)
		}
	}
	if epi != nil {
		c.ir.epi, c.ir.y = epi, c.out.Data
		parallel.For(c.n*c.ho*c.wo, grainFor(cout, minParallelWork), c.epiFn)
		c.ir.epi, c.ir.y = nil, nil
	}
	return c.out
}

// epilogue is what a fused (inference) convolution does to its output
// pixels: y = y + bias, plus the residual if any, then ReLU if set.
type epilogue struct {
	bias     []float32 // (Cout)
	residual []float32 // (N,Ho,Wo,Cout) or nil
	relu     bool
}

// apply runs the epilogue on pixels [p0,p1) of y (pixels of cout values).
func (e *epilogue) apply(y []float32, cout, p0, p1 int) {
	var res []float32
	if e.residual != nil {
		res = e.residual[p0*cout:]
	}
	if kernels.BiasResReLU(y[p0*cout:], e.bias, res, p1-p0, cout, e.relu) {
		return // AVX-512
	}
	b := e.bias[:cout]
	for p := p0; p < p1; p++ {
		row := y[p*cout : (p+1)*cout]
		if e.residual != nil {
			res := e.residual[p*cout : (p+1)*cout]
			for j := range row {
				row[j] += b[j] + res[j]
			}
		} else {
			for j := range row {
				row[j] += b[j]
			}
		}
		if e.relu {
			for j, v := range row {
				row[j] = max(v, 0)
			}
		}
	}
}

// epiRows applies c.ir.epi to pixels [lo,hi) of c.ir.y.
func (c *Conv2D) epiRows(lo, hi int) { c.ir.epi.apply(c.ir.y, c.cfg.OutC, lo, hi) }

// implicit reports whether a convolution over cin input channels runs as
// an implicit GEMM (kernels.ConvWeights.ConvRow): the micro-kernels read
// the windows straight from the (padded) input, one kernel row of KW*Cin
// contiguous values at a time. It does for every shape now: even the
// stem on a gray image (kernel rows of 3 values) ran 4x faster than
// through im2col + GEMM (batch 1 and 64, 3x3 conv 1 -> 16 channels).
func (c *Conv2D) implicit(cin int) bool { return c.kw*cin >= implicitMinRow }

// implicitMinRow is the shortest kernel row (KW*Cin values) that runs as
// an implicit GEMM; a variable so that tests can compare both paths.
var implicitMinRow = 1

// implicitRun holds the arguments of a row loop of runImplicit.
type implicitRun struct {
	pw                *kernels.ConvWeights
	src, y            []float32
	h, w, cin, stride int // (padded) source geometry
	ho, wo, cout      int
	beta              float32
	epi               *epilogue // applied to each row after its GEMM, or nil
}

// runImplicit computes y (N,Ho,Wo,Cout) (= beta*y + conv) from the padded
// source src (N,H,W,Cin) with the packed weights pw, output rows spread
// over the workers.
func (c *Conv2D) runImplicit(pw *kernels.ConvWeights, src []float32, h, w, cin, stride, ho, wo, cout int, y []float32, beta float32) {
	c.ir = implicitRun{pw: pw, src: src, y: y, h: h, w: w, cin: cin, stride: stride, ho: ho, wo: wo, cout: cout, beta: beta, epi: c.ir.epi}
	perRow := 2 * wo * cout * c.kh * c.kw * cin
	parallel.For(c.n*ho, grainFor(perRow, 16*minParallelWork), c.implicitFn)
	c.ir.src, c.ir.y = nil, nil
}

// implicitRows computes output rows [lo,hi) (r = n*Ho+oy) of runImplicit.
func (c *Conv2D) implicitRows(lo, hi int) {
	scratch := kernels.GetConvScratch()
	defer kernels.PutConvScratch(scratch)
	r := &c.ir
	for i := lo; i < hi; i++ {
		n, oy := i/r.ho, i%r.ho
		off := ((n*r.h + oy*r.stride) * r.w) * r.cin
		r.pw.ConvRow(scratch, r.src, off, r.w*r.cin, r.stride*r.cin, r.wo, r.y[i*r.wo*r.cout:], r.cout, r.beta)
		if r.epi != nil {
			r.epi.apply(r.y, r.cout, i*r.wo, (i+1)*r.wo)
		}
	}
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
}

// im2col fills cols with the fields of output rows [r0,r1), unless it
// already holds them.
func (c *Conv2D) im2col(r0, r1 int) {
	if c.colsX == c.x && c.colsR0 == r0 && c.colsR1 == r1 {
		return
	}
	// The workspace is allocated on first use: the implicit GEMM needs
	// none, so most convolutions never hold one.
	if size := c.blkRows * c.wo * c.fwd.k(); cap(c.cols) < size {
		c.cols = make([]float32, size)
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
//	dx    (N,H,W,Cin)  = transposed convolution of dy (see backwardData)
//
// (dW without the cols matrix where the implicit kernels take the shape,
// see Conv2D). It returns dx, or nil when the layer was built with
// NoInputGrad. Frozen parameters get no gradient (their Grad is left as it
// was). x, and the padded copy Forward made of it, must not have changed
// since Forward, as for every layer. On the im2col path the dW blocks run
// last to first, so the first one reuses the cols Forward left behind.
func (c *Conv2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	cout := c.cfg.OutC
	k := c.kh * c.kw * c.cfg.InC
	dW, W := c.Weight.Grad.Data, c.Weight.Value.Data
	if c.Bias != nil && !c.Bias.Frozen {
		c.bsum.sum(dy.Data, c.n*c.ho*c.wo, cout, c.Bias.Grad.Data)
	}
	c.algos.BackwardData, c.algos.BackwardWeights = AlgoSkipped, AlgoSkipped
	if c.direct() {
		m := c.n * c.h * c.w
		if !c.Weight.Frozen {
			c.algos.BackwardWeights = AlgoGEMM1x1
			kernels.Sgemm(true, false, cout, k, m, 1, dy.Data, cout, c.x.Data, k, 0, dW, k)
		}
		if c.cfg.NoInputGrad {
			return nil
		}
		c.algos.BackwardData = AlgoGEMM1x1
		// dx (M,Cin) = dy (M,Cout) · W (Cout,Cin)
		c.dx = tensor.Ensure(c.dx, c.n, c.h, c.w, c.cfg.InC)
		kernels.Sgemm(false, false, m, k, cout, 1, dy.Data, cout, W, k, 0, c.dx.Data, k)
		return c.dx
	}
	if !c.Weight.Frozen && c.winogradGradOK() {
		c.algos.BackwardWeights = AlgoWinograd2
		c.winogradWeightGrad(dy, dW)
	} else if !c.Weight.Frozen && c.implicit(c.cfg.InC) && c.wgrad.Plan(cout, c.kh, c.kw*c.cfg.InC) {
		c.algos.BackwardWeights = AlgoImplicit
		c.implicitWeightGrad(dy, dW)
	} else if !c.Weight.Frozen {
		c.algos.BackwardWeights = AlgoIm2col
		c.im2colWeightGrad(dy, dW)
	}
	if c.cfg.NoInputGrad {
		return nil
	}
	c.dx = tensor.Ensure(c.dx, c.n, c.h, c.w, c.cfg.InC)
	c.backwardData(dy)
	return c.dx
}

// wgChunks is the number of blocks of output rows whose weight gradients
// implicitWeightGrad sums separately (in parallel) and then adds up in
// order: fixed, so that results do not depend on the core count.
const wgChunks = 8

// implicitWeightGrad computes dW from dy and the padded input that
// Forward left in xpad (or x itself without padding), row by row with
// kernels.ConvWeightGrad: each of wgChunks blocks of rows into its own
// partial sum, then the partial sums in order.
func (c *Conv2D) implicitWeightGrad(dy *tensor.Tensor, dW []float32) {
	size := len(dW)
	chunks := min(wgChunks, c.n*c.ho)
	c.dwPart = growFloats(c.dwPart, chunks*size)
	c.wg = wgRun{dy: dy.Data, chunks: chunks, src: c.x.Data, h: c.h, w: c.w}
	if c.cfg.Padding > 0 {
		// The padding at the bottom and right may exceed Padding (Winograd
		// pads odd sizes to whole tiles); windows start at the top left.
		c.wg.src, c.wg.h, c.wg.w = c.xpad.buf, c.xpad.pt+c.h+c.xpad.pb, c.xpad.pl+c.w+c.xpad.pr
	}
	parallel.For(chunks, 1, c.wgFn)
	copy(dW, c.dwPart[:size])
	for ch := 1; ch < chunks; ch++ {
		part := c.dwPart[ch*size : (ch+1)*size]
		for i, v := range part {
			dW[i] += v
		}
	}
	c.wg.dy, c.wg.src = nil, nil
}

// wgRun holds the arguments of implicitWeightGrad's parallel loop.
type wgRun struct {
	dy, src []float32
	chunks  int
	h, w    int // (padded) source size
}

// wgChunksRange sums the weight gradients of row blocks [lo,hi).
func (c *Conv2D) wgChunksRange(lo, hi int) {
	cin, cout, s := c.cfg.InC, c.cfg.OutC, c.cfg.Stride
	size := cout * c.kh * c.kw * cin
	g := &c.wg
	for ch := lo; ch < hi; ch++ {
		part := c.dwPart[ch*size : (ch+1)*size]
		clear(part)
		r0, r1 := chunkBounds(c.n*c.ho, g.chunks, ch)
		for r := r0; r < r1; r++ {
			n, oy := r/c.ho, r%c.ho
			off := (n*g.h + oy*s) * g.w * cin
			c.wgrad.Row(g.dy[r*c.wo*cout:], cout, g.src, off, g.w*cin, s*cin, c.wo, part)
		}
	}
}

// im2colWeightGrad computes dW block by block from recomputed im2col
// matrices.
func (c *Conv2D) im2colWeightGrad(dy *tensor.Tensor, dW []float32) {
	cout := c.cfg.OutC
	k := c.kh * c.kw * c.cfg.InC
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
}

// backwardData computes dx (N,H,W,Cin) as a transposed convolution of
// dy (N,Ho,Wo,Cout), split by phase. With stride S, input row iy is only
// reached by kernel rows ky ≡ iy+P (mod S); so the input pixels of one
// phase (a,b) = ((iy+P) mod S, (ix+P) mod S) form a grid on which dx is a
// stride-1 convolution of dy with the sub-kernel of taps ky = a+S*t,
// kx = b+S*u, flipped in space and with its channel axes swapped:
//
//	dx[n,iy,ix,ci] = sum over co,t,u of dy[n,q-t,p-u,co] * W[co,a+S*t,b+S*u,ci]
//	where iy = S*q + a - P and ix = S*p + b - P.
//
// Each phase is an implicit GEMM over zero-padded dy (implicitPhase),
// writing its pixels straight into their places in dx (a pixel stride of
// S*Cin), with no scatter-add; together the phases do exactly the
// forward's multiply-adds. With stride 1 there is one phase, the plain
// transposed convolution. (When tests force the im2col path, a phase is
// im2col + GEMM, and with stride > 1 its pixels are then copied into
// place.)
func (c *Conv2D) backwardData(dy *tensor.Tensor) {
	s := c.cfg.Stride
	if s > 1 && (c.kh < s || c.kw < s) {
		c.dx.Zero() // some phases get no tap: their pixels stay 0
	}
	for a := 0; a < s; a++ {
		for b := 0; b < s; b++ {
			c.backwardPhase(dy, a, b)
		}
	}
}

// phaseAxis describes one axis of a phase: taps t < taps of the kernel
// hit input positions S*(q0+r) + a - P for r < size.
func phaseAxis(kernel, stride, pad, in, a int) (taps, q0, size int) {
	if a < kernel {
		taps = (kernel - a + stride - 1) / stride
	}
	q0 = -floorDiv(a-pad, stride)        // first q with S*q + a - P >= 0
	qmax := floorDiv(in-1-a+pad, stride) // last q with S*q + a - P < in
	return taps, q0, max(0, qmax-q0+1)
}

// floorDiv is x/d rounded towards -Inf (d > 0).
func floorDiv(x, d int) int {
	q := x / d
	if x%d != 0 && x < 0 {
		q--
	}
	return q
}

// backwardPhase computes the dx pixels of phase (a,b); see backwardData.
func (c *Conv2D) backwardPhase(dy *tensor.Tensor, a, b int) {
	cin, cout, s, p := c.cfg.InC, c.cfg.OutC, c.cfg.Stride, c.cfg.Padding
	ta, q0, hq := phaseAxis(c.kh, s, p, c.h, a)
	tb, p0, wq := phaseAxis(c.kw, s, p, c.w, b)
	if ta == 0 || tb == 0 || hq == 0 || wq == 0 {
		return
	}
	// wSub (Cin, Ta, Tb, Cout): wSub[ci,t',u',co] = W[co, a+S*(Ta-1-t'), b+S*(Tb-1-u'), ci]
	kt := ta * tb * cout
	c.wSub = growFloats(c.wSub, cin*kt)
	W := c.Weight.Value.Data
	for co := 0; co < cout; co++ {
		for t := 0; t < ta; t++ {
			for u := 0; u < tb; u++ {
				ky, kx := a+s*(ta-1-t), b+s*(tb-1-u)
				src := W[((co*c.kh+ky)*c.kw+kx)*cin:][:cin]
				for ci, v := range src {
					c.wSub[((ci*ta+t)*tb+u)*cout+co] = v
				}
			}
		}
	}
	if c.winogradData() {
		// dx = conv3x3(dy, wSub) with stride 1 and padding 1, through
		// Winograd like Forward.
		if c.winograd4(c.n, c.ho, c.wo) {
			c.algos.BackwardData = AlgoWinograd4
			c.wino4Bwd.conv(dy.Data, c.n, c.ho, c.wo, cout, cin, c.wSub, paramKey{}, &c.wino4WT, true, c.dx.Data, nil)
			return
		}
		c.algos.BackwardData = AlgoWinograd2
		c.winoBwd.conv(nil, dy.Data, c.n, c.ho, c.wo, cout, cin, c.wSub, paramKey{}, &c.winoWT, true, c.dx.Data, nil)
		return
	}
	if c.implicit(cout) {
		c.algos.BackwardData = AlgoImplicit
		c.implicitPhase(dy, a, b, ta, tb, q0, p0, hq, wq)
		return
	}
	c.algos.BackwardData = AlgoIm2col
	// im2col of dy over the phase grid (Hq,Wq): output (r,col) reads dy rows
	// q0+r-(Ta-1)+t', i.e. stride 1 and padding Ta-1-q0 (maybe negative).
	j := c.tr
	j.src, j.c, j.h, j.w, j.ho, j.wo = dy.Data, cout, c.ho, c.wo, hq, wq
	j.kh, j.kw, j.stride, j.padH, j.padW = ta, tb, 1, ta-1-q0, tb-1-p0
	rowFloats := wq * kt
	blk := max(1, min(c.n*hq, colsBlockFloats/rowFloats))
	c.trCols = growFloats(c.trCols, blk*rowFloats)
	direct := s == 1 // the phase grid is dx itself
	if !direct {
		c.phaseOut = growFloats(c.phaseOut, blk*wq*cin)
	}
	total := c.n * hq
	for r0 := 0; r0 < total; r0 += blk {
		r1 := min(total, r0+blk)
		j.fill(c.trCols, r0, r1)
		out := c.phaseOut
		if direct {
			out = c.dx.Data[r0*wq*cin:]
		}
		// dx[phase rows] (rows,Cin) = trCols (rows,KT) · wSub (Cin,KT)ᵀ
		kernels.Sgemm(false, true, (r1-r0)*wq, cin, kt, 1, c.trCols, kt, c.wSub, kt, 0, out, cin)
		if !direct {
			c.placePhase(r0, r1, hq, wq, q0, p0, a, b)
		}
	}
}

// implicitPhase computes the dx pixels of phase (a,b) as an implicit
// GEMM: the stride-1 convolution of dy with wSub (Cin, Ta, Tb*Cout), whose
// output row r (of image n) is dx row S*(q0+r)+a-P at columns
// S*(p0+col)+b-P, written in place with a pixel stride of S*Cin (no
// placement pass). Output r reads dy rows q0+r-(Ta-1)+t' for t' < Ta (and
// columns likewise): dy is zero-padded where those fall outside it.
func (c *Conv2D) implicitPhase(dy *tensor.Tensor, a, b, ta, tb, q0, p0, hq, wq int) {
	cin, cout, s := c.cfg.InC, c.cfg.OutC, c.cfg.Stride
	pt, pb := max(0, ta-1-q0), max(0, q0+hq-1-(c.ho-1))
	pl, pr := max(0, tb-1-p0), max(0, p0+wq-1-(c.wo-1))
	if len(c.dypads) != s*s {
		c.dypads = make([]padded, s*s) // one per phase: no re-zeroing
	}
	src := c.dypads[a*s+b].fill(dy.Data, c.n, c.ho, c.wo, cout, pt, pb, pl, pr)
	c.packWT.Pack(c.wSub, cin, ta, tb*cout, wq)
	c.pr = phaseRun{src: src, hp: pt + c.ho + pb, wp: pl + c.wo + pr,
		row0: q0 - (ta - 1) + pt, col0: p0 - (tb - 1) + pl, hq: hq, wq: wq,
		iy0: s*q0 + a - c.cfg.Padding, ix0: s*p0 + b - c.cfg.Padding}
	perRow := 2 * wq * cin * ta * tb * cout
	parallel.For(c.n*hq, grainFor(perRow, 16*minParallelWork), c.phaseFn)
	c.pr.src = nil
}

// phaseRun holds the arguments of implicitPhase's row loop.
type phaseRun struct {
	src        []float32 // padded dy (N, hp, wp, Cout)
	hp, wp     int
	row0, col0 int // padded position of output (0,0)'s first window
	hq, wq     int // phase grid
	iy0, ix0   int // dx position of phase output (0,0)
}

// phaseRows computes phase output rows [lo,hi) (indexed n*Hq+r).
func (c *Conv2D) phaseRows(lo, hi int) {
	scratch := kernels.GetConvScratch()
	defer kernels.PutConvScratch(scratch)
	cin, cout, s := c.cfg.InC, c.cfg.OutC, c.cfg.Stride
	r := &c.pr
	for i := lo; i < hi; i++ {
		n, q := i/r.hq, i%r.hq
		off := ((n*r.hp+r.row0+q)*r.wp + r.col0) * cout
		y := ((n*c.h+r.iy0+s*q)*c.w + r.ix0) * cin
		c.packWT.ConvRow(scratch, r.src, off, r.wp*cout, cout, r.wq, c.dx.Data[y:], s*cin, 0)
	}
}

// placePhase copies the phase rows [r0,r1) (indexed n*Hq+r) of phaseOut
// into dx at rows S*(q0+r)+a-P, columns S*(p0+col)+b-P, in parallel.
func (c *Conv2D) placePhase(r0, r1, hq, wq, q0, p0, a, b int) {
	c.ph = phasePlacement{r0: r0, hq: hq, wq: wq, q0: q0, p0: p0, a: a, b: b}
	parallel.For(r1-r0, grainFor(wq*c.cfg.InC, minParallelWork), c.placeFn)
}

// phasePlacement holds placePhase's arguments for placeRows.
type phasePlacement struct{ r0, hq, wq, q0, p0, a, b int }

// placeRows places the block's phase rows [lo,hi); see placePhase.
func (c *Conv2D) placeRows(lo, hi int) {
	cin, s, p, ph := c.cfg.InC, c.cfg.Stride, c.cfg.Padding, c.ph
	for i := lo; i < hi; i++ {
		n, r := (ph.r0+i)/ph.hq, (ph.r0+i)%ph.hq
		iy := s*(ph.q0+r) + ph.a - p
		src := c.phaseOut[i*ph.wq*cin : (i+1)*ph.wq*cin]
		row := c.dx.Data[(n*c.h+iy)*c.w*cin : (n*c.h+iy+1)*c.w*cin]
		for col := 0; col < ph.wq; col++ {
			ix := s*(ph.p0+col) + ph.b - p
			copy(row[ix*cin:(ix+1)*cin], src[col*cin:(col+1)*cin])
		}
	}
}

// growFloats returns buf resliced to n values, reallocated if too small.
func growFloats(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// ConvBN is a convolution followed by a batch normalisation in evaluation
// mode, folded into one convolution with a bias, optionally followed by a
// residual add and a ReLU, all in the convolution's epilogue:
//
//	y = relu( conv(x; W*s) + (b*s + beta - mean*s) + residual ),  s = gamma/sqrt(var+eps)
//
// with the running mean and var. It is for inference only (no Backward)
// and shares the convolution's buffers: its output is the convolution's,
// valid until the next Forward of either. The folded weights follow the
// layers' current parameters: Forward checks their versions
// (nn.Param.Version: every writer of a parameter calls Changed) and,
// when one moved or is unknown, compares them with a snapshot taken at
// folding time, folding again when any value changed.
type ConvBN struct {
	Conv *Conv2D
	BN   *BatchNorm2D
	ReLU bool // apply a ReLU last (after the residual)

	// BF16 computes the products in bfloat16 (about 3 significant digits
	// of the inputs, twice the float32 throughput) where the CPU has
	// AVX512_BF16 and Cin is even; elsewhere it has no effect. A layer
	// that runs Winograd stays float32: F(4x4,3x3) does 4x fewer
	// multiplications, more than bf16's 2x (bf16 that turned Winograd off
	// made whole networks slower than float32), and in bf16 it is not
	// accurate enough: F(4x4) with only its transformed input V rounded to
	// bf16 was off by 21-24% of the output's rms at most (4x16x16 inputs,
	// 16-64 channels; its transforms amplify rounding errors ~100x).
	// Default false.
	BF16 bool

	w        []float32 // folded weight (Cout,KH,KW,Cin)
	epi      epilogue
	packed   kernels.ConvWeights
	winoW    winoWeights  // folded weights transformed for Winograd
	wino4W   wino4Weights // and for F(4x4,3x3)
	packedWo int          // output width packed for (0: not packed)
	packedBF bool         // packed holds bf16 weights
	snapshot []float32    // the parameters w and epi.bias were folded from
	keys     [6]paramKey  // and their states (sourceKeys; zero: unknown)
}

// bf16OK reports whether the convolution can run in bfloat16.
func (c *Conv2D) bf16OK() bool {
	return kernels.HasConvBF16() && c.cfg.InC%2 == 0
}

// NewConvBN fuses conv and bn (which must have conv's output channels).
func NewConvBN(conv *Conv2D, bn *BatchNorm2D, relu bool) (*ConvBN, error) {
	if conv.err != nil || bn.err != nil || bn.cfg.C != conv.cfg.OutC {
		return nil, fmt.Errorf("nn: cannot fuse %s (%d output channels) with %s (%d channels)", conv.name, conv.cfg.OutC, bn.name, bn.cfg.C)
	}
	return &ConvBN{Conv: conv, BN: bn, ReLU: relu}, nil
}

// sources lists the parameters the folded convolution is computed from
// (an array, so that Forward does not allocate; the conv bias may be nil).
func (f *ConvBN) sources() [6][]float32 {
	src := [6][]float32{f.Conv.Weight.Value.Data, f.BN.Weight.Value.Data, f.BN.Bias.Value.Data,
		f.BN.RunningMean.Value.Data, f.BN.RunningVar.Value.Data}
	if f.Conv.Bias != nil {
		src[5] = f.Conv.Bias.Value.Data
	}
	return src
}

// stale reports whether a parameter changed since the last fold: not when
// every source still has the version it was folded at (nn.Param.Version),
// else a compare with the snapshot decides (and, equal, takes the new
// versions).
func (f *ConvBN) stale() bool {
	if f.snapshot == nil {
		return true
	}
	keys := f.sourceKeys()
	if keys == f.keys && keys[0].version != 0 {
		return false
	}
	off := 0
	for _, s := range f.sources() {
		if !sameBits(s, f.snapshot[off:off+len(s)]) {
			return true
		}
		off += len(s)
	}
	f.keys = keys
	return false
}

// sourceKeys returns the states of the parameters of sources, all zero
// when any is unknown (version 0).
func (f *ConvBN) sourceKeys() [6]paramKey {
	ps := [6]*Param{f.Conv.Weight, f.BN.Weight, f.BN.Bias, f.BN.RunningMean, f.BN.RunningVar, f.Conv.Bias}
	var keys [6]paramKey
	for i, p := range ps {
		if p == nil {
			continue
		}
		if keys[i] = keyOf(p); keys[i].version == 0 {
			return [6]paramKey{}
		}
	}
	return keys
}

// paramKey names one state of a parameter's values: its data and version
// (nn.Param.Version). The zero key is "unknown".
type paramKey struct {
	data    *float32
	n       int
	version uint64
}

// keyOf returns p's current state (zero when p's version is unknown).
func keyOf(p *Param) paramKey {
	if p.version == 0 || p.Value.Len() == 0 {
		return paramKey{}
	}
	return paramKey{data: &p.Value.Data[0], n: p.Value.Len(), version: p.version}
}

// sameSource reports whether w holds the values a cache was built from:
// by key when both the current key and the cache's (*from) are known and
// equal, else by comparing w with the copy kept (from). A compare that
// finds them equal records key in *fromKey, so the next call is cheap.
func sameSource(w []float32, key paramKey, from []float32, fromKey *paramKey) bool {
	if key.version != 0 && key == *fromKey {
		return true
	}
	if len(from) != len(w) || !sameBits(w, from) {
		return false
	}
	*fromKey = key
	return true
}

// sameBits reports whether a and b (of equal length) hold the same bits.
func sameBits(a, b []float32) bool {
	if len(a) == 0 {
		return true
	}
	ab := unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a))
	bb := unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 4*len(b))
	return string(ab) == string(bb) // compiled to a memory compare, no copy
}

// fold computes the folded weight and bias from the current parameters.
func (f *ConvBN) fold() {
	cout := f.Conv.cfg.OutC
	W := f.Conv.Weight.Value.Data
	per := len(W) / cout
	f.w = growFloats(f.w, len(W))
	f.epi.bias = growFloats(f.epi.bias, cout)
	bn := f.BN
	for j := 0; j < cout; j++ {
		// The scale and shift of BatchNorm2D.Forward in evaluation.
		s := float32(float64(bn.Weight.Value.Data[j]) / math.Sqrt(float64(bn.RunningVar.Value.Data[j])+float64(bn.cfg.Eps)))
		shift := bn.Bias.Value.Data[j] - bn.RunningMean.Value.Data[j]*s
		for i, v := range W[j*per : (j+1)*per] {
			f.w[j*per+i] = v * s
		}
		if f.Conv.Bias != nil {
			shift += f.Conv.Bias.Value.Data[j] * s
		}
		f.epi.bias[j] = shift
	}
	n := 0
	for _, s := range f.sources() {
		n += len(s)
	}
	f.snapshot = growFloats(f.snapshot, n)
	off := 0
	for _, s := range f.sources() {
		off += copy(f.snapshot[off:], s)
	}
	f.keys = f.sourceKeys()
	f.packedWo = 0
	f.winoW.tiles, f.wino4W.tiles = 0, 0 // not transformed
}

// Forward returns relu(bn(conv(x)) + residual) (residual may be nil; the
// ReLU only if f.ReLU) with the running statistics. x is (N,H,W,Cin);
// residual, when given, has the output's shape (N,Ho,Wo,Cout).
func (f *ConvBN) Forward(x, residual *tensor.Tensor) *tensor.Tensor {
	if f.stale() {
		f.fold()
	}
	c := f.Conv
	_, wo := c.outHW(x.Shape[1], x.Shape[2])
	bf16 := f.BF16 && c.bf16OK()
	repack := f.packedWo != wo || f.packedBF != bf16
	f.packedWo, f.packedBF = wo, bf16
	f.epi.relu = f.ReLU
	f.epi.residual = nil
	if residual != nil {
		f.epi.residual = residual.Data
	}
	y := c.forward(x, f.w, paramKey{}, &f.packed, &f.winoW, &f.wino4W, repack, &f.epi, bf16)
	f.epi.residual = nil
	return y
}
