package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// basicBlock is a ResNet basic block with an identity shortcut, composed
// from the layers as a model would: conv-bn-relu-conv-bn, add x, relu.
// It exists to measure the layers together on realistic shapes.
type basicBlock struct {
	conv1, conv2 *Conv2D
	bn1, bn2     *BatchNorm2D
	add          *Add
}

func newBasicBlock(c int, rng *rand.Rand) *basicBlock {
	cfg := Conv2DConfig{InC: c, OutC: c, Kernel: 3, Padding: 1}
	return &basicBlock{
		conv1: NewConv2D("conv1", cfg, rng),
		bn1:   NewBatchNorm2D("bn1", BatchNorm2DConfig{C: c, ReLU: true}),
		conv2: NewConv2D("conv2", cfg, rng),
		bn2:   NewBatchNorm2D("bn2", BatchNorm2DConfig{C: c}),
		add:   NewAdd("add", true),
	}
}

func (b *basicBlock) forward(x *tensor.Tensor) *tensor.Tensor {
	h := b.bn1.Forward(b.conv1.Forward(x, true), true)
	h = b.bn2.Forward(b.conv2.Forward(h, true), true)
	return b.add.Forward(h, x)
}

// backward returns dL/dx: the main branch's dx plus the shortcut's.
func (b *basicBlock) backward(dy, dx *tensor.Tensor) {
	dMain, dShort := b.add.Backward(dy)
	g := b.conv1.Backward(b.bn1.Backward(b.conv2.Backward(b.bn2.Backward(dMain))))
	for i := range dx.Data {
		dx.Data[i] = g.Data[i] + dShort.Data[i]
	}
}

// TestBasicBlockGradients checks the composed block end to end.
func TestBasicBlockGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	b := newBasicBlock(3, rng)
	x := gcRandn(rng, 2, 4, 4, 3)
	r := gcRandn(rng, 2, 4, 4, 3)
	b.forward(x)
	dx := tensor.New(x.Shape...)
	b.backward(r, dx)
	targets := []gcTarget{{"x", x, dx}}
	for _, l := range []Layer{b.conv1, b.bn1, b.conv2, b.bn2} {
		for _, p := range l.Params() {
			targets = append(targets, gcTarget{p.Name, p.Value, p.Grad.Clone()})
		}
	}
	gcCheck(t, func() float64 { return gcDot(b.forward(x), r) }, targets, 1e-3, 1e-2, 20)
}

func benchBasicBlock(b *testing.B, c, hw int) {
	rng := rand.New(rand.NewPCG(1, 1))
	blk := newBasicBlock(c, rng)
	x := gcRandn(rng, 64, hw, hw, c)
	dy := gcRandn(rng, 64, hw, hw, c)
	dx := tensor.New(x.Shape...)
	blk.forward(x)
	blk.backward(dy, dx)
	flops := 3 * 2 * 2 * float64(64*hw*hw*c) * float64(9*c) // 2 convs, fwd + 2 bwd GEMMs
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		blk.forward(x)
		blk.backward(dy, dx)
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkBasicBlockC16 is one training step (forward and backward) of a
// basic block on the reference network's first stage: (64,48,48,16).
func BenchmarkBasicBlockC16(b *testing.B) { benchBasicBlock(b, 16, 48) }

// BenchmarkBasicBlockC32 is the second stage: (64,24,24,32).
func BenchmarkBasicBlockC32(b *testing.B) { benchBasicBlock(b, 32, 24) }

// BenchmarkBasicBlockC64 is the third stage: (64,12,12,64).
func BenchmarkBasicBlockC64(b *testing.B) { benchBasicBlock(b, 64, 12) }
