package onnx

import (
	"fmt"

	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// preluOp is PRelu, y = x for x >= 0 and slope*x otherwise, with a
// constant slope that is one value per channel (logical axis 1) or a
// single value. Converters often expand a per-channel slope to the full
// activation shape (tflite2onnx's Expand to (1,C,H,W)); the builder
// reduces such a slope back to one value per channel when every entry of
// a channel is equal. The slope is not trained (it is a constant of the
// graph), but the gradient flows through to x.
type preluOp struct {
	slope []float32 // one per channel, or a single value
	x     *value
	out   *tensor.Tensor
	outV  value
	dx    *tensor.Tensor
	dxs   [2]*tensor.Tensor
	// per-range state for parallel.For
	xd, yd, gd []float32
	inner, ch  int // element (i) has channel (i/inner)%ch
}

func buildPRelu(c *compiler, n *NodeProto) (op, error) {
	s, err := c.konst(n, 1, "slope")
	if err != nil {
		return nil, err
	}
	slope, err := perChannel(s)
	if err != nil {
		return nil, fmt.Errorf("slope %q: %w", n.Inputs[1], err)
	}
	return &preluOp{slope: slope}, nil
}

// perChannel reduces a slope tensor to one value per logical channel
// (axis 1 of its shape, right-aligned as broadcasting does for 4-D
// activations) or to a single value, and fails when the slope varies
// along any other axis.
func perChannel(s *tensor.Tensor) ([]float32, error) {
	d := s.Data[:s.Len()]
	if len(d) == 0 {
		return nil, fmt.Errorf("empty")
	}
	uniform := true
	for _, v := range d {
		uniform = uniform && v == d[0]
	}
	if uniform {
		return []float32{d[0]}, nil
	}
	// Right-align to 4-D (N,C,H,W): a 1-D slope of C values is
	// broadcast along W by numpy rules, so it is per channel only when
	// it is (C,1,1) or (1,C,1,1).
	shape := padShape(s.Shape, 4)
	if len(shape) != 4 || shape[0] != 1 {
		return nil, fmt.Errorf("shape %s: want one value per channel (C,1,1) or (1,C,H,W) constant per channel", tensor.ShapeString(s.Shape))
	}
	c, inner := shape[1], shape[2]*shape[3]
	out := make([]float32, c)
	for ch := 0; ch < c; ch++ {
		row := d[ch*inner : (ch+1)*inner]
		for _, v := range row {
			if v != row[0] {
				return nil, fmt.Errorf("shape %s varies within channel %d (%g vs %g): only per-channel slopes are supported", tensor.ShapeString(s.Shape), ch, row[0], v)
			}
		}
		out[ch] = row[0]
	}
	return out, nil
}

func (o *preluOp) forward(in []*value, train bool) (*value, error) {
	o.x = in[0]
	x := in[0].t
	if err := o.setLayout(in[0]); err != nil {
		return nil, err
	}
	o.out = tensor.Ensure(o.out, x.Shape...)
	o.xd, o.yd = x.Data[:x.Len()], o.out.Data
	parallel.For(len(o.yd), 1<<14, o.forwardRange)
	o.outV = value{t: o.out, nhwc: in[0].nhwc}
	return &o.outV, nil
}

// setLayout finds where the channel index of element i is.
func (o *preluOp) setLayout(v *value) error {
	o.inner, o.ch = 1, 1
	if len(o.slope) == 1 {
		return nil
	}
	logical := v.logical()
	if len(logical) < 2 || logical[1] != len(o.slope) {
		return fmt.Errorf("input shape %s does not have the slope's %d channels on axis 1", tensor.ShapeString(logical), len(o.slope))
	}
	o.ch = len(o.slope)
	if !v.nhwc {
		o.inner = tensor.Numel(logical[2:])
	}
	return nil
}

func (o *preluOp) forwardRange(lo, hi int) {
	x, y := o.xd, o.yd
	if o.ch == 1 {
		a := o.slope[0]
		for i := lo; i < hi; i++ {
			v := x[i]
			if v < 0 {
				v *= a
			}
			y[i] = v
		}
		return
	}
	for i := lo; i < hi; i++ {
		v := x[i]
		if v < 0 {
			v *= o.slope[(i/o.inner)%o.ch]
		}
		y[i] = v
	}
}

func (o *preluOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs = [2]*tensor.Tensor{}
	if !needs[0] {
		return o.dxs[:], nil
	}
	o.dx = tensor.Ensure(o.dx, dy.Shape...)
	o.xd, o.gd, o.yd = o.x.t.Data, dy.Data, o.dx.Data
	parallel.For(len(o.yd), 1<<14, o.backwardRange)
	o.dxs[0] = o.dx
	return o.dxs[:], nil
}

func (o *preluOp) backwardRange(lo, hi int) {
	x, g, d := o.xd, o.gd, o.yd
	for i := lo; i < hi; i++ {
		if x[i] >= 0 {
			d[i] = g[i]
		} else {
			d[i] = g[i] * o.slope[(i/o.inner)%o.ch]
		}
	}
}
