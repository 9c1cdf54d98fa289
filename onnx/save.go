package onnx

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// Save writes the graph back as an ONNX model with its current weights
// (after fine-tuning, or with a replaced head): the original file's nodes
// with every initializer that a trainable op reads overwritten in ONNX
// layout (Conv OIHW, Gemm with transB=1, alpha=beta=1, MatMul (In,Out)).
// When classes is not nil it replaces the "classes" metadata, and pre
// the "preprocess" metadata.
func (g *Graph) Save(w io.Writer, classes []string, pre *vision.Preprocess) error {
	m, err := g.ModelProto(classes, pre)
	if err != nil {
		return err
	}
	return WriteModel(w, m)
}

// ModelProto returns the model that Save writes.
func (g *Graph) ModelProto(classes []string, pre *vision.Preprocess) (*ModelProto, error) {
	src := g.Model
	m := *src
	gp := *src.Graph
	m.Graph = &gp
	gp.Initializers = slices.Clone(src.Graph.Initializers)
	gp.Nodes = make([]*NodeProto, len(src.Graph.Nodes))
	for i, n := range src.Graph.Nodes {
		c := *n
		c.Inputs = slices.Clone(n.Inputs)
		c.Attrs = slices.Clone(n.Attrs)
		gp.Nodes[i] = &c
	}
	gp.ValueInfo = nil // intermediate shapes may no longer hold
	byName := map[string]int{}
	for i, t := range gp.Initializers {
		byName[t.Name] = i
	}
	put := func(t *TensorProto) {
		if i, ok := byName[t.Name]; ok {
			gp.Initializers[i] = t
			return
		}
		byName[t.Name] = len(gp.Initializers)
		gp.Initializers = append(gp.Initializers, t)
	}
	// Node names need not be unique: map the original nodes to copies.
	copyOf := map[*NodeProto]*NodeProto{}
	for i, n := range src.Graph.Nodes {
		copyOf[n] = gp.Nodes[i]
	}
	for _, gn := range g.nodes {
		s, ok := gn.op.(saver)
		if !ok {
			continue
		}
		n := copyOf[gn.proto]
		if n == nil {
			return nil, fmt.Errorf("onnx: save: node %q is missing from the model", gn.proto.Name)
		}
		if err := s.save(n, put); err != nil {
			return nil, fmt.Errorf("onnx: save: node %q: %w", n.Name, err)
		}
	}
	// The output's class dimension follows a replaced head.
	if len(gp.Outputs) > 0 {
		out := *gp.Outputs[0]
		if len(out.Shape) > 0 {
			out.Shape = slices.Clone(out.Shape)
			if g.headClasses > 0 {
				out.Shape[len(out.Shape)-1] = Dim{Value: int64(g.headClasses)}
			}
		}
		gp.Outputs = append([]*ValueInfo{&out}, gp.Outputs[1:]...)
	}
	meta := slices.Clone(src.Metadata)
	set := func(k, v string) {
		for i := range meta {
			if meta[i].Key == k {
				meta[i].Value = v
				return
			}
		}
		meta = append(meta, StringPair{k, v})
	}
	if classes != nil {
		b, err := json.Marshal(classes)
		if err != nil {
			return nil, err
		}
		set(MetaClasses, string(b))
	}
	if pre != nil {
		b, err := json.Marshal(pre)
		if err != nil {
			return nil, err
		}
		set(MetaPreproc, string(b))
	}
	m.Metadata = meta
	return &m, nil
}

// saver is an op whose weights Save writes back.
type saver interface {
	save(n *NodeProto, put func(*TensorProto)) error
}

func setAttr(n *NodeProto, a *AttributeProto) {
	for i, b := range n.Attrs {
		if b.Name == a.Name {
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

func (o *convOp) save(n *NodeProto, put func(*TensorProto)) error {
	switch l := o.layer.(type) {
	case *depthwiseConv:
		c, kh, kw := l.c, l.kh, l.kw
		w := make([]float32, c*kh*kw)
		for ch := 0; ch < c; ch++ {
			for i := 0; i < kh*kw; i++ {
				w[ch*kh*kw+i] = l.Weight.Value.Data[i*c+ch]
			}
		}
		put(FloatTensor(n.Inputs[1], []int{c, 1, kh, kw}, w))
		if l.Bias != nil {
			put(FloatTensor(n.Inputs[2], []int{c}, l.Bias.Value.Data))
		}
	default:
		p := o.layer.Params()
		wt := p[0].Value
		o2, kh, kw, i2 := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
		put(FloatTensor(n.Inputs[1], []int{o2, i2, kh, kw}, permute(nil, wt, []int{0, 3, 1, 2}).Data))
		if len(p) > 1 {
			put(FloatTensor(n.Inputs[2], []int{o2}, p[1].Value.Data))
		}
	}
	return nil
}

func (o *bnOp) save(n *NodeProto, put func(*TensorProto)) error {
	for i, t := range []*tensor.Tensor{o.bn.Weight.Value, o.bn.Bias.Value, o.bn.RunningMean.Value, o.bn.RunningVar.Value} {
		put(FloatTensor(n.Inputs[i+1], []int{t.Len()}, t.Data))
	}
	return nil
}

func (o *linearOp) save(n *NodeProto, put func(*TensorProto)) error {
	cfg := o.fc.Config()
	w := o.fc.Weight.Value
	if n.OpType == "MatMul" {
		if o.fc.Bias != nil && !o.fusedBias {
			return fmt.Errorf("a MatMul cannot hold a bias")
		}
		put(FloatTensor(n.Inputs[1], []int{cfg.In, cfg.Out}, permute(nil, w, []int{1, 0}).Data))
		return nil
	}
	put(FloatTensor(n.Inputs[1], []int{cfg.Out, cfg.In}, w.Data))
	setAttr(n, &AttributeProto{Name: "transB", Type: AttrInt, I: 1})
	setAttr(n, &AttributeProto{Name: "alpha", Type: AttrFloat, F: 1})
	setAttr(n, &AttributeProto{Name: "beta", Type: AttrFloat, F: 1})
	if o.fc.Bias != nil {
		if len(n.Inputs) < 3 || n.Inputs[2] == "" {
			n.Inputs = append(n.Inputs[:2], o.fc.Bias.Name)
		}
		put(FloatTensor(n.Inputs[2], []int{cfg.Out}, o.fc.Bias.Value.Data))
	}
	return nil
}
