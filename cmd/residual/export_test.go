package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// writeTestModel saves a small reference-architecture model with random
// weights and non-trivial BN statistics.
func writeTestModel(t *testing.T, dir string, seed uint64) string {
	t.Helper()
	cfg, err := model.Preset("reference")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input = [3]int{16, 16, 1}
	cfg.Classes = 3
	net, err := model.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	// Non-trivial BN statistics (and batch counts), so that a layout
	// mistake shows in the logits.
	for i, p := range net.Buffers() {
		for j := range p.Value.Data {
			k := float32((i + j) % 5)
			switch {
			case strings.HasSuffix(p.Name, "running_mean"):
				p.Value.Data[j] = 0.1 * (k - 2)
			case strings.HasSuffix(p.Name, "running_var"):
				p.Value.Data[j] = 0.5 + 0.25*k
			default:
				p.Value.Data[j] = 1 + k
			}
		}
	}
	path := filepath.Join(dir, "m"+model.FileExt)
	pre := vision.Preprocess{Width: 16, Height: 16, Channels: 1, Mean: []float32{0.5}, Std: []float32{0.25}}
	if err := model.Save(path, net, model.Meta{Task: "test", Classes: []string{"a", "b", "c"}, Preprocess: pre}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExportImportSafetensors: ours -> safetensors -> ours gives identical
// weights; the file has PyTorch layouts; bad files and flags are errors
// that name the problem.
func TestExportImportSafetensors(t *testing.T) {
	dir := t.TempDir()
	src := writeTestModel(t, dir, 1)
	st := filepath.Join(dir, "w.safetensors")
	if out, err := runCLI(t, "export", "--model", src, "--format", "safetensors", "--out", st); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	f, err := safetensors.ReadFile(st)
	if err != nil {
		t.Fatal(err)
	}
	orig, _, err := model.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	// conv1 is (16,3,3,1) here, (16,1,3,3) in the file; element [o][kh][kw][i]
	// must be at [o][i][kh][kw].
	info, _ := f.Info("conv1.weight")
	if got := tensor.ShapeString(info.Shape); got != "(16,1,3,3)" {
		t.Errorf("conv1.weight shape in the file %s, want (16,1,3,3)", got)
	}
	w, _ := f.Tensor("layer2.0.conv1.weight") // ours (32,3,3,16), file (32,16,3,3)
	var ours *tensor.Tensor
	for _, p := range orig.Params() {
		if p.Name == "layer2.0.conv1.weight" {
			ours = p.Value
		}
	}
	if a, b := ours.Data[((5*3+2)*3+1)*16+7], w.Data[((5*16+7)*3+2)*3+1]; a != b {
		t.Errorf("layer2.0.conv1.weight[5,2,1,7] = %g, the file's [5,7,2,1] = %g", a, b)
	}
	if info, _ := f.Info("fc.weight"); tensor.ShapeString(info.Shape) != "(3,64)" {
		t.Errorf("fc.weight shape %v, want (3,64)", info.Shape)
	}
	if info, _ := f.Info("bn1.num_batches_tracked"); info.DType != safetensors.I64 || len(info.Shape) != 0 {
		t.Errorf("num_batches_tracked is %s %v, want an I64 scalar", info.DType, info.Shape)
	}
	if f.Metadata["format"] != "pt" || !strings.Contains(f.Metadata["classes"], `"b"`) || !strings.Contains(f.Metadata["preprocess"], "0.25") {
		t.Errorf("metadata %v", f.Metadata)
	}

	// Import into a base with other weights (another seed): the result
	// equals the exported model exactly.
	baseDir := filepath.Join(dir, "base")
	os.Mkdir(baseDir, 0o755)
	base := writeTestModel(t, baseDir, 2)
	back := filepath.Join(dir, "back"+model.FileExt)
	if out, err := runCLI(t, "import", "--weights", st, "--model", base, "--out", back); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	got, meta, err := model.Load(back)
	if err != nil {
		t.Fatal(err)
	}
	a, b := orig.State(), got.State()
	for i := range a {
		if a[i].Name != b[i].Name || !tensor.SameShape(a[i].Value.Shape, b[i].Value.Shape) {
			t.Fatalf("tensor %d: %s %v vs %s %v", i, a[i].Name, a[i].Value.Shape, b[i].Name, b[i].Value.Shape)
		}
		for j := range a[i].Value.Data {
			if a[i].Value.Data[j] != b[i].Value.Data[j] {
				t.Fatalf("%s[%d] = %g after the round trip, want %g", a[i].Name, j, b[i].Value.Data[j], a[i].Value.Data[j])
			}
		}
	}
	if meta.Task != "test" || len(meta.Classes) != 3 {
		t.Errorf("meta of the base not kept: %+v", meta)
	}

	// ONNX export through the same command.
	if out, err := runCLI(t, "export", "--model", src, "--format", "onnx", "--out", filepath.Join(dir, "m.onnx")); err != nil {
		t.Fatalf("export onnx: %v\n%s", err, out)
	}

	// Bad input: a missing tensor, a wrong shape, an extra tensor, an
	// unknown format.
	var entries []safetensors.Entry
	for _, n := range f.Names() {
		if n == "layer1.0.bn1.running_var" {
			continue // missing
		}
		info, _ := f.Info(n)
		raw, _ := f.Raw(n)
		e := safetensors.Entry{Name: n, DType: info.DType, Shape: info.Shape, Data: raw}
		if n == "fc.weight" {
			e.Shape = []int{64, 3} // transposed: wrong shape
		}
		entries = append(entries, e)
	}
	entries = append(entries, safetensors.Float32("extra.weight", tensor.New(2)))
	bad := filepath.Join(dir, "bad.safetensors")
	if err := safetensors.WriteFile(bad, entries, nil); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "import", "--weights", bad, "--model", base, "--out", filepath.Join(dir, "x"+model.FileExt))
	for _, want := range []string{"bad.safetensors", "missing (1): layer1.0.bn1.running_var (16)", "wrong shape (1): fc.weight is (64,3), want (3,64)", "unexpected (1): extra.weight (2)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("import of a mismatched file: error %v, want it to contain %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x"+model.FileExt)); err == nil {
		t.Error("a failed import wrote its output")
	}
	if _, err := runCLI(t, "export", "--model", src, "--format", "keras", "--out", filepath.Join(dir, "k")); err == nil || !strings.Contains(err.Error(), `"keras"`) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := runCLI(t, "export", "--model", filepath.Join(dir, "nope.residual"), "--format", "safetensors", "--out", filepath.Join(dir, "k")); err == nil || !strings.Contains(err.Error(), "nope.residual") {
		t.Errorf("missing model: %v", err)
	}
	if _, err := runCLI(t, "import", "--weights", src, "--model", base, "--out", filepath.Join(dir, "y")); err == nil {
		t.Error("importing a model file as safetensors succeeded")
	}
}

// TestSafetensorsInTorch loads exported networks into PyTorch and
// compares the logits with ours (needs /usr/bin/python3 with torch, numpy
// and torchvision): the reference network into the torchvision-style
// module of scripts/check_safetensors_torch.py, and a resnet18 preset
// into torchvision.models.resnet18 itself.
func TestSafetensorsInTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python with torch (a few seconds)")
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, numpy, torchvision").Run(); err != nil {
		t.Skipf("%s with torch, numpy and torchvision is not available: %v", py, err)
	}
	dir := t.TempDir()
	reference := writeTestModel(t, dir, 3)

	cfg, err := model.Preset("resnet18")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input, cfg.Classes = [3]int{32, 32, 3}, 5
	r18, err := model.New(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r18.Buffers() {
		for j := range p.Value.Data {
			if strings.HasSuffix(p.Name, "running_var") {
				p.Value.Data[j] = 0.5 + 0.01*float32(j%50)
			} else if strings.HasSuffix(p.Name, "running_mean") {
				p.Value.Data[j] = 0.01 * float32(j%7-3)
			}
		}
	}
	resnet18 := filepath.Join(dir, "r18"+model.FileExt)
	pre := vision.Preprocess{Width: 32, Height: 32, Channels: 3}
	if err := model.Save(resnet18, r18, model.Meta{Task: "t", Classes: []string{"a", "b", "c", "d", "e"}, Preprocess: pre}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		args       []string
	}{{"reference", reference, nil}, {"torchvision resnet18", resnet18, []string{"--torchvision"}}} {
		st := filepath.Join(dir, tc.name+".safetensors")
		if out, err := runCLI(t, "export", "--model", tc.path, "--format", "safetensors", "--out", st); err != nil {
			t.Fatalf("export: %v\n%s", err, out)
		}
		net, _, err := model.Load(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.New(net.InputShape(4)...)
		for i := range x.Data {
			x.Data[i] = float32((i*7919)%101)/50 - 1
		}
		logits, err := net.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		in, out := filepath.Join(dir, "x.f32"), filepath.Join(dir, "logits.f32")
		if err := os.WriteFile(in, float32Bytes(x.Data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, float32Bytes(logits.Data[:logits.Len()]), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{filepath.Join("..", "..", "scripts", "check_safetensors_torch.py")}, tc.args...)
		res, err := exec.Command(py, append(args, st, in, out)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: python: %v\n%s", tc.name, err, res)
		}
		var got struct {
			MaxAbsDiff  float64 `json:"max_abs_diff"`
			MaxAbsLogit float64 `json:"max_abs_logit"`
			Module      string  `json:"module"`
		}
		if err := json.Unmarshal(res[bytes.LastIndexByte(bytes.TrimSpace(res), '\n')+1:], &got); err != nil {
			t.Fatalf("%s: python output %q: %v", tc.name, res, err)
		}
		t.Logf("%s in %s: max |logit diff| %.3g (max |logit| %.3g)", tc.name, got.Module, got.MaxAbsDiff, got.MaxAbsLogit)
		if got.MaxAbsLogit == 0 || got.MaxAbsDiff > 1e-4*max(1, got.MaxAbsLogit) {
			t.Errorf("%s: PyTorch logits differ from residual's by %g (max |logit| %g)", tc.name, got.MaxAbsDiff, got.MaxAbsLogit)
		}
	}
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// TestTrainFrom fine-tunes an exported-and-reimported model through the
// CLI with the transfer-learning flags, and checks their validation.
func TestTrainFrom(t *testing.T) {
	dir := t.TempDir()
	from := writeTestModel(t, dir, 4) // 16x16 gray, 3 classes
	csv := filepath.Join(dir, "faces.csv")
	if err := data.GenerateFER2013CSV(csv, 64, 32, 0, 1); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	out, err := runCLI(t, "train", "--data", csv, "--from", from, "--freeze", "backbone", "--unfreeze-after", "1",
		"--backbone-lr-mult", "0.1", "--epochs", "2", "--batch", "32", "--out", run, "--progress", "lines")
	if err != nil {
		t.Fatalf("train --from: %v\n%s", err, out)
	}
	for _, want := range []string{"fine-tuning " + from + ", frozen through backbone for 1 epochs, backbone lr x0.1", "input 16x16x1", "epoch 2: unfreezing every layer", "done: 2 epochs"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	net, meta, err := model.Load(filepath.Join(run, "best"+model.FileExt))
	if err != nil {
		t.Fatal(err)
	}
	if net.Config.Classes != 7 || meta.Preprocess.Mean[0] != 0.5 || meta.Preprocess.Std[0] != 0.25 {
		t.Errorf("fine-tuned model: %d classes, preprocessing %+v; want 7 and the pretrained 0.5/0.25", net.Config.Classes, meta.Preprocess)
	}
	if _, err := runCLI(t, "train", "--data", csv, "--freeze", "backbone", "--out", filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "pretrained") {
		t.Errorf("--freeze without --from: %v", err)
	}
	if _, err := runCLI(t, "train", "--data", csv, "--from", from, "--image-size", "32", "--out", filepath.Join(dir, "y")); err == nil || !strings.Contains(err.Error(), "16x16") {
		t.Errorf("--image-size against the pretrained input: %v", err)
	}
}

// TestSafetensorsKerasV2RoundTrip: a Keras-layout ResNet v2 (conv biases,
// max-pool shortcuts) goes to PyTorch-layout safetensors and back
// unchanged, the biases included.
func TestSafetensorsKerasV2RoundTrip(t *testing.T) {
	cfg := model.Config{Version: 2, Layout: model.LayoutKeras, Block: "bottleneck", Layers: []int{3, 2}, Widths: []int{4, 8},
		Stem: "imagenet", Input: [3]int{21, 21, 3}, Classes: 3}
	src, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range src.State() {
		for j := range p.Value.Data {
			p.Value.Data[j] = float32((i*31+j)%17)/8 + 0.25
			if strings.HasSuffix(p.Name, "num_batches_tracked") {
				p.Value.Data[j] = float32(i) // an integer count in the file
			}
		}
	}
	entries, err := torchEntries(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.safetensors")
	if err := safetensors.WriteFile(path, entries, nil); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"conv1.bias", "layer1.0.conv3.bias", "layer1.0.downsample.0.bias", "layer2.0.downsample.0.bias"} {
		if _, ok := f.Info(name); !ok {
			t.Errorf("the file lacks %s", name)
		}
	}
	dst, err := model.New(cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadTorchWeights(dst, f, path); err != nil {
		t.Fatal(err)
	}
	a, b := src.State(), dst.State()
	for i := range a {
		if !slices.Equal(a[i].Value.Data, b[i].Value.Data) {
			t.Fatalf("%s differs after the round trip", a[i].Name)
		}
	}
}
