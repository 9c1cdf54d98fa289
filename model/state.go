package model

import (
	"fmt"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// State lists every saved tensor of the network, learnable parameters
// first, then buffers, in a fixed order.
func (m *Net) State() []*nn.Param {
	return append(m.Params(), m.Buffers()...)
}

// LoadState copies values into the network's parameters and buffers,
// looking each up by name. Every tensor of the network must be found with
// the same number of values (shapes are compared as well when strict).
func (m *Net) LoadState(lookup func(name string) (*tensor.Tensor, bool)) error {
	for _, p := range m.State() {
		t, ok := lookup(p.Name)
		if !ok {
			return fmt.Errorf("model: no value for %q %s", p.Name, tensor.ShapeString(p.Value.Shape))
		}
		if t.Len() != p.Value.Len() || (len(t.Shape) > 0 && !tensor.SameShape(t.Shape, p.Value.Shape)) {
			return fmt.Errorf("model: %q has shape %s, want %s", p.Name, tensor.ShapeString(t.Shape), tensor.ShapeString(p.Value.Shape))
		}
		copy(p.Value.Data, t.Data[:t.Len()])
		p.Changed()
	}
	return nil
}
