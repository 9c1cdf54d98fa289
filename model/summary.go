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
			p := walk(b.preact, in)
			o := p
			for _, s := range b.branch {
				o = walk(s, o)
			}
			if b.shortcut != nil {
				walk(b.shortcut, p)
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

// WriteSummary prints the summary table and totals.
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
	buffers := 0
	for _, b := range m.Buffers() {
		buffers += b.Value.Len()
	}
	_, err := fmt.Fprintf(w, "\ninput (N,%d,%d,%d), %d classes\ntrainable parameters: %d\nbuffers (BN running statistics): %d\nforward: %.1f MFLOP per image (2 per multiply-add, convolutions and linear layers)\n",
		m.Config.Input[0], m.Config.Input[1], m.Config.Input[2], m.Config.Classes, params, buffers, float64(flops)/1e6)
	return err
}
