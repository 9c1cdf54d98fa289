// Package nn holds the layers a ResNet is built from. Each layer is a pair
// of Forward/Backward passes over NHWC activations, in the spirit of llm.c:
// shapes are written next to the code, buffers are owned by the layer and
// reused, so a training step allocates nothing once warmed up.
package nn

import (
	"fmt"
	"sync/atomic"

	"github.com/residual-go/residual/tensor"
)

// Param is a named tensor of a layer: a learnable weight with its gradient,
// or a buffer such as a running mean (Grad is nil then).
// Names follow PyTorch's state_dict style, e.g. "layer1.0.conv1.weight".
type Param struct {
	Name  string
	Value *tensor.Tensor
	Grad  *tensor.Tensor // same shape as Value; nil for buffers
	// Frozen parameters get no gradient and are skipped by optimizers.
	Frozen bool
	// NoDecay marks parameters that weight decay should skip
	// (biases and normalisation scales, by convention).
	NoDecay bool

	version uint64 // see Version
}

// versions hands out parameter versions: unique across all parameters,
// so a (parameter, version) pair names one state of its values.
var versions atomic.Uint64

// Version identifies the current values of p: it changes every time
// Changed is called and is never 0 for a parameter made by this package
// (a Param built as a literal starts at 0, "unknown"). Caches derived from
// Value, such as folded or packed convolution weights, compare it with
// the version they were built from instead of comparing the values.
func (p *Param) Version() uint64 { return p.version }

// Changed announces that Value was written. Every writer of Value.Data
// outside the layer's own constructor must call it afterwards: the
// optimizers after each step, loading (model state, checkpoints,
// transfer learning), BatchNorm2D's running statistics in training,
// weight averaging (EMA, SWA) and tests that edit weights in place.
func (p *Param) Changed() { p.version = versions.Add(1) }

func newParam(name string, noDecay bool, shape ...int) *Param {
	p := &Param{Name: name, Value: tensor.New(shape...), Grad: tensor.New(shape...), NoDecay: noDecay}
	p.Changed()
	return p
}

func newBuffer(name string, shape ...int) *Param {
	p := &Param{Name: name, Value: tensor.New(shape...)}
	p.Changed()
	return p
}

// Layer is one differentiable operation with a single input.
//
// Forward returns a tensor owned by the layer, valid until its next
// Forward. Backward takes dL/dy for the last Forward (which must have run
// with train=true), writes the gradients of the layer's parameters into
// their Grad (overwriting, not accumulating) and returns dL/dx, also owned
// by the layer.
type Layer interface {
	// OutShape checks an input shape (batch first) and returns the output
	// shape, or an error naming the layer and the shapes involved.
	OutShape(in []int) ([]int, error)
	Forward(x *tensor.Tensor, train bool) *tensor.Tensor
	Backward(dy *tensor.Tensor) *tensor.Tensor
	// Params lists learnable parameters; Buffers lists non-learnable state
	// that must be saved with the model (running statistics).
	Params() []*Param
	Buffers() []*Param
}

// shapeError is the construction-time error for an incompatible input.
func shapeError(layer string, in []int, want string) error {
	return fmt.Errorf("%s: input shape %s is incompatible: want %s", layer, tensor.ShapeString(in), want)
}
