package model

import (
	"math/rand/v2"
	"testing"

	"residual/nn"
	"residual/optim"
	"residual/tensor"
)

// referenceStep builds the reference network with a batch of random data
// and returns a function doing one training step (forward, loss,
// backward, SGD with momentum) and one doing batched inference.
func referenceStep(tb testing.TB, batch int) (train, infer func()) {
	tb.Helper()
	cfg, err := Preset("reference")
	if err != nil {
		tb.Fatal(err)
	}
	return netStep(tb, cfg, batch)
}

// ferRecipeStep is referenceStep for the network of the FER2013 recipe
// (docs/RESULTS.md): ResNet-18 with the small stem at 3/8 width, 48x48x1.
func ferRecipeStep(tb testing.TB, batch int) (train, infer func()) {
	tb.Helper()
	cfg, err := Preset("resnet18-small")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.WidthMult, cfg.Input, cfg.Classes = 0.375, [3]int{48, 48, 1}, 7
	return netStep(tb, cfg, batch)
}

// netStep returns a training step (Nesterov SGD with weight decay, label
// smoothing 0.1: the FER2013 recipe's) and batched inference of the
// network cfg on a batch of random data.
func netStep(tb testing.TB, cfg Config, batch int) (train, infer func()) {
	tb.Helper()
	net, err := New(cfg, 1)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(net.InputShape(batch)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(cfg.Classes)
	}
	loss, err := nn.NewSoftmaxCrossEntropy(nn.CrossEntropyConfig{Classes: cfg.Classes, LabelSmoothing: 0.1})
	if err != nil {
		tb.Fatal(err)
	}
	opt, err := optim.NewSGD(net.Params(), optim.SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
	if err != nil {
		tb.Fatal(err)
	}
	train = func() {
		logits, err := net.Forward(x, true)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := loss.Forward(logits, labels); err != nil {
			tb.Fatal(err)
		}
		net.Backward(loss.Backward())
		opt.Step(0.01)
	}
	infer = func() {
		if _, err := net.Forward(x, false); err != nil {
			tb.Fatal(err)
		}
	}
	return train, infer
}

// TestStepsDoNotAllocate: after warm-up, a training step and an inference
// pass allocate nothing.
func TestStepsDoNotAllocate(t *testing.T) {
	train, infer := referenceStep(t, 4)
	train()
	infer()
	if n := testing.AllocsPerRun(3, train); n != 0 {
		t.Errorf("training step allocates %.0f times per step", n)
	}
	if n := testing.AllocsPerRun(3, infer); n != 0 {
		t.Errorf("inference allocates %.0f times per pass", n)
	}
}

// BenchmarkReferenceTrain: one training step of the reference network at
// batch 64 (go test -bench Reference -benchmem ./model).
func BenchmarkReferenceTrain(b *testing.B) {
	train, _ := referenceStep(b, 64)
	train()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		train()
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkFERRecipeTrain: one training step of the FER2013 recipe's
// network at batch 64 (compare: residual bench --model resnet18-small
// --width-mult 0.375 --nesterov --wd 5e-4 --label-smoothing 0.1 --torch).
func BenchmarkFERRecipeTrain(b *testing.B) {
	train, _ := ferRecipeStep(b, 64)
	train()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		train()
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkReferenceInfer: inference at batch 64 and batch 1.
func BenchmarkReferenceInfer(b *testing.B) {
	for _, batch := range []int{64, 1} {
		b.Run(map[int]string{64: "batch64", 1: "batch1"}[batch], func(b *testing.B) {
			_, infer := referenceStep(b, batch)
			infer()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				infer()
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
