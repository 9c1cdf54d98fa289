package onnx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// TestUnsupportedOperatorsOneError: every unsupported operator type is
// listed in one error, with the names of its nodes.
func TestUnsupportedOperatorsOneError(t *testing.T) {
	m := &ModelProto{IRVersion: 7, Opsets: []OpsetID{{Version: 13}}, Graph: &GraphProto{
		Inputs: []*ValueInfo{{Name: "x", ElemType: TypeFloat}},
		Nodes: []*NodeProto{
			{Name: "lrn1", OpType: "LRN", Inputs: []string{"x"}, Outputs: []string{"a"}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"a"}, Outputs: []string{"b"}},
			{Name: "lrn2", OpType: "LRN", Inputs: []string{"b"}, Outputs: []string{"c"}},
			{Name: "loop", OpType: "Loop", Inputs: []string{"c"}, Outputs: []string{"d"}},
			{Name: "custom", OpType: "Relu", Domain: "com.example", Inputs: []string{"d"}, Outputs: []string{"y"}},
		},
		Outputs: []*ValueInfo{{Name: "y"}},
	}}
	_, err := Compile(m, Options{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{`unsupported operators:`, `LRN (nodes "lrn1", "lrn2")`, `Loop (nodes "loop")`, `com.example.Relu (nodes "custom")`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Count(msg, "unsupported operators") != 1 {
		t.Errorf("error %q lists unsupported operators more than once", msg)
	}
}

// TestBadFiles: truncated or corrupt files give errors, never panics.
func TestBadFiles(t *testing.T) {
	good, err := EncodeModelFile(filepath.Join("testdata", "keras_style.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 7, 100, len(good) / 2, len(good) - 1} {
		if _, err := Import(bytes.NewReader(good[:n]), Options{}); err == nil {
			t.Errorf("truncated at %d of %d bytes: no error", n, len(good))
		}
	}
	// A length prefix far beyond the end of the data.
	huge := []byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3}
	if _, err := DecodeModel(huge); err == nil {
		t.Error("oversized length: no error")
	}
	// A tensor whose dims promise more data than it holds.
	tp := FloatTensor("w", []int{1000, 1000}, []float32{1, 2, 3})
	if _, err := tp.Floats(); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("short tensor: error %v, want one naming the tensor", err)
	}
}

// EncodeModelFile reads a model file and re-encodes it (a check that
// decode -> encode -> decode keeps everything the importer uses).
func EncodeModelFile(path string) ([]byte, error) {
	g, err := ImportFile(path, Options{})
	if err != nil {
		return nil, err
	}
	return EncodeModel(g.Model), nil
}

// TestReencodedFixtureRunsTheSame: decode -> encode -> decode -> run
// gives the same output as the original file.
func TestReencodedFixtureRunsTheSame(t *testing.T) {
	ref, x := loadReference(t, filepath.Join("testdata", "keras_style.json"))
	b, err := EncodeModelFile(filepath.Join("testdata", "keras_style.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := Import(bytes.NewReader(b), Options{InputLayout: ref.InputLayout})
	if err != nil {
		t.Fatal(err)
	}
	y, err := g.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := relDiff(y.Data, ref.Logits.Data); d > 1e-4 {
		t.Errorf("re-encoded model differs from PyTorch by %.3g", d)
	}
}

// TestForwardBadInput: wrong input shapes give errors naming the shapes.
func TestForwardBadInput(t *testing.T) {
	g, err := ImportFile(filepath.Join("testdata", "resnet18_small.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.InputShape(); !tensor.SameShape(got, []int{32, 32, 3}) {
		t.Errorf("InputShape %v, want [32 32 3]", got)
	}
	for _, shape := range [][]int{{1, 32, 32, 1}, {1, 16, 32, 3}, {32, 32, 3}} {
		_, err := g.Forward(tensor.New(shape...), false)
		if err == nil || !strings.Contains(err.Error(), tensor.ShapeString(shape)) {
			t.Errorf("input %v: error %v, want one naming the shape", shape, err)
		}
	}
	if _, err := g.Forward(nil, false); err == nil {
		t.Error("nil input: no error")
	}
	if _, err := g.Forward(tensor.New(2, 32, 32, 3), false); err != nil {
		t.Fatal(err)
	}
	if err := g.Backward(tensor.New(2, 10)); err == nil {
		t.Error("Backward after an inference Forward: no error")
	}
}

// TestReplaceHeadAndFreeze fine-tunes an imported ResNet's new head with
// the backbone frozen: only the head gets gradients, the backbone's
// weights and BN statistics stay, and the loss on a fixed batch falls.
func TestReplaceHeadAndFreeze(t *testing.T) {
	g, err := ImportFile(filepath.Join("testdata", "resnet18_small.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	head, err := g.ReplaceHead(3, rng)
	if err != nil {
		t.Fatal(err)
	}
	if head != "/fc/Gemm" {
		t.Errorf("replaced %q, want the fc Gemm", head)
	}
	// Freeze everything before the head: the node feeding it.
	nodes := g.Nodes()
	var before string
	for i, n := range nodes {
		if n.Name == head {
			before = nodes[i-1].Name
		}
	}
	if err := g.Freeze(before); err != nil {
		t.Fatal(err)
	}
	if err := g.Freeze("no such node"); err == nil {
		t.Error("Freeze of an unknown node: no error")
	}
	if err := g.FreezeBackbone(); err != nil { // the same as Freeze(before)
		t.Fatal(err)
	}
	var trainable []*nn.Param
	for _, p := range g.Params() {
		if !p.Frozen {
			trainable = append(trainable, p)
		}
	}
	if len(trainable) != 2 || trainable[0].Name != "fc.weight" || !tensor.SameShape(trainable[0].Value.Shape, []int{3, 32}) {
		names := []string{}
		for _, p := range trainable {
			names = append(names, p.Name+tensor.ShapeString(p.Value.Shape))
		}
		t.Fatalf("trainable parameters %v, want fc.weight (3,32) and fc.bias", names)
	}
	before1 := snapshot(g.Params(), g.Buffers())

	// Noise images whose class is the channel that is brighter.
	x := randomInput(rng, 8, 32, 32, 3)
	labels := []int{0, 1, 2, 0, 1, 2, 0, 1}
	for i := 0; i < x.Len(); i++ {
		if i%3 == labels[i/(32*32*3)] {
			x.Data[i] += 2
		}
	}
	var first, last float64
	lr := float32(0.5)
	for step := 0; step < 100; step++ {
		y, err := g.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.SameShape(y.Shape, []int{8, 3}) {
			t.Fatalf("output shape %v, want (8,3)", y.Shape)
		}
		loss, dy := crossEntropy(y, labels)
		if step == 0 {
			first = loss
		}
		last = loss
		if err := g.Backward(dy); err != nil {
			t.Fatal(err)
		}
		for _, p := range trainable {
			for i, gr := range p.Grad.Data {
				p.Value.Data[i] -= lr * gr
			}
		}
	}
	if !(last < 0.85*first) {
		t.Errorf("loss went from %.4f to %.4f: the head did not learn", first, last)
	}
	after := snapshot(g.Params(), g.Buffers())
	for name, v := range before1 {
		if strings.HasPrefix(name, "fc.") {
			continue
		}
		if relDiff(after[name], v) != 0 {
			t.Errorf("frozen %s changed", name)
		}
	}
	if err := g.Freeze(""); err != nil {
		t.Fatal(err)
	}
	for _, p := range g.Params() {
		if p.Frozen {
			t.Fatalf("%s still frozen after Freeze(\"\")", p.Name)
		}
	}
}

func snapshot(ps ...[]*nn.Param) map[string][]float32 {
	m := map[string][]float32{}
	for _, list := range ps {
		for _, p := range list {
			m[p.Name] = append([]float32(nil), p.Value.Data...)
		}
	}
	return m
}

// crossEntropy returns the mean softmax cross-entropy and its gradient.
func crossEntropy(y *tensor.Tensor, labels []int) (float64, *tensor.Tensor) {
	n, k := y.Shape[0], y.Shape[1]
	dy := tensor.New(n, k)
	var loss float64
	for i := 0; i < n; i++ {
		row := y.Data[i*k : (i+1)*k]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		for j, v := range row {
			p := math.Exp(float64(v)-m) / s
			if j == labels[i] {
				loss -= math.Log(p)
				p--
			}
			dy.Data[i*k+j] = float32(p / float64(n))
		}
	}
	return loss / float64(n), dy
}

// TestDynamicBatch: a graph whose Reshape target is computed from the
// input's shape runs, and trains, at any batch size.
func TestDynamicBatch(t *testing.T) {
	g, err := ImportFile(filepath.Join("testdata", "dynamic_view.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7} {
		y, err := g.Forward(randomInput(rng, n, 8, 8, 3), true)
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.SameShape(y.Shape, []int{n, 6}) {
			t.Fatalf("batch %d: output %v, want (%d,6)", n, y.Shape, n)
		}
		if err := g.Backward(randomInput(rng, n, 6)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAnySize: with Options.AnySize a ResNet imported at 32x32 runs and
// trains on 48x48 images (global pooling absorbs the size).
func TestAnySize(t *testing.T) {
	path := filepath.Join("testdata", "resnet18_small.onnx")
	x := randomInput(rand.New(rand.NewPCG(1, 2)), 2, 48, 48, 3)
	g, err := ImportFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Forward(x, false); err == nil {
		t.Error("48x48 input accepted without AnySize")
	}
	g, err = ImportFile(path, Options{AnySize: true})
	if err != nil {
		t.Fatal(err)
	}
	y, err := g.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(y.Shape, []int{2, 10}) {
		t.Fatalf("output %v, want (2,10)", y.Shape)
	}
	if err := g.Backward(tensor.New(2, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Forward(tensor.New(2, 48, 48, 1), false); err == nil {
		t.Error("1-channel input accepted by a 3-channel graph")
	}
}

// TestDecodeBudget: a file made of empty messages (2 bytes each) is
// refused instead of making the decoder allocate ~100x its size.
func TestDecodeBudget(t *testing.T) {
	// A graph (field 7) holding 1 MiB of empty nodes (field 1, length 0).
	var graph []byte
	for len(graph) < 1<<20 {
		graph = append(graph, 0x0a, 0x00)
	}
	b := append([]byte{0x3a}, protowireLen(len(graph))...)
	b = append(b, graph...)
	_, err := DecodeModel(b)
	if err == nil || !strings.Contains(err.Error(), "too many messages") {
		t.Fatalf("error %v, want a refusal", err)
	}
	// Real models are far within the budget.
	if _, err := ImportFile(filepath.Join("testdata", "resnet50_small.onnx"), Options{}); err != nil {
		t.Fatal(err)
	}
}

// protowireLen encodes n as a varint.
func protowireLen(n int) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// TestConvBNFusedInference: in inference a Conv and the BatchNormalization
// after it run as one folded convolution; the result must equal the two
// layers run apart, also after training has changed the weights and the
// BN statistics.
func TestConvBNFusedInference(t *testing.T) {
	g, err := ImportFile(filepath.Join("testdata", "resnet18_small.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fused []*convOp
	for _, n := range g.nodes {
		if c, ok := n.op.(*convOp); ok && c.fused != nil {
			fused = append(fused, c)
		}
	}
	if len(fused) != 20 { // every Conv of ResNet-18 is followed by its BN
		t.Fatalf("%d Conv+BN pairs fused, want 20", len(fused))
	}
	in := g.InputShape()
	rng := rand.New(rand.NewPCG(7, 7))
	x := randomInput(rng, 3, in[0], in[1], in[2])
	unfused := func() *tensor.Tensor {
		saved := make([]*nn.ConvBN, len(fused))
		for i, c := range fused {
			saved[i], c.fused = c.fused, nil
			c.fusedBN.passThrough = false
		}
		defer func() {
			for i, c := range fused {
				c.fused = saved[i]
			}
		}()
		y, err := g.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		return y.Clone()
	}
	var before *tensor.Tensor
	for step := 0; step < 2; step++ {
		want := unfused()
		if before != nil { // the training pass must have changed the outputs
			var moved float64
			for i, v := range want.Data {
				moved = max(moved, math.Abs(float64(v-before.Data[i])))
			}
			if moved < 1e-3 {
				t.Fatalf("training changed the outputs by only %.2g", moved)
			}
		}
		before = want
		got, err := g.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		var maxDiff float64
		for i, v := range want.Data {
			maxDiff = max(maxDiff, math.Abs(float64(got.Data[i]-v))/(1+math.Abs(float64(v))))
		}
		t.Logf("step %d: largest relative difference %.2g", step, maxDiff)
		if maxDiff > 1e-4 {
			t.Fatalf("step %d: fused inference differs from the layers by %.2g", step, maxDiff)
		}
		// A training pass: new BN statistics, and changed weights.
		y, err := g.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Backward(randomInput(rng, y.Shape...)); err != nil {
			t.Fatal(err)
		}
		for _, p := range g.Params() {
			for i := range p.Value.Data {
				p.Value.Data[i] -= 0.01 * p.Grad.Data[i]
			}
		}
	}
}
