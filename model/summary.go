package model

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// LayerInfo describes one layer of a network for a summary.
type LayerInfo struct {
	Name   string
	Kind   string
	Output []int // output shape for batch 1
	Params int
	// FLOPs counts 2 per multiply-add of convolutions and fully connected
	// layers, per image (the usual convention; normalisation, activations
	// and additions are left out).
	FLOPs int64
}

// Summary lists every layer with its output shape, parameter count and
// FLOPs for one image, like Keras' model.summary().
func (m *Net) Summary() []LayerInfo {
	var out []LayerInfo
	shape := m.InputShape(1)
	var walk func(l nn.Layer, in []int) []int
	walk = func(l nn.Layer, in []int) []int {
		switch b := l.(type) {
		case *Block:
			o := in
			for _, s := range b.branch {
				o = walk(s, o)
			}
			sc := in
			for _, s := range b.shortcut {
				sc = walk(s, sc)
			}
			return o
		case *PreActBlock:
			p := walk(b.BN1, in)
			o := p
			for _, s := range b.branch {
				o = walk(s, o)
			}
			switch {
			case b.Downsample != nil:
				walk(b.Downsample.Conv, p)
			case b.Pool != nil:
				walk(b.Pool, in)
			}
			return o
		}
		o, err := l.OutShape(in)
		if err != nil { // cannot happen: New checked every shape
			panic(err)
		}
		info := LayerInfo{Name: layerName(l), Kind: strings.TrimPrefix(fmt.Sprintf("%T", l), "*nn."), Output: o}
		for _, p := range l.Params() {
			info.Params += p.Value.Len()
		}
		switch c := l.(type) {
		case *nn.Conv2D:
			w := c.Weight.Value.Shape // (Cout,KH,KW,Cin)
			info.FLOPs = 2 * int64(o[1]*o[2]) * int64(w[0]*w[1]*w[2]*w[3])
		case *nn.Linear:
			info.FLOPs = 2 * int64(c.Weight.Value.Len())
		}
		out = append(out, info)
		return o
	}
	for _, l := range m.layers {
		shape = walk(l, shape)
	}
	return out
}

func layerName(l nn.Layer) string {
	if n, ok := l.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", l)
}

// FLOPs is the forward cost of one image (see LayerInfo.FLOPs).
func (m *Net) FLOPs() int64 {
	var f int64
	for _, l := range m.Summary() {
		f += l.FLOPs
	}
	return f
}

// Outline is the network as Keras' model.summary() shows a composed
// model (the paper's Figure 4): the input adapter, the ResNet backbone as
// one row (stem to the final BN; Keras' "resnet152v2" Functional), the
// pooling, and each layer of the head. Params are Keras' counts: learnable
// values plus BN moving means and variances.
func (m *Net) Outline() []LayerInfo {
	rows := []LayerInfo{{Name: "input", Kind: "Input", Output: m.InputShape(1)}}
	shape := m.InputShape(1)
	backbone := -1 // index of the backbone's row while in it
	for _, l := range m.layers {
		o, err := l.OutShape(shape)
		if err != nil { // cannot happen: New checked every shape
			panic(err)
		}
		n := kerasParams(l)
		switch l.(type) {
		case *nn.Conv2D, *nn.BatchNorm2D, *nn.MaxPool2D, *Block, *PreActBlock:
			if !isAdapter(l) {
				if backbone < 0 {
					rows = append(rows, LayerInfo{Name: "resnet", Kind: "ResNet"})
					backbone = len(rows) - 1
				}
				rows[backbone].Output, rows[backbone].Params = o, rows[backbone].Params+n
				shape = o
				continue
			}
		case *nn.ReLU, *nn.Dropout:
			shape = o
			continue // Keras folds activations into Dense
		}
		rows = append(rows, LayerInfo{Name: layerName(l), Kind: strings.TrimPrefix(fmt.Sprintf("%T", l), "*nn."), Output: o, Params: n})
		backbone = -1
		shape = o
	}
	return rows
}

// kerasParams counts a layer's parameters as Keras does: learnable values
// plus BN moving means and variances (not PyTorch's num_batches_tracked).
func kerasParams(l nn.Layer) int {
	n := 0
	for _, p := range l.Params() {
		n += p.Value.Len()
	}
	for _, b := range l.Buffers() {
		if strings.HasSuffix(b.Name, ".running_mean") || strings.HasSuffix(b.Name, ".running_var") {
			n += b.Value.Len()
		}
	}
	return n
}

func isAdapter(l nn.Layer) bool { return layerName(l) == "adapter" }

// ParamCounts returns the trainable values and Keras' total (with BN
// moving statistics), for the whole network and for the ResNet backbone
// alone: stem to final BN, without the input adapter, pooling, head and
// classifier (Keras' ResNet152V2(include_top=False)).
func (m *Net) ParamCounts() (trainable, total, backboneTrainable, backboneTotal int) {
	top := false
	for _, l := range m.layers {
		switch l.(type) {
		case *nn.GlobalAvgPool, *nn.Flatten:
			top = true
		}
		n := 0
		for _, p := range l.Params() {
			n += p.Value.Len()
		}
		k := kerasParams(l)
		trainable, total = trainable+n, total+k
		if !top && !isAdapter(l) {
			backboneTrainable, backboneTotal = backboneTrainable+n, backboneTotal+k
		}
	}
	return
}

// WriteSummary prints the summary table, the outline and the totals.
func (m *Net) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\ttype\toutput shape\tparams\tMFLOPs\t")
	var params int
	var flops int64
	for _, l := range m.Summary() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t\n", l.Name, l.Kind, tensor.ShapeString(l.Output), l.Params, float64(l.FLOPs)/1e6)
		params += l.Params
		flops += l.FLOPs
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\noutline (as Keras' summary of the composed model; params with BN moving statistics)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, l := range m.Outline() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", l.Name, l.Kind, tensor.ShapeString(l.Output), commas(l.Params))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	buffers := 0
	for _, b := range m.Buffers() {
		buffers += b.Value.Len()
	}
	_, total, bbTrainable, bbTotal := m.ParamCounts()
	_, err := fmt.Fprintf(w, "\ninput (N,%d,%d,%d), %d classes\ntrainable parameters: %d\nbuffers (BN running statistics): %d\n"+
		"Keras count: %s parameters (%s trainable); ResNet backbone without the top: %s parameters (%s trainable)\n"+
		"forward: %.1f MFLOP per image (2 per multiply-add, convolutions and linear layers)\n",
		m.Config.Input[0], m.Config.Input[1], m.Config.Input[2], m.Config.Classes, params, buffers,
		commas(total), commas(params), commas(bbTotal), commas(bbTrainable), float64(flops)/1e6)
	return err
}

// commas formats n with thousands separators, as Keras prints counts.
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
