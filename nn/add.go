package nn

import (
	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// Add is the join of a residual block: out = a + b, optionally followed by
// a fused ReLU. It has two inputs, so it is not a Layer.
type Add struct {
	name string
	relu bool
	a, b *tensor.Tensor // inputs of the last Forward, not owned
	out  *tensor.Tensor
	dy   *tensor.Tensor // gradient being propagated, not owned
	dx   *tensor.Tensor

	fwdFn, bwdFn func(lo, hi int)
}

// NewAdd builds a residual join named name; relu fuses a ReLU after the sum.
func NewAdd(name string, relu bool) *Add {
	s := &Add{name: name, relu: relu}
	s.fwdFn = s.forwardRange
	s.bwdFn = s.backwardRange
	return s
}

// Name returns the layer's name.
func (s *Add) Name() string { return s.name }

// ReLU reports whether a ReLU follows the sum.
func (s *Add) ReLU() bool { return s.relu }

// OutShape checks that a and b have the same non-empty shape and returns it.
func (s *Add) OutShape(a, b []int) ([]int, error) {
	if len(a) < 1 || tensor.Numel(a) <= 0 || !tensor.SameShape(a, b) {
		return nil, shapeError(s.name, a, "a non-empty shape equal to the second input's "+tensor.ShapeString(b))
	}
	return append([]int(nil), a...), nil
}

// Forward returns out = a + b (then max(out,0) with the fused ReLU).
// a and b have the same shape, and so has out.
func (s *Add) Forward(a, b *tensor.Tensor) *tensor.Tensor {
	s.a, s.b = a, b
	s.out = tensor.Ensure(s.out, a.Shape...)
	parallel.For(a.Len(), minParallelWork, s.fwdFn)
	return s.out
}

func (s *Add) forwardRange(lo, hi int) {
	kernels.AddReLU(s.out.Data[lo:hi], s.a.Data[lo:hi], s.b.Data[lo:hi], hi-lo, s.relu)
}

// Backward returns the gradients of both inputs. Since d(a+b)/da =
// d(a+b)/db = 1, they are the same tensor: without ReLU it is dy itself
// (not copied); with the fused ReLU it is one layer-owned tensor holding dy
// masked by out > 0. Callers must treat da and db as read-only.
func (s *Add) Backward(dy *tensor.Tensor) (da, db *tensor.Tensor) {
	if !s.relu {
		return dy, dy
	}
	s.dy = dy
	s.dx = tensor.Ensure(s.dx, dy.Shape...)
	parallel.For(dy.Len(), minParallelWork, s.bwdFn)
	s.dy = nil
	return s.dx, s.dx
}

func (s *Add) backwardRange(lo, hi int) {
	kernels.ReLUGrad(s.dx.Data[lo:hi], s.dy.Data[lo:hi], s.out.Data[lo:hi], hi-lo) // y > 0 ? g : 0
}
