package onnx

import "fmt"

// maxRunElems bounds every tensor an operator sizes at run time from its
// attributes (Pad's pads, Resize's scales, a convolution's or pooling's
// padding and output), so that a few bytes of a crafted file cannot ask
// for an absurd allocation (or overflow the size computation): such a
// node fails with an error instead. The fuzz target lowers it to keep
// each input cheap.
var maxRunElems = maxTensorElems

// checkRunShape reports a shape holding more than maxRunElems elements
// (or a negative dimension), before anything is allocated.
func checkRunShape(what string, shape ...int) error {
	n := 1
	for _, d := range shape {
		if d < 0 || d > 0 && n > maxRunElems/d {
			return fmt.Errorf("%s would have shape %v: more than %d elements", what, shape, maxRunElems)
		}
		n *= d
	}
	return nil
}

// checkPadded checks the padded copy of an (N,H,W,C) tensor.
func checkPadded(shape []int, p [4]int) error {
	return checkRunShape("the padded input", shape[0], shape[1]+p[0]+p[2], shape[2]+p[1]+p[3], shape[3])
}

// foldBudget is how many elements constant folding may make in all: at
// most the size of the constants the file holds (initializers, Constant
// values: raw bytes or listed values) plus maxFoldElems. A few bytes of shape computations (ConstantOfShape,
// Expand) cannot then ask for gigabytes.
func foldBudget(gp *GraphProto) int {
	n := maxFoldElems
	add := func(t *TensorProto) {
		if t == nil {
			return
		}
		// What the file holds, not what the dims claim.
		n += len(t.RawData) + len(t.FloatData) + len(t.Int64Data) + len(t.Int32Data) + len(t.DoubleData)
	}
	for _, t := range gp.Initializers {
		add(t)
	}
	for _, nd := range gp.Nodes {
		if nd.OpType == "Constant" {
			for _, a := range nd.Attrs {
				add(a.T)
			}
		}
	}
	return n
}
