package onnx

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// reference is a fixture of scripts/onnx_reference.py: an input and
// PyTorch's output for it.
type reference struct {
	InputLayout string `json:"input_layout"`
	Input       struct {
		Shape []int     `json:"shape"`
		Data  []float32 `json:"data"`
	} `json:"input"`
	Logits struct {
		Shape []int     `json:"shape"`
		Data  []float32 `json:"data"`
	} `json:"logits"`
}

func loadReference(t testing.TB, path string) (*reference, *tensor.Tensor) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	x := tensor.FromData(r.Input.Data, r.Input.Shape...)
	if r.InputLayout == "NCHW" {
		x = permute(nil, x, toNHWCPerm) // Forward takes (N,H,W,C)
	}
	return &r, x
}

// checkParity imports dir/name.onnx, runs it on the fixture's input and
// compares with PyTorch's logits.
func checkParity(t *testing.T, dir, name string, tol float64) *Graph {
	t.Helper()
	ref, x := loadReference(t, filepath.Join(dir, name+".json"))
	g, err := ImportFile(filepath.Join(dir, name+".onnx"), Options{InputLayout: ref.InputLayout})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(got.Shape, ref.Logits.Shape) {
		t.Fatalf("%s: output shape %v, PyTorch %v", name, got.Shape, ref.Logits.Shape)
	}
	d := relDiff(got.Data, ref.Logits.Data)
	if d > tol {
		t.Errorf("%s: logits differ from PyTorch's by %.3g (relative), want <= %g", name, d, tol)
	}
	ops := map[string]int{}
	for _, n := range g.Nodes() {
		ops[n.OpType]++
	}
	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%s: %d nodes %v; max relative difference from PyTorch %.2g", name, len(g.Nodes()), keys, d)
	return g
}

// TestPyTorchParity: PyTorch -> ONNX -> ours gives PyTorch's logits, for
// the committed fixtures (scripts/onnx_reference.py).
func TestPyTorchParity(t *testing.T) {
	for _, name := range []string{"resnet18_small", "resnet50_small", "keras_style", "ferplus_like", "dynamic_view"} {
		t.Run(name, func(t *testing.T) { checkParity(t, "testdata", name, 1e-4) })
	}
}

// TestPyTorchParityFullSize runs the full-size torchvision ResNet-18 and
// ResNet-50 that `scripts/onnx_reference.py --full DIR` exports (too big to
// commit) when RESIDUAL_ONNX_FULL=DIR is set.
func TestPyTorchParityFullSize(t *testing.T) {
	dir := os.Getenv("RESIDUAL_ONNX_FULL")
	if dir == "" {
		t.Skip("set RESIDUAL_ONNX_FULL to the directory written by `/usr/bin/python3 scripts/onnx_reference.py --full DIR`")
	}
	for _, name := range []string{"resnet18", "resnet50"} {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(dir, name+".onnx")); err != nil {
				t.Skipf("%v", err)
			}
			checkParity(t, dir, name, 1e-4)
		})
	}
}
