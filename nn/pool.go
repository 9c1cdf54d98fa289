package nn

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// Pool2DConfig describes a max or average pooling window over H and W.
type Pool2DConfig struct {
	Kernel  int // window side (required, > 0)
	Stride  int // step between windows; default Kernel (as PyTorch)
	Padding int // implicit padding on every side; at most Kernel/2 (as PyTorch)
	// ZeroPad makes MaxPool2D's padding count as zeros instead of -Inf, as
	// Keras' ZeroPadding2D followed by MaxPooling2D (ResNet v2's stem,
	// whose input has no ReLU and may be all negative near a border).
	// Default false (PyTorch's -Inf). AvgPool2D ignores it (its padding is
	// always zeros).
	ZeroPad bool
}

// poolGeom is the geometry shared by both poolings.
type poolGeom struct {
	name string
	cfg  Pool2DConfig
	err  error
	// shapes of the last Forward
	n, h, w, c, ho, wo int
}

func newPoolGeom(name string, cfg Pool2DConfig) poolGeom {
	if cfg.Stride == 0 {
		cfg.Stride = cfg.Kernel
	}
	g := poolGeom{name: name, cfg: cfg}
	switch {
	case cfg.Kernel <= 0:
		g.err = configError(name, "kernel %d must be > 0", cfg.Kernel)
	case cfg.Stride < 0:
		g.err = configError(name, "stride %d must be > 0", cfg.Stride)
	case cfg.Padding < 0 || cfg.Padding > cfg.Kernel/2:
		g.err = configError(name, "padding %d must be in [0,%d] (half the kernel %d)", cfg.Padding, cfg.Kernel/2, cfg.Kernel)
	}
	return g
}

// outShape maps (N,H,W,C) to (N,Ho,Wo,C), Ho = (H+2P-K)/S + 1 (floor).
func (g *poolGeom) outShape(in []int) ([]int, error) {
	if g.err != nil {
		return nil, g.err
	}
	k, p, s := g.cfg.Kernel, g.cfg.Padding, g.cfg.Stride
	want := fmt.Sprintf("(N,H,W,C) with H and W >= %d", k-2*p)
	if len(in) != 4 || tensor.Numel(in) <= 0 || in[1]+2*p < k || in[2]+2*p < k {
		return nil, shapeError(g.name, in, want)
	}
	return []int{in[0], (in[1]+2*p-k)/s + 1, (in[2]+2*p-k)/s + 1, in[3]}, nil
}

// setShape records the input shape of a Forward.
func (g *poolGeom) setShape(x *tensor.Tensor) {
	k, p, s := g.cfg.Kernel, g.cfg.Padding, g.cfg.Stride
	g.n, g.h, g.w, g.c = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	g.ho, g.wo = (g.h+2*p-k)/s+1, (g.w+2*p-k)/s+1
}

// window returns the input rows [y0,y1) and columns [x0,x1) inside the
// image that output (oy,ox) covers.
func (g *poolGeom) window(oy, ox int) (y0, y1, x0, x1 int) {
	k, p, s := g.cfg.Kernel, g.cfg.Padding, g.cfg.Stride
	y0, x0 = oy*s-p, ox*s-p
	return max(y0, 0), min(y0+k, g.h), max(x0, 0), min(x0+k, g.w)
}

// MaxPool2D takes the maximum of each window, channel by channel; padding
// counts as -Inf, as in PyTorch, or as zeros with ZeroPad (Keras'
// ZeroPadding2D + MaxPooling2D). (N,H,W,C) -> (N,Ho,Wo,C).
//
// Forward keeps no argmax: Backward finds each window's winner again (the
// first position, in scan order, holding the output value, as PyTorch
// picks the first maximum), so evaluation needs no extra buffer.
type MaxPool2D struct {
	poolGeom
	x   *tensor.Tensor // input of the last Forward, not owned
	out *tensor.Tensor // (N,Ho,Wo,C)
	dy  *tensor.Tensor // gradient being propagated, not owned
	dx  *tensor.Tensor // (N,H,W,C)

	fwdFn, bwdFn func(lo, hi int)
}

// NewMaxPool2D builds a max pooling named name. An invalid configuration
// is reported by OutShape.
func NewMaxPool2D(name string, cfg Pool2DConfig) *MaxPool2D {
	m := &MaxPool2D{poolGeom: newPoolGeom(name, cfg)}
	m.fwdFn = m.forwardImages
	m.bwdFn = m.backwardImages
	return m
}

// Name returns the layer's name.
func (m *MaxPool2D) Name() string { return m.name }

// Config returns the configuration with defaults filled in.
func (m *MaxPool2D) Config() Pool2DConfig { return m.cfg }

// Params returns nil.
func (m *MaxPool2D) Params() []*Param { return nil }

// Buffers returns nil.
func (m *MaxPool2D) Buffers() []*Param { return nil }

// OutShape maps (N,H,W,C) to (N,Ho,Wo,C).
func (m *MaxPool2D) OutShape(in []int) ([]int, error) { return m.outShape(in) }

// Forward returns the window maxima of x (N,H,W,C). NaNs propagate (as
// in PyTorch).
func (m *MaxPool2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	m.setShape(x)
	m.x = x
	m.out = tensor.Ensure(m.out, m.n, m.ho, m.wo, m.c)
	parallel.For(m.n, 1, m.fwdFn)
	return m.out
}

func (m *MaxPool2D) forwardImages(lo, hi int) {
	c := m.c
	inImg, outImg := m.h*m.w*c, m.ho*m.wo*c
	negInf := float32(math.Inf(-1))
	for n := lo; n < hi; n++ {
		x := m.x.Data[n*inImg : (n+1)*inImg]
		for oy := 0; oy < m.ho; oy++ {
			for ox := 0; ox < m.wo; ox++ {
				o := n*outImg + (oy*m.wo+ox)*c
				best := m.out.Data[o : o+c]
				y0, y1, x0, x1 := m.window(oy, ox)
				init := negInf
				if m.cfg.ZeroPad && (y1-y0 < m.cfg.Kernel || x1-x0 < m.cfg.Kernel) {
					init = 0 // the window covers padding
				}
				for j := range best {
					best[j] = init
				}
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						i := (iy*m.w + ix) * c
						for j, v := range x[i : i+c] {
							best[j] = max(best[j], v) // max propagates NaN
						}
					}
				}
			}
		}
	}
}

// Backward routes each dy to the input position that won its window:
// dx[winner] += dy (overlapping windows may share a winner). With ZeroPad,
// a window won by its padding (every input value below zero) passes no
// gradient.
func (m *MaxPool2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	m.dy = dy
	m.dx = tensor.Ensure(m.dx, m.n, m.h, m.w, m.c)
	parallel.For(m.n, 1, m.bwdFn)
	m.dy = nil
	return m.dx
}

func (m *MaxPool2D) backwardImages(lo, hi int) {
	c := m.c
	inImg, outImg := m.h*m.w*c, m.ho*m.wo*c
	for n := lo; n < hi; n++ {
		x := m.x.Data[n*inImg : (n+1)*inImg]
		dx := m.dx.Data[n*inImg : (n+1)*inImg]
		clear(dx)
		for oy := 0; oy < m.ho; oy++ {
			for ox := 0; ox < m.wo; ox++ {
				o := n*outImg + (oy*m.wo+ox)*c
				y, g := m.out.Data[o:o+c], m.dy.Data[o:o+c]
				y0, y1, x0, x1 := m.window(oy, ox)
				for j, yj := range y {
					if i := m.winner(x, j, yj, y0, y1, x0, x1); i >= 0 {
						dx[i] += g[j]
					}
				}
			}
		}
	}
}

// winner returns the index in the image x of the first position of the
// window [y0,y1)x[x0,x1), channel j, that holds v (a NaN matches a NaN).
func (m *MaxPool2D) winner(x []float32, j int, v float32, y0, y1, x0, x1 int) int {
	c, w := m.c, m.w
	isNaN := v != v
	for iy := y0; iy < y1; iy++ {
		for ix := x0; ix < x1; ix++ {
			i := (iy*w+ix)*c + j
			if xv := x[i]; xv == v || (isNaN && xv != xv) {
				return i
			}
		}
	}
	return -1
}

// AvgPool2D averages each window, channel by channel. Padding counts as
// zeros in the average (PyTorch's default count_include_pad=True), so
// every window is divided by Kernel². (N,H,W,C) -> (N,Ho,Wo,C).
type AvgPool2D struct {
	poolGeom
	x   *tensor.Tensor // input of the last Forward, not owned
	out *tensor.Tensor // (N,Ho,Wo,C)
	dy  *tensor.Tensor // gradient being propagated, not owned
	dx  *tensor.Tensor // (N,H,W,C)

	fwdFn, bwdFn func(lo, hi int)
}

// NewAvgPool2D builds an average pooling named name. An invalid
// configuration is reported by OutShape.
func NewAvgPool2D(name string, cfg Pool2DConfig) *AvgPool2D {
	a := &AvgPool2D{poolGeom: newPoolGeom(name, cfg)}
	a.fwdFn = a.forwardImages
	a.bwdFn = a.backwardImages
	return a
}

// Name returns the layer's name.
func (a *AvgPool2D) Name() string { return a.name }

// Config returns the configuration with defaults filled in.
func (a *AvgPool2D) Config() Pool2DConfig { return a.cfg }

// Params returns nil.
func (a *AvgPool2D) Params() []*Param { return nil }

// Buffers returns nil.
func (a *AvgPool2D) Buffers() []*Param { return nil }

// OutShape maps (N,H,W,C) to (N,Ho,Wo,C).
func (a *AvgPool2D) OutShape(in []int) ([]int, error) { return a.outShape(in) }

// Forward returns the window means of x (N,H,W,C).
func (a *AvgPool2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	a.setShape(x)
	a.x = x
	a.out = tensor.Ensure(a.out, a.n, a.ho, a.wo, a.c)
	parallel.For(a.n, 1, a.fwdFn)
	return a.out
}

func (a *AvgPool2D) forwardImages(lo, hi int) {
	c := a.c
	inImg, outImg := a.h*a.w*c, a.ho*a.wo*c
	inv := 1 / float32(a.cfg.Kernel*a.cfg.Kernel)
	for n := lo; n < hi; n++ {
		x := a.x.Data[n*inImg : (n+1)*inImg]
		for oy := 0; oy < a.ho; oy++ {
			for ox := 0; ox < a.wo; ox++ {
				o := n*outImg + (oy*a.wo+ox)*c
				sum := a.out.Data[o : o+c]
				clear(sum)
				y0, y1, x0, x1 := a.window(oy, ox)
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						i := (iy*a.w + ix) * c
						for j, v := range x[i : i+c] {
							sum[j] += v
						}
					}
				}
				for j := range sum {
					sum[j] *= inv
				}
			}
		}
	}
}

// Backward spreads each dy evenly over its window: dx += dy/Kernel².
func (a *AvgPool2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	a.dy = dy
	a.dx = tensor.Ensure(a.dx, a.n, a.h, a.w, a.c)
	parallel.For(a.n, 1, a.bwdFn)
	a.dy = nil
	return a.dx
}

func (a *AvgPool2D) backwardImages(lo, hi int) {
	c := a.c
	inImg, outImg := a.h*a.w*c, a.ho*a.wo*c
	inv := 1 / float32(a.cfg.Kernel*a.cfg.Kernel)
	for n := lo; n < hi; n++ {
		dx := a.dx.Data[n*inImg : (n+1)*inImg]
		clear(dx)
		for oy := 0; oy < a.ho; oy++ {
			for ox := 0; ox < a.wo; ox++ {
				o := n*outImg + (oy*a.wo+ox)*c
				g := a.dy.Data[o : o+c]
				y0, y1, x0, x1 := a.window(oy, ox)
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						i := (iy*a.w + ix) * c
						d := dx[i : i+c]
						for j, v := range g {
							d[j] += v * inv
						}
					}
				}
			}
		}
	}
}
