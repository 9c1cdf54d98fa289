package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/residual-go/residual/tensor"
)

// Dropout zeroes each value with probability P during training and scales
// the survivors by 1/(1-P) ("inverted" dropout), so that evaluation is the
// identity. Its random stream is seeded and its state can be saved and
// restored (State, SetState) so that a resumed run draws the same masks.
type Dropout struct {
	name string
	p    float32
	err  error
	src  *rand.PCG

	out  *tensor.Tensor // same shape as x
	mask []float32      // 0 or 1/(1-P) per value, from the last training Forward
	dx   *tensor.Tensor
}

// NewDropout builds a dropout named name with drop probability p in [0,1]
// and a random stream seeded by seed. An invalid p is reported by OutShape.
func NewDropout(name string, p float32, seed uint64) *Dropout {
	d := &Dropout{name: name, p: p, src: rand.NewPCG(seed, 0x9e3779b97f4a7c15)}
	if !(p >= 0 && p <= 1) {
		d.err = configError(name, "drop probability %g must be in [0,1]", p)
	}
	return d
}

// Name returns the layer's name.
func (d *Dropout) Name() string { return d.name }

// P returns the drop probability.
func (d *Dropout) P() float32 { return d.p }

// Params returns nil.
func (d *Dropout) Params() []*Param { return nil }

// Buffers returns nil: the random state is saved with State instead, as it
// is not a tensor.
func (d *Dropout) Buffers() []*Param { return nil }

// State returns the random stream's state, for checkpoints.
func (d *Dropout) State() ([]byte, error) { return d.src.MarshalBinary() }

// SetState restores a state returned by State.
func (d *Dropout) SetState(state []byte) error {
	if err := d.src.UnmarshalBinary(state); err != nil {
		return fmt.Errorf("%s: restoring the random state: %w", d.name, err)
	}
	return nil
}

// OutShape accepts any non-empty shape and returns it unchanged.
func (d *Dropout) OutShape(in []int) ([]int, error) {
	if d.err != nil {
		return nil, d.err
	}
	if len(in) < 1 || tensor.Numel(in) <= 0 {
		return nil, shapeError(d.name, in, "a non-empty (N,...) shape")
	}
	return append([]int(nil), in...), nil
}

// Forward returns x with dropout applied in training, a copy of x
// otherwise. The mask is drawn serially from the layer's stream (two
// 32-bit draws per 64-bit number), so it only depends on the seed and the
// number of values drawn before.
func (d *Dropout) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	d.out = tensor.Ensure(d.out, x.Shape...)
	n := x.Len()
	if !train || d.p == 0 {
		copy(d.out.Data, x.Data[:n])
		if train { // Backward still needs a mask of ones
			d.ensureMask(n)
			for i := range d.mask {
				d.mask[i] = 1
			}
		}
		return d.out
	}
	d.ensureMask(n)
	// keep a value when its 32-bit draw u satisfies u >= P*2^32
	threshold := uint64(float64(d.p) * (1 << 32))
	scale := float32(0)
	if d.p < 1 {
		scale = 1 / (1 - d.p)
	}
	var bits uint64
	for i := range d.mask {
		var u uint64
		if i%2 == 0 {
			bits = d.src.Uint64()
			u = bits & 0xffffffff
		} else {
			u = bits >> 32
		}
		if u >= threshold {
			d.mask[i] = scale
		} else {
			d.mask[i] = 0
		}
	}
	y, xs := d.out.Data[:n], x.Data[:n]
	for i, m := range d.mask {
		y[i] = xs[i] * m
	}
	return d.out
}

func (d *Dropout) ensureMask(n int) {
	if cap(d.mask) < n {
		d.mask = make([]float32, n)
	}
	d.mask = d.mask[:n]
}

// Backward returns dx = dy * mask.
func (d *Dropout) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d.dx = tensor.Ensure(d.dx, dy.Shape...)
	g := dy.Data[:len(d.mask)]
	for i, m := range d.mask {
		d.dx.Data[i] = g[i] * m
	}
	return d.dx
}
