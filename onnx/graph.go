package onnx

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// op is one compiled node. forward takes the node's input values (nil
// for an omitted optional input) and returns its output, owned by the op
// and valid until its next forward. backward takes dL/dy in the physical
// layout of that output and returns dL/dx for each input in the physical
// layout it had (nil where needs[i] is false); it also leaves the
// gradients of the op's parameters in their Grad.
type op interface {
	forward(in []*value, train bool) (*value, error)
	backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error)
}

// layered is an op built on nn layers: its parameters are trainable.
type layered interface {
	params() []*nn.Param
	buffers() []*nn.Param
}

// gnode is a node of the compiled graph.
type gnode struct {
	proto  *NodeProto
	op     op
	in     []int // value slots, -1 for an omitted input
	out    int
	frozen bool // runs in inference mode and gets no parameter gradients
	konst  bool // every input is a constant
}

// Graph runs an imported ONNX CNN on NHWC batches with the nn kernels,
// and trains it: Forward, Backward and Params work like model.Net's.
// It is not safe for concurrent use: ops own their buffers.
type Graph struct {
	Model *ModelProto // the file it was imported from

	nodes    []*gnode
	slots    map[string]int
	vals     []*value
	grads    []*tensor.Tensor
	gradSet  []bool
	needGrad []bool
	folded   int  // nodes evaluated at import (constant folding)
	input    int  // slot of the data input
	output   int  // slot of the first graph output
	inNCHW   bool // the graph's input is logically (N,C,H,W)
	inShape  []int
	anySize  bool
	trained  bool // the last Forward ran with train=true
	outBuf   layouts
	outBufs  []layouts // ForwardOutputs' conversions, one per output
	dyBuf    layouts
	ins      []*value // forward's scratch
	inVal    value
	// headClasses is the output count set by ReplaceHead (0: unchanged).
	headClasses int
	needs       []bool
}

// Options tune Import. The zero value selects the defaults.
type Options struct {
	// InputLayout is the logical layout of the graph's 4-D input:
	// "NCHW" (PyTorch, the ONNX convention) or "NHWC" (Keras exports).
	// Default "": NCHW unless the declared input shape is (N,H,W,C) with
	// C in {1,3,4} and H,W > 4.
	InputLayout string
	// AnySize accepts inputs of any height and width, not only the
	// declared ones: fully convolutional graphs with global pooling (such
	// as torchvision's ResNets) then run, and fine-tune, on other image
	// sizes. The channel count must still match. Default false.
	AnySize bool
}

// ImportFile reads and compiles the ONNX model at path.
func ImportFile(path string, opts Options) (*Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	g, err := Import(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Import reads and compiles an ONNX model.
func Import(r io.Reader, opts Options) (*Graph, error) {
	m, err := ReadModel(r)
	if err != nil {
		return nil, err
	}
	return Compile(m, opts)
}

// Compile builds the executable graph of m. Every node is checked: an
// unsupported operator gives one error listing every unsupported
// operator type with the names of its nodes, followed by the other
// problems found.
func Compile(m *ModelProto, opts Options) (*Graph, error) {
	for _, o := range m.Opsets {
		if (o.Domain == "" || o.Domain == "ai.onnx") && (o.Version < 7 || o.Version > 21) {
			return nil, fmt.Errorf("onnx: opset %d is not supported (want 7 to 21)", o.Version)
		}
	}
	gp := m.Graph
	g := &Graph{Model: m, slots: map[string]int{}, input: -1, output: -1, anySize: opts.AnySize}
	c := &compiler{konsts: map[string]*tensor.Tensor{}, opset: opsetOf(m)}
	budget := foldBudget(gp)
	for _, t := range gp.Initializers {
		v, err := t.Tensor()
		if err != nil {
			return nil, fmt.Errorf("onnx: initializer: %w", err)
		}
		c.konsts[t.Name] = v
		g.slots[t.Name] = len(g.vals)
		g.vals = append(g.vals, &value{t: v, konst: true})
	}
	for _, in := range gp.Inputs {
		if _, ok := g.slots[in.Name]; ok {
			continue // an initializer also listed as an input
		}
		if g.input >= 0 {
			return nil, fmt.Errorf("onnx: graph has several data inputs (%q and %q); want one image batch", gp.Inputs[g.input].Name, in.Name)
		}
		g.slots[in.Name] = len(g.vals)
		g.input = len(g.vals)
		g.vals = append(g.vals, &value{t: &tensor.Tensor{}})
		if err := g.setInputLayout(in, opts.InputLayout); err != nil {
			return nil, err
		}
	}
	if g.input < 0 {
		return nil, fmt.Errorf("onnx: graph has no data input")
	}

	unsupported := map[string][]string{}
	var problems []string
	for i, n := range gp.Nodes {
		name := n.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
			n.Name = name
		}
		gn := &gnode{proto: n, konst: true}
		for _, in := range n.Inputs {
			if in == "" {
				gn.in = append(gn.in, -1)
				continue
			}
			s, ok := g.slots[in]
			if !ok {
				problems = append(problems, fmt.Sprintf("node %q (%s) uses %q before it is defined", name, n.OpType, in))
				s = -1
				gn.konst = false
			} else if !g.vals[s].konst {
				gn.konst = false
			}
			gn.in = append(gn.in, s)
		}
		if len(n.Outputs) == 0 {
			problems = append(problems, fmt.Sprintf("node %q (%s) has no output", name, n.OpType))
			continue
		}
		build, ok := builders[n.OpType]
		_, foldOnly := folders[n.OpType]
		stdDomain := n.Domain == "" || n.Domain == "ai.onnx"
		if err := checkArity(n); stdDomain && (ok || foldOnly) && err != nil {
			problems = append(problems, fmt.Sprintf("node %q (%s): %v", name, n.OpType, err))
			continue
		}
		if gn.konst && stdDomain && (ok || foldOnly) && n.OpType != "Dropout" && !hasMissing(gn.in, n) {
			// Constant folding: evaluate now, once.
			t, err := c.foldNode(n)
			if err == nil {
				if budget -= t.Len(); budget < 0 {
					err = fmt.Errorf("constant folding makes more than %d elements in all (the file holds %d)", foldBudget(gp), foldBudget(gp)-maxFoldElems)
				}
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("node %q (%s) on constants: %v", name, n.OpType, err))
				if budget < 0 {
					return nil, fmt.Errorf("onnx: %s", strings.Join(problems, "; "))
				}
				continue
			}
			c.konsts[n.Outputs[0]] = t
			g.slots[n.Outputs[0]] = len(g.vals)
			g.vals = append(g.vals, &value{t: t, konst: true})
			g.folded++
			continue
		}
		if !ok && foldOnly && stdDomain {
			// A shape computation on an activation (e.g. Shape -> Gather
			// -> Unsqueeze -> Concat -> Reshape for a dynamic batch).
			gn.op = &runtimeFold{node: n, fn: folders[n.OpType]}
		} else if !ok || !stdDomain {
			key := n.OpType
			if n.Domain != "" && n.Domain != "ai.onnx" {
				key = n.Domain + "." + n.OpType
			}
			unsupported[key] = append(unsupported[key], name)
		} else if o, err := build(c, n); err != nil {
			problems = append(problems, fmt.Sprintf("node %q (%s): %v", name, n.OpType, err))
		} else {
			gn.op = o
		}
		// Extra outputs (BatchNormalization's statistics, Dropout's mask)
		// are not computed; using them is an error at their consumer.
		gn.out = len(g.vals)
		g.slots[n.Outputs[0]] = gn.out
		g.vals = append(g.vals, &value{t: &tensor.Tensor{}, konst: gn.konst})
		g.nodes = append(g.nodes, gn)
	}
	if len(unsupported) > 0 {
		types := make([]string, 0, len(unsupported))
		for t := range unsupported {
			types = append(types, t)
		}
		sort.Strings(types)
		var parts []string
		for _, t := range types {
			parts = append(parts, fmt.Sprintf("%s (nodes %s)", t, strings.Join(quoteAll(unsupported[t]), ", ")))
		}
		problems = append([]string{"unsupported operators: " + strings.Join(parts, "; ")}, problems...)
	}
	if len(gp.Outputs) == 0 {
		problems = append(problems, "graph has no output")
	} else if s, ok := g.slots[gp.Outputs[0].Name]; !ok {
		problems = append(problems, fmt.Sprintf("graph output %q is not computed by any node", gp.Outputs[0].Name))
	} else {
		g.output = s
	}
	for _, o := range gp.Outputs[min(1, len(gp.Outputs)):] {
		if _, ok := g.slots[o.Name]; !ok {
			problems = append(problems, fmt.Sprintf("graph output %q is not computed by any node", o.Name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("onnx: %s", strings.Join(problems, "; "))
	}
	g.fuseBiases(c)
	g.fuseBNRelu()
	g.fuseConvBN()
	g.grads = make([]*tensor.Tensor, len(g.vals))
	g.gradSet = make([]bool, len(g.vals))
	g.updateNeedGrad()
	return g, nil
}

// hasMissing reports whether an input of n is undefined.
func hasMissing(slots []int, n *NodeProto) bool {
	for i, s := range slots {
		if s < 0 && n.Inputs[i] != "" {
			return true
		}
	}
	return false
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}

func opsetOf(m *ModelProto) int64 {
	for _, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 13
}

// setInputLayout decides how Forward's NHWC batch maps onto the graph's
// declared input.
func (g *Graph) setInputLayout(in *ValueInfo, layout string) error {
	dims := make([]int, len(in.Shape))
	for i, d := range in.Shape {
		dims[i] = int(d.Value) // 0 when symbolic
	}
	switch layout {
	case "NCHW":
		g.inNCHW = true
	case "NHWC":
	case "":
		g.inNCHW = true
		if len(dims) == 4 {
			c, h, w := dims[3], dims[1], dims[2]
			if (c == 1 || c == 3 || c == 4) && h > 4 && w > 4 {
				g.inNCHW = false
			}
		}
	default:
		return fmt.Errorf("onnx: input layout %q, want NCHW or NHWC", layout)
	}
	if len(dims) != 4 {
		g.inNCHW = false // not an image batch: taken as is
	}
	if len(dims) == 4 {
		if g.inNCHW {
			g.inShape = []int{dims[2], dims[3], dims[1]}
		} else {
			g.inShape = []int{dims[1], dims[2], dims[3]}
		}
	}
	return nil
}

// InputShape returns the (H,W,C) of the images the graph takes, with 0
// for dimensions the file leaves open; nil when the input is not 4-D.
func (g *Graph) InputShape() []int { return slices.Clone(g.inShape) }

// Classes returns the class names from the model's metadata, if any.
func (g *Graph) Classes() ([]string, error) { return g.Model.Classes() }

// Preprocess returns the preprocessing from the model's metadata, if any.
func (g *Graph) Preprocess() (vision.Preprocess, bool, error) { return g.Model.Preprocess() }

// Forward runs the graph on x, an (N,H,W,C) batch (the project's layout;
// for a graph whose input is (N,C,H,W) no copy is made). It returns the
// first graph output in ONNX's logical layout, e.g. (N,classes), owned by
// the graph. train selects batch statistics in BatchNormalization and
// enables Dropout, except in frozen nodes (see Freeze).
func (g *Graph) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	if x == nil || len(x.Data) < x.Len() || x.Len() == 0 {
		return nil, fmt.Errorf("onnx: empty or short input")
	}
	if g.inShape != nil {
		if len(x.Shape) != 4 {
			return nil, fmt.Errorf("onnx: input shape %s, want (N,H,W,C)", tensor.ShapeString(x.Shape))
		}
		for i, d := range g.inShape {
			if d > 0 && x.Shape[i+1] != d && !(g.anySize && i < 2) {
				return nil, fmt.Errorf("onnx: input shape %s, want (N,%d,%d,%d) (0 = any)", tensor.ShapeString(x.Shape), g.inShape[0], g.inShape[1], g.inShape[2])
			}
		}
	}
	g.trained = false
	g.inVal = value{t: x, nhwc: g.inNCHW}
	g.vals[g.input] = &g.inVal
	for _, n := range g.nodes {
		g.ins = g.ins[:0]
		for _, s := range n.in {
			if s < 0 {
				g.ins = append(g.ins, nil)
			} else {
				g.ins = append(g.ins, g.vals[s])
			}
		}
		v, err := n.op.forward(g.ins, train && !n.frozen)
		if err != nil {
			return nil, fmt.Errorf("onnx: node %q (%s): %w", n.proto.Name, n.proto.OpType, err)
		}
		v.konst = n.konst
		g.vals[n.out] = v
	}
	g.trained = train
	return g.outBuf.plain(g.vals[g.output]), nil
}

// OutputNames lists the graph's outputs in the file's order.
func (g *Graph) OutputNames() []string {
	names := make([]string, len(g.Model.Graph.Outputs))
	for i, o := range g.Model.Graph.Outputs {
		names[i] = o.Name
	}
	return names
}

// ForwardOutputs runs the graph for inference like Forward and returns
// every graph output (in OutputNames' order, ONNX's logical layout),
// owned by the graph and valid until the next call: detectors such as
// BlazeFace have separate score and box outputs.
func (g *Graph) ForwardOutputs(x *tensor.Tensor) ([]*tensor.Tensor, error) {
	if _, err := g.Forward(x, false); err != nil {
		return nil, err
	}
	outs := g.Model.Graph.Outputs
	if len(g.outBufs) < len(outs) {
		g.outBufs = make([]layouts, len(outs))
	}
	res := make([]*tensor.Tensor, len(outs))
	for i, o := range outs {
		res[i] = g.outBufs[i].plain(g.vals[g.slots[o.Name]])
	}
	return res, nil
}

// Backward propagates dL/dy for the output of the last training Forward
// and leaves the gradients of every trainable parameter in its Grad.
// Nodes before the freeze point are not visited.
func (g *Graph) Backward(dy *tensor.Tensor) error {
	if !g.trained {
		return fmt.Errorf("onnx: Backward needs a successful Forward with train=true first")
	}
	out := g.vals[g.output]
	if dy == nil || !tensor.SameShape(dy.Shape, out.logical()) {
		var got []int
		if dy != nil {
			got = dy.Shape
		}
		return fmt.Errorf("onnx: gradient shape %s, want the output's %s", tensor.ShapeString(got), tensor.ShapeString(out.logical()))
	}
	clear(g.gradSet)
	g.accumulate(g.output, g.dyBuf.gradFromPlain(out, dy))
	for i := len(g.nodes) - 1; i >= 0; i-- {
		n := g.nodes[i]
		if !g.gradSet[n.out] || !g.needGrad[n.out] {
			continue
		}
		g.needs = g.needs[:0]
		for _, s := range n.in {
			g.needs = append(g.needs, s >= 0 && g.needGrad[s])
		}
		dxs, err := n.op.backward(g.grads[n.out], g.needs)
		if err != nil {
			return fmt.Errorf("onnx: backward of node %q (%s): %w", n.proto.Name, n.proto.OpType, err)
		}
		for j, s := range n.in {
			if g.needs[j] && j < len(dxs) && dxs[j] != nil {
				g.accumulate(s, dxs[j])
			}
		}
	}
	return nil
}

// accumulate adds a gradient contribution to slot s.
func (g *Graph) accumulate(s int, d *tensor.Tensor) {
	if !g.gradSet[s] {
		g.grads[s] = tensor.Ensure(g.grads[s], d.Shape...)
		copy(g.grads[s].Data, d.Data[:d.Len()])
		g.gradSet[s] = true
		return
	}
	dst := g.grads[s].Data
	for i, v := range d.Data[:len(dst)] {
		dst[i] += v
	}
}

// updateNeedGrad marks the values whose gradient Backward must compute:
// those downstream of a node with trainable parameters.
func (g *Graph) updateNeedGrad() {
	g.needGrad = make([]bool, len(g.vals))
	for _, n := range g.nodes {
		need := false
		if n.proto.OpType == "Shape" {
			g.needGrad[n.out] = false // a shape has no gradient
			continue
		}
		if l, ok := n.op.(layered); ok && !n.frozen {
			for _, p := range l.params() {
				need = need || !p.Frozen
			}
		}
		for _, s := range n.in {
			need = need || (s >= 0 && g.needGrad[s])
		}
		g.needGrad[n.out] = need
	}
}

// Params lists the learnable parameters of the ops built on nn layers
// (Conv, BatchNormalization, Gemm, MatMul), in node order. Names are
// those of the ONNX initializers, e.g. "layer1.0.conv1.weight".
func (g *Graph) Params() []*nn.Param {
	var ps []*nn.Param
	for _, n := range g.nodes {
		if l, ok := n.op.(layered); ok {
			ps = append(ps, l.params()...)
		}
	}
	return ps
}

// Buffers lists the non-learnable state (BatchNormalization statistics).
func (g *Graph) Buffers() []*nn.Param {
	var ps []*nn.Param
	for _, n := range g.nodes {
		if l, ok := n.op.(layered); ok {
			ps = append(ps, l.buffers()...)
		}
	}
	return ps
}

// NodeInfo describes a node for summaries.
type NodeInfo struct {
	Name, OpType string
	Frozen       bool
}

// Nodes lists the graph's nodes in execution order.
func (g *Graph) Nodes() []NodeInfo {
	out := make([]NodeInfo, len(g.nodes))
	for i, n := range g.nodes {
		out[i] = NodeInfo{n.proto.Name, n.proto.OpType, n.frozen}
	}
	return out
}

// Freeze freezes every node up to and including the node named upTo (or
// the node producing the value named upTo): their parameters are marked
// Frozen (no gradients, skipped by optimizers) and they run in inference
// mode even in training (BatchNormalization uses its running statistics),
// the usual way to fine-tune only the head of a pretrained network. The
// nodes after it are unfrozen. upTo = "" unfreezes everything.
func (g *Graph) Freeze(upTo string) error {
	last := -1
	if upTo != "" {
		for i, n := range g.nodes {
			if n.proto.Name == upTo || slices.Contains(n.proto.Outputs, upTo) {
				last = i
			}
		}
		if last < 0 {
			return fmt.Errorf("onnx: freeze: no node or value named %q", upTo)
		}
	}
	g.freezeThrough(last)
	return nil
}

// freezeThrough freezes the nodes with index <= last and unfreezes the
// others.
func (g *Graph) freezeThrough(last int) {
	for i, n := range g.nodes {
		n.frozen = i <= last
		if l, ok := n.op.(layered); ok {
			for _, p := range l.params() {
				p.Frozen = n.frozen
			}
		}
	}
	g.updateNeedGrad()
}

// FreezeBackbone freezes every node before the classifier (the last Gemm
// or MatMul), as Freeze does, so that only the head trains.
func (g *Graph) FreezeBackbone() error {
	for i := len(g.nodes) - 1; i >= 0; i-- {
		if _, ok := g.nodes[i].op.(*linearOp); ok {
			g.freezeThrough(i - 1)
			return nil
		}
	}
	return fmt.Errorf("onnx: freeze backbone: the graph has no Gemm or MatMul node")
}

// ReplaceHead swaps the classifier, the last Gemm or MatMul node, for a
// new fully connected layer with the same number of inputs and `classes`
// outputs, initialised from rng like nn.NewLinear. It returns the name of
// the replaced node, so that Freeze can stop just before it.
func (g *Graph) ReplaceHead(classes int, rng *rand.Rand) (string, error) {
	if classes < 1 {
		return "", fmt.Errorf("onnx: replace head: %d classes, want at least 1", classes)
	}
	for i := len(g.nodes) - 1; i >= 0; i-- {
		if fc, ok := g.nodes[i].op.(*linearOp); ok {
			fc.replace(classes, rng)
			g.headClasses = classes
			g.nodes[i].frozen = false
			g.updateNeedGrad()
			// The declared output shape no longer holds.
			return g.nodes[i].proto.Name, nil
		}
	}
	return "", fmt.Errorf("onnx: replace head: the graph has no Gemm or MatMul node")
}
