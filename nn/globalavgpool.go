package nn

import (
	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// GlobalAvgPool averages each channel over the image: (N,H,W,C) -> (N,C).
type GlobalAvgPool struct {
	name       string
	n, h, w, c int
	x          *tensor.Tensor // input of the last Forward, not owned
	out        *tensor.Tensor // (N,C)
	dy         *tensor.Tensor // gradient being propagated, not owned
	dx         *tensor.Tensor // (N,H,W,C)

	fwdFn, bwdFn func(lo, hi int)
}

// NewGlobalAvgPool builds a global average pooling named name.
func NewGlobalAvgPool(name string) *GlobalAvgPool {
	g := &GlobalAvgPool{name: name}
	g.fwdFn = g.forwardImages
	g.bwdFn = g.backwardImages
	return g
}

// Name returns the layer's name.
func (g *GlobalAvgPool) Name() string { return g.name }

// Params returns nil.
func (g *GlobalAvgPool) Params() []*Param { return nil }

// Buffers returns nil.
func (g *GlobalAvgPool) Buffers() []*Param { return nil }

// OutShape maps (N,H,W,C) to (N,C).
func (g *GlobalAvgPool) OutShape(in []int) ([]int, error) {
	if len(in) != 4 || tensor.Numel(in) <= 0 {
		return nil, shapeError(g.name, in, "(N,H,W,C)")
	}
	return []int{in[0], in[3]}, nil
}

// Forward returns y (N,C), the mean of x (N,H,W,C) over H and W.
func (g *GlobalAvgPool) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	g.x = x
	g.n, g.h, g.w, g.c = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	g.out = tensor.Ensure(g.out, g.n, g.c)
	parallel.For(g.n, grainFor(g.h*g.w*g.c, minParallelWork), g.fwdFn)
	return g.out
}

func (g *GlobalAvgPool) forwardImages(lo, hi int) {
	c, hw := g.c, g.h*g.w
	inv := 1 / float32(hw)
	for n := lo; n < hi; n++ {
		y := g.out.Data[n*c : (n+1)*c]
		clear(y)
		img := g.x.Data[n*hw*c : (n+1)*hw*c]
		for p := 0; p < hw; p++ {
			for j, v := range img[p*c : (p+1)*c] {
				y[j] += v
			}
		}
		for j := range y {
			y[j] *= inv
		}
	}
}

// Backward spreads dy (N,C) evenly: dx[n,h,w,c] = dy[n,c]/(H*W).
func (g *GlobalAvgPool) Backward(dy *tensor.Tensor) *tensor.Tensor {
	g.dy = dy
	g.dx = tensor.Ensure(g.dx, g.n, g.h, g.w, g.c)
	parallel.For(g.n, grainFor(g.h*g.w*g.c, minParallelWork), g.bwdFn)
	g.dy = nil
	return g.dx
}

func (g *GlobalAvgPool) backwardImages(lo, hi int) {
	c, hw := g.c, g.h*g.w
	inv := 1 / float32(hw)
	for n := lo; n < hi; n++ {
		d := g.dy.Data[n*c : (n+1)*c]
		img := g.dx.Data[n*hw*c : (n+1)*hw*c]
		for p := 0; p < hw; p++ {
			row := img[p*c : (p+1)*c]
			for j, v := range d {
				row[j] = v * inv
			}
		}
	}
}
