package model_test

import (
	"testing"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/train"
)

// referenceStep is a training step of the reference network at the
// FER2013 recipe's settings (Nesterov SGD, weight decay, label smoothing),
// with batched inference, on a batch of random data.
func referenceStep(tb testing.TB, batch int) (trainStep, infer func()) {
	tb.Helper()
	cfg, err := model.Preset("reference")
	if err != nil {
		tb.Fatal(err)
	}
	return benchStep(tb, cfg, batch)
}

// ferRecipeStep is referenceStep for the network of the FER2013 recipe
// (docs/RESULTS.md): ResNet-18 with the small stem at 3/8 width, 48x48x1.
func ferRecipeStep(tb testing.TB, batch int) (trainStep, infer func()) {
	tb.Helper()
	cfg, err := model.Preset("resnet18-small")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.WidthMult, cfg.Input, cfg.Classes = 0.375, [3]int{48, 48, 1}, 7
	return benchStep(tb, cfg, batch)
}

// benchStep wraps train.BenchStep's calls as functions that fail tb.
func benchStep(tb testing.TB, cfg model.Config, batch int) (trainStep, infer func()) {
	tb.Helper()
	s, err := train.NewBenchStep(cfg, train.BenchStepConfig{Batch: batch, Nesterov: true, WeightDecay: 5e-4, LabelSmoothing: 0.1})
	if err != nil {
		tb.Fatal(err)
	}
	check := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return func() { check(s.Train()) }, func() { check(s.Infer()) }
}

// TestStepsDoNotAllocate: after warm-up, a training step and an inference
// pass allocate nothing.
func TestStepsDoNotAllocate(t *testing.T) {
	step, infer := referenceStep(t, 4)
	step()
	infer()
	if n := testing.AllocsPerRun(3, step); n != 0 {
		t.Errorf("training step allocates %.0f times per step", n)
	}
	if n := testing.AllocsPerRun(3, infer); n != 0 {
		t.Errorf("inference allocates %.0f times per pass", n)
	}
}

// BenchmarkReferenceTrain: one training step of the reference network at
// batch 64 (go test -bench Reference -benchmem ./model).
func BenchmarkReferenceTrain(b *testing.B) {
	step, _ := referenceStep(b, 64)
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkFERRecipeTrain: one training step of the FER2013 recipe's
// network at batch 64 (compare: residual bench --model resnet18-small
// --width-mult 0.375 --nesterov --wd 5e-4 --label-smoothing 0.1 --torch).
func BenchmarkFERRecipeTrain(b *testing.B) {
	step, _ := ferRecipeStep(b, 64)
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
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
