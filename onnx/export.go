package onnx

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/vision"
)

// Names of the exported graph's input and output, and the metadata keys.
const (
	InputName   = "input"      // (N,C,H,W) float, preprocessed as in MetaPreprocess
	OutputName  = "logits"     // (N,classes)
	MetaClasses = "classes"    // JSON array of class names
	MetaPreproc = "preprocess" // JSON vision.Preprocess
	MetaConfig  = "residual.config"
	exportOpset = 13
	exportIR    = 7 // the IR version that goes with opset 13
)

// Export writes net as an ONNX opset-13 model: input "input" (N,C,H,W),
// output "logits" (N,classes). Weights are converted from the project's
// layouts (convolutions OHWI -> OIHW); BatchNorm stays BatchNormalization
// (inference form, running statistics), residual joins are Add (+ Relu
// for v1), pooling is GlobalAveragePool (or Transpose+Flatten for
// Pool="flatten", which keeps our (H,W,C) feature order so the following
// Gemm weights are unchanged), and fully connected layers are Gemm with
// transB=1. The class names and pre (JSON) go into metadata_props.
func Export(w io.Writer, net *model.Net, classes []string, pre vision.Preprocess) error {
	m, err := ExportModel(net, classes, pre)
	if err != nil {
		return err
	}
	return WriteModel(w, m)
}

// ExportModel builds the ModelProto that Export writes.
func ExportModel(net *model.Net, classes []string, pre vision.Preprocess) (*ModelProto, error) {
	cfg := net.Config
	if len(classes) != 0 && len(classes) != cfg.Classes {
		return nil, fmt.Errorf("onnx: export: %d class names %v for a network with %d outputs", len(classes), classes, cfg.Classes)
	}
	b := &exporter{g: &GraphProto{Name: "residual"}, state: map[string]*nn.Param{}}
	for _, p := range net.State() {
		b.state[p.Name] = p
	}
	h, w, c := cfg.Input[0], cfg.Input[1], cfg.Input[2]
	x := InputName
	shape := []int{1, h, w, c} // NHWC shape, to follow strides through blocks
	for _, l := range net.Layers() {
		var err error
		x, err = b.layer(l, x, shape)
		if err != nil {
			return nil, fmt.Errorf("onnx: export: %w", err)
		}
		if shape, err = l.OutShape(shape); err != nil {
			return nil, fmt.Errorf("onnx: export: %w", err)
		}
	}
	// Rename the last value to "logits".
	last := b.g.Nodes[len(b.g.Nodes)-1]
	last.Outputs[0] = OutputName
	b.g.Inputs = []*ValueInfo{{Name: InputName, ElemType: TypeFloat, Shape: []Dim{{Param: "N"}, {Value: int64(c)}, {Value: int64(h)}, {Value: int64(w)}}}}
	b.g.Outputs = []*ValueInfo{{Name: OutputName, ElemType: TypeFloat, Shape: []Dim{{Param: "N"}, {Value: int64(cfg.Classes)}}}}

	m := &ModelProto{
		IRVersion:    exportIR,
		Opsets:       []OpsetID{{Version: exportOpset}},
		ProducerName: "residual",
		Graph:        b.g,
		DocString:    "ResNet exported by residual; input is (N,C,H,W) preprocessed as in metadata 'preprocess'",
	}
	cj, err := json.Marshal(classes)
	if err != nil {
		return nil, err
	}
	pj, err := json.Marshal(pre)
	if err != nil {
		return nil, err
	}
	mj, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if len(classes) > 0 {
		m.Metadata = append(m.Metadata, StringPair{MetaClasses, string(cj)})
	}
	m.Metadata = append(m.Metadata, StringPair{MetaPreproc, string(pj)}, StringPair{MetaConfig, string(mj)})
	return m, nil
}

// exporter appends nodes and initializers to a graph.
type exporter struct {
	g     *GraphProto
	state map[string]*nn.Param
}

// node adds a node named name whose single output is also called name.
func (b *exporter) node(op, name string, inputs []string, attrs ...*AttributeProto) string {
	b.g.Nodes = append(b.g.Nodes, &NodeProto{Name: name, OpType: op, Inputs: inputs, Outputs: []string{name}, Attrs: attrs})
	return name
}

func intsAttr(name string, v ...int) *AttributeProto {
	a := &AttributeProto{Name: name, Type: AttrInts}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}

func intAttr(name string, v int) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttrInt, I: int64(v)}
}

func floatAttr(name string, v float32) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttrFloat, F: v}
}

// param adds the named parameter as an initializer (same name, same
// layout) and returns its name.
func (b *exporter) param(name string) (string, error) {
	p, ok := b.state[name]
	if !ok {
		return "", fmt.Errorf("the network has no tensor %q", name)
	}
	b.g.Initializers = append(b.g.Initializers, FloatTensor(name, p.Value.Shape, p.Value.Data))
	return name, nil
}

// conv adds a Conv node for the convolution called name (weight
// "<name>.weight" in OHWI, optional "<name>.bias").
func (b *exporter) conv(x, name string, stride, pad int) (string, error) {
	p, ok := b.state[name+".weight"]
	if !ok || len(p.Value.Shape) != 4 {
		return "", fmt.Errorf("convolution %q: no 4-D weight %q", name, name+".weight")
	}
	o, kh, kw, i := p.Value.Shape[0], p.Value.Shape[1], p.Value.Shape[2], p.Value.Shape[3]
	// OHWI -> OIHW
	src := p.Value.Data
	dst := make([]float32, len(src))
	for oc := 0; oc < o; oc++ {
		for y := 0; y < kh; y++ {
			for xx := 0; xx < kw; xx++ {
				for ic := 0; ic < i; ic++ {
					dst[((oc*i+ic)*kh+y)*kw+xx] = src[((oc*kh+y)*kw+xx)*i+ic]
				}
			}
		}
	}
	b.g.Initializers = append(b.g.Initializers, FloatTensor(name+".weight", []int{o, i, kh, kw}, dst))
	inputs := []string{x, name + ".weight"}
	if _, ok := b.state[name+".bias"]; ok {
		bias, _ := b.param(name + ".bias")
		inputs = append(inputs, bias)
	}
	return b.node("Conv", name, inputs,
		intsAttr("kernel_shape", kh, kw), intsAttr("strides", stride, stride),
		intsAttr("pads", pad, pad, pad, pad), intsAttr("dilations", 1, 1), intAttr("group", 1)), nil
}

// bn adds BatchNormalization (inference) for l, and a Relu after it when
// its ReLU is fused. ONNX's momentum weighs the running statistic, one
// minus PyTorch's (and our) convention.
func (b *exporter) bn(x string, l *nn.BatchNorm2D) (string, error) {
	name, c := l.Name(), l.Config()
	inputs := []string{x}
	for _, s := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
		in, err := b.param(name + s)
		if err != nil {
			return "", fmt.Errorf("batch norm %q: %w", name, err)
		}
		inputs = append(inputs, in)
	}
	y := b.node("BatchNormalization", name, inputs, floatAttr("epsilon", c.Eps), floatAttr("momentum", 1-c.Momentum))
	if c.ReLU {
		y = b.node("Relu", name+".relu", []string{y})
	}
	return y, nil
}

// layer adds the nodes of one top-level layer; in is its NHWC input shape
// for batch 1.
func (b *exporter) layer(l nn.Layer, x string, in []int) (string, error) {
	switch l := l.(type) {
	case *nn.Conv2D:
		c := l.Config()
		return b.conv(x, l.Name(), c.Stride, c.Padding)
	case *nn.BatchNorm2D:
		return b.bn(x, l)
	case *nn.MaxPool2D:
		c := l.Config()
		pad := c.Padding
		if c.ZeroPad && pad > 0 { // Keras' ZeroPadding2D + MaxPooling2D: Pad with zeros, then pool
			p := int64(pad)
			b.g.Initializers = append(b.g.Initializers, Int64Tensor(l.Name()+".pads", []int{8}, []int64{0, 0, p, p, 0, 0, p, p}))
			x = b.node("Pad", l.Name()+".pad", []string{x, l.Name() + ".pads"}, &AttributeProto{Name: "mode", Type: AttrString, S: []byte("constant")})
			pad = 0
		}
		return b.node("MaxPool", l.Name(), []string{x}, intsAttr("kernel_shape", c.Kernel, c.Kernel),
			intsAttr("strides", c.Stride, c.Stride), intsAttr("pads", pad, pad, pad, pad)), nil
	case *nn.AvgPool2D:
		c := l.Config()
		return b.node("AveragePool", l.Name(), []string{x}, intsAttr("kernel_shape", c.Kernel, c.Kernel),
			intsAttr("strides", c.Stride, c.Stride), intsAttr("pads", c.Padding, c.Padding, c.Padding, c.Padding),
			intAttr("count_include_pad", 1)), nil
	case *nn.GlobalAvgPool:
		y := b.node("GlobalAveragePool", l.Name(), []string{x})
		return b.node("Flatten", l.Name()+".flatten", []string{y}, intAttr("axis", 1)), nil
	case *nn.Flatten:
		// Our Flatten keeps the (H,W,C) order of NHWC: transpose the NCHW
		// tensor to NHWC first so the following Gemm sees the same order.
		if len(in) == 4 {
			x = b.node("Transpose", l.Name()+".nhwc", []string{x}, intsAttr("perm", 0, 2, 3, 1))
		}
		return b.node("Flatten", l.Name(), []string{x}, intAttr("axis", 1)), nil
	case *nn.Linear:
		w, err := b.param(l.Name() + ".weight")
		if err != nil {
			return "", err
		}
		inputs := []string{x, w}
		if l.Bias != nil {
			bias, _ := b.param(l.Name() + ".bias")
			inputs = append(inputs, bias)
		}
		return b.node("Gemm", l.Name(), inputs, intAttr("transB", 1)), nil
	case *nn.ReLU:
		return b.node("Relu", l.Name(), []string{x}), nil
	case *nn.Dropout:
		return x, nil // inference: identity
	case *model.Block, *model.PreActBlock:
		return b.block(l, x, in)
	}
	return "", fmt.Errorf("layer %T cannot be exported", l)
}

// block adds a residual block from its structure (model.Block and
// model.PreActBlock expose their layers as torchvision-named fields, with
// the strides and paddings in each convolution's configuration).
func (b *exporter) block(l nn.Layer, x string, in []int) (string, error) {
	// chain adds layers one after the other.
	chain := func(x string, layers ...nn.Layer) (string, error) {
		shape := in
		for _, l := range layers {
			var err error
			if x, err = b.layer(l, x, shape); err != nil {
				return "", err
			}
			if shape, err = l.OutShape(shape); err != nil {
				return "", err
			}
		}
		return x, nil
	}
	switch blk := l.(type) {
	case *model.Block:
		// out = relu(branch(x) + (downsample(x) or x))
		y, err := chain(x, blk.Branch()...)
		if err != nil {
			return "", err
		}
		short := x
		if blk.Downsample != nil {
			if short, err = chain(x, blk.Downsample.Layers()...); err != nil {
				return "", err
			}
		}
		sum := b.node("Add", blk.Name()+".add", []string{y, short})
		return b.node("Relu", blk.Name()+".relu", []string{sum}), nil
	case *model.PreActBlock:
		// p = relu(bn1(x)); out = branch(p) + (downsample(p) or pool(x) or x)
		p, err := chain(x, blk.BN1)
		if err != nil {
			return "", err
		}
		y, err := chain(p, blk.Branch()...)
		if err != nil {
			return "", err
		}
		short := x
		switch {
		case blk.Downsample != nil:
			short, err = chain(p, blk.Downsample.Conv)
		case blk.Pool != nil:
			short, err = chain(x, blk.Pool)
		}
		if err != nil {
			return "", err
		}
		return b.node("Add", blk.Name()+".add", []string{y, short}), nil
	}
	return "", fmt.Errorf("layer %T is not a residual block", l)
}

// Classes returns the class names stored in the model's metadata (nil
// when absent).
func (m *ModelProto) Classes() ([]string, error) {
	s, ok := m.Meta(MetaClasses)
	if !ok {
		return nil, nil
	}
	var c []string
	if err := json.NewDecoder(strings.NewReader(s)).Decode(&c); err != nil {
		return nil, fmt.Errorf("onnx: metadata %q is not a JSON list of strings: %w", MetaClasses, err)
	}
	return c, nil
}

// Preprocess returns the preprocessing stored in the model's metadata
// and whether it was present.
func (m *ModelProto) Preprocess() (vision.Preprocess, bool, error) {
	var p vision.Preprocess
	s, ok := m.Meta(MetaPreproc)
	if !ok {
		return p, false, nil
	}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return p, true, fmt.Errorf("onnx: metadata %q is not a JSON preprocessing: %w", MetaPreproc, err)
	}
	return p, true, nil
}

// ExportFile exports the project model file at modelPath (model.Load),
// with its class names and preprocessing, to w.
func ExportFile(w io.Writer, modelPath string) error {
	net, meta, err := model.Load(modelPath)
	if err != nil {
		return err
	}
	return Export(w, net, meta.Classes, meta.Preprocess)
}
