package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// bnRef computes batch statistics in float64 the textbook way.
func bnRef(x *tensor.Tensor) (mean, biasedVar []float64) {
	c := x.Shape[3]
	m := x.Len() / c
	mean = make([]float64, c)
	biasedVar = make([]float64, c)
	for i := 0; i < m; i++ {
		for j := 0; j < c; j++ {
			mean[j] += float64(x.Data[i*c+j])
		}
	}
	for j := range mean {
		mean[j] /= float64(m)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < c; j++ {
			d := float64(x.Data[i*c+j]) - mean[j]
			biasedVar[j] += d * d
		}
	}
	for j := range biasedVar {
		biasedVar[j] /= float64(m)
	}
	return mean, biasedVar
}

func TestBatchNorm2DTrainingAndRunningStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := NewBatchNorm2D("bn1", BatchNorm2DConfig{C: 3})
	for j := 0; j < 3; j++ {
		b.Weight.Value.Data[j] = float32(1 + 0.5*float64(j))
		b.Bias.Value.Data[j] = float32(j) - 1
	}
	x := gcRandn(rng, 4, 3, 5, 3)
	for i := range x.Data {
		x.Data[i] = x.Data[i]*2 + 100 // large mean, to test stability
	}
	y := b.Forward(x, true)
	mean, v := bnRef(x)
	m := float64(x.Len() / 3)
	for i := 0; i < x.Len(); i++ {
		j := i % 3
		want := float64(b.Weight.Value.Data[j])*(float64(x.Data[i])-mean[j])/math.Sqrt(v[j]+1e-5) + float64(b.Bias.Value.Data[j])
		if math.Abs(float64(y.Data[i])-want) > 1e-4*(1+math.Abs(want)) {
			t.Fatalf("y[%d] = %g, want %g", i, y.Data[i], want)
		}
	}
	for j := 0; j < 3; j++ {
		wantMean := 0.9*0 + 0.1*mean[j]
		wantVar := 0.9*1 + 0.1*v[j]*m/(m-1)
		if math.Abs(float64(b.RunningMean.Value.Data[j])-wantMean) > 1e-5*(1+math.Abs(wantMean)) {
			t.Errorf("running_mean[%d] = %g, want %g", j, b.RunningMean.Value.Data[j], wantMean)
		}
		if math.Abs(float64(b.RunningVar.Value.Data[j])-wantVar) > 1e-5*(1+wantVar) {
			t.Errorf("running_var[%d] = %g, want %g", j, b.RunningVar.Value.Data[j], wantVar)
		}
	}
	if got := b.NumBatchesTracked.Value.Data[0]; got != 1 {
		t.Errorf("num_batches_tracked = %g, want 1", got)
	}
	// Eval uses the running statistics and leaves them alone.
	rm := b.RunningMean.Value.Clone()
	y = b.Forward(x, false)
	for i := 0; i < x.Len(); i++ {
		j := i % 3
		want := float64(b.Weight.Value.Data[j])*(float64(x.Data[i])-float64(rm.Data[j]))/math.Sqrt(float64(b.RunningVar.Value.Data[j])+1e-5) + float64(b.Bias.Value.Data[j])
		if math.Abs(float64(y.Data[i])-want) > 1e-4*(1+math.Abs(want)) {
			t.Fatalf("eval y[%d] = %g, want %g", i, y.Data[i], want)
		}
	}
	if b.RunningMean.Value.Data[0] != rm.Data[0] || b.NumBatchesTracked.Value.Data[0] != 1 {
		t.Error("eval Forward changed the running statistics")
	}
}

func TestBatchNorm2DFusedReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	plain := NewBatchNorm2D("bn", BatchNorm2DConfig{C: 4})
	fused := NewBatchNorm2D("bn", BatchNorm2DConfig{C: 4, ReLU: true})
	x := gcRandn(rng, 2, 3, 3, 4)
	for _, train := range []bool{true, false} {
		a := plain.Forward(x, train)
		b := fused.Forward(x, train)
		for i := range a.Data {
			if max(a.Data[i], 0) != b.Data[i] {
				t.Fatalf("train=%v: fused y[%d] = %g, want relu(%g)", train, i, b.Data[i], a.Data[i])
			}
		}
	}
}

func TestBatchNorm2DGradients(t *testing.T) {
	// 16 channels take the AVX-512 kernels where the CPU has them.
	for _, c := range []int{3, 16} {
		for _, relu := range []bool{false, true} {
			rng := rand.New(rand.NewPCG(3, 3))
			b := NewBatchNorm2D("bn", BatchNorm2DConfig{C: c, ReLU: relu})
			for j := 0; j < c; j++ {
				b.Weight.Value.Data[j] = float32(0.5 + rng.Float64())
				b.Bias.Value.Data[j] = float32(rng.NormFloat64() * 0.3)
			}
			x := gcRandn(rng, 3, 4, 2, c)
			gcLayer(t, b, x, 1e-3, 2e-3, nil)
		}
	}
}

// TestBatchNorm2DGradientsLargeMean checks the backward pass on inputs
// whose mean is large next to their spread.
func TestBatchNorm2DGradientsLargeMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	b := NewBatchNorm2D("bn", BatchNorm2DConfig{C: 5})
	x := gcRandn(rng, 2, 3, 3, 5)
	for i := range x.Data {
		x.Data[i] = 30 + 0.5*x.Data[i]
	}
	gcLayer(t, b, x, 1e-2, 3e-3, nil)
}

func TestBatchNorm2DShapeErrors(t *testing.T) {
	b := NewBatchNorm2D("layer2.0.bn1", BatchNorm2DConfig{C: 32})
	_, err := b.OutShape([]int{8, 24, 24, 16})
	gcWantErr(t, err, "layer2.0.bn1", "(8,24,24,16)", "(N,H,W,32)")
	_, err = b.OutShape([]int{8, 32})
	gcWantErr(t, err, "layer2.0.bn1", "(8,32)")
	bad := NewBatchNorm2D("bad", BatchNorm2DConfig{C: 4, Momentum: 2})
	_, err = bad.OutShape([]int{1, 2, 2, 4})
	gcWantErr(t, err, "bad", "momentum 2")
	bad = NewBatchNorm2D("bad", BatchNorm2DConfig{C: 0})
	_, err = bad.OutShape([]int{1, 2, 2, 4})
	gcWantErr(t, err, "bad", "C=0")
}

func TestBatchNorm2DNames(t *testing.T) {
	b := NewBatchNorm2D("bn1", BatchNorm2DConfig{C: 2})
	var names []string
	for _, p := range append(b.Params(), b.Buffers()...) {
		names = append(names, p.Name)
	}
	want := []string{"bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"}
	for i := range want {
		if i >= len(names) || names[i] != want[i] {
			t.Fatalf("names %v, want %v", names, want)
		}
	}
	if !b.Weight.NoDecay || !b.Bias.NoDecay || b.RunningMean.Grad != nil {
		t.Error("gamma/beta must be NoDecay and buffers gradient-free")
	}
}

func TestBatchNorm2DZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	b := NewBatchNorm2D("bn", BatchNorm2DConfig{C: 16, ReLU: true})
	x := gcRandn(rng, 8, 12, 12, 16)
	dy := gcRandn(rng, 8, 12, 12, 16)
	gcZeroAllocs(t, "BatchNorm2D", func() { b.Forward(x, true); b.Backward(dy) })
	if a := testing.AllocsPerRun(5, func() { b.Forward(x, false) }); a != 0 {
		t.Errorf("eval Forward: %v allocations", a)
	}
}

func benchBN(b *testing.B, c int, hw int, backward bool) {
	rng := rand.New(rand.NewPCG(1, 1))
	bn := NewBatchNorm2D("bn", BatchNorm2DConfig{C: c, ReLU: true})
	x := gcRandn(rng, 64, hw, hw, c)
	dy := gcRandn(rng, 64, hw, hw, c)
	bn.Forward(x, true)
	bn.Backward(dy)
	b.SetBytes(int64(4 * x.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if backward {
			bn.Backward(dy)
		} else {
			bn.Forward(x, true)
		}
	}
}

func BenchmarkBatchNorm2DC16Forward(b *testing.B)  { benchBN(b, 16, 48, false) }
func BenchmarkBatchNorm2DC16Backward(b *testing.B) { benchBN(b, 16, 48, true) }
func BenchmarkBatchNorm2DC64Forward(b *testing.B)  { benchBN(b, 64, 12, false) }
func BenchmarkBatchNorm2DC64Backward(b *testing.B) { benchBN(b, 64, 12, true) }
