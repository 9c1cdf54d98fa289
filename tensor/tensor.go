// Package tensor holds the float32 arrays that flow between layers.
//
// Activations are stored channels-last: a batch of images is (N,H,W,C) in
// row-major order, so the C values of one pixel are contiguous. Shapes are
// explicit and checked by the layers that consume them.
package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a dense row-major float32 array with an explicit shape.
// Data may be longer than the shape needs (a reused buffer); only the first
// Len() values belong to the tensor.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	n := Numel(shape)
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, n)}
}

// FromData wraps data (not copied) in a tensor of the given shape.
// It panics when len(data) is smaller than the shape needs: that is a
// programming error, not bad user input.
func FromData(data []float32, shape ...int) *Tensor {
	n := Numel(shape)
	if len(data) < n {
		panic(fmt.Sprintf("tensor.FromData: shape %v needs %d values, have %d", shape, n, len(data)))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data[:n]}
}

// Numel is the number of elements of a shape (1 for a scalar shape).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements the shape describes.
func (t *Tensor) Len() int { return Numel(t.Shape) }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Reshape sets a new shape with the same number of elements, in place.
func (t *Tensor) Reshape(shape ...int) error {
	if Numel(shape) != t.Len() {
		return fmt.Errorf("tensor: cannot reshape %s (%d values) to %s (%d values)", ShapeString(t.Shape), t.Len(), ShapeString(shape), Numel(shape))
	}
	t.Shape = append(t.Shape[:0], shape...)
	return nil
}

// Ensure makes t hold the given shape, reusing its buffer when it is large
// enough. It is how layers keep their output buffers across steps without
// allocating. A nil t is allocated. Contents are not cleared.
func Ensure(t *Tensor, shape ...int) *Tensor {
	if t == nil {
		return New(shape...)
	}
	n := Numel(shape)
	if cap(t.Data) < n {
		t.Data = make([]float32, n)
	}
	t.Data = t.Data[:n]
	if !SameShape(t.Shape, shape) {
		t.Shape = append(t.Shape[:0], shape...)
	}
	return t
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data[:t.Len()]) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := New(t.Shape...)
	copy(c.Data, t.Data)
	return c
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ShapeString formats a shape as (N,H,W,C).
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

func (t *Tensor) String() string { return "Tensor" + ShapeString(t.Shape) }
