package nn

import (
	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// ReLU is the elementwise max(x, 0), on tensors of any shape.
type ReLU struct {
	name string
	x    *tensor.Tensor // input of the last Forward, not owned
	out  *tensor.Tensor // same shape as x
	dy   *tensor.Tensor // gradient being propagated, not owned
	dx   *tensor.Tensor

	fwdFn, bwdFn func(lo, hi int)
}

// NewReLU builds a ReLU named name.
func NewReLU(name string) *ReLU {
	r := &ReLU{name: name}
	r.fwdFn = r.forwardRange
	r.bwdFn = r.backwardRange
	return r
}

// Name returns the layer's name.
func (r *ReLU) Name() string { return r.name }

// Params returns nil: ReLU has no parameters.
func (r *ReLU) Params() []*Param { return nil }

// Buffers returns nil.
func (r *ReLU) Buffers() []*Param { return nil }

// OutShape accepts any shape with a positive batch and returns it unchanged.
func (r *ReLU) OutShape(in []int) ([]int, error) {
	if len(in) < 1 || tensor.Numel(in) <= 0 {
		return nil, shapeError(r.name, in, "a non-empty (N,...) shape")
	}
	return append([]int(nil), in...), nil
}

// Forward computes y = max(x, 0); y has x's shape.
func (r *ReLU) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	r.x = x
	r.out = tensor.Ensure(r.out, x.Shape...)
	parallel.For(x.Len(), minParallelWork, r.fwdFn)
	return r.out
}

func (r *ReLU) forwardRange(lo, hi int) {
	x, y := r.x.Data[lo:hi], r.out.Data[lo:hi]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// Backward returns dx = dy where y > 0, else 0.
func (r *ReLU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	r.dy = dy
	r.dx = tensor.Ensure(r.dx, dy.Shape...)
	parallel.For(dy.Len(), minParallelWork, r.bwdFn)
	r.dy = nil
	return r.dx
}

func (r *ReLU) backwardRange(lo, hi int) {
	kernels.ReLUGrad(r.dx.Data[lo:hi], r.dy.Data[lo:hi], r.out.Data[lo:hi], hi-lo) // y > 0 ? g : 0
}
