package nn

import (
	"math/rand/v2"
	"testing"

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
