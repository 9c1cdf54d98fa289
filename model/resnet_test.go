package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
)

// relDiff is max|a-b| / max(max|b|, 1e-3): the fixture comparison metric.
func relDiff(a, b []float32) float64 {
	var d, ref float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		ref = math.Max(ref, math.Abs(float64(b[i])))
	}
	if math.IsNaN(d) || len(a) != len(b) {
		return math.Inf(1)
	}
	return d / math.Max(ref, 1e-3)
}

// TestSmallResNetAgainstPyTorch runs one training step of the two-stage
// ResNet of scripts/torch_reference.py (BN in training mode) and compares
// logits, loss, every gradient, the updated running statistics, and the
// eval-mode logits after the step with PyTorch's.
func TestSmallResNetAgainstPyTorch(t *testing.T) {
	torchStep(t, "testdata/torch_resnet_small.safetensors", Config{Layers: []int{1, 1}, Widths: []int{4, 8}, Classes: 3})
}

// torchStep checks one training step of the network cfg (its input shape
// taken from the fixture's x) against a fixture of scripts/torch_reference.py.
func torchStep(t *testing.T, fixture string, cfg Config) {
	t.Helper()
	f, err := safetensors.ReadFile(fixture)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/torch_reference.py)", err)
	}
	get := func(name string) *tensor.Tensor {
		v, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	x := get("x")
	cfg.Input = [3]int{x.Shape[1], x.Shape[2], x.Shape[3]}
	net, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.LoadState(func(name string) (*tensor.Tensor, bool) {
		v, err := f.Tensor(name)
		return v, err == nil
	}); err != nil {
		t.Fatal(err)
	}
	labels64, _, err := f.Int64s("labels")
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int, len(labels64))
	for i, l := range labels64 {
		labels[i] = int(l)
	}
	check := func(what string, got, want *tensor.Tensor) {
		t.Helper()
		d := relDiff(got.Data[:got.Len()], want.Data[:want.Len()])
		t.Logf("%-40s max rel diff %.2e", what, d)
		if d > 1e-4 || got.Len() != want.Len() {
			t.Errorf("%s differs from PyTorch: rel diff %.3g", what, d)
		}
	}

	logits, err := net.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	check("logits", logits, get("logits"))
	loss, err := nn.NewSoftmaxCrossEntropy(nn.CrossEntropyConfig{Classes: cfg.Classes})
	if err != nil {
		t.Fatal(err)
	}
	l, err := loss.Forward(logits, labels)
	if err != nil {
		t.Fatal(err)
	}
	check("loss", tensor.FromData([]float32{l}, 1), get("loss"))
	net.Backward(loss.Backward())
	for _, p := range net.Params() {
		check("grad."+p.Name, p.Grad, get("grad."+p.Name))
	}
	for _, b := range net.Buffers() {
		if strings.HasSuffix(b.Name, "num_batches_tracked") {
			continue
		}
		check("after."+b.Name, b.Value, get("after."+b.Name))
	}
	eval, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	check("eval_logits", eval, get("eval_logits"))

}

func TestBadInputShape(t *testing.T) {
	net, err := New(Config{Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{2, 8, 8, 3}, {2, 9, 8, 1}, {8, 8, 1}, {0, 8, 8, 1}} {
		if _, err := net.Forward(tensor.New(shape...), false); err == nil || !strings.Contains(err.Error(), "want (N,8,8,1)") {
			t.Errorf("input %v: error %v, want one naming the expected shape", shape, err)
		}
	}
	if _, err := net.Forward(nil, false); err == nil {
		t.Error("nil input accepted")
	}
}

func TestBadConfigNamesLayer(t *testing.T) {
	// A block fed the wrong channel count names its first layer and both shapes.
	blk := newBasicBlock("layer1.0", 4, 8, 1, rand.New(rand.NewPCG(1, 2)))
	_, err := blk.OutShape([]int{2, 8, 8, 3})
	if err == nil || !strings.Contains(err.Error(), "layer1.0.conv1") || !strings.Contains(err.Error(), "(2,8,8,3)") || !strings.Contains(err.Error(), "(N,H,W,4)") {
		t.Fatalf("error %v, want one naming layer1.0.conv1, (2,8,8,3) and (N,H,W,4)", err)
	}
	t.Log(err)
	for _, c := range []Config{
		{Layers: []int{1}, Widths: []int{4, 8}, Input: [3]int{8, 8, 1}, Classes: 3},
		{Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 0},
		{Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3, Block: "wide"},
		{Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3, Version: 3},
	} {
		if _, err := New(c, 1); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// TestPresetsBuild builds every preset on a small input and runs one
// forward pass of a batch of 2 (the paper preset at its own 32x32 input).
func TestPresetsBuild(t *testing.T) {
	for _, name := range Presets() {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Classes == 0 {
			c.Classes = 7
		}
		if c.Input[0] == 0 {
			c.Input = [3]int{32, 32, 1}
		}
		if testing.Short() && strings.Contains(name, "152") {
			continue
		}
		net, err := New(c, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		logits, err := net.Forward(tensor.New(append([]int{2}, c.Input[:]...)...), false)
		if err != nil {
			t.Fatal(err)
		}
		if logits.Shape[0] != 2 || logits.Shape[1] != c.Classes {
			t.Errorf("%s: logits %v", name, logits.Shape)
		}
		t.Logf("%-16s %10d parameters", name, net.NumParams())
	}
}

func TestReferenceSummary(t *testing.T) {
	c, err := Preset("reference")
	if err != nil {
		t.Fatal(err)
	}
	net, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 3x3 stem 1->16 at 48x48, 4 convs 16->16 at 48x48, then per stage a
	// stride-2 conv, three 3x3 convs and a 1x1 projection, and the fc.
	want := int64(2 * (48*48*16*9 + 4*48*48*16*16*9 +
		24*24*32*16*9 + 3*24*24*32*32*9 + 24*24*32*16 +
		12*12*64*32*9 + 3*12*12*64*64*9 + 12*12*64*32 + 64*7))
	if got := net.FLOPs(); got != want {
		t.Errorf("reference FLOPs %d, want %d", got, want)
	}
	var sb strings.Builder
	if err := net.WriteSummary(&sb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "layer3.0.downsample.0") || !strings.Contains(sb.String(), "(1,12,12,64)") {
		t.Errorf("summary lacks the projection shortcut or the last stage's shape:\n%s", sb.String())
	}
	t.Log("\n" + sb.String())
}
