package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// This file holds the ops that run on the nn layers (and so train): Conv,
// BatchNormalization, MaxPool/AveragePool, GlobalAveragePool, Gemm and
// MatMul. Their activations are channels-last.

// convOp is Conv: nn.Conv2D for group=1, depthwiseConv for group=C.
type convOp struct {
	layer nn.Layer // *nn.Conv2D or *depthwiseConv
	// Explicit padding (top, left, bottom, right) done here when the
	// file's padding is asymmetric or auto_pad is SAME_*; the layer then
	// pads nothing.
	explicit bool
	autoPad  string
	pads     [4]int
	kh, kw   int
	stride   int

	// With the BatchNormalization that alone reads the output (fuseConvBN):
	// the two folded, for inference.
	fused   *nn.ConvBN
	fusedBN *bnOp

	lay    layouts
	in     *value
	padded *tensor.Tensor
	dCrop  *tensor.Tensor
	h, w   int // input size before explicit padding
	out    value
	last   []int
	dxs    [1]*tensor.Tensor
}

func buildConv(c *compiler, n *NodeProto) (op, error) {
	w, err := c.konst(n, 1, "W")
	if err != nil {
		return nil, err
	}
	if len(w.Shape) != 4 {
		return nil, fmt.Errorf("weight shape %s, want 4-D (M,C/group,kH,kW) (only 2-D convolutions are supported)", tensor.ShapeString(w.Shape))
	}
	bias, err := c.optKonst(n, 2, "B")
	if err != nil {
		return nil, err
	}
	outC, inCg, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	if bias != nil && bias.Len() != outC {
		return nil, fmt.Errorf("bias has %d values for %d output channels", bias.Len(), outC)
	}
	if ks := attrInts(n, "kernel_shape"); ks != nil && (len(ks) != 2 || ks[0] != kh || ks[1] != kw) {
		return nil, fmt.Errorf("kernel_shape %v does not match the weight %s", ks, tensor.ShapeString(w.Shape))
	}
	for _, d := range attrInts(n, "dilations") {
		if d != 1 {
			return nil, fmt.Errorf("dilations %v are not supported (want 1)", attrInts(n, "dilations"))
		}
	}
	o := &convOp{kh: kh, kw: kw, stride: 1, autoPad: attrString(n, "auto_pad", "NOTSET")}
	if s := attrInts(n, "strides"); s != nil {
		if len(s) != 2 || s[0] != s[1] || s[0] < 1 {
			return nil, fmt.Errorf("strides %v: want two equal positive strides", s)
		}
		o.stride = s[0]
	}
	pad := 0
	switch o.autoPad {
	case "NOTSET", "":
		if p := attrInts(n, "pads"); p != nil {
			if len(p) != 4 {
				return nil, fmt.Errorf("pads %v: want 4 values", p)
			}
			for _, v := range p {
				if v < 0 {
					return nil, fmt.Errorf("negative pads %v are not supported", p)
				}
			}
			// ONNX orders pads (top, left, bottom, right).
			o.pads = [4]int{p[0], p[1], p[2], p[3]}
			if p[0] == p[1] && p[0] == p[2] && p[0] == p[3] {
				pad = p[0]
			} else {
				o.explicit = true
			}
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		o.explicit = true
	default:
		return nil, fmt.Errorf("auto_pad %q is not supported", o.autoPad)
	}
	group := attrInt(n, "group", 1)
	name := layerName(n, 1)
	switch {
	case group == 1:
		conv := nn.NewConv2D(name, nn.Conv2DConfig{InC: inCg, OutC: outC, KernelH: kh, KernelW: kw, Stride: o.stride, Padding: pad, Bias: bias != nil}, c.random())
		// OIHW -> OHWI
		dst := conv.Weight.Value.Data
		for oc := 0; oc < outC; oc++ {
			for ic := 0; ic < inCg; ic++ {
				for y := 0; y < kh; y++ {
					for x := 0; x < kw; x++ {
						dst[((oc*kh+y)*kw+x)*inCg+ic] = w.Data[((oc*inCg+ic)*kh+y)*kw+x]
					}
				}
			}
		}
		if bias != nil {
			copy(conv.Bias.Value.Data, bias.Data)
		}
		o.layer = conv
	case group == outC && inCg == 1:
		dw := newDepthwise(name, outC, kh, kw, o.stride, pad, bias != nil)
		// (C,1,kH,kW) -> (kH,kW,C)
		for ch := 0; ch < outC; ch++ {
			for i := 0; i < kh*kw; i++ {
				dw.Weight.Value.Data[i*outC+ch] = w.Data[ch*kh*kw+i]
			}
		}
		if bias != nil {
			copy(dw.Bias.Value.Data, bias.Data)
		}
		o.layer = dw
	default:
		return nil, fmt.Errorf("group=%d with weight %s: only group=1 and depthwise (group = channels, multiplier 1) are supported", group, tensor.ShapeString(w.Shape))
	}
	return o, nil
}

// samePads computes auto_pad SAME padding of one axis.
func samePads(size, k, s int, upper bool) (begin, end int) {
	out := (size + s - 1) / s
	total := max((out-1)*s+k-size, 0)
	if upper {
		return total / 2, total - total/2
	}
	return total - total/2, total / 2
}

func (o *convOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	x, err := o.lay.channelsLast(in[0], "")
	if err != nil {
		return nil, err
	}
	if o.explicit {
		o.h, o.w = x.Shape[1], x.Shape[2]
		if o.autoPad == "SAME_UPPER" || o.autoPad == "SAME_LOWER" {
			up := o.autoPad == "SAME_UPPER"
			o.pads[0], o.pads[2] = samePads(o.h, o.kh, o.stride, up)
			o.pads[1], o.pads[3] = samePads(o.w, o.kw, o.stride, up)
		}
		if err := checkPadded(x.Shape, o.pads); err != nil {
			return nil, err
		}
		o.padded = padNHWC(o.padded, x, o.pads)
		x = o.padded
	}
	if checkShape(&o.last, x.Shape) {
		out, err := o.layer.OutShape(x.Shape)
		if err == nil {
			err = checkRunShape("the output", out...)
		}
		if err != nil {
			o.last = nil
			return nil, err
		}
	}
	if o.fused != nil {
		o.fusedBN.passThrough = !train
		if !train {
			o.out = value{t: o.fused.Forward(x, nil), nhwc: true}
			return &o.out, nil
		}
	}
	o.out = value{t: o.layer.Forward(x, train), nhwc: true}
	return &o.out, nil
}

func (o *convOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	dx := o.layer.Backward(dy)
	o.dxs[0] = nil
	if !needs[0] || dx == nil {
		return o.dxs[:], nil
	}
	if o.explicit {
		o.dCrop = cropNHWC(o.dCrop, dx, o.pads[0], o.pads[1], o.h, o.w)
		dx = o.dCrop
	}
	o.dxs[0] = o.lay.gradFromNHWC(o.in, dx)
	return o.dxs[:], nil
}

func (o *convOp) params() []*nn.Param  { return o.layer.Params() }
func (o *convOp) buffers() []*nn.Param { return o.layer.Buffers() }

// padNHWC copies x (N,H,W,C) into a zeroed (N,H+t+b,W+l+r,C) tensor.
func padNHWC(dst, x *tensor.Tensor, p [4]int) *tensor.Tensor { return padNHWCFill(dst, x, p, 0) }

// padNHWCFill is padNHWC with the border set to fill.
func padNHWCFill(dst, x *tensor.Tensor, p [4]int, fill float32) *tensor.Tensor {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	hp, wp := h+p[0]+p[2], w+p[1]+p[3]
	dst = tensor.Ensure(dst, n, hp, wp, c)
	for i := range dst.Data {
		dst.Data[i] = fill
	}
	for i := 0; i < n; i++ {
		for y := 0; y < h; y++ {
			src := x.Data[((i*h+y)*w)*c : ((i*h+y)*w+w)*c]
			copy(dst.Data[((i*hp+y+p[0])*wp+p[1])*c:], src)
		}
	}
	return dst
}

// cropNHWC copies the (h,w) window at (top,left) of d (N,H',W',C).
func cropNHWC(dst, d *tensor.Tensor, top, left, h, w int) *tensor.Tensor {
	n, hp, wp, c := d.Shape[0], d.Shape[1], d.Shape[2], d.Shape[3]
	dst = tensor.Ensure(dst, n, h, w, c)
	for i := 0; i < n; i++ {
		for y := 0; y < h; y++ {
			copy(dst.Data[((i*h+y)*w)*c:((i*h+y)*w+w)*c], d.Data[((i*hp+y+top)*wp+left)*c:])
		}
	}
	return dst
}

// bnOp is BatchNormalization (inference form in the file; it trains like
// nn.BatchNorm2D). A 2-D (N,C) input is normalised as (N,1,1,C).
type bnOp struct {
	bn   *nn.BatchNorm2D
	lay  layouts
	in   *value
	flat bool // 2-D input
	v4   tensor.Tensor
	out  value
	o2   tensor.Tensor
	d4   tensor.Tensor
	d2   tensor.Tensor
	last []int
	dxs  [5]*tensor.Tensor
	// passThrough: the preceding Conv applied this BN (fuseConvBN, inference).
	passThrough bool
}

func buildBN(c *compiler, n *NodeProto) (op, error) {
	var ts [4]*tensor.Tensor
	for i, what := range []string{"scale", "B", "input_mean", "input_var"} {
		t, err := c.konst(n, i+1, what)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	ch := ts[0].Len()
	for i, t := range ts {
		if t.Len() != ch {
			return nil, fmt.Errorf("input %d has %d values, scale has %d", i+1, t.Len(), ch)
		}
	}
	if attrInt(n, "training_mode", 0) != 0 {
		return nil, fmt.Errorf("training_mode=1 is not supported (export the model in eval mode)")
	}
	momentum := 1 - attrFloat(n, "momentum", 0.9)
	if !(momentum > 0 && momentum <= 1) {
		momentum = 0.1
	}
	bn := nn.NewBatchNorm2D(layerName(n, 1), nn.BatchNorm2DConfig{C: ch, Eps: attrFloat(n, "epsilon", 1e-5), Momentum: momentum})
	copy(bn.Weight.Value.Data, ts[0].Data)
	copy(bn.Bias.Value.Data, ts[1].Data)
	copy(bn.RunningMean.Value.Data, ts[2].Data)
	copy(bn.RunningVar.Value.Data, ts[3].Data)
	return &bnOp{bn: bn}, nil
}

func (o *bnOp) forward(in []*value, train bool) (*value, error) {
	if o.passThrough {
		o.out = *in[0]
		return &o.out, nil
	}
	o.in = in[0]
	var x *tensor.Tensor
	o.flat = !in[0].nhwc && len(in[0].t.Shape) == 2
	if o.flat {
		x = view(&o.v4, in[0].t, in[0].t.Shape[0], 1, 1, in[0].t.Shape[1])
	} else {
		var err error
		if x, err = o.lay.channelsLast(in[0], ""); err != nil {
			return nil, err
		}
	}
	if checkShape(&o.last, x.Shape) {
		if _, err := o.bn.OutShape(x.Shape); err != nil {
			o.last = nil
			return nil, err
		}
	}
	y := o.bn.Forward(x, train)
	if o.flat {
		o.out = value{t: view(&o.o2, y, x.Shape[0], x.Shape[3])}
	} else {
		o.out = value{t: y, nhwc: true}
	}
	return &o.out, nil
}

func (o *bnOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	if o.flat {
		dy = view(&o.d4, dy, dy.Shape[0], 1, 1, dy.Shape[1])
	}
	dx := o.bn.Backward(dy)
	o.dxs[0] = nil
	if needs[0] {
		if o.flat {
			o.dxs[0] = view(&o.d2, dx, dx.Shape[0], dx.Shape[3])
		} else {
			o.dxs[0] = o.lay.gradFromNHWC(o.in, dx)
		}
	}
	return o.dxs[:], nil
}

func (o *bnOp) params() []*nn.Param  { return o.bn.Params() }
func (o *bnOp) buffers() []*nn.Param { return o.bn.Buffers() }

// poolOp is MaxPool or AveragePool on nn's pooling layers. auto_pad
// SAME pads explicitly first (with -Inf for MaxPool, zeros for
// AveragePool). AveragePool with count_include_pad=0 (ONNX's default)
// rescales each output by K²/(taps inside the image).
type poolOp struct {
	layer nn.Layer
	lay   layouts
	in    *value
	out   value
	last  []int
	dxs   [1]*tensor.Tensor

	same, upper, avg, countPad bool
	ceil                       bool      // ceil_mode: extra bottom/right padding for a last partial window
	scaled                     bool      // rescale excludes padding from averages
	symPad                     int       // nn's own symmetric padding
	rescale                    []float32 // (Ho*Wo) K²/valid taps
	dyScaled                   *tensor.Tensor
	k, s                       int
	fill                       float32
	pads                       [4]int
	h, w                       int
	padded, dCrop              *tensor.Tensor
}

func buildPool(c *compiler, n *NodeProto) (op, error) {
	k := attrInts(n, "kernel_shape")
	if len(k) != 2 || k[0] != k[1] || k[0] < 1 {
		return nil, fmt.Errorf("kernel_shape %v: want a square 2-D window", k)
	}
	cfg := nn.Pool2DConfig{Kernel: k[0], Stride: 1}
	if s := attrInts(n, "strides"); s != nil {
		if len(s) != 2 || s[0] != s[1] || s[0] < 1 {
			return nil, fmt.Errorf("strides %v: want two equal positive strides", s)
		}
		cfg.Stride = s[0]
	}
	if p := attrInts(n, "pads"); p != nil {
		if len(p) != 4 || p[0] != p[1] || p[0] != p[2] || p[0] != p[3] || p[0] > k[0]/2 {
			return nil, fmt.Errorf("pads %v: want 4 equal pads of at most half the kernel %d", p, k[0])
		}
		cfg.Padding = p[0]
	}
	autoPad := attrString(n, "auto_pad", "NOTSET")
	switch autoPad {
	case "NOTSET", "VALID", "", "SAME_UPPER", "SAME_LOWER":
	default:
		return nil, fmt.Errorf("auto_pad %q is not supported", autoPad)
	}
	same := autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER"
	ceil := attrInt(n, "ceil_mode", 0) != 0
	if ceil && same {
		return nil, fmt.Errorf("ceil_mode=1 with auto_pad %q is not supported", autoPad)
	}
	if ceil && n.OpType == "AveragePool" && attrInt(n, "count_include_pad", 0) != 0 {
		return nil, fmt.Errorf("ceil_mode=1 with count_include_pad=1 is not supported")
	}
	for _, d := range attrInts(n, "dilations") {
		if d != 1 {
			return nil, fmt.Errorf("dilations %v are not supported", attrInts(n, "dilations"))
		}
	}
	if n.OpType == "MaxPool" {
		if len(n.Outputs) > 1 && n.Outputs[1] != "" {
			return nil, fmt.Errorf("the Indices output is not supported")
		}
		return &poolOp{layer: nn.NewMaxPool2D(n.Name, cfg), same: same, upper: autoPad == "SAME_UPPER", k: cfg.Kernel, s: cfg.Stride, fill: float32(math.Inf(-1)),
			ceil: ceil, symPad: cfg.Padding}, nil
	}
	return &poolOp{layer: nn.NewAvgPool2D(n.Name, cfg), same: same, upper: autoPad == "SAME_UPPER", k: cfg.Kernel, s: cfg.Stride, avg: true,
		countPad: attrInt(n, "count_include_pad", 0) != 0, symPad: cfg.Padding, ceil: ceil}, nil
}

func (o *poolOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	x, err := o.lay.channelsLast(in[0], "")
	if err != nil {
		return nil, err
	}
	o.pads = [4]int{}
	o.h, o.w = x.Shape[1], x.Shape[2]
	if o.same {
		o.pads[0], o.pads[2] = samePads(o.h, o.k, o.s, o.upper)
		o.pads[1], o.pads[3] = samePads(o.w, o.k, o.s, o.upper)
		if o.pads != [4]int{} {
			if err := checkPadded(x.Shape, o.pads); err != nil {
				return nil, err
			}
			o.padded = padNHWCFill(o.padded, x, o.pads, o.fill)
			x = o.padded
		}
	}
	if o.ceil {
		o.pads[2] = ceilExtra(x.Shape[1], o.k, o.s, o.symPad)
		o.pads[3] = ceilExtra(x.Shape[2], o.k, o.s, o.symPad)
		if o.pads != [4]int{} {
			if err := checkPadded(x.Shape, o.pads); err != nil {
				return nil, err
			}
			o.padded = padNHWCFill(o.padded, x, o.pads, o.fill)
			x = o.padded
		}
	}
	if checkShape(&o.last, x.Shape) {
		out, err := o.layer.OutShape(x.Shape)
		if err == nil {
			err = checkRunShape("the output", out...)
		}
		if err != nil {
			o.last = nil
			return nil, err
		}
	}
	y := o.layer.Forward(x, train)
	o.scaled = o.avg && !o.countPad && (o.symPad > 0 || o.pads != [4]int{})
	if o.scaled {
		o.setRescale(in[0].t, y)
		scaleRows(y, o.rescale)
	}
	o.out = value{t: y, nhwc: true}
	return &o.out, nil
}

// ceilExtra is the padding ceil_mode adds after an input of size n
// (padded by p on both sides) for window k and stride s: the output has
// ceil((n+2p-k)/s)+1 positions, less the last one if it would start in
// the right padding (PyTorch's and ONNX Runtime's rule).
func ceilExtra(n, k, s, p int) int {
	span := n + 2*p - k
	if span < 0 {
		return 0
	}
	floorOut := span/s + 1
	ceilOut := (span+s-1)/s + 1
	if (ceilOut-1)*s >= n+p {
		ceilOut--
	}
	if ceilOut <= floorOut {
		return 0
	}
	return (ceilOut-1)*s + k - (n + 2*p)
}

// setRescale computes, for AveragePool with count_include_pad=0, the
// factor K²/(valid taps) of each output position: nn.AvgPool2D divides
// every window by K², padding included.
func (o *poolOp) setRescale(in, y *tensor.Tensor) {
	h, w := in.Shape[1], in.Shape[2] // before padding (logical H,W of an NHWC or NCHW input)
	if !o.in.nhwc {
		h, w = in.Shape[2], in.Shape[3]
	}
	top, left := o.symPad+o.pads[0], o.symPad+o.pads[1]
	ho, wo := y.Shape[1], y.Shape[2]
	o.rescale = growSlice(o.rescale, ho*wo)
	span := func(start, size int) int { return min(start+o.k, size) - max(start, 0) }
	for oy := 0; oy < ho; oy++ {
		for ox := 0; ox < wo; ox++ {
			valid := span(oy*o.s-top, h) * span(ox*o.s-left, w)
			o.rescale[oy*wo+ox] = float32(o.k*o.k) / float32(max(valid, 1))
		}
	}
}

// scaleRows multiplies each pixel (all its channels) of an (N,H,W,C)
// tensor by f[pixel].
func scaleRows(t *tensor.Tensor, f []float32) {
	c := t.Shape[3]
	for i := 0; i < t.Len(); i += c {
		s := f[(i/c)%len(f)]
		row := t.Data[i : i+c]
		for j := range row {
			row[j] *= s
		}
	}
}

func growSlice(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func (o *poolOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	if o.scaled {
		o.dyScaled = tensor.Ensure(o.dyScaled, dy.Shape...)
		copy(o.dyScaled.Data, dy.Data[:dy.Len()])
		scaleRows(o.dyScaled, o.rescale)
		dy = o.dyScaled
	}
	dx := o.layer.Backward(dy)
	o.dxs[0] = nil
	if o.pads != [4]int{} {
		o.dCrop = cropNHWC(o.dCrop, dx, o.pads[0], o.pads[1], o.h, o.w)
		dx = o.dCrop
	}
	if needs[0] {
		o.dxs[0] = o.lay.gradFromNHWC(o.in, dx)
	}
	return o.dxs[:], nil
}

// gapOp is GlobalAveragePool: (N,C,H,W) -> (N,C,1,1).
type gapOp struct {
	gap  *nn.GlobalAvgPool
	lay  layouts
	in   *value
	hdr  tensor.Tensor
	dHdr tensor.Tensor
	out  value
	last []int
	dxs  [1]*tensor.Tensor
}

func buildGAP(c *compiler, n *NodeProto) (op, error) {
	return &gapOp{gap: nn.NewGlobalAvgPool(n.Name)}, nil
}

func (o *gapOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	x, err := o.lay.channelsLast(in[0], "")
	if err != nil {
		return nil, err
	}
	if checkShape(&o.last, x.Shape) {
		if _, err := o.gap.OutShape(x.Shape); err != nil {
			o.last = nil
			return nil, err
		}
	}
	y := o.gap.Forward(x, train) // (N,C)
	o.out = value{t: view(&o.hdr, y, y.Shape[0], 1, 1, y.Shape[1]), nhwc: true}
	return &o.out, nil
}

func (o *gapOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	dx := o.gap.Backward(view(&o.dHdr, dy, dy.Shape[0], dy.Shape[3]))
	o.dxs[0] = nil
	if needs[0] {
		o.dxs[0] = o.lay.gradFromNHWC(o.in, dx)
	}
	return o.dxs[:], nil
}

// linearOp is Gemm (A · B' + C with a constant B) or MatMul with a
// constant right-hand side, on nn.Linear. A MatMul input of rank > 2 is
// treated as rows of its last dimension.
type linearOp struct {
	fc     *nn.Linear
	lay    layouts
	in     *value
	x2     tensor.Tensor
	outHdr tensor.Tensor
	dyHdr  tensor.Tensor
	dxHdr  tensor.Tensor
	shape  []int
	out    value
	dxs    [3]*tensor.Tensor
	// fusedBias: a MatMul whose following Add's constant became fc's bias
	// (see fuseBiases); the Add node saves it.
	fusedBias bool
}

func buildGemm(c *compiler, n *NodeProto) (op, error) {
	if attrInt(n, "transA", 0) != 0 {
		return nil, fmt.Errorf("transA=1 is not supported")
	}
	b, err := c.konst(n, 1, "B")
	if err != nil {
		return nil, err
	}
	if len(b.Shape) != 2 {
		return nil, fmt.Errorf("B has shape %s, want 2-D", tensor.ShapeString(b.Shape))
	}
	bias, err := c.optKonst(n, 2, "C")
	if err != nil {
		return nil, err
	}
	alpha, beta := attrFloat(n, "alpha", 1), attrFloat(n, "beta", 1)
	var out, in int
	transB := attrInt(n, "transB", 0) != 0
	if transB {
		out, in = b.Shape[0], b.Shape[1]
	} else {
		in, out = b.Shape[0], b.Shape[1]
	}
	if bias != nil && bias.Len() != out && bias.Len() != 1 {
		return nil, fmt.Errorf("C has shape %s: only a bias of %d values (or a scalar) is supported", tensor.ShapeString(bias.Shape), out)
	}
	fc := nn.NewLinear(layerName(n, 1), nn.LinearConfig{In: in, Out: out, NoBias: bias == nil}, c.random())
	w := fc.Weight.Value.Data
	for o := 0; o < out; o++ {
		for i := 0; i < in; i++ {
			if transB {
				w[o*in+i] = alpha * b.Data[o*in+i]
			} else {
				w[o*in+i] = alpha * b.Data[i*out+o]
			}
		}
	}
	if bias != nil {
		for o := range fc.Bias.Value.Data {
			fc.Bias.Value.Data[o] = beta * bias.Data[o%bias.Len()]
		}
	}
	return &linearOp{fc: fc}, nil
}

func buildMatMul(c *compiler, n *NodeProto) (op, error) {
	b, err := c.konst(n, 1, "B")
	if err != nil {
		return nil, err
	}
	if len(b.Shape) != 2 {
		return nil, fmt.Errorf("B has shape %s, want 2-D", tensor.ShapeString(b.Shape))
	}
	in, out := b.Shape[0], b.Shape[1]
	fc := nn.NewLinear(layerName(n, 1), nn.LinearConfig{In: in, Out: out, NoBias: true}, c.random())
	for o := 0; o < out; o++ {
		for i := 0; i < in; i++ {
			fc.Weight.Value.Data[o*in+i] = b.Data[i*out+o]
		}
	}
	return &linearOp{fc: fc}, nil
}

func (o *linearOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	x := o.lay.plain(in[0])
	k := o.fc.Config().In
	if len(x.Shape) < 2 || x.Shape[len(x.Shape)-1] != k {
		return nil, fmt.Errorf("input shape %s, want (..., %d)", tensor.ShapeString(x.Shape), k)
	}
	rows := x.Len() / k
	y := o.fc.Forward(view(&o.x2, x, rows, k), train)
	o.shape = append(append(o.shape[:0], x.Shape[:len(x.Shape)-1]...), o.fc.Config().Out)
	o.out = value{t: view(&o.outHdr, y, o.shape...)}
	return &o.out, nil
}

func (o *linearOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	out := o.fc.Config().Out
	dx := o.fc.Backward(view(&o.dyHdr, dy, dy.Len()/out, out))
	o.dxs[0] = nil
	if needs[0] {
		o.dxs[0] = o.lay.gradFromPlain(o.in, view(&o.dxHdr, dx, o.in.logical()...))
	}
	return o.dxs[:], nil
}

func (o *linearOp) params() []*nn.Param  { return o.fc.Params() }
func (o *linearOp) buffers() []*nn.Param { return nil }

// replace swaps the layer for a new one with `classes` outputs (with a
// bias unless the old one had none, as a MatMul).
func (o *linearOp) replace(classes int, rng *rand.Rand) {
	o.fc = nn.NewLinear(o.fc.Name(), nn.LinearConfig{In: o.fc.Config().In, Out: classes, NoBias: o.fc.Bias == nil}, rng)
}
