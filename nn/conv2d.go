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
// A 1x1 convolution with stride 1 and no padding skips im2col: the input
// itself is the cols matrix.
type Conv2D struct {
	name   string
	cfg    Conv2DConfig
	kh, kw int
	err    error // configuration error, reported by OutShape

	Weight *Param // (Cout, KH, KW, Cin)
	Bias   *Param // (Cout), nil without bias

	// Shapes of the last Forward.
	n, h, w, ho, wo int

	x     *tensor.Tensor // input of the last Forward (N,H,W,Cin), not owned
	cols  *tensor.Tensor // (N*Ho*Wo, KH*KW*Cin), unused on the 1x1 fast path
	out   *tensor.Tensor // (N,Ho,Wo,Cout)
	dcols *tensor.Tensor // (N*Ho*Wo, KH*KW*Cin), unused on the 1x1 fast path
	dx    *tensor.Tensor // (N,H,W,Cin)
	bsum  colSummer

	// Parallel loop bodies, created once so that calls do not allocate.
	im2colFn, col2imFn, biasFillFn func(lo, hi int)
}

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
	c.im2colFn = c.im2colRows
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
	c.n, c.h, c.w = x.Shape[0], x.Shape[1], x.Shape[2]
	c.ho, c.wo = c.outHW(c.h, c.w)
	c.x = x
	cout := c.cfg.OutC
	m := c.n * c.ho * c.wo // rows of the GEMM: one per output pixel
	k := c.kh * c.kw * c.cfg.InC
	c.out = tensor.Ensure(c.out, c.n, c.ho, c.wo, cout)

	a := x.Data
	if !c.direct() {
		c.cols = tensor.Ensure(c.cols, m, k)
		parallel.For(c.n*c.ho, grainFor(c.wo*k, minParallelWork), c.im2colFn)
		a = c.cols.Data
	}
	// Bias epilogue: pre-fill y with the bias and let the GEMM accumulate
	// onto it (beta = 1), instead of a separate pass over y.
	beta := float32(0)
	if c.Bias != nil {
		parallel.For(m, grainFor(cout, minParallelWork), c.biasFillFn)
		beta = 1
	}
	// y (M,Cout) = cols (M,K) · W(Cout,K)ᵀ
	kernels.Sgemm(false, true, m, cout, k, 1, a, k, c.Weight.Value.Data, k, beta, c.out.Data, cout)
	return c.out
}

// im2colRows fills the cols rows of output rows [lo,hi), indexed n*Ho+oy.
// A cols row is the receptive field of one output pixel laid out (KH,KW,Cin),
// zeros where the window hangs over the padding. In NHWC the KW*Cin values
// of one kernel row are contiguous in x, so each kernel row is one copy.
func (c *Conv2D) im2colRows(lo, hi int) {
	cin, kh, kw := c.cfg.InC, c.kh, c.kw
	s, p := c.cfg.Stride, c.cfg.Padding
	h, w, ho, wo := c.h, c.w, c.ho, c.wo
	k := kh * kw * cin
	x, cols := c.x.Data, c.cols.Data
	for r := lo; r < hi; r++ {
		n, oy := r/ho, r%ho
		img := x[n*h*w*cin : (n+1)*h*w*cin]
		for ox := 0; ox < wo; ox++ {
			row := cols[(r*wo+ox)*k : (r*wo+ox+1)*k]
			ix0 := ox*s - p
			// valid kernel columns [kx0,kx1): those with 0 <= ix0+kx < w
			kx0, kx1 := max(0, -ix0), min(kw, w-ix0)
			for ky := 0; ky < kh; ky++ {
				seg := row[ky*kw*cin : (ky+1)*kw*cin]
				iy := oy*s - p + ky
				if iy < 0 || iy >= h || kx0 >= kx1 {
					clear(seg)
					continue
				}
				clear(seg[:kx0*cin])
				src := img[(iy*w+ix0+kx0)*cin : (iy*w+ix0+kx1)*cin]
				copy(seg[kx0*cin:kx1*cin], src)
				clear(seg[kx1*cin:])
			}
		}
	}
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
//	dW    (Cout,K)   = dyᵀ · cols
//	dBias (Cout)     = column sums of dy
//	dcols (M,K)      = dy · W
//	dx    (N,H,W,Cin) = col2im(dcols)
//
// It returns dx, or nil when the layer was built with NoInputGrad.
func (c *Conv2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	cout := c.cfg.OutC
	m := c.n * c.ho * c.wo
	k := c.kh * c.kw * c.cfg.InC
	a := c.x.Data
	if !c.direct() {
		a = c.cols.Data
	}
	kernels.Sgemm(true, false, cout, k, m, 1, dy.Data, cout, a, k, 0, c.Weight.Grad.Data, k)
	if c.Bias != nil {
		c.bsum.sum(dy.Data, m, cout, c.Bias.Grad.Data)
	}
	if c.cfg.NoInputGrad {
		return nil
	}
	c.dx = tensor.Ensure(c.dx, c.n, c.h, c.w, c.cfg.InC)
	if c.direct() {
		// dx (M,Cin) = dy (M,Cout) · W (Cout,Cin)
		kernels.Sgemm(false, false, m, k, cout, 1, dy.Data, cout, c.Weight.Value.Data, k, 0, c.dx.Data, k)
		return c.dx
	}
	c.dcols = tensor.Ensure(c.dcols, m, k)
	kernels.Sgemm(false, false, m, k, cout, 1, dy.Data, cout, c.Weight.Value.Data, k, 0, c.dcols.Data, k)
	parallel.For(c.n*c.h, grainFor(c.w*k, minParallelWork), c.col2imFn)
	return c.dx
}

// col2imRows computes the dx rows [lo,hi), indexed n*H+iy, by gathering
// (rather than scattering) the dcols entries that read each input pixel:
// x[iy,ix] fed output (oy,ox) through kernel tap (ky,kx) when
// iy = oy*S - P + ky and ix = ox*S - P + kx. Gathering lets rows of dx be
// computed independently and in parallel, without atomics.
func (c *Conv2D) col2imRows(lo, hi int) {
	cin, kh, kw := c.cfg.InC, c.kh, c.kw
	s, p := c.cfg.Stride, c.cfg.Padding
	h, w, ho, wo := c.h, c.w, c.ho, c.wo
	k := kh * kw * cin
	dx, dcols := c.dx.Data, c.dcols.Data
	for r := lo; r < hi; r++ {
		n, iy := r/h, r%h
		for ix := 0; ix < w; ix++ {
			dst := dx[(r*w+ix)*cin : (r*w+ix+1)*cin]
			clear(dst)
			for ky := 0; ky < kh; ky++ {
				ty := iy + p - ky
				if ty < 0 || ty%s != 0 || ty/s >= ho {
					continue
				}
				oy := ty / s
				for kx := 0; kx < kw; kx++ {
					tx := ix + p - kx
					if tx < 0 || tx%s != 0 || tx/s >= wo {
						continue
					}
					ox := tx / s
					off := ((n*ho+oy)*wo+ox)*k + (ky*kw+kx)*cin
					src := dcols[off : off+cin]
					for i, v := range src {
						dst[i] += v
					}
				}
			}
		}
	}
}
