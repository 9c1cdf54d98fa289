package onnx

import (
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// fuseBiases gives a MatMul the bias that the next node adds: exporters
// write a dense layer as MatMul followed by Add of a constant vector.
// The linear op then owns the bias as a trainable parameter (named after
// the constant), the Add becomes a pass-through, and ReplaceHead can
// resize both at once. The pattern must be exact: the MatMul's output
// feeds only that Add, and the constant has one value per output.
func (g *Graph) fuseBiases(c *compiler) {
	consumers := g.consumers()
	for _, n := range g.nodes {
		lin, ok := n.op.(*linearOp)
		if !ok || n.proto.OpType != "MatMul" || lin.fc.Bias != nil || n.out == g.output || len(consumers[n.out]) != 1 {
			continue
		}
		add := g.nodes[consumers[n.out][0]]
		if add.proto.OpType != "Add" || len(add.in) != 2 {
			continue
		}
		k := 1
		if add.in[1] == n.out {
			k = 0
		}
		if add.in[1-k] != n.out {
			continue
		}
		name := add.proto.Inputs[k]
		b, ok := c.konsts[name]
		out := lin.fc.Config().Out
		if !ok || b.Len() != out || (len(b.Shape) == 2 && b.Shape[0] != 1) || len(b.Shape) > 2 {
			continue
		}
		cfg := lin.fc.Config()
		fc := nn.NewLinear(lin.fc.Name(), nn.LinearConfig{In: cfg.In, Out: cfg.Out}, c.random())
		copy(fc.Weight.Value.Data, lin.fc.Weight.Value.Data)
		copy(fc.Bias.Value.Data, b.Data)
		fc.Bias.Name = name
		lin.fc = fc
		lin.fusedBias = true
		add.op = &fusedBiasOp{lin: lin, shape: append([]int(nil), b.Shape...), k: 1 - k}
	}
}

// fusedBiasOp is an Add whose constant was moved into the preceding
// MatMul: it passes the MatMul's output through, and Save writes the
// bias back to the constant.
type fusedBiasOp struct {
	lin   *linearOp
	shape []int
	k     int // the input that carries the activation
	out   value
	dxs   [2]*tensor.Tensor
}

func (o *fusedBiasOp) forward(in []*value, train bool) (*value, error) {
	o.out = *in[o.k]
	return &o.out, nil
}

func (o *fusedBiasOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[o.k], o.dxs[1-o.k] = dy, nil
	return o.dxs[:], nil
}

func (o *fusedBiasOp) save(n *NodeProto, put func(*TensorProto)) error {
	b := o.lin.fc.Bias.Value
	shape := o.shape
	if len(shape) == 2 {
		shape = []int{1, b.Len()}
	} else {
		shape = []int{b.Len()}
	}
	put(FloatTensor(n.Inputs[1-o.k], shape, b.Data))
	return nil
}

// consumers maps each value slot to the nodes that read it.
func (g *Graph) consumers() map[int][]int {
	consumers := map[int][]int{}
	for j, n := range g.nodes {
		for _, s := range n.in {
			if s >= 0 {
				consumers[s] = append(consumers[s], j)
			}
		}
	}
	return consumers
}

// fuseBNRelu folds a Relu that alone follows a BatchNormalization into
// the BN (nn.BatchNorm2D's fused ReLU): one pass over the activations
// instead of two, forward and backward. The Relu node passes through.
func (g *Graph) fuseBNRelu() {
	consumers := g.consumers()
	for _, n := range g.nodes {
		b, ok := n.op.(*bnOp)
		if !ok || n.out == g.output || len(consumers[n.out]) != 1 || b.bn.Config().ReLU {
			continue
		}
		r := g.nodes[consumers[n.out][0]]
		if r.proto.OpType != "Relu" {
			continue
		}
		cfg := b.bn.Config()
		cfg.ReLU = true
		bn := nn.NewBatchNorm2D(b.bn.Name(), cfg)
		for i, p := range b.bn.Params() {
			copy(bn.Params()[i].Value.Data, p.Value.Data)
		}
		for i, p := range b.bn.Buffers() {
			copy(bn.Buffers()[i].Value.Data, p.Value.Data)
		}
		b.bn = bn
		r.op = &passOp{}
	}
}

// fuseConvBN lets a Conv whose output only a BatchNormalization reads run
// both as one convolution in inference: nn.ConvBN folds the BN's scale
// and shift into the weights (again whenever either layer's parameters
// change) and applies the BN's ReLU in the epilogue. The BN then passes
// the Conv's output through. In training they stay two layers.
func (g *Graph) fuseConvBN() {
	consumers := g.consumers()
	for _, n := range g.nodes {
		c, ok := n.op.(*convOp)
		if !ok || n.out == g.output || len(consumers[n.out]) != 1 {
			continue
		}
		conv, ok := c.layer.(*nn.Conv2D)
		if !ok {
			continue
		}
		b, ok := g.nodes[consumers[n.out][0]].op.(*bnOp)
		if !ok {
			continue
		}
		f, err := nn.NewConvBN(conv, b.bn, b.bn.Config().ReLU)
		if err != nil {
			continue
		}
		c.fused, c.fusedBN = f, b
	}
}

// passOp is a node whose work another op has taken over: it passes its
// first input through.
type passOp struct {
	out value
	dxs [1]*tensor.Tensor
}

func (o *passOp) forward(in []*value, train bool) (*value, error) {
	o.out = *in[0]
	return &o.out, nil
}

func (o *passOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs[0] = dy
	return o.dxs[:], nil
}
