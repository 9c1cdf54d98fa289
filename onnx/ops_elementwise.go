package onnx

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// unaryOp is an elementwise function (Relu, LeakyRelu, Sigmoid, Clip);
// it keeps its input's layout.
type unaryOp struct {
	kind     string
	alpha    float32 // LeakyRelu slope
	lo, hi   float32 // Clip bounds
	x        *tensor.Tensor
	out      *tensor.Tensor
	dy, dx   *tensor.Tensor
	outV     value
	fwd, bwd func(lo, hi int)
	dxs      [3]*tensor.Tensor
}

func buildUnary(c *compiler, n *NodeProto) (op, error) {
	o := &unaryOp{kind: n.OpType, alpha: attrFloat(n, "alpha", 0.01), lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
	if n.OpType == "Clip" {
		if c.opset < 11 {
			o.lo = attrFloat(n, "min", o.lo)
			o.hi = attrFloat(n, "max", o.hi)
		}
		for i, dst := range []*float32{&o.lo, &o.hi} {
			t, err := c.optKonst(n, i+1, []string{"min", "max"}[i])
			if err != nil {
				return nil, err
			}
			if t != nil {
				if t.Len() != 1 {
					return nil, fmt.Errorf("Clip bound %q has %d values, want a scalar", n.Inputs[i+1], t.Len())
				}
				*dst = t.Data[0]
			}
		}
	}
	o.fwd, o.bwd = o.forwardRange, o.backwardRange
	return o, nil
}

func (o *unaryOp) forward(in []*value, train bool) (*value, error) {
	o.x = in[0].t
	o.out = tensor.Ensure(o.out, o.x.Shape...)
	parallel.For(o.x.Len(), 1<<14, o.fwd)
	o.outV = value{t: o.out, nhwc: in[0].nhwc}
	return &o.outV, nil
}

func (o *unaryOp) forwardRange(lo, hi int) {
	x, y := o.x.Data[lo:hi], o.out.Data[lo:hi]
	switch o.kind {
	case "Relu":
		for i, v := range x {
			y[i] = max(v, 0)
		}
	case "LeakyRelu":
		for i, v := range x {
			if v < 0 {
				v *= o.alpha
			}
			y[i] = v
		}
	case "Sigmoid":
		for i, v := range x {
			y[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case "Clip":
		for i, v := range x {
			y[i] = min(max(v, o.lo), o.hi)
		}
	}
}

func (o *unaryOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dy = dy
	o.dx = tensor.Ensure(o.dx, dy.Shape...)
	parallel.For(dy.Len(), 1<<14, o.bwd)
	o.dxs[0] = o.dx
	return o.dxs[:], nil
}

func (o *unaryOp) backwardRange(lo, hi int) {
	x, y, g, d := o.x.Data[lo:hi], o.out.Data[lo:hi], o.dy.Data[lo:hi], o.dx.Data[lo:hi]
	switch o.kind {
	case "Relu":
		for i, v := range x {
			if v > 0 {
				d[i] = g[i]
			} else {
				d[i] = 0
			}
		}
	case "LeakyRelu":
		for i, v := range x {
			if v > 0 {
				d[i] = g[i]
			} else {
				d[i] = o.alpha * g[i]
			}
		}
	case "Sigmoid":
		for i, v := range y {
			d[i] = g[i] * v * (1 - v)
		}
	case "Clip":
		for i, v := range x {
			if v >= o.lo && v <= o.hi {
				d[i] = g[i]
			} else {
				d[i] = 0
			}
		}
	}
}

// binaryOp is Add, Sub, Mul or Div with numpy broadcasting. When either
// operand is channels-last, the other is brought to that layout too
// (after padding its shape with leading ones to 4-D), so a per-channel
// constant of shape (1,C,1,1) or (C,1,1) lines up with the channels.
type binaryOp struct {
	kind  byte
	a, b  *tensor.Tensor // operands in the output's layout, same rank
	ah    tensor.Tensor  // headers for rank-padded views
	bh    tensor.Tensor
	conv  [2]bool // operand i was converted NCHW -> NHWC
	inV   [2]*value
	cbuf  [2]*tensor.Tensor
	out   *tensor.Tensor
	outV  value
	bc    bcast
	grads [2]*tensor.Tensor
	gview [2]tensor.Tensor
	gconv [2]*tensor.Tensor
	dxs   [2]*tensor.Tensor
}

func buildBinary(c *compiler, n *NodeProto) (op, error) {
	if len(n.Inputs) != 2 {
		return nil, fmt.Errorf("%d inputs, want 2", len(n.Inputs))
	}
	return &binaryOp{kind: map[string]byte{"Add": '+', "Sub": '-', "Mul": '*', "Div": '/'}[n.OpType]}, nil
}

// padShape prepends ones to s up to rank r.
func padShape(s []int, r int) []int {
	out := make([]int, 0, r)
	for i := len(s); i < r; i++ {
		out = append(out, 1)
	}
	return append(out, s...)
}

func (o *binaryOp) forward(in []*value, train bool) (*value, error) {
	o.inV = [2]*value{in[0], in[1]}
	nhwc := in[0].nhwc || in[1].nhwc
	rank := max(len(in[0].t.Shape), len(in[1].t.Shape))
	if nhwc && rank > 4 {
		return nil, fmt.Errorf("cannot broadcast %s with %s", tensor.ShapeString(in[0].logical()), tensor.ShapeString(in[1].logical()))
	}
	ops := [2]*tensor.Tensor{}
	hdrs := [2]*tensor.Tensor{&o.ah, &o.bh}
	for i, v := range in {
		o.conv[i] = false
		t := view(hdrs[i], v.t, padShape(v.t.Shape, rank)...)
		if nhwc && !v.nhwc {
			o.cbuf[i] = permute(o.cbuf[i], t, toNHWCPerm)
			t = o.cbuf[i]
			o.conv[i] = true
		}
		ops[i] = t
	}
	o.a, o.b = ops[0], ops[1]
	if err := o.bc.set(o.a.Shape, o.b.Shape); err != nil {
		return nil, fmt.Errorf("cannot broadcast %s with %s", tensor.ShapeString(in[0].logical()), tensor.ShapeString(in[1].logical()))
	}
	o.out = tensor.Ensure(o.out, o.bc.out...)
	a, b, y := o.a.Data, o.b.Data, o.out.Data
	if o.kind == '+' && len(a) == len(y) && len(b) == len(y) {
		// Same shapes (a residual join): one flat loop.
		for i := range y {
			y[i] = a[i] + b[i]
		}
		o.outV = value{t: o.out, nhwc: nhwc}
		return &o.outV, nil
	}
	o.bc.each(func(oi, ai, bi, n, ainc, binc int) {
		yr := y[oi : oi+n]
		switch o.kind {
		case '+':
			if ainc == 1 && binc == 1 {
				ar, br := a[ai:ai+n], b[bi:bi+n]
				for j := range yr {
					yr[j] = ar[j] + br[j]
				}
				return
			}
			for j := range yr {
				yr[j] = a[ai+j*ainc] + b[bi+j*binc]
			}
		case '-':
			for j := range yr {
				yr[j] = a[ai+j*ainc] - b[bi+j*binc]
			}
		case '*':
			for j := range yr {
				yr[j] = a[ai+j*ainc] * b[bi+j*binc]
			}
		case '/':
			for j := range yr {
				yr[j] = a[ai+j*ainc] / b[bi+j*binc]
			}
		}
	})
	o.outV = value{t: o.out, nhwc: nhwc}
	return &o.outV, nil
}

func (o *binaryOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	ops := [2]*tensor.Tensor{o.a, o.b}
	for i := range 2 {
		o.dxs[i] = nil
		if !needs[i] {
			continue
		}
		o.grads[i] = tensor.Ensure(o.grads[i], ops[i].Shape...)
		o.grads[i].Zero()
	}
	a, b, g := o.a.Data, o.b.Data, dy.Data
	var ga, gb []float32
	if needs[0] {
		ga = o.grads[0].Data
	}
	if needs[1] {
		gb = o.grads[1].Data
	}
	o.bc.each(func(oi, ai, bi, n, ainc, binc int) {
		for j := 0; j < n; j++ {
			d := g[oi+j]
			x, y := a[ai+j*ainc], b[bi+j*binc]
			var da, db float32
			switch o.kind {
			case '+':
				da, db = d, d
			case '-':
				da, db = d, -d
			case '*':
				da, db = d*y, d*x
			case '/':
				da, db = d/y, -d*x/(y*y)
			}
			if ga != nil {
				ga[ai+j*ainc] += da
			}
			if gb != nil {
				gb[bi+j*binc] += db
			}
		}
	})
	for i := range 2 {
		if !needs[i] {
			continue
		}
		gr := o.grads[i]
		if o.conv[i] {
			o.gconv[i] = permute(o.gconv[i], gr, toNCHWPerm)
			gr = o.gconv[i]
		}
		o.dxs[i] = view(&o.gview[i], gr, o.inV[i].t.Shape...)
	}
	return o.dxs[:], nil
}

// bcast iterates over two broadcast operands of the same rank.
type bcast struct {
	out        []int
	sa, sb     []int // element strides of each operand per output dim (0 when broadcast)
	rows, last int
}

func (bc *bcast) set(a, b []int) error {
	r := len(a)
	bc.out = append(bc.out[:0], make([]int, r)...)
	bc.sa = append(bc.sa[:0], make([]int, r)...)
	bc.sb = append(bc.sb[:0], make([]int, r)...)
	sa, sb := 1, 1
	for i := r - 1; i >= 0; i-- {
		switch {
		case a[i] == b[i]:
			bc.out[i] = a[i]
			bc.sa[i], bc.sb[i] = sa, sb
		case a[i] == 1:
			bc.out[i] = b[i]
			bc.sb[i] = sb
		case b[i] == 1:
			bc.out[i] = a[i]
			bc.sa[i] = sa
		default:
			return fmt.Errorf("dimension %d: %d vs %d", i, a[i], b[i])
		}
		sa *= a[i]
		sb *= b[i]
	}
	if r == 0 {
		bc.rows, bc.last = 1, 1
		return nil
	}
	bc.last = bc.out[r-1]
	bc.rows = tensor.Numel(bc.out[:r-1])
	return nil
}

// each calls fn once per output row of the last dimension with the
// offsets of the row in the output and in each operand, the row length
// and the operands' steps along it (0 or 1).
func (bc *bcast) each(fn func(oi, ai, bi, n, ainc, binc int)) {
	r := len(bc.out)
	if r == 0 {
		fn(0, 0, 0, 1, 0, 0)
		return
	}
	ainc, binc := bc.sa[r-1], bc.sb[r-1]
	for row := 0; row < bc.rows; row++ {
		ai, bi, rem := 0, 0, row
		for d := r - 2; d >= 0; d-- {
			k := rem % bc.out[d]
			rem /= bc.out[d]
			ai += k * bc.sa[d]
			bi += k * bc.sb[d]
		}
		fn(row*bc.last, ai, bi, bc.last, ainc, binc)
	}
}
