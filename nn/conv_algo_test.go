package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/internal/cputime"
	"github.com/residual-go/residual/internal/kernels"
)

// TestConvAlgorithms: each pass reports the algorithm its shape chose.
func TestConvAlgorithms(t *testing.T) {
	if !kernels.WinogradSupported(16) {
		t.Skip("no Winograd transforms in this build (purego or no AVX-512)")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		cfg   Conv2DConfig
		n, hw int
		want  ConvAlgorithms
	}{
		{Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, 8, 8, ConvAlgorithms{AlgoWinograd4, AlgoWinograd4, AlgoWinograd2}},
		{Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, 8, 6, ConvAlgorithms{AlgoWinograd2, AlgoWinograd2, AlgoWinograd2}},
		{Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}, 2, 8, ConvAlgorithms{AlgoImplicit, AlgoImplicit, AlgoImplicit}},
		{Conv2DConfig{InC: 16, OutC: 32, Kernel: 1}, 2, 8, ConvAlgorithms{AlgoGEMM1x1, AlgoGEMM1x1, AlgoGEMM1x1}},
		{Conv2DConfig{InC: 1, OutC: 16, Kernel: 3, Padding: 1, NoInputGrad: true}, 2, 8, ConvAlgorithms{AlgoImplicit, AlgoSkipped, AlgoIm2col}},
	} {
		conv := NewConv2D("conv", c.cfg, rng)
		x := gcRandn(rng, c.n, c.hw, c.hw, c.cfg.InC)
		y := conv.Forward(x, true)
		conv.Backward(gcRandn(rng, y.Shape...))
		if got := conv.Algorithms(); got != c.want {
			t.Errorf("%+v on %dx%dx%d: %+v, want %+v", c.cfg, c.n, c.hw, c.hw, got, c.want)
		}
	}
	// Inference in bf16: the strided layer runs the bf16 implicit GEMM,
	// the Winograd one stays float32.
	if !kernels.HasConvBF16() {
		return
	}
	for _, c := range []struct {
		cfg  Conv2DConfig
		want string
	}{
		{Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}, AlgoImplicitBF16},
		{Conv2DConfig{InC: 16, OutC: 32, Kernel: 1}, AlgoGEMM1x1BF16},
		{Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, AlgoWinograd4},
	} {
		conv := NewConv2D("conv", c.cfg, rng)
		f, _ := NewConvBN(conv, NewBatchNorm2D("bn", BatchNorm2DConfig{C: c.cfg.OutC}), true)
		f.BF16 = true
		f.Forward(gcRandn(rng, 8, 8, 8, c.cfg.InC), nil)
		if got := conv.Algorithms().Forward; got != c.want {
			t.Errorf("%+v in bf16: %s, want %s", c.cfg, got, c.want)
		}
	}
}

// BenchmarkConvBNPrecision: the folded (inference) convolutions of the
// reference network at batch 64 that bf16 changes (the strided 3x3 and the
// 1x1 projection), in float32 and in bfloat16, with the CPU time per call
// (cpu-ms/op), steadier than wall time on a shared machine.
//
//	go test -run x -bench ConvBNPrecision -benchtime 50x ./nn
func BenchmarkConvBNPrecision(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		name string
		cfg  Conv2DConfig
		hw   int
	}{
		{"3x3s2_16-32_48", Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}, 48},
		{"1x1s2_16-32_48", Conv2DConfig{InC: 16, OutC: 32, Kernel: 1, Stride: 2}, 48},
		{"3x3s2_32-64_24", Conv2DConfig{InC: 32, OutC: 64, Kernel: 3, Stride: 2, Padding: 1}, 24},
	} {
		conv := NewConv2D("conv", s.cfg, rng)
		f, _ := NewConvBN(conv, NewBatchNorm2D("bn", BatchNorm2DConfig{C: s.cfg.OutC}), true)
		x := gcRandn(rng, 64, s.hw, s.hw, s.cfg.InC)
		for _, bf16 := range []bool{false, true} {
			if bf16 && !kernels.HasConvBF16() {
				continue
			}
			b.Run(s.name+map[bool]string{false: "/fp32", true: "/bf16"}[bf16], func(b *testing.B) {
				f.BF16 = bf16
				f.Forward(x, nil)
				c0 := cputime.Process()
				b.ResetTimer()
				for range b.N {
					f.Forward(x, nil)
				}
				b.ReportMetric(float64((cputime.Process()-c0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
