package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// reshapeOp is Flatten or Reshape: a view of the input in logical order.
type reshapeOp struct {
	flatten bool
	axis    int   // Flatten
	target  []int // Reshape's shape input (0 copies, -1 infers)
	dynamic bool  // the shape input is not a constant
	lay     layouts
	in      *value
	shape   []int
	hdr     tensor.Tensor
	dHdr    tensor.Tensor
	out     value
	dxs     [2]*tensor.Tensor
}

func buildReshape(c *compiler, n *NodeProto) (op, error) {
	if n.OpType == "Flatten" {
		return &reshapeOp{flatten: true, axis: attrInt(n, "axis", 1)}, nil
	}
	if attrInt(n, "allowzero", 0) != 0 {
		return nil, fmt.Errorf("allowzero=1 is not supported")
	}
	o := &reshapeOp{}
	s, ok := c.konsts[n.Inputs[1]]
	if !ok {
		o.dynamic = true // the shape is computed from activations: read it in forward
		return o, nil
	}
	return o, o.setTarget(s)
}

// setTarget reads Reshape's shape input.
func (o *reshapeOp) setTarget(s *tensor.Tensor) error {
	if len(s.Shape) > 1 || s.Len() > 8 {
		return fmt.Errorf("shape input has shape %s, want a 1-D list of at most 8 sizes", tensor.ShapeString(s.Shape))
	}
	o.target = o.target[:0]
	infer := 0
	for _, v := range s.Data[:s.Len()] {
		o.target = append(o.target, int(v))
		if v == -1 {
			infer++
		} else if v < -1 {
			return fmt.Errorf("shape %v has a negative size", o.target)
		}
	}
	if infer > 1 {
		return fmt.Errorf("shape %v has more than one -1", o.target)
	}
	return nil
}

func (o *reshapeOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	if o.dynamic {
		if err := o.setTarget(in[1].t); err != nil {
			return nil, err
		}
	}
	x := o.lay.plain(in[0])
	s := x.Shape
	o.shape = o.shape[:0]
	if o.flatten {
		axis := o.axis
		if axis < 0 {
			axis += len(s)
		}
		if axis < 0 || axis > len(s) {
			return nil, fmt.Errorf("axis %d out of range for shape %s", o.axis, tensor.ShapeString(s))
		}
		o.shape = append(o.shape, tensor.Numel(s[:axis]), tensor.Numel(s[axis:]))
	} else {
		known, inferAt := 1, -1
		for i, d := range o.target {
			switch {
			case d == 0:
				if i >= len(s) {
					return nil, fmt.Errorf("shape %v copies dimension %d of %s", o.target, i, tensor.ShapeString(s))
				}
				d = s[i]
			case d == -1:
				inferAt = i
				d = 1
			}
			known *= d
			o.shape = append(o.shape, d)
		}
		if inferAt >= 0 && known > 0 {
			o.shape[inferAt] = x.Len() / known
		}
		if tensor.Numel(o.shape) != x.Len() {
			return nil, fmt.Errorf("cannot reshape %s to %v", tensor.ShapeString(s), o.target)
		}
	}
	o.out = value{t: view(&o.hdr, x, o.shape...)}
	return &o.out, nil
}

func (o *reshapeOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[0] = nil
	if needs[0] {
		o.dxs[0] = o.lay.gradFromPlain(o.in, view(&o.dHdr, dy, o.in.logical()...))
	}
	return o.dxs[:], nil
}

// transposeOp is Transpose. The two permutations between NCHW and NHWC
// only relabel the layout of a 4-D value (no copy): this is how a
// Keras-style graph, which wraps its convolutions in Transpose nodes,
// runs without moving data.
type transposeOp struct {
	perm    []int
	lay     layouts
	in      *value
	buf     *tensor.Tensor
	gbuf    *tensor.Tensor
	out     value
	dxs     [1]*tensor.Tensor
	relabel bool
}

func buildTranspose(c *compiler, n *NodeProto) (op, error) {
	return &transposeOp{perm: attrInts(n, "perm")}, nil
}

func (o *transposeOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	v := in[0]
	r := len(v.t.Shape)
	perm := o.perm
	if perm == nil { // default: reverse the dimensions
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
		o.perm = perm
	}
	if len(perm) != r || r > 8 {
		return nil, fmt.Errorf("perm %v for a tensor of rank %d", perm, r)
	}
	seen := make([]bool, r)
	for _, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation of 0..%d", perm, r-1)
		}
		seen[p] = true
	}
	o.relabel = false
	switch {
	case v.nhwc && slices.Equal(perm, toNHWCPerm):
		// logical (N,C,H,W) -> (N,H,W,C): exactly the stored data.
		o.out = value{t: v.t}
		o.relabel = true
	case !v.nhwc && r == 4 && slices.Equal(perm, toNCHWPerm):
		// logical (N,H,W,C) -> (N,C,H,W): store the same data channels-last.
		o.out = value{t: v.t, nhwc: true}
		o.relabel = true
	default:
		o.buf = permute(o.buf, o.lay.plain(v), perm)
		o.out = value{t: o.buf}
	}
	return &o.out, nil
}

func (o *transposeOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[0] = nil
	if !needs[0] {
		return o.dxs[:], nil
	}
	if o.relabel {
		o.dxs[0] = dy
		return o.dxs[:], nil
	}
	o.gbuf = permute(o.gbuf, dy, invPerm(o.perm))
	o.dxs[0] = o.lay.gradFromPlain(o.in, o.gbuf)
	return o.dxs[:], nil
}

// concatOp is Concat. Channels-last inputs are concatenated in their
// stored layout (a channel concat is then along the last axis).
type concatOp struct {
	axis  int
	lays  []layouts
	ins   []*value
	parts []*tensor.Tensor
	nhwc  bool
	pax   int // physical axis
	out   *tensor.Tensor
	outV  value
	grads []*tensor.Tensor
	dxs   []*tensor.Tensor
}

func buildConcat(c *compiler, n *NodeProto) (op, error) {
	if n.Attr("axis") == nil {
		return nil, fmt.Errorf("missing attribute axis")
	}
	k := len(n.Inputs)
	return &concatOp{axis: attrInt(n, "axis", 0), lays: make([]layouts, k), parts: make([]*tensor.Tensor, k),
		grads: make([]*tensor.Tensor, k), dxs: make([]*tensor.Tensor, k)}, nil
}

func (o *concatOp) forward(in []*value, train bool) (*value, error) {
	o.ins = append(o.ins[:0], in...)
	// Channels-last when any input is (and all are 4-D): a plain input,
	// such as tflite2onnx's zero channel padding from ConstantOfShape, is
	// converted to NHWC rather than every activation to NCHW.
	anyNHWC, all4 := false, true
	for _, v := range in {
		if v == nil {
			return nil, fmt.Errorf("omitted input")
		}
		anyNHWC = anyNHWC || v.nhwc
		all4 = all4 && len(v.t.Shape) == 4
	}
	o.nhwc = anyNHWC && all4
	r := len(in[0].t.Shape)
	axis, err := normAxis(o.axis, r)
	if err != nil {
		return nil, err
	}
	o.pax = axis
	if o.nhwc {
		o.pax = []int{0, 3, 1, 2}[axis] // logical NCHW axis -> stored NHWC axis
	}
	for i, v := range in {
		if o.nhwc {
			o.parts[i], _ = o.lays[i].channelsLast(v, "") // 4-D: cannot fail
		} else {
			o.parts[i] = o.lays[i].plain(v)
		}
	}
	shape := slices.Clone(o.parts[0].Shape)
	shape[o.pax] = 0
	for i, v := range in {
		t := o.parts[i]
		if len(t.Shape) != r {
			return nil, fmt.Errorf("input %d has shape %s, input 0 %s", i, tensor.ShapeString(v.logical()), tensor.ShapeString(in[0].logical()))
		}
		for d := range r {
			if d != o.pax && t.Shape[d] != shape[d] {
				return nil, fmt.Errorf("input %d has shape %s, input 0 %s: they differ off axis %d", i, tensor.ShapeString(v.logical()), tensor.ShapeString(in[0].logical()), axis)
			}
		}
		shape[o.pax] += t.Shape[o.pax]
	}
	o.out = tensor.Ensure(o.out, shape...)
	outer := tensor.Numel(shape[:o.pax])
	inner := tensor.Numel(shape[o.pax+1:])
	row := shape[o.pax] * inner
	off := 0
	for _, t := range o.parts {
		w := t.Shape[o.pax] * inner
		for j := 0; j < outer; j++ {
			copy(o.out.Data[j*row+off:j*row+off+w], t.Data[j*w:(j+1)*w])
		}
		off += w
	}
	o.outV = value{t: o.out, nhwc: o.nhwc}
	return &o.outV, nil
}

func (o *concatOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	shape := dy.Shape
	outer := tensor.Numel(shape[:o.pax])
	inner := tensor.Numel(shape[o.pax+1:])
	row := shape[o.pax] * inner
	off := 0
	for i, t := range o.parts {
		w := t.Shape[o.pax] * inner
		o.dxs[i] = nil
		if needs[i] {
			o.grads[i] = tensor.Ensure(o.grads[i], t.Shape...)
			for j := 0; j < outer; j++ {
				copy(o.grads[i].Data[j*w:(j+1)*w], dy.Data[j*row+off:])
			}
			if o.nhwc {
				o.dxs[i] = o.lays[i].gradFromNHWC(o.ins[i], o.grads[i])
			} else {
				o.dxs[i] = o.lays[i].gradFromPlain(o.ins[i], o.grads[i])
			}
		}
		off += w
	}
	return o.dxs, nil
}

// softmaxOp is Softmax over one axis (opset 13; earlier opsets flatten
// the dimensions from axis on, which is the same for the last axis).
type softmaxOp struct {
	axis  int
	old   bool // opset < 13 semantics: coerce to 2-D at axis
	lay   layouts
	in    *value
	out   *tensor.Tensor
	outV  value
	outer int
	n     int
	inner int
	dx    *tensor.Tensor
	dxs   [1]*tensor.Tensor
}

func buildSoftmax(c *compiler, n *NodeProto) (op, error) {
	def := -1
	if c.opset < 13 {
		def = 1
	}
	return &softmaxOp{axis: attrInt(n, "axis", def), old: c.opset < 13}, nil
}

func (o *softmaxOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	x := o.lay.plain(in[0])
	axis, err := normAxis(o.axis, len(x.Shape))
	if err != nil {
		return nil, err
	}
	o.outer = tensor.Numel(x.Shape[:axis])
	if o.old {
		o.n, o.inner = tensor.Numel(x.Shape[axis:]), 1
	} else {
		o.n, o.inner = x.Shape[axis], tensor.Numel(x.Shape[axis+1:])
	}
	o.out = tensor.Ensure(o.out, x.Shape...)
	for a := 0; a < o.outer; a++ {
		for b := 0; b < o.inner; b++ {
			base := a*o.n*o.inner + b
			m := float32(math.Inf(-1))
			for k := 0; k < o.n; k++ {
				m = max(m, x.Data[base+k*o.inner])
			}
			var sum float64
			for k := 0; k < o.n; k++ {
				e := math.Exp(float64(x.Data[base+k*o.inner] - m))
				o.out.Data[base+k*o.inner] = float32(e)
				sum += e
			}
			for k := 0; k < o.n; k++ {
				o.out.Data[base+k*o.inner] = float32(float64(o.out.Data[base+k*o.inner]) / sum)
			}
		}
	}
	o.outV = value{t: o.out}
	return &o.outV, nil
}

func (o *softmaxOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[0] = nil
	if !needs[0] {
		return o.dxs[:], nil
	}
	o.dx = tensor.Ensure(o.dx, dy.Shape...)
	y := o.out.Data
	for a := 0; a < o.outer; a++ {
		for b := 0; b < o.inner; b++ {
			base := a*o.n*o.inner + b
			var dot float32
			for k := 0; k < o.n; k++ {
				dot += dy.Data[base+k*o.inner] * y[base+k*o.inner]
			}
			for k := 0; k < o.n; k++ {
				i := base + k*o.inner
				o.dx.Data[i] = y[i] * (dy.Data[i] - dot)
			}
		}
	}
	o.dxs[0] = o.lay.gradFromPlain(o.in, o.dx)
	return o.dxs[:], nil
}

// dropoutOp is Dropout on nn.Dropout: the identity in inference, random
// zeroing with the file's ratio (default 0.5) in training.
type dropoutOp struct {
	d   *nn.Dropout
	out value
	dxs [3]*tensor.Tensor
}

func buildDropout(c *compiler, n *NodeProto) (op, error) {
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, fmt.Errorf("the mask output is not supported")
	}
	ratio := attrFloat(n, "ratio", 0.5)
	t, err := c.optKonst(n, 1, "ratio")
	if err != nil {
		return nil, err
	}
	if t != nil && t.Len() == 1 {
		ratio = t.Data[0]
	}
	if !(ratio >= 0 && ratio < 1) {
		return nil, fmt.Errorf("ratio %g, want [0,1)", ratio)
	}
	return &dropoutOp{d: nn.NewDropout(n.Name, ratio, 1)}, nil
}

func (o *dropoutOp) forward(in []*value, train bool) (*value, error) {
	o.out = value{t: o.d.Forward(in[0].t, train), nhwc: in[0].nhwc}
	return &o.out, nil
}

func (o *dropoutOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[0] = o.d.Backward(dy)
	return o.dxs[:], nil
}

// identityOp is Identity: the input itself.
type identityOp struct {
	out value
	dxs [1]*tensor.Tensor
}

func buildIdentity(c *compiler, n *NodeProto) (op, error) { return &identityOp{}, nil }

func (o *identityOp) forward(in []*value, train bool) (*value, error) {
	o.out = *in[0]
	return &o.out, nil
}

func (o *identityOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[0] = dy
	return o.dxs[:], nil
}

// constantOp is Constant: its tensor is known at import time.
type constantOp struct{ v value }

func buildConstant(c *compiler, n *NodeProto) (op, error) {
	var t *tensor.Tensor
	switch {
	case n.Attr("value") != nil && n.Attr("value").T != nil:
		var err error
		if t, err = n.Attr("value").T.Tensor(); err != nil {
			return nil, err
		}
	case n.Attr("value_float") != nil:
		t = tensor.FromData([]float32{n.Attr("value_float").F})
	case n.Attr("value_int") != nil:
		t = tensor.FromData([]float32{float32(n.Attr("value_int").I)})
	case n.Attr("value_floats") != nil:
		f := n.Attr("value_floats").Floats
		t = tensor.FromData(slices.Clone(f), len(f))
	case n.Attr("value_ints") != nil:
		ints := n.Attr("value_ints").Ints
		f := make([]float32, len(ints))
		for i, v := range ints {
			f[i] = float32(v)
		}
		t = tensor.FromData(f, len(f))
	default:
		return nil, fmt.Errorf("no supported value attribute (value, value_float(s), value_int(s))")
	}
	c.konsts[n.Outputs[0]] = t
	return &constantOp{v: value{t: t, konst: true}}, nil
}

func (o *constantOp) forward(in []*value, train bool) (*value, error) { return &o.v, nil }

func (o *constantOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	return nil, nil
}

// padOp is Pad in constant mode (non-negative pads).
type padOp struct {
	pads  []int // logical: begins then ends
	value float32
	in    *value
	pp    []int // physical begins then ends
	out   *tensor.Tensor
	outV  value
	dx    *tensor.Tensor
	dxs   [3]*tensor.Tensor
}

func buildPad(c *compiler, n *NodeProto) (op, error) {
	if m := attrString(n, "mode", "constant"); m != "constant" {
		return nil, fmt.Errorf("mode %q is not supported (want constant)", m)
	}
	o := &padOp{}
	if c.opset < 11 {
		o.pads = attrInts(n, "pads")
		o.value = attrFloat(n, "value", 0)
	} else {
		p, err := c.konst(n, 1, "pads")
		if err != nil {
			return nil, err
		}
		for _, v := range p.Data {
			o.pads = append(o.pads, int(v))
		}
		cv, err := c.optKonst(n, 2, "constant_value")
		if err != nil {
			return nil, err
		}
		if cv != nil && cv.Len() == 1 {
			o.value = cv.Data[0]
		}
		if len(n.Inputs) > 3 && n.Inputs[3] != "" {
			return nil, fmt.Errorf("the axes input is not supported")
		}
	}
	for _, v := range o.pads {
		if v < 0 {
			return nil, fmt.Errorf("negative pads %v are not supported", o.pads)
		}
	}
	return o, nil
}

func (o *padOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	v := in[0]
	r := len(v.t.Shape)
	if len(o.pads) != 2*r {
		return nil, fmt.Errorf("pads %v for a tensor of rank %d", o.pads, r)
	}
	o.pp = append(o.pp[:0], o.pads...)
	if v.nhwc { // logical NCHW pads -> stored NHWC order
		for i, l := range toNHWCPerm {
			o.pp[i], o.pp[r+i] = o.pads[l], o.pads[r+l]
		}
	}
	shape := make([]int, r)
	for i, d := range v.t.Shape {
		if o.pp[i] > maxRunElems || o.pp[r+i] > maxRunElems {
			return nil, fmt.Errorf("pads %v are too large", o.pads)
		}
		shape[i] = d + o.pp[i] + o.pp[r+i]
	}
	if err := checkRunShape("the output", shape...); err != nil {
		return nil, err
	}
	o.out = tensor.Ensure(o.out, shape...)
	for i := range o.out.Data {
		o.out.Data[i] = o.value
	}
	copyBox(o.out, v.t, o.pp[:r], true)
	o.outV = value{t: o.out, nhwc: v.nhwc}
	return &o.outV, nil
}

func (o *padOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[0] = nil
	if needs[0] {
		o.dx = tensor.Ensure(o.dx, o.in.t.Shape...)
		copyBox(dy, o.dx, o.pp[:len(o.in.t.Shape)], false)
		o.dxs[0] = o.dx
	}
	return o.dxs[:], nil
}

// copyBox copies between a big tensor and a small one placed in it at
// offset begin: small -> big when toBig, else big -> small.
func copyBox(big, small *tensor.Tensor, begin []int, toBig bool) {
	r := len(small.Shape)
	if r == 0 {
		return
	}
	last := small.Shape[r-1]
	rows := small.Len() / max(last, 1)
	idx := make([]int, r)
	for row := 0; row < rows; row++ {
		rem := row
		for d := r - 2; d >= 0; d-- {
			idx[d] = rem % small.Shape[d]
			rem /= small.Shape[d]
		}
		off := 0
		for d := 0; d < r-1; d++ {
			off = off*big.Shape[d] + idx[d] + begin[d]
		}
		off = off*big.Shape[r-1] + begin[r-1]
		if toBig {
			copy(big.Data[off:off+last], small.Data[row*last:(row+1)*last])
		} else {
			copy(small.Data[row*last:(row+1)*last], big.Data[off:off+last])
		}
	}
}

// shapeOp is Shape: the logical shape of its input as a 1-D tensor
// (optionally the dimensions [start,end), opset 15).
type shapeOp struct {
	start, end int
	out        value
}

func buildShape(c *compiler, n *NodeProto) (op, error) {
	return &shapeOp{start: attrInt(n, "start", 0), end: attrInt(n, "end", math.MaxInt32)}, nil
}

func (o *shapeOp) forward(in []*value, train bool) (*value, error) {
	s := in[0].logical()
	r := len(s)
	lo, hi := o.start, o.end
	if lo < 0 {
		lo += r
	}
	if hi < 0 {
		hi += r
	}
	lo, hi = min(max(lo, 0), r), min(max(hi, 0), r)
	hi = max(hi, lo)
	o.out.t = tensor.Ensure(o.out.t, hi-lo)
	for i := lo; i < hi; i++ {
		o.out.t.Data[i-lo] = float32(s[i])
	}
	return &o.out, nil
}

func (o *shapeOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	return nil, nil
}

// runtimeFold runs a constant-folding operator (Gather, Unsqueeze,
// Squeeze, Cast, Slice, ConstantOfShape) on values known only at run
// time, in logical layout: the shape computations of exports with a
// dynamic batch. It has no backward.
type runtimeFold struct {
	node *NodeProto
	fn   func(n *NodeProto, in []*tensor.Tensor) (*tensor.Tensor, error)
	lays []layouts
	ts   []*tensor.Tensor
	out  value
}

func (o *runtimeFold) forward(in []*value, train bool) (*value, error) {
	if len(o.lays) < len(in) {
		o.lays = make([]layouts, len(in))
		o.ts = make([]*tensor.Tensor, len(in))
	}
	for i, v := range in {
		o.ts[i] = nil
		if v != nil {
			o.ts[i] = o.lays[i].plain(v)
		}
	}
	t, err := o.fn(o.node, o.ts[:len(in)])
	if err != nil {
		return nil, err
	}
	o.out = value{t: t}
	return &o.out, nil
}

func (o *runtimeFold) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	if slices.Contains(needs, true) {
		return nil, fmt.Errorf("%s on activations has no backward (it runs for inference only)", o.node.OpType)
	}
	return nil, nil
}
