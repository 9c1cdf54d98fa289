package nn

import (
	"github.com/residual-go/residual/tensor"
)

// Flatten reshapes (N,d1,d2,...) to (N,d1*d2*...). It copies nothing: its
// output shares x's data (and its dx shares dy's), which is safe because
// layers never write into their inputs.
type Flatten struct {
	name    string
	inShape []int
	out     tensor.Tensor // view of the last input
	dx      tensor.Tensor // view of the last dy
}

// NewFlatten builds a flatten layer named name.
func NewFlatten(name string) *Flatten { return &Flatten{name: name} }

// Name returns the layer's name.
func (f *Flatten) Name() string { return f.name }

// Params returns nil.
func (f *Flatten) Params() []*Param { return nil }

// Buffers returns nil.
func (f *Flatten) Buffers() []*Param { return nil }

// OutShape maps (N,d1,d2,...) to (N,d1*d2*...).
func (f *Flatten) OutShape(in []int) ([]int, error) {
	if len(in) < 2 || tensor.Numel(in) <= 0 {
		return nil, shapeError(f.name, in, "a non-empty (N,...) shape with at least 2 dimensions")
	}
	return []int{in[0], tensor.Numel(in[1:])}, nil
}

// Forward returns a (N,prod) view of x.
func (f *Flatten) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	f.inShape = append(f.inShape[:0], x.Shape...)
	f.out.Shape = append(f.out.Shape[:0], x.Shape[0], tensor.Numel(x.Shape[1:]))
	f.out.Data = x.Data[:x.Len()]
	return &f.out
}

// Backward returns a view of dy with the input's shape.
func (f *Flatten) Backward(dy *tensor.Tensor) *tensor.Tensor {
	f.dx.Shape = append(f.dx.Shape[:0], f.inShape...)
	f.dx.Data = dy.Data[:dy.Len()]
	return &f.dx
}
