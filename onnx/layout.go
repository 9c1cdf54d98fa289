package onnx

import (
	"fmt"

	"github.com/residual-go/residual/tensor"
)

// value is a tensor flowing between nodes. ONNX tensors are logically
// NCHW; the nn kernels want NHWC. A 4-D value is therefore stored either
// as is ("plain": physical order = ONNX's logical order) or channels-last
// (nhwc: logical (N,C,H,W) stored as (N,H,W,C)). Ops that care about the
// order of elements (Flatten, Reshape, Transpose, Concat, Softmax...) see
// the logical order: they convert an nhwc value to plain first.
type value struct {
	t     *tensor.Tensor // data in physical order; t.Shape is the physical shape
	nhwc  bool           // 4-D, logical (N,C,H,W) stored as (N,H,W,C)
	konst bool           // an initializer or Constant: no gradient
}

// logical returns the ONNX shape of v.
func (v *value) logical() []int {
	s := v.t.Shape
	if v.nhwc {
		return []int{s[0], s[3], s[1], s[2]}
	}
	return s
}

// Permutations between the two 4-D layouts.
var (
	toNHWCPerm = []int{0, 2, 3, 1} // NCHW -> NHWC
	toNCHWPerm = []int{0, 3, 1, 2} // NHWC -> NCHW
)

// permute writes src transposed by perm into dst (resized): dst's
// dimension i is src's dimension perm[i], as ONNX's Transpose.
func permute(dst, src *tensor.Tensor, perm []int) *tensor.Tensor {
	r := len(src.Shape)
	var outShape [8]int
	var srcStride [8]int // stride in src of dst's dimension i
	stride := 1
	var strides [8]int
	for i := r - 1; i >= 0; i-- {
		strides[i] = stride
		stride *= src.Shape[i]
	}
	for i, p := range perm {
		outShape[i] = src.Shape[p]
		srcStride[i] = strides[p]
	}
	dst = tensor.Ensure(dst, outShape[:r]...)
	out, in := dst.Data, src.Data
	if r == 0 || len(out) == 0 {
		copy(out, in)
		return dst
	}
	// Odometer over all but the last output dimension; the last one is
	// the inner loop.
	last := outShape[r-1]
	inc := srcStride[r-1]
	var idx [8]int
	off := 0
	for o := 0; o < len(out); o += last {
		s := off
		row := out[o : o+last]
		for j := range row {
			row[j] = in[s]
			s += inc
		}
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			off += srcStride[d]
			if idx[d] < outShape[d] {
				break
			}
			off -= srcStride[d] * outShape[d]
			idx[d] = 0
		}
	}
	return dst
}

// invPerm returns the inverse permutation.
func invPerm(p []int) []int {
	q := make([]int, len(p))
	for i, v := range p {
		q[v] = i
	}
	return q
}

// layouts converts values between layouts into buffers it owns, and back
// for gradients.
type layouts struct {
	buf, gbuf *tensor.Tensor
}

// plain returns v's data in logical order (a conversion for nhwc values).
func (l *layouts) plain(v *value) *tensor.Tensor {
	if !v.nhwc {
		return v.t
	}
	l.buf = permute(l.buf, v.t, toNCHWPerm)
	return l.buf
}

// channelsLast returns a 4-D v as (N,H,W,C) data.
func (l *layouts) channelsLast(v *value, node string) (*tensor.Tensor, error) {
	if v.nhwc {
		return v.t, nil
	}
	if len(v.t.Shape) != 4 {
		return nil, fmt.Errorf("node %q: input shape %s, want 4-D (N,C,H,W)", node, tensor.ShapeString(v.t.Shape))
	}
	l.buf = permute(l.buf, v.t, toNHWCPerm)
	return l.buf, nil
}

// gradFromPlain turns a gradient in logical order into v's physical order.
func (l *layouts) gradFromPlain(v *value, g *tensor.Tensor) *tensor.Tensor {
	if !v.nhwc {
		return g
	}
	l.gbuf = permute(l.gbuf, g, toNHWCPerm)
	return l.gbuf
}

// gradFromNHWC turns a channels-last gradient into v's physical order.
func (l *layouts) gradFromNHWC(v *value, g *tensor.Tensor) *tensor.Tensor {
	if v.nhwc {
		return g
	}
	l.gbuf = permute(l.gbuf, g, toNCHWPerm)
	return l.gbuf
}

// view returns a tensor header sharing t's data with another shape.
func view(hdr *tensor.Tensor, t *tensor.Tensor, shape ...int) *tensor.Tensor {
	if hdr == nil {
		hdr = &tensor.Tensor{}
	}
	hdr.Shape = append(hdr.Shape[:0], shape...)
	hdr.Data = t.Data[:tensor.Numel(shape)]
	return hdr
}
