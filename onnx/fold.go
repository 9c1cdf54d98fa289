package onnx

import (
	"fmt"
	"slices"

	"github.com/residual-go/residual/tensor"
)

// Exporters often compute constants with small subgraphs (PyTorch's Pad
// builds its pads with ConstantOfShape, Concat, Slice, Transpose, Reshape
// and Cast). Compile evaluates every node whose inputs are all constants
// once, at import time ("constant folding"). The operators below are
// supported only that way; every other supported operator can be folded
// too, by running it.

// maxFoldElems bounds the size of a tensor made by constant folding
// (64 MiB of float32), so a tiny file cannot ask for a huge allocation.
const maxFoldElems = 1 << 24

// folders evaluate constant-only operators. Integer tensors are held as
// float32, exact up to 2^24, which is plenty for shapes and pads.
var folders = map[string]func(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error){
	"Cast":            foldCast,
	"ConstantOfShape": foldConstantOfShape,
	"Slice":           foldSlice,
	"Unsqueeze":       foldUnsqueeze,
	"Squeeze":         foldSqueeze,
	"Gather":          foldGather,
	"Expand":          foldExpand,
}

// foldNode evaluates n on constant inputs.
func (c *compiler) foldNode(n *NodeProto) (*tensor.Tensor, error) {
	in := make([]*tensor.Tensor, len(n.Inputs))
	for i, name := range n.Inputs {
		if name != "" {
			t, ok := c.konsts[name]
			if !ok {
				return nil, fmt.Errorf("input %q is not a known constant", name)
			}
			in[i] = t
		}
	}
	if f, ok := folders[n.OpType]; ok {
		return f(n, in)
	}
	o, err := builders[n.OpType](c, n)
	if err != nil {
		return nil, err
	}
	vals := make([]*value, len(in))
	for i, t := range in {
		if t != nil {
			vals[i] = &value{t: t, konst: true}
		}
	}
	v, err := o.forward(vals, false)
	if err != nil {
		return nil, err
	}
	var l layouts
	return l.plain(v).Clone(), nil
}

func foldCast(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error) {
	switch to := attrInt(n, "to", 0); to {
	case TypeFloat, TypeDouble, TypeInt64, TypeInt32:
		t := in[0].Clone()
		if to == TypeInt64 || to == TypeInt32 {
			for i, v := range t.Data {
				t.Data[i] = float32(int64(v)) // truncation toward zero, as a C cast
			}
		}
		return t, nil
	default:
		return nil, fmt.Errorf("cast to type %d is not supported", to)
	}
}

// shapeInput reads a 1-D constant of sizes.
func shapeInput(t *tensor.Tensor, what string) ([]int, error) {
	if len(t.Shape) > 1 {
		return nil, fmt.Errorf("%s has shape %s, want 1-D", what, tensor.ShapeString(t.Shape))
	}
	s := make([]int, t.Len())
	for i, v := range t.Data[:t.Len()] {
		s[i] = int(v)
	}
	return s, nil
}

func foldConstantOfShape(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := shapeInput(in[0], "shape")
	if err != nil {
		return nil, err
	}
	total := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && total > maxFoldElems/d) {
			return nil, fmt.Errorf("shape %v is negative or too large", shape)
		}
		total *= d
	}
	var fill float32
	if a := n.Attr("value"); a != nil && a.T != nil {
		v, err := a.T.Floats()
		if err != nil {
			return nil, err
		}
		if len(v) != 1 {
			return nil, fmt.Errorf("value has %d elements, want 1", len(v))
		}
		fill = v[0]
	}
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = fill
	}
	return t, nil
}

// gatherIndices builds out[i0,...] = in[idx[0][i0], idx[1][i1], ...].
func gatherIndices(t *tensor.Tensor, idx [][]int) *tensor.Tensor {
	shape := make([]int, len(idx))
	for i, ix := range idx {
		shape[i] = len(ix)
	}
	out := tensor.New(shape...)
	strides := make([]int, len(t.Shape))
	s := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		strides[i] = s
		s *= t.Shape[i]
	}
	pos := make([]int, len(idx))
	for o := range out.Data {
		rem, off := o, 0
		for d := len(idx) - 1; d >= 0; d-- {
			pos[d] = rem % shape[d]
			rem /= shape[d]
			off += idx[d][pos[d]] * strides[d]
		}
		out.Data[o] = t.Data[off]
	}
	return out
}

func foldSlice(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error) {
	data := in[0]
	r := len(data.Shape)
	if len(in) < 3 || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("starts and ends are required (opset >= 10)")
	}
	starts, err := shapeInput(in[1], "starts")
	if err != nil {
		return nil, err
	}
	ends, err := shapeInput(in[2], "ends")
	if err != nil {
		return nil, err
	}
	axes := make([]int, len(starts))
	for i := range axes {
		axes[i] = i
	}
	if len(in) > 3 && in[3] != nil {
		if axes, err = shapeInput(in[3], "axes"); err != nil {
			return nil, err
		}
	}
	steps := slices.Repeat([]int{1}, len(starts))
	if len(in) > 4 && in[4] != nil {
		if steps, err = shapeInput(in[4], "steps"); err != nil {
			return nil, err
		}
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v and steps %v differ in length", starts, ends, axes, steps)
	}
	idx := make([][]int, r)
	for d := range r {
		for i := 0; i < data.Shape[d]; i++ {
			idx[d] = append(idx[d], i)
		}
	}
	for i, a := range axes {
		if a, err = normAxis(a, r); err != nil {
			return nil, err
		}
		dim, st, en, step := data.Shape[a], starts[i], ends[i], steps[i]
		if step == 0 {
			return nil, fmt.Errorf("step 0 on axis %d", a)
		}
		// Values float32-rounded from INT64 limits mean "to the end".
		if st < 0 {
			st += dim
		}
		if en < 0 {
			en += dim
		}
		idx[a] = idx[a][:0]
		if step > 0 {
			st, en = min(max(st, 0), dim), min(max(en, 0), dim)
			for j := st; j < en; j += step {
				idx[a] = append(idx[a], j)
			}
		} else {
			st, en = min(max(st, -1), dim-1), min(max(en, -1), dim-1)
			for j := st; j > en; j += step {
				idx[a] = append(idx[a], j)
			}
		}
	}
	return gatherIndices(data, idx), nil
}

// axesOf reads Unsqueeze/Squeeze axes from the input (opset 13) or the
// attribute (earlier).
func axesOf(n *NodeProto, in []*tensor.Tensor) ([]int, error) {
	if len(in) > 1 && in[1] != nil {
		return shapeInput(in[1], "axes")
	}
	return attrInts(n, "axes"), nil
}

func foldUnsqueeze(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error) {
	axes, err := axesOf(n, in)
	if err != nil {
		return nil, err
	}
	r := len(in[0].Shape) + len(axes)
	ones := make([]bool, r)
	for _, a := range axes {
		if a, err = normAxis(a, r); err != nil {
			return nil, err
		}
		ones[a] = true
	}
	var shape []int
	k := 0
	for i := range r {
		if ones[i] {
			shape = append(shape, 1)
		} else if k < len(in[0].Shape) {
			shape = append(shape, in[0].Shape[k])
			k++
		}
	}
	t := in[0].Clone()
	return t, t.Reshape(shape...)
}

func foldSqueeze(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error) {
	axes, err := axesOf(n, in)
	if err != nil {
		return nil, err
	}
	r := len(in[0].Shape)
	drop := make([]bool, r)
	for _, a := range axes {
		if a, err = normAxis(a, r); err != nil {
			return nil, err
		}
		drop[a] = true
	}
	var shape []int
	for i, d := range in[0].Shape {
		if (len(axes) == 0 && d == 1) || drop[i] {
			continue
		}
		shape = append(shape, d)
	}
	t := in[0].Clone()
	return t, t.Reshape(shape...)
}

func foldGather(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error) {
	data, indices := in[0], in[1]
	r := len(data.Shape)
	axis, err := normAxis(attrInt(n, "axis", 0), r)
	if err != nil {
		return nil, err
	}
	ids := make([]int, indices.Len())
	for i, v := range indices.Data[:indices.Len()] {
		j := int(v)
		if j < 0 {
			j += data.Shape[axis]
		}
		if j < 0 || j >= data.Shape[axis] {
			return nil, fmt.Errorf("index %d out of range for dimension %d of size %d", int(v), axis, data.Shape[axis])
		}
		ids[i] = j
	}
	idx := make([][]int, r)
	for d := range r {
		if d == axis {
			idx[d] = ids
			continue
		}
		for i := 0; i < data.Shape[d]; i++ {
			idx[d] = append(idx[d], i)
		}
	}
	t := gatherIndices(data, idx)
	shape := append(append(slices.Clone(data.Shape[:axis]), indices.Shape...), data.Shape[axis+1:]...)
	return t, t.Reshape(shape...)
}

// foldExpand broadcasts in[0] to the shape in[1] by numpy rules (the
// output shape is the broadcast of both, so a 1 in the target keeps the
// input's size).
func foldExpand(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := shapeInput(in[1], "shape")
	if err != nil {
		return nil, err
	}
	x := in[0]
	r := max(len(shape), len(x.Shape))
	a, b := padShape(x.Shape, r), padShape(shape, r)
	for _, d := range b {
		if d < 0 {
			return nil, fmt.Errorf("shape %v has a negative dimension", shape)
		}
	}
	var bc bcast
	if err := bc.set(a, b); err != nil {
		return nil, fmt.Errorf("cannot expand %s to %v: %v", tensor.ShapeString(x.Shape), shape, err)
	}
	if total := tensor.Numel(bc.out); total > maxFoldElems {
		return nil, fmt.Errorf("expanding %s to %v gives %d elements, more than %d", tensor.ShapeString(x.Shape), shape, total, maxFoldElems)
	}
	out := tensor.New(bc.out...)
	bc.each(func(oi, ai, _, n, ainc, _ int) {
		for j := range n {
			out.Data[oi+j] = x.Data[ai+j*ainc]
		}
	})
	return out, nil
}
