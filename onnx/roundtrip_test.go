package onnx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// relDiff is max|a-b| / max(max|b|, 1e-3).
func relDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, ref float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		ref = math.Max(ref, math.Abs(float64(b[i])))
	}
	if math.IsNaN(d) {
		return math.Inf(1)
	}
	return d / math.Max(ref, 1e-3)
}

func randomInput(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

// perturbBN gives every BN non-trivial running statistics and affine
// parameters, so that an export that ignored them would fail.
func perturbBN(net *model.Net, rng *rand.Rand) {
	for _, p := range net.State() {
		switch {
		case hasSuffix(p.Name, ".running_mean"), hasSuffix(p.Name, ".bias") && len(p.Value.Shape) == 1:
			for i := range p.Value.Data {
				p.Value.Data[i] = float32(0.2 * rng.NormFloat64())
			}
		case hasSuffix(p.Name, ".running_var"):
			for i := range p.Value.Data {
				p.Value.Data[i] = float32(0.5 + rng.Float64())
			}
		case hasSuffix(p.Name, ".weight") && len(p.Value.Shape) == 1:
			for i := range p.Value.Data {
				p.Value.Data[i] = float32(0.5 + rng.Float64())
			}
		}
	}
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// roundTripConfigs cover both versions, both blocks, both stems, the
// flatten pooling, a hidden head, an input adapter and dropout.
var roundTripConfigs = map[string]model.Config{
	"v1-basic-small":    {Block: "basic", Layers: []int{1, 1}, Widths: []int{8, 16}, Input: [3]int{16, 16, 1}, Classes: 7},
	"v1-bottleneck-in":  {Block: "bottleneck", Layers: []int{1, 2}, Widths: []int{4, 8}, Stem: "imagenet", Input: [3]int{32, 32, 3}, Classes: 5},
	"v2-basic-flatten":  {Version: 2, Block: "basic", Layers: []int{1, 1}, Widths: []int{4, 8}, Pool: "flatten", Head: []int{12}, Dropout: 0.3, InputAdapter: 3, Input: [3]int{12, 12, 1}, Classes: 4},
	"v2-bottleneck-big": {Version: 2, Block: "bottleneck", Layers: []int{2, 1}, Widths: []int{4, 8}, Stem: "imagenet", Input: [3]int{24, 24, 3}, Classes: 3},
	// Keras' layout: biases, max-pool shortcuts, the zero-padded stem
	// max-pool (odd sizes: 21 -> 11 -> 6 -> 3), and the paper's head.
	"v2-keras-odd":   {Version: 2, Layout: model.LayoutKeras, Block: "bottleneck", Layers: []int{3, 2, 2}, Widths: []int{4, 8, 8}, Stem: "imagenet", Input: [3]int{21, 21, 3}, Classes: 3},
	"v2-keras-paper": {Version: 2, Layout: model.LayoutKeras, Block: "bottleneck", Layers: []int{2, 2}, Widths: []int{4, 8}, Stem: "imagenet", InputAdapter: 3, Pool: "flatten", Head: []int{6}, Input: [3]int{32, 32, 1}, Classes: 4},
	// Strided stages on odd sizes with the ImageNet stem (issue 9 item 7:
	// a stride derived from input/output sizes came out 1): four stages
	// as resnet18's, at 5, 7, 25 and 48 px (48 -> 24 -> 12 -> 12 -> 6 -> 3 -> 2).
	"v1-basic-odd5":  {Block: "basic", Layers: []int{1, 1, 1, 1}, Widths: []int{4, 4, 8, 8}, Stem: "imagenet", Input: [3]int{5, 5, 1}, Classes: 3},
	"v1-basic-odd7":  {Block: "basic", Layers: []int{1, 1, 1, 1}, Widths: []int{4, 4, 8, 8}, Stem: "imagenet", Input: [3]int{7, 7, 1}, Classes: 3},
	"v1-basic-odd25": {Block: "basic", Layers: []int{1, 1, 1, 1}, Widths: []int{4, 4, 8, 8}, Stem: "imagenet", Input: [3]int{25, 25, 3}, Classes: 3},
	"v1-basic-48":    {Block: "basic", Layers: []int{2, 2, 2, 2}, Widths: []int{4, 8, 8, 16}, Stem: "imagenet", Input: [3]int{48, 48, 1}, Classes: 7},
	"v2-bottle-odd7": {Version: 2, Block: "bottleneck", Layers: []int{1, 1, 1, 1}, Widths: []int{4, 4, 8, 8}, Stem: "imagenet", Input: [3]int{7, 7, 1}, Classes: 3},
}

// TestExportImportRoundTrip: ours -> ONNX -> our importer gives our
// logits.
func TestExportImportRoundTrip(t *testing.T) {
	for name, cfg := range roundTripConfigs {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			net, err := model.New(cfg, 3)
			if err != nil {
				t.Fatal(err)
			}
			perturbBN(net, rng)
			classes := make([]string, net.Config.Classes)
			for i := range classes {
				classes[i] = string(rune('a' + i))
			}
			pre := vision.Preprocess{Width: cfg.Input[1], Height: cfg.Input[0], Channels: cfg.Input[2], Mean: []float32{0.5}, Std: []float32{0.25}}
			var buf bytes.Buffer
			if err := Export(&buf, net, classes, pre); err != nil {
				t.Fatal(err)
			}
			g, err := Import(bytes.NewReader(buf.Bytes()), Options{})
			if err != nil {
				t.Fatal(err)
			}
			x := randomInput(rng, 3, cfg.Input[0], cfg.Input[1], cfg.Input[2])
			want, err := net.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.SameShape(got.Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
			}
			if d := relDiff(got.Data, want.Data); d > 1e-5 {
				t.Errorf("logits differ by %.3g (relative)", d)
			}
			gc, _ := g.Classes()
			if len(gc) != len(classes) || gc[0] != "a" {
				t.Errorf("classes %v, want %v", gc, classes)
			}
			gp, ok, err := g.Preprocess()
			if err != nil || !ok || gp.Width != pre.Width || gp.Std[0] != 0.25 {
				t.Errorf("preprocess %+v %v %v, want %+v", gp, ok, err, pre)
			}
		})
	}
}

// TestExportFile exports a saved project model file.
func TestExportFile(t *testing.T) {
	cfg := roundTripConfigs["v1-basic-small"]
	net, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/m.model"
	pre := vision.Preprocess{Width: 16, Height: 16, Channels: 1}
	classes := []string{"a", "b", "c", "d", "e", "f", "g"}
	if err := model.Save(path, net, model.Meta{Task: "test", Classes: classes, Preprocess: pre}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ExportFile(&buf, path); err != nil {
		t.Fatal(err)
	}
	g, err := Import(&buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := g.Classes(); len(c) != 7 || c[6] != "g" {
		t.Errorf("classes %v", c)
	}
	x := randomInput(rand.New(rand.NewPCG(1, 1)), 2, 16, 16, 1)
	want, _ := net.Forward(x, false)
	got, err := g.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(got.Data, want.Data); d > 1e-5 {
		t.Errorf("logits differ by %.3g", d)
	}
	if err := ExportFile(&buf, path+".missing"); err == nil {
		t.Error("missing file: no error")
	}
}
