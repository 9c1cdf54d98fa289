package model

import (
	"math"
	"testing"

	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
)

// TestBF16AgainstPyTorch runs two small ResNets (basic blocks and
// torchvision bottlenecks, 16 and 32 channels on 16x16 inputs: Winograd
// F(4x4) and F(2x2), bf16 implicit GEMMs and bf16 1x1 GEMMs) from PyTorch
// weights (scripts/torch_reference.py --only bf16) in inference:
//
//   - in float32 the logits match PyTorch's to 1e-4 relative;
//   - with SetBF16 they differ from PyTorch's float32 logits (the bf16
//     kernels ran) by at most twice PyTorch's own bf16 autocast error
//     (autocast rounds every convolution's inputs and outputs to bf16;
//     residual rounds the inputs of the non-Winograd ones), or 0.5% of the
//     largest logit when that is more.
func TestBF16AgainstPyTorch(t *testing.T) {
	f, err := safetensors.ReadFile("testdata/torch_bf16.safetensors")
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/torch_reference.py --only bf16)", err)
	}
	for _, block := range []string{"basic", "bottleneck"} {
		get := func(name string) *tensor.Tensor {
			v, err := f.Tensor(block + "." + name)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		x := get("x")
		cfg := Config{Block: block, Layers: []int{1, 1}, Widths: []int{16, 32}, Input: [3]int{x.Shape[1], x.Shape[2], x.Shape[3]}, Classes: 5}
		net, err := New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := net.LoadState(func(name string) (*tensor.Tensor, bool) {
			v, err := f.Tensor(block + "." + name)
			return v, err == nil
		}); err != nil {
			t.Fatal(err)
		}
		want, torchBF16 := get("logits"), get("logits_bf16")
		fp32, err := net.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		if d := relDiff(fp32.Data, want.Data); d > 1e-4 {
			t.Errorf("%s: float32 logits differ from PyTorch by %.3g relative", block, d)
		} else {
			t.Logf("%-10s float32: max rel diff from PyTorch %.2e", block, d)
		}
		if !HasBF16() {
			t.Logf("%s: no AVX512_BF16 on this CPU or build: the bf16 half is not checked", block)
			continue
		}
		net.SetBF16(true)
		got, err := net.Forward(x, false)
		if err != nil {
			t.Fatal(err)
		}
		var scale, errOurs, errTorch float64
		for i, w := range want.Data {
			scale = max(scale, math.Abs(float64(w)))
			errOurs = max(errOurs, math.Abs(float64(got.Data[i]-w)))
			errTorch = max(errTorch, math.Abs(float64(torchBF16.Data[i]-w)))
		}
		tol := max(2*errTorch, 0.005*scale)
		t.Logf("%-10s bf16: max |residual - PyTorch fp32| %.3g, PyTorch bf16 autocast's %.3g (largest logit %.3g, tolerance %.3g)",
			block, errOurs, errTorch, scale, tol)
		if errOurs == 0 || errOurs > tol {
			t.Errorf("%s: bf16 logits differ from PyTorch's float32 by %g, want (0, %g]", block, errOurs, tol)
		}
	}
}
