package nn_test

// These tests check every layer against PyTorch 1.13 (CPU, float32), in the
// spirit of llm.c's test_gpt2: the reference tensors were produced by
// scripts/torch_reference.py and committed in
// testdata/torch_layers.safetensors, so no PyTorch is needed to run them.
// For each case the fixture holds the input, the parameters, the output, a
// random upstream gradient dy, and the gradients of L = sum(y*dy), all in
// our layouts (NHWC activations, (Cout,KH,KW,Cin) conv weights). Each
// case's configuration is in the file metadata under "case.<name>".
//
// Every case runs twice on the same layer (subtests "first" and "again"),
// to catch state left in reused buffers.
//
// `go test -v -run Torch ./nn` prints the largest difference per tensor.

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
)

const (
	torchFixture = "testdata/torch_layers.safetensors"
	// torchTol bounds max|got-want| / max(max|want|, torchFloor).
	torchTol = 1e-4
	// torchFloor keeps the relative error meaningful for tensors that are
	// all (nearly) zero, such as gradients masked by a ReLU.
	torchFloor = 1e-3
)

// caseConfig is the union of the per-case configurations the script writes
// into the metadata (see scripts/torch_reference.py).
type caseConfig struct {
	Kind            string  `json:"kind"`
	InC             int     `json:"in_c"`
	OutC            int     `json:"out_c"`
	KernelH         int     `json:"kernel_h"`
	KernelW         int     `json:"kernel_w"`
	Kernel          int     `json:"kernel"`
	Stride          int     `json:"stride"`
	Padding         int     `json:"padding"`
	Bias            bool    `json:"bias"`
	C               int     `json:"c"`
	Momentum        float32 `json:"momentum"`
	Eps             float32 `json:"eps"`
	Train           bool    `json:"train"`
	ReLU            bool    `json:"relu"`
	CountIncludePad bool    `json:"count_include_pad"`
	InF             int     `json:"in_f"`
	OutF            int     `json:"out_f"`
	Classes         int     `json:"classes"`
	LabelSmoothing  float32 `json:"label_smoothing"`
	Weighted        bool    `json:"weighted"`
}

// torchFile opens the fixture; a missing or corrupt fixture fails the test
// (it is committed, so it is never legitimately absent).
func torchFile(t *testing.T) *safetensors.File {
	t.Helper()
	f, err := safetensors.ReadFile(torchFixture)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/torch_reference.py)", err)
	}
	return f
}

// torchCases returns the sorted names and configurations of the cases of
// one kind ("conv2d", "batchnorm2d", ...). It fails when there are none,
// so a renamed kind cannot silently skip its checks.
func torchCases(t *testing.T, f *safetensors.File, kind string) ([]string, map[string]caseConfig) {
	t.Helper()
	configs := map[string]caseConfig{}
	var names []string
	for key, val := range f.Metadata {
		name, ok := strings.CutPrefix(key, "case.")
		if !ok {
			continue
		}
		var cfg caseConfig
		if err := json.Unmarshal([]byte(val), &cfg); err != nil {
			t.Fatalf("%s: metadata %q: %v", torchFixture, key, err)
		}
		if cfg.Kind == kind {
			configs[name] = cfg
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s has no case of kind %q", torchFixture, kind)
	}
	slices.Sort(names)
	return names, configs
}

// ref loads one reference tensor.
func ref(t *testing.T, f *safetensors.File, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// setValue copies a reference tensor into a layer parameter after checking
// the shapes agree (so a layout mistake shows as a shape error).
func setValue(t *testing.T, p *nn.Param, want *tensor.Tensor) {
	t.Helper()
	if p == nil {
		t.Fatalf("the layer has no parameter for a fixture tensor of shape %v", want.Shape)
	}
	if !tensor.SameShape(p.Value.Shape, want.Shape) {
		t.Fatalf("%s: layer shape %v, fixture shape %v", p.Name, p.Value.Shape, want.Shape)
	}
	copy(p.Value.Data, want.Data)
}

// relDiff returns max|got-want|, max|want| and the error
// max|got-want| / max(max|want|, torchFloor).
func relDiff(got, want []float32) (maxDiff, maxRef, rel float64) {
	for i, w := range want {
		d := math.Abs(float64(got[i]) - float64(w))
		if d > maxDiff || math.IsNaN(d) {
			maxDiff = d
		}
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	return maxDiff, maxRef, maxDiff / max(maxRef, torchFloor)
}

// compare checks got against the reference tensor name, logging the
// largest difference, and reports a mismatch in shape or values.
func compare(t *testing.T, f *safetensors.File, name string, got *tensor.Tensor) {
	t.Helper()
	want := ref(t, f, name)
	if got == nil {
		t.Errorf("%s: the layer returned nil", name)
		return
	}
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, PyTorch %v", name, got.Shape, want.Shape)
		return
	}
	maxDiff, maxRef, rel := relDiff(got.Data[:got.Len()], want.Data)
	t.Logf("%-34s max|diff| %.3e  max|ref| %.3e  rel %.2e", name, maxDiff, maxRef, rel)
	if !(rel <= torchTol) {
		t.Errorf("%s: max|diff| %.3e vs max|ref| %.3e: relative error %.2e exceeds %.0e", name, maxDiff, maxRef, rel, torchTol)
	}
}

// compareScalar checks a scalar such as a loss.
func compareScalar(t *testing.T, f *safetensors.File, name string, got float32) {
	t.Helper()
	compare(t, f, name, tensor.FromData([]float32{got}))
}

// twice runs check as subtest "first" on a fresh layer, then fills the
// gradients of params with NaN and runs it again ("again") on the same
// layer: reused buffers must not leak state into the next step, and
// Backward must overwrite every gradient element, not accumulate.
func twice(t *testing.T, params []*nn.Param, check func(t *testing.T)) {
	t.Helper()
	t.Run("first", check)
	for _, p := range params {
		for i := range p.Grad.Data {
			p.Grad.Data[i] = float32(math.NaN())
		}
	}
	t.Run("again", check)
}

func TestTorchConv2D(t *testing.T) {
	f := torchFile(t)
	names, configs := torchCases(t, f, "conv2d")
	for _, name := range names {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			conv := nn.NewConv2D(name, nn.Conv2DConfig{
				InC: cfg.InC, OutC: cfg.OutC, KernelH: cfg.KernelH, KernelW: cfg.KernelW,
				Stride: cfg.Stride, Padding: cfg.Padding, Bias: cfg.Bias,
			}, rand.New(rand.NewPCG(1, 2)))
			x := ref(t, f, name+".x")
			if _, err := conv.OutShape(x.Shape); err != nil {
				t.Fatal(err)
			}
			setValue(t, conv.Weight, ref(t, f, name+".weight"))
			if cfg.Bias {
				setValue(t, conv.Bias, ref(t, f, name+".bias"))
			}
			twice(t, conv.Params(), func(t *testing.T) {
				compare(t, f, name+".y", conv.Forward(x, true))
				compare(t, f, name+".dx", conv.Backward(ref(t, f, name+".dy")))
				compare(t, f, name+".dweight", conv.Weight.Grad)
				if cfg.Bias {
					compare(t, f, name+".dbias", conv.Bias.Grad)
				}
			})
		})
	}
}

// TestTorchBatchNorm2D covers training mode (batch statistics, gradients,
// running statistics after the step) and evaluation mode (running
// statistics; nn's Backward is defined for training only, so evaluation
// cases check the output and that the running statistics do not move).
func TestTorchBatchNorm2D(t *testing.T) {
	f := torchFile(t)
	names, configs := torchCases(t, f, "batchnorm2d")
	for _, name := range names {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			bn := nn.NewBatchNorm2D(name, nn.BatchNorm2DConfig{C: cfg.C, Momentum: cfg.Momentum, Eps: cfg.Eps, ReLU: cfg.ReLU})
			x := ref(t, f, name+".x")
			if _, err := bn.OutShape(x.Shape); err != nil {
				t.Fatal(err)
			}
			setValue(t, bn.Weight, ref(t, f, name+".weight"))
			setValue(t, bn.Bias, ref(t, f, name+".bias"))
			twice(t, bn.Params(), func(t *testing.T) {
				// Each pass starts from the fixture's running statistics.
				setValue(t, bn.RunningMean, ref(t, f, name+".running_mean"))
				setValue(t, bn.RunningVar, ref(t, f, name+".running_var"))
				compare(t, f, name+".y", bn.Forward(x, cfg.Train))
				if !cfg.Train {
					compare(t, f, name+".running_mean", bn.RunningMean.Value)
					compare(t, f, name+".running_var", bn.RunningVar.Value)
					return
				}
				compare(t, f, name+".running_mean_after", bn.RunningMean.Value)
				compare(t, f, name+".running_var_after", bn.RunningVar.Value)
				compare(t, f, name+".dx", bn.Backward(ref(t, f, name+".dy")))
				compare(t, f, name+".dweight", bn.Weight.Grad)
				compare(t, f, name+".dbias", bn.Bias.Grad)
			})
		})
	}
}

func TestTorchReLU(t *testing.T) {
	f := torchFile(t)
	names, _ := torchCases(t, f, "relu")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := nn.NewReLU(name)
			twice(t, nil, func(t *testing.T) {
				compare(t, f, name+".y", r.Forward(ref(t, f, name+".x"), true))
				compare(t, f, name+".dx", r.Backward(ref(t, f, name+".dy")))
			})
		})
	}
}

func TestTorchGlobalAvgPool(t *testing.T) {
	f := torchFile(t)
	names, _ := torchCases(t, f, "global_avgpool")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			g := nn.NewGlobalAvgPool(name)
			x := ref(t, f, name+".x")
			if _, err := g.OutShape(x.Shape); err != nil {
				t.Fatal(err)
			}
			twice(t, nil, func(t *testing.T) {
				compare(t, f, name+".y", g.Forward(x, true))
				compare(t, f, name+".dx", g.Backward(ref(t, f, name+".dy")))
			})
		})
	}
}

func TestTorchMaxPool2D(t *testing.T) {
	f := torchFile(t)
	names, configs := torchCases(t, f, "maxpool2d")
	for _, name := range names {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			m := nn.NewMaxPool2D(name, nn.Pool2DConfig{Kernel: cfg.Kernel, Stride: cfg.Stride, Padding: cfg.Padding})
			x := ref(t, f, name+".x")
			if _, err := m.OutShape(x.Shape); err != nil {
				t.Fatal(err)
			}
			twice(t, nil, func(t *testing.T) {
				compare(t, f, name+".y", m.Forward(x, true))
				compare(t, f, name+".dx", m.Backward(ref(t, f, name+".dy")))
			})
		})
	}
}

// TestTorchAvgPool2D: nn's average pooling always counts the padding
// (PyTorch's default count_include_pad=True), which is what the fixture uses.
func TestTorchAvgPool2D(t *testing.T) {
	f := torchFile(t)
	names, configs := torchCases(t, f, "avgpool2d")
	for _, name := range names {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			if !cfg.CountIncludePad {
				t.Fatalf("fixture case uses count_include_pad=false, which nn.AvgPool2D does not implement")
			}
			a := nn.NewAvgPool2D(name, nn.Pool2DConfig{Kernel: cfg.Kernel, Stride: cfg.Stride, Padding: cfg.Padding})
			x := ref(t, f, name+".x")
			if _, err := a.OutShape(x.Shape); err != nil {
				t.Fatal(err)
			}
			twice(t, nil, func(t *testing.T) {
				compare(t, f, name+".y", a.Forward(x, true))
				compare(t, f, name+".dx", a.Backward(ref(t, f, name+".dy")))
			})
		})
	}
}

func TestTorchLinear(t *testing.T) {
	f := torchFile(t)
	names, configs := torchCases(t, f, "linear")
	for _, name := range names {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			l := nn.NewLinear(name, nn.LinearConfig{In: cfg.InF, Out: cfg.OutF, NoBias: !cfg.Bias}, rand.New(rand.NewPCG(1, 2)))
			x := ref(t, f, name+".x")
			if _, err := l.OutShape(x.Shape); err != nil {
				t.Fatal(err)
			}
			setValue(t, l.Weight, ref(t, f, name+".weight"))
			if cfg.Bias {
				setValue(t, l.Bias, ref(t, f, name+".bias"))
			} else if l.Bias != nil {
				t.Fatalf("NoBias layer has a bias %s", l.Bias.Name)
			}
			twice(t, l.Params(), func(t *testing.T) {
				compare(t, f, name+".y", l.Forward(x, true))
				compare(t, f, name+".dx", l.Backward(ref(t, f, name+".dy")))
				compare(t, f, name+".dweight", l.Weight.Grad)
				if cfg.Bias {
					compare(t, f, name+".dbias", l.Bias.Grad)
				}
			})
		})
	}
}

func TestTorchAdd(t *testing.T) {
	f := torchFile(t)
	names, configs := torchCases(t, f, "add")
	for _, name := range names {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			s := nn.NewAdd(name, cfg.ReLU)
			a, b := ref(t, f, name+".a"), ref(t, f, name+".b")
			if _, err := s.OutShape(a.Shape, b.Shape); err != nil {
				t.Fatal(err)
			}
			twice(t, nil, func(t *testing.T) {
				compare(t, f, name+".y", s.Forward(a, b))
				da, db := s.Backward(ref(t, f, name+".dy"))
				compare(t, f, name+".da", da)
				compare(t, f, name+".db", db)
			})
		})
	}
}

func TestTorchCrossEntropy(t *testing.T) {
	f := torchFile(t)
	names, configs := torchCases(t, f, "cross_entropy")
	for _, name := range names {
		cfg := configs[name]
		t.Run(name, func(t *testing.T) {
			ce := nn.CrossEntropyConfig{Classes: cfg.Classes, LabelSmoothing: cfg.LabelSmoothing}
			if cfg.Weighted {
				ce.Weights = ref(t, f, name+".weights").Data
			}
			loss, err := nn.NewSoftmaxCrossEntropy(ce)
			if err != nil {
				t.Fatal(err)
			}
			labels64, _, err := f.Int64s(name + ".labels")
			if err != nil {
				t.Fatal(err)
			}
			labels := make([]int, len(labels64))
			for i, v := range labels64 {
				labels[i] = int(v)
			}
			twice(t, nil, func(t *testing.T) {
				got, err := loss.Forward(ref(t, f, name+".logits"), labels)
				if err != nil {
					t.Fatal(err)
				}
				compareScalar(t, f, name+".loss", got)
				compare(t, f, name+".dlogits", loss.Backward())
			})
		})
	}
}

// TestTorchFixtureCoverage fails when the fixture holds a kind of case
// that no test above checks (e.g. after the script gained a new layer).
func TestTorchFixtureCoverage(t *testing.T) {
	tested := map[string]bool{
		"conv2d": true, "batchnorm2d": true, "relu": true, "maxpool2d": true, "avgpool2d": true,
		"global_avgpool": true, "linear": true, "add": true, "cross_entropy": true,
	}
	f := torchFile(t)
	for key, val := range f.Metadata {
		if _, ok := strings.CutPrefix(key, "case."); !ok {
			continue
		}
		var cfg caseConfig
		if err := json.Unmarshal([]byte(val), &cfg); err != nil {
			t.Fatalf("metadata %q: %v", key, err)
		}
		if !tested[cfg.Kind] {
			t.Errorf("%s: kind %q is in the fixture but not tested", key, cfg.Kind)
		}
	}
}

// TestTorchRelDiff checks the comparison itself: it must flag a wrong
// value, a NaN, and accept values within tolerance.
func TestTorchRelDiff(t *testing.T) {
	want := []float32{1, -2, 0.5}
	if _, _, rel := relDiff([]float32{1, -2, 0.5001}, want); rel > torchTol {
		t.Errorf("a 1e-4 absolute error on max|ref| 2 gave rel %g", rel)
	}
	if _, _, rel := relDiff([]float32{1, -2, 0.6}, want); rel <= torchTol {
		t.Errorf("a 0.1 error passed with rel %g", rel)
	}
	if _, _, rel := relDiff([]float32{float32(math.NaN()), -2, 0.5}, want); rel <= torchTol {
		t.Errorf("a NaN passed with rel %g", rel)
	}
	if _, _, rel := relDiff([]float32{1e-8, 0}, []float32{0, 0}); rel > torchTol {
		t.Errorf("1e-8 on an all-zero reference gave rel %g", rel)
	}
}
