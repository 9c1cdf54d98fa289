package onnx

import (
	"fmt"
	"slices"

	"github.com/residual-go/residual/tensor"
)

// reduceMeanOp is ReduceMean over constant axes (the axes attribute up to
// opset 17, the axes input from opset 18), keepdims as ONNX (default 1).
// Without axes every axis is reduced, unless noop_with_empty_axes=1. It
// works on the logical (plain) layout.
type reduceMeanOp struct {
	axes     []int // as given; normalised per input rank in forward
	keepdims bool
	noop     bool
	lay      layouts
	in       *value
	x        *tensor.Tensor
	red      []bool
	outShape []int
	ostride  []int // output element stride of each input dimension (0 if reduced)
	count    int
	out      *tensor.Tensor
	outV     value
	dx       *tensor.Tensor
	dxs      []*tensor.Tensor
	idx      []int
}

func buildReduceMean(c *compiler, n *NodeProto) (op, error) {
	o := &reduceMeanOp{keepdims: attrInt(n, "keepdims", 1) != 0, noop: attrInt(n, "noop_with_empty_axes", 0) != 0}
	if c.opset >= 18 {
		t, err := c.optKonst(n, 1, "axes")
		if err != nil {
			return nil, err
		}
		if t != nil {
			if o.axes, err = shapeInput(t, "axes"); err != nil {
				return nil, err
			}
		}
	} else {
		o.axes = attrInts(n, "axes")
	}
	return o, nil
}

func (o *reduceMeanOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	x := o.lay.plain(in[0])
	o.x = x
	if err := o.setShape(x.Shape); err != nil {
		return nil, err
	}
	o.out = tensor.Ensure(o.out, o.outShape...)
	y := o.out.Data
	clear(y)
	o.walk(func(i, j int) { y[j] += x.Data[i] })
	inv := 1 / float32(o.count)
	for j := range y {
		y[j] *= inv
	}
	o.outV = value{t: o.out}
	return &o.outV, nil
}

// setShape normalises the axes for an input of shape s.
func (o *reduceMeanOp) setShape(s []int) error {
	r := len(s)
	o.red = append(o.red[:0], make([]bool, r)...)
	if len(o.axes) == 0 && !o.noop {
		for i := range o.red {
			o.red[i] = true
		}
	}
	for _, a := range o.axes {
		if a < -r || a >= r {
			return fmt.Errorf("axis %d out of range for input shape %s", a, tensor.ShapeString(s))
		}
		if a < 0 {
			a += r
		}
		o.red[a] = true
	}
	o.outShape = o.outShape[:0]
	o.ostride = append(o.ostride[:0], make([]int, r)...)
	o.count = 1
	stride := 1
	for i := r - 1; i >= 0; i-- {
		if o.red[i] {
			o.count *= s[i]
			continue
		}
		o.ostride[i] = stride
		stride *= s[i]
	}
	for i, d := range s {
		switch {
		case !o.red[i]:
			o.outShape = append(o.outShape, d)
		case o.keepdims:
			o.outShape = append(o.outShape, 1)
		}
	}
	if o.count == 0 {
		return fmt.Errorf("mean over an empty axis of input shape %s", tensor.ShapeString(s))
	}
	return nil
}

// walk calls fn(input index, output index) for every input element.
func (o *reduceMeanOp) walk(fn func(i, j int)) {
	s := o.x.Shape
	r := len(s)
	o.idx = append(o.idx[:0], make([]int, r)...)
	j := 0
	for i := range o.x.Len() {
		fn(i, j)
		for d := r - 1; d >= 0; d-- {
			o.idx[d]++
			j += o.ostride[d]
			if o.idx[d] < s[d] {
				break
			}
			j -= o.ostride[d] * s[d]
			o.idx[d] = 0
		}
	}
}

func (o *reduceMeanOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs = append(o.dxs[:0], make([]*tensor.Tensor, len(needs))...)
	if !needs[0] {
		return o.dxs, nil
	}
	if !slices.Equal(dy.Shape, o.outShape) {
		return nil, fmt.Errorf("gradient shape %s, want %s", tensor.ShapeString(dy.Shape), tensor.ShapeString(o.outShape))
	}
	o.dx = tensor.Ensure(o.dx, o.x.Shape...)
	inv := 1 / float32(o.count)
	d, g := o.dx.Data, dy.Data
	o.walk(func(i, j int) { d[i] = g[j] * inv })
	o.dxs[0] = o.lay.gradFromPlain(o.in, o.dx)
	return o.dxs, nil
}
