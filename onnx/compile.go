package onnx

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/residual-go/residual/tensor"
)

// compiler holds what node builders need: the constant tensors known at
// import time (initializers and Constant outputs) and the opset.
type compiler struct {
	konsts map[string]*tensor.Tensor
	opset  int64
	rng    *rand.Rand
}

// builders maps an ONNX operator type to the function compiling it.
var builders map[string]func(c *compiler, n *NodeProto) (op, error)

func init() {
	builders = map[string]func(c *compiler, n *NodeProto) (op, error){
		"Conv":               buildConv,
		"BatchNormalization": buildBN,
		"MaxPool":            buildPool,
		"AveragePool":        buildPool,
		"GlobalAveragePool":  buildGAP,
		"Gemm":               buildGemm,
		"MatMul":             buildMatMul,
		"Relu":               buildUnary,
		"LeakyRelu":          buildUnary,
		"Sigmoid":            buildUnary,
		"Clip":               buildUnary,
		"Add":                buildBinary,
		"Sub":                buildBinary,
		"Mul":                buildBinary,
		"Div":                buildBinary,
		"Concat":             buildConcat,
		"Flatten":            buildReshape,
		"Reshape":            buildReshape,
		"Transpose":          buildTranspose,
		"Softmax":            buildSoftmax,
		"Dropout":            buildDropout,
		"Identity":           buildIdentity,
		"Constant":           buildConstant,
		"Pad":                buildPad,
		"Shape":              buildShape,
		"PRelu":              buildPRelu,
		"Resize":             buildResize,
		"ReduceMean":         buildReduceMean,
	}
}

// minInputs is the number of leading inputs each operator requires.
var minInputs = map[string]int{
	"Conv": 2, "BatchNormalization": 5, "MaxPool": 1, "AveragePool": 1, "GlobalAveragePool": 1,
	"Gemm": 2, "MatMul": 2, "Relu": 1, "LeakyRelu": 1, "Sigmoid": 1, "Clip": 1,
	"Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Concat": 1, "Flatten": 1, "Reshape": 2,
	"Transpose": 1, "Shape": 1, "Softmax": 1, "Dropout": 1, "Identity": 1, "Constant": 0, "Pad": 1,
	"Cast": 1, "ConstantOfShape": 1, "Slice": 3, "Unsqueeze": 1, "Squeeze": 1, "Gather": 2,
	"Expand": 2, "PRelu": 2, "Resize": 1, "ReduceMean": 1,
}

// checkArity reports a missing required input of n.
func checkArity(n *NodeProto) error {
	want := minInputs[n.OpType]
	if len(n.Inputs) < want {
		return fmt.Errorf("%d inputs, want at least %d", len(n.Inputs), want)
	}
	for i := 0; i < want; i++ {
		if n.Inputs[i] == "" {
			return fmt.Errorf("required input %d is empty", i)
		}
	}
	if n.OpType == "Concat" {
		for i, in := range n.Inputs {
			if in == "" {
				return fmt.Errorf("input %d is empty", i)
			}
		}
	}
	return nil
}

// konst returns input i of n, which must be a constant known at import.
func (c *compiler) konst(n *NodeProto, i int, what string) (*tensor.Tensor, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, fmt.Errorf("missing input %d (%s)", i, what)
	}
	t, ok := c.konsts[n.Inputs[i]]
	if !ok {
		return nil, fmt.Errorf("input %d (%s) %q must be an initializer or Constant", i, what, n.Inputs[i])
	}
	return t, nil
}

// optKonst is konst for an optional input: nil when omitted.
func (c *compiler) optKonst(n *NodeProto, i int, what string) (*tensor.Tensor, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, nil
	}
	return c.konst(n, i, what)
}

func (c *compiler) random() *rand.Rand {
	if c.rng == nil {
		c.rng = rand.New(rand.NewPCG(1, 2))
	}
	return c.rng
}

func attrInt(n *NodeProto, name string, def int) int {
	if a := n.Attr(name); a != nil {
		return int(a.I)
	}
	return def
}

func attrFloat(n *NodeProto, name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.F
	}
	return def
}

func attrString(n *NodeProto, name, def string) string {
	if a := n.Attr(name); a != nil {
		return string(a.S)
	}
	return def
}

// attrInts returns the ints attribute, or nil when absent.
func attrInts(n *NodeProto, name string) []int {
	a := n.Attr(name)
	if a == nil {
		return nil
	}
	out := make([]int, len(a.Ints))
	for i, v := range a.Ints {
		out[i] = int(v)
	}
	return out
}

// layerName names an nn layer after its weight initializer: torchvision's
// "layer1.0.conv1.weight" gives "layer1.0.conv1", so the layer's
// parameters keep the initializer names.
func layerName(n *NodeProto, weightInput int) string {
	if weightInput < len(n.Inputs) {
		if w := n.Inputs[weightInput]; strings.HasSuffix(w, ".weight") {
			return strings.TrimSuffix(w, ".weight")
		}
		if w := n.Inputs[weightInput]; w != "" {
			return w
		}
	}
	return n.Name
}

// normAxis maps a possibly negative axis into [0,rank).
func normAxis(axis, rank int) (int, error) {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return axis, nil
}

// checkShape reports whether the input shape changed since the last call
// and remembers it: ops validate shapes only when they change.
func checkShape(last *[]int, s []int) bool {
	if tensor.SameShape(*last, s) {
		return false
	}
	*last = append((*last)[:0], s...)
	return true
}
