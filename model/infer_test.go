package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/optim"
	"github.com/residual-go/residual/tensor"
)

// TestInferencePlanMatchesLayers: the fused inference plan gives the
// logits of the layers run one by one in evaluation mode, for v1 basic and
// bottleneck networks (fused), a v2 network (not fused) and an input
// adapter with bias; and still does after a training step and after
// LoadState changed the parameters and running statistics.
func TestInferencePlanMatchesLayers(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"reference", Config{Block: "basic", Layers: []int{2, 2, 2}, Widths: []int{16, 32, 64}, Input: [3]int{16, 16, 1}, Classes: 7}},
		{"bottleneck", Config{Block: "bottleneck", Layers: []int{1, 1}, Widths: []int{8, 16}, Stem: "imagenet", Input: [3]int{20, 20, 3}, Classes: 5}},
		{"v2", Config{Version: 2, Block: "basic", Layers: []int{1, 1}, Widths: []int{16, 32}, Input: [3]int{12, 12, 1}, Classes: 3}},
		{"adapter", Config{Block: "basic", Layers: []int{1}, Widths: []int{16}, InputAdapter: 3, Head: []int{8}, Input: [3]int{10, 10, 1}, Classes: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net, err := New(tc.cfg, 3)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(4, 5))
			x := tensor.New(net.InputShape(3)...)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			check := func(when string) {
				t.Helper()
				want := net.layers.forward(x, false).Clone()
				got, err := net.Forward(x, false)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range want.Data {
					if d := math.Abs(float64(got.Data[i] - v)); d > 1e-5*(1+math.Abs(float64(v))) {
						t.Fatalf("%s: logit %d = %g, layer by layer %g", when, i, got.Data[i], v)
					}
				}
			}
			check("fresh")
			// A few training steps move the weights and running statistics.
			loss, _ := nn.NewSoftmaxCrossEntropy(nn.CrossEntropyConfig{Classes: tc.cfg.Classes})
			opt, _ := optim.NewSGD(net.Params(), optim.SGDConfig{Momentum: 0.9})
			labels := []int{0, 1, 2}
			for step := 0; step < 3; step++ {
				logits, _ := net.Forward(x, true)
				if _, err := loss.Forward(logits, labels); err != nil {
					t.Fatal(err)
				}
				net.Backward(loss.Backward())
				opt.Step(0.1)
			}
			check("after training")
			// Parameters written from outside (as LoadState does),
			// announced as every writer must (nn.Param.Changed).
			for _, p := range net.State() {
				for i := range p.Value.Data {
					if p.Value.Len() > 1 {
						p.Value.Data[i] *= 0.9
					}
				}
				p.Changed()
			}
			check("after changing the state")
		})
	}
}

// BenchmarkInferencePlan compares the fused plan with the layers one by
// one on the reference network at batch 64 and 1.
func BenchmarkInferencePlan(b *testing.B) {
	cfg, _ := Preset("reference")
	for _, batch := range []int{64, 1} {
		net, err := New(cfg, 1)
		if err != nil {
			b.Fatal(err)
		}
		x := tensor.New(net.InputShape(batch)...)
		for _, fused := range []bool{false, true} {
			name := map[bool]string{false: "layers", true: "fused"}[fused]
			b.Run(name+"/batch"+map[int]string{64: "64", 1: "1"}[batch], func(b *testing.B) {
				run := func() {
					if fused {
						net.Forward(x, false)
					} else {
						net.layers.forward(x, false)
					}
				}
				run()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					run()
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

// TestInferenceBF16: with SetBF16 the logits stay within bf16 rounding of
// the float32 ones and differ from them (the bf16 kernels ran); switching
// back gives float32 results again.
func TestInferenceBF16(t *testing.T) {
	if !HasBF16() {
		t.Skip("no AVX512_BF16 on this CPU or build")
	}
	cfg := Config{Block: "basic", Layers: []int{1, 1, 1}, Widths: []int{16, 32, 64}, Input: [3]int{16, 16, 1}, Classes: 7}
	net, err := New(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 7))
	x := tensor.New(net.InputShape(4)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	f32, _ := net.Forward(x, false)
	want := f32.Clone()
	net.SetBF16(true)
	got, _ := net.Forward(x, false)
	var scale, maxDiff float64
	for i, v := range want.Data {
		scale = max(scale, math.Abs(float64(v)))
		maxDiff = max(maxDiff, math.Abs(float64(got.Data[i]-v)))
	}
	if maxDiff == 0 || maxDiff > 0.05*scale {
		t.Fatalf("bf16 logits differ from float32 by up to %g (largest logit %g), want (0, 5%%]", maxDiff, scale)
	}
	net.SetBF16(false)
	back, _ := net.Forward(x, false)
	for i, v := range want.Data {
		if back.Data[i] != v {
			t.Fatalf("after SetBF16(false): logit %d = %g, want %g", i, back.Data[i], v)
		}
	}
}

// BenchmarkInferenceBF16: fused inference of the reference network in
// bfloat16 at batch 64 and 1.
func BenchmarkInferenceBF16(b *testing.B) {
	cfg, _ := Preset("reference")
	for _, batch := range []int{64, 1} {
		net, err := New(cfg, 1)
		if err != nil {
			b.Fatal(err)
		}
		net.SetBF16(true)
		x := tensor.New(net.InputShape(batch)...)
		b.Run(map[int]string{64: "batch64", 1: "batch1"}[batch], func(b *testing.B) {
			net.Forward(x, false)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				net.Forward(x, false)
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
