package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/tensor"
)

// convRef is a direct float64 convolution: the definition, loop by loop.
func convRef(c *Conv2D, x *tensor.Tensor) []float64 {
	n, h, w, cin := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := c.outHW(h, w)
	cout, s, p := c.cfg.OutC, c.cfg.Stride, c.cfg.Padding
	out := make([]float64, n*ho*wo*cout)
	for b := 0; b < n; b++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				for o := 0; o < cout; o++ {
					var acc float64
					if c.Bias != nil {
						acc = float64(c.Bias.Value.Data[o])
					}
					for ky := 0; ky < c.kh; ky++ {
						for kx := 0; kx < c.kw; kx++ {
							iy, ix := oy*s-p+ky, ox*s-p+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							for i := 0; i < cin; i++ {
								acc += float64(x.Data[((b*h+iy)*w+ix)*cin+i]) *
									float64(c.Weight.Value.Data[((o*c.kh+ky)*c.kw+kx)*cin+i])
							}
						}
					}
					out[((b*ho+oy)*wo+ox)*cout+o] = acc
				}
			}
		}
	}
	return out
}

var convCases = []struct {
	name string
	cfg  Conv2DConfig
	h, w int
}{
	{"3x3s1p1", Conv2DConfig{InC: 3, OutC: 4, Kernel: 3, Padding: 1}, 5, 6},
	{"3x3s2p1bias", Conv2DConfig{InC: 2, OutC: 5, Kernel: 3, Stride: 2, Padding: 1, Bias: true}, 7, 6},
	{"1x1s1", Conv2DConfig{InC: 4, OutC: 3, Kernel: 1}, 4, 5},
	{"1x1s1bias", Conv2DConfig{InC: 4, OutC: 3, Kernel: 1, Bias: true}, 3, 3},
	{"1x1s2", Conv2DConfig{InC: 3, OutC: 6, Kernel: 1, Stride: 2}, 5, 4},
	{"rect2x3s1p0", Conv2DConfig{InC: 2, OutC: 3, KernelH: 2, KernelW: 3}, 4, 5},
	{"5x5s2p2", Conv2DConfig{InC: 1, OutC: 2, Kernel: 5, Stride: 2, Padding: 2}, 6, 7},
	{"7x7s2p3", Conv2DConfig{InC: 1, OutC: 2, Kernel: 7, Stride: 2, Padding: 3}, 9, 8},
	{"rect2x3s1p1", Conv2DConfig{InC: 3, OutC: 2, KernelH: 2, KernelW: 3, Padding: 1}, 4, 5},
	{"rect3x1s1p1", Conv2DConfig{InC: 2, OutC: 3, KernelH: 3, KernelW: 1, Padding: 1}, 4, 3}, // padding > KW-1
	{"1x1s1p1", Conv2DConfig{InC: 2, OutC: 3, Kernel: 1, Padding: 1}, 3, 3},                  // padding > K-1
	{"3x3s1p0c8", Conv2DConfig{InC: 8, OutC: 5, Kernel: 3}, 6, 5},
	// Channel counts that suit the implicit weight gradient's kernels.
	{"3x3s1p1c16", Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, 5, 6},
	{"3x3s2p1c16to32", Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}, 6, 5},
	{"1x1s2c16to32", Conv2DConfig{InC: 16, OutC: 32, Kernel: 1, Stride: 2}, 5, 6},
}

// convPaths runs f with each way of computing a convolution (im2col +
// GEMM, implicit GEMM) forced on every layer.
func convPaths(t *testing.T, f func(t *testing.T)) {
	defer func(v int) { implicitMinRow = v }(implicitMinRow)
	for _, p := range []struct {
		name   string
		minRow int
	}{{"im2col", math.MaxInt}, {"implicit", 1}} {
		implicitMinRow = p.minRow
		t.Run(p.name, f)
	}
}

func TestConv2DMatchesDirectConvolution(t *testing.T) { convPaths(t, testConv2DMatchesDirect) }

func testConv2DMatchesDirect(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			c := NewConv2D("conv", tc.cfg, rng)
			if c.Bias != nil {
				for i := range c.Bias.Value.Data {
					c.Bias.Value.Data[i] = float32(rng.NormFloat64())
				}
			}
			x := gcRandn(rng, 2, tc.h, tc.w, tc.cfg.InC)
			y := c.Forward(x, false)
			want := convRef(c, x)
			for i, v := range want {
				if math.Abs(float64(y.Data[i])-v) > 1e-4*(1+math.Abs(v)) {
					t.Fatalf("y[%d] = %g, want %g", i, y.Data[i], v)
				}
			}
		})
	}
}

func TestConv2DGradients(t *testing.T) { convPaths(t, testConv2DGradients) }

func testConv2DGradients(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			c := NewConv2D("conv", tc.cfg, rng)
			x := gcRandn(rng, 2, tc.h, tc.w, tc.cfg.InC)
			gcLayer(t, c, x, 1e-2, 1e-3, nil)
		})
	}
}

// TestConv2DBlocks forces one row per block, so that Forward and Backward
// go through many blocks, accumulating dW across them.
func TestConv2DBlocks(t *testing.T) { convPaths(t, testConv2DBlocks) }

func testConv2DBlocks(t *testing.T) {
	defer func(v int) { colsBlockFloats = v }(colsBlockFloats)
	colsBlockFloats = 1
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 7))
			c := NewConv2D("conv", tc.cfg, rng)
			x := gcRandn(rng, 3, tc.h, tc.w, tc.cfg.InC)
			y := c.Forward(x, true)
			for i, v := range convRef(c, x) {
				if math.Abs(float64(y.Data[i])-v) > 1e-4*(1+math.Abs(v)) {
					t.Fatalf("y[%d] = %g, want %g", i, y.Data[i], v)
				}
			}
			if !c.direct() && !c.implicit(tc.cfg.InC) && c.blkRows != 1 {
				t.Fatalf("%d rows per block, want 1", c.blkRows)
			}
			gcLayer(t, c, x, 1e-2, 1e-3, nil)
		})
	}
}

func TestConv2DNoInputGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	c := NewConv2D("stem", Conv2DConfig{InC: 1, OutC: 4, Kernel: 3, Padding: 1, NoInputGrad: true}, rng)
	x := gcRandn(rng, 2, 5, 5, 1)
	c.Forward(x, true)
	if dx := c.Backward(gcRandn(rng, 2, 5, 5, 4)); dx != nil {
		t.Fatalf("Backward with NoInputGrad returned %v, want nil", dx)
	}
	gcLayer(t, c, x, 1e-2, 1e-3, nil) // parameter gradients only
}

// TestConv2DBatchChange runs a smaller then a larger batch through one
// layer: buffers must follow the batch size.
func TestConv2DBatchChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	c := NewConv2D("conv", Conv2DConfig{InC: 2, OutC: 3, Kernel: 3, Padding: 1}, rng)
	for _, n := range []int{1, 3, 2} {
		x := gcRandn(rng, n, 4, 4, 2)
		y := c.Forward(x, true)
		want := convRef(c, x)
		if y.Len() != len(want) || y.Shape[0] != n {
			t.Fatalf("batch %d: output %v", n, y.Shape)
		}
		for i, v := range want {
			if math.Abs(float64(y.Data[i])-v) > 1e-4*(1+math.Abs(v)) {
				t.Fatalf("batch %d: y[%d] = %g, want %g", n, i, y.Data[i], v)
			}
		}
		if dx := c.Backward(y); dx.Shape[0] != n {
			t.Fatalf("batch %d: dx %v", n, dx.Shape)
		}
	}
}

// TestConv2DFollowsWeightChanges: Forward keeps its packed weights while
// the weights are unchanged and must notice any (announced) change, wherever it is
// and whatever the batch, on every path.
func TestConv2DFollowsWeightChanges(t *testing.T) {
	convPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(4, 4))
		for _, cfg := range []Conv2DConfig{
			{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1},
			{InC: 3, OutC: 8, Kernel: 7, Stride: 2, Padding: 3},
			{InC: 16, OutC: 16, Kernel: 3, Padding: 1},
		} {
			c := NewConv2D("conv", cfg, rng)
			w := c.Weight.Value.Data
			for step, n := range []int{2, 2, 1, 3, 3} {
				x := gcRandn(rng, n, 9, 9, cfg.InC)
				c.Forward(x, step%2 == 0) // the same twice, then a change
				if step > 0 {
					w[(step*7919)%len(w)] += 0.5
					c.Weight.Changed() // every writer announces its change
				}
				y := c.Forward(x, false)
				want := convRef(c, x)
				for i, v := range want {
					if math.Abs(float64(y.Data[i])-v) > 1e-4*(1+math.Abs(v)) {
						t.Fatalf("%+v step %d: y[%d] = %g, want %g", cfg, step, i, y.Data[i], v)
					}
				}
			}
		}
	})
}

func TestConv2DInit(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	c := NewConv2D("conv", Conv2DConfig{InC: 64, OutC: 64, Kernel: 3}, rng)
	var s, ss float64
	for _, v := range c.Weight.Value.Data {
		s += float64(v)
		ss += float64(v) * float64(v)
	}
	n := float64(c.Weight.Value.Len())
	std := math.Sqrt(ss/n - (s/n)*(s/n))
	want := math.Sqrt(2.0 / (64 * 9))
	if math.Abs(std-want) > 0.02*want {
		t.Errorf("weight std %g, want Kaiming fan_out %g", std, want)
	}
	if got := c.Weight.Name; got != "conv.weight" {
		t.Errorf("weight name %q", got)
	}
	if !tensor.SameShape(c.Weight.Value.Shape, []int{64, 3, 3, 64}) {
		t.Errorf("weight shape %v, want (Cout,KH,KW,Cin)", c.Weight.Value.Shape)
	}
	// Same seed, same weights.
	c2 := NewConv2D("conv", Conv2DConfig{InC: 64, OutC: 64, Kernel: 3}, rand.New(rand.NewPCG(9, 9)))
	for i := range c.Weight.Value.Data {
		if c.Weight.Value.Data[i] != c2.Weight.Value.Data[i] {
			t.Fatal("same seed gave different weights")
		}
	}
}

func TestConv2DShapeErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	c := NewConv2D("layer1.0.conv1", Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, rng)
	if s, err := c.OutShape([]int{8, 48, 48, 16}); err != nil || !tensor.SameShape(s, []int{8, 48, 48, 16}) {
		t.Fatalf("OutShape = %v, %v", s, err)
	}
	_, err := c.OutShape([]int{8, 48, 48, 3})
	gcWantErr(t, err, "layer1.0.conv1", "(8,48,48,3)", "(N,H,W,16)")
	_, err = c.OutShape([]int{8, 48, 48})
	gcWantErr(t, err, "layer1.0.conv1", "(8,48,48)")
	big := NewConv2D("big", Conv2DConfig{InC: 1, OutC: 1, Kernel: 7}, rng)
	_, err = big.OutShape([]int{1, 5, 5, 1})
	gcWantErr(t, err, "big", "(1,5,5,1)")
	bad := NewConv2D("bad", Conv2DConfig{InC: 1, OutC: 0, Kernel: 3}, rng)
	_, err = bad.OutShape([]int{1, 5, 5, 1})
	gcWantErr(t, err, "bad", "OutC=0")
	bad = NewConv2D("bad", Conv2DConfig{InC: 1, OutC: 1, Kernel: 3, Stride: -1}, rng)
	_, err = bad.OutShape([]int{1, 5, 5, 1})
	gcWantErr(t, err, "bad", "stride -1")
}

func TestConv2DZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, cfg := range []Conv2DConfig{
		{InC: 4, OutC: 8, Kernel: 3, Padding: 1, Bias: true},
		{InC: 4, OutC: 8, Kernel: 1},
		{InC: 4, OutC: 8, Kernel: 1, Stride: 2},
		{InC: 4, OutC: 8, Kernel: 3, Stride: 2, Padding: 1},
	} {
		c := NewConv2D("conv", cfg, rng)
		x := gcRandn(rng, 8, 12, 12, 4)
		shape, _ := c.OutShape(x.Shape)
		dy := gcRandn(rng, shape...)
		gcZeroAllocs(t, "Conv2D", func() { c.Forward(x, true); c.Backward(dy) })
	}
}

// benchConv measures forward and backward of a convolution on the
// reference network's shapes and reports GFLOP/s (2 flops per MAC; the
// backward pass does two GEMMs of the forward's size, one without dx).
func benchConv(b *testing.B, n, h, w int, cfg Conv2DConfig, backward bool) {
	rng := rand.New(rand.NewPCG(1, 1))
	c := NewConv2D("conv", cfg, rng)
	x := gcRandn(rng, n, h, w, cfg.InC)
	shape, err := c.OutShape(x.Shape)
	if err != nil {
		b.Fatal(err)
	}
	dy := gcRandn(rng, shape...)
	c.Forward(x, true)
	if backward {
		c.Backward(dy)
	}
	flops := 2 * float64(tensor.Numel(shape)) * float64(c.kh*c.kw*cfg.InC)
	if backward {
		flops *= 2
		if cfg.NoInputGrad {
			flops /= 2
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if backward {
			c.Backward(dy)
		} else {
			c.Forward(x, true)
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkConv2D3x3C16Forward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, false)
}

func BenchmarkConv2D3x3C16Backward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, true)
}

func BenchmarkConv2D3x3C32Forward(b *testing.B) {
	benchConv(b, 64, 24, 24, Conv2DConfig{InC: 32, OutC: 32, Kernel: 3, Padding: 1}, false)
}

func BenchmarkConv2D3x3C32Backward(b *testing.B) {
	benchConv(b, 64, 24, 24, Conv2DConfig{InC: 32, OutC: 32, Kernel: 3, Padding: 1}, true)
}

func BenchmarkConv2D3x3C64Forward(b *testing.B) {
	benchConv(b, 64, 12, 12, Conv2DConfig{InC: 64, OutC: 64, Kernel: 3, Padding: 1}, false)
}

func BenchmarkConv2D3x3C64Backward(b *testing.B) {
	benchConv(b, 64, 12, 12, Conv2DConfig{InC: 64, OutC: 64, Kernel: 3, Padding: 1}, true)
}

func BenchmarkConv2DStemForward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 1, OutC: 16, Kernel: 3, Padding: 1, NoInputGrad: true}, false)
}

func BenchmarkConv2DStemBackward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 1, OutC: 16, Kernel: 3, Padding: 1, NoInputGrad: true}, true)
}

func BenchmarkConv2D3x3S2C16to32Forward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}, false)
}

func BenchmarkConv2D3x3S2C16to32Backward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}, true)
}

func BenchmarkConv2D1x1S2C16to32Forward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 16, OutC: 32, Kernel: 1, Stride: 2}, false)
}

func BenchmarkConv2D1x1S2C16to32Backward(b *testing.B) {
	benchConv(b, 64, 48, 48, Conv2DConfig{InC: 16, OutC: 32, Kernel: 1, Stride: 2}, true)
}

// TestConv2DRandomConfigs checks forward and gradients on random
// geometries (kernel, stride, padding, image size, block size), against
// the direct convolution and finite differences.
func TestConv2DRandomConfigs(t *testing.T) {
	defer func(v int) { colsBlockFloats = v }(colsBlockFloats)
	defer func(v int) { implicitMinRow = v }(implicitMinRow)
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 40; i++ {
		cfg := Conv2DConfig{
			InC: 1 + rng.IntN(4), OutC: 1 + rng.IntN(4),
			KernelH: 1 + rng.IntN(4), KernelW: 1 + rng.IntN(4),
			Stride: 1 + rng.IntN(3), Padding: rng.IntN(3), Bias: rng.IntN(2) == 0,
		}
		h, w := cfg.KernelH+rng.IntN(5), cfg.KernelW+rng.IntN(5)
		colsBlockFloats = []int{1, 50, 1 << 21}[rng.IntN(3)]
		implicitMinRow = []int{1, math.MaxInt}[rng.IntN(2)]
		c := NewConv2D("conv", cfg, rng)
		x := gcRandn(rng, 1+rng.IntN(3), h, w, cfg.InC)
		if _, err := c.OutShape(x.Shape); err != nil {
			t.Fatalf("%+v on %v: %v", cfg, x.Shape, err)
		}
		y := c.Forward(x, true)
		for j, v := range convRef(c, x) {
			if math.Abs(float64(y.Data[j])-v) > 1e-4*(1+math.Abs(v)) {
				t.Fatalf("%+v on %v: y[%d] = %g, want %g", cfg, x.Shape, j, y.Data[j], v)
			}
		}
		gcLayer(t, c, x, 1e-2, 1e-3, nil)
		if t.Failed() {
			t.Fatalf("config %+v, input %v, block %d, implicit from %d", cfg, x.Shape, colsBlockFloats, implicitMinRow)
		}
	}
}

// BenchmarkConv2DPaths compares im2col + GEMM with the implicit GEMM on
// the reference network's 3x3 convolutions, forward and backward.
func BenchmarkConv2DPaths(b *testing.B) {
	defer func(v int) { implicitMinRow = v }(implicitMinRow)
	for _, s := range []struct {
		name string
		hw   int
		cfg  Conv2DConfig
	}{
		{"C16", 48, Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}},
		{"C32", 24, Conv2DConfig{InC: 32, OutC: 32, Kernel: 3, Padding: 1}},
		{"C64", 12, Conv2DConfig{InC: 64, OutC: 64, Kernel: 3, Padding: 1}},
		{"S2C16to32", 48, Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}},
	} {
		for _, backward := range []bool{false, true} {
			for _, p := range []struct {
				name   string
				minRow int
			}{{"im2col", math.MaxInt}, {"implicit", 1}} {
				name := s.name + "/" + map[bool]string{false: "fwd", true: "bwd"}[backward] + "/" + p.name
				b.Run(name, func(b *testing.B) {
					implicitMinRow = p.minRow
					benchConv(b, 64, s.hw, s.hw, s.cfg, backward)
				})
			}
		}
	}
}

// TestConvBNMatchesLayers checks the folded convolution + BN (+ residual,
// + ReLU) against the layers run one by one in evaluation mode, on each
// convolution path, and that it follows parameter changes.
func TestConvBNMatchesLayers(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, tc := range []struct {
		name     string
		cfg      Conv2DConfig
		residual bool
		relu     bool
	}{
		{"implicit3x3", Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, true, true},
		{"implicitS2", Conv2DConfig{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1}, false, true},
		{"direct1x1", Conv2DConfig{InC: 8, OutC: 12, Kernel: 1}, true, false},
		{"im2colBias", Conv2DConfig{InC: 1, OutC: 5, Kernel: 3, Padding: 1, Bias: true}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conv := NewConv2D("conv", tc.cfg, rng)
			bn := NewBatchNorm2D("bn", BatchNorm2DConfig{C: tc.cfg.OutC})
			f, err := NewConvBN(conv, bn, tc.relu)
			if err != nil {
				t.Fatal(err)
			}
			x := gcRandn(rng, 3, 7, 6, tc.cfg.InC)
			shape, _ := conv.OutShape(x.Shape)
			var res *tensor.Tensor
			if tc.residual {
				res = gcRandn(rng, shape...)
			}
			for round := 0; round < 2; round++ {
				// New parameters each round: the fold must follow them.
				for _, p := range append(conv.Params(), bn.Params()...) {
					for i := range p.Value.Data {
						p.Value.Data[i] = float32(rng.NormFloat64())
					}
				}
				for i := range bn.RunningMean.Value.Data {
					bn.RunningMean.Value.Data[i] = float32(rng.NormFloat64())
					bn.RunningVar.Value.Data[i] = float32(0.5 + rng.Float64())
				}
				for _, p := range append(append(conv.Params(), bn.Params()...), bn.Buffers()...) {
					p.Changed() // every writer announces its change
				}
				want := bn.Forward(conv.Forward(x, false), false).Clone()
				if res != nil {
					for i := range want.Data {
						want.Data[i] += res.Data[i]
					}
				}
				if tc.relu {
					for i, v := range want.Data {
						want.Data[i] = max(v, 0)
					}
				}
				got := f.Forward(x, res)
				for i, v := range want.Data {
					if math.Abs(float64(got.Data[i]-v)) > 1e-4*(1+math.Abs(float64(v))) {
						t.Fatalf("round %d: y[%d] = %g, want %g", round, i, got.Data[i], v)
					}
				}
			}
			gcZeroAllocs(t, "ConvBN", func() { f.Forward(x, res) })
		})
	}
}

// TestConvBNBF16 compares the bfloat16 folded convolution with the
// float32 one: within bf16 rounding (~3 significant digits of the inputs),
// and not bit-identical (so the bf16 kernels did run), except where the
// layer runs Winograd, which stays float32 (it does fewer multiplications
// than the bf16 implicit GEMM saves) and so matches exactly.
func TestConvBNBF16(t *testing.T) {
	if !kernels.HasConvBF16() {
		t.Skip("no AVX512_BF16 on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, cfg := range []Conv2DConfig{
		{InC: 16, OutC: 16, Kernel: 3, Padding: 1}, // Winograd: float32
		{InC: 16, OutC: 32, Kernel: 3, Stride: 2, Padding: 1},
		{InC: 32, OutC: 64, Kernel: 1, Stride: 2},
		{InC: 8, OutC: 12, Kernel: 1}, // direct: SgemmBF16
		{InC: 6, OutC: 5, Kernel: 3, Padding: 1},
		{InC: 8, OutC: 16, Kernel: 3, Padding: 1}, // too few channels for Winograd: bf16
	} {
		conv := NewConv2D("conv", cfg, rng)
		bn := NewBatchNorm2D("bn", BatchNorm2DConfig{C: cfg.OutC})
		f, _ := NewConvBN(conv, bn, true)
		x := gcRandn(rng, 2, 9, 10, cfg.InC)
		want := f.Forward(x, nil).Clone()
		f.BF16 = true
		got := f.Forward(x, nil)
		var rms, maxDiff float64
		for i, v := range want.Data {
			rms += float64(v * v)
			maxDiff = max(maxDiff, math.Abs(float64(got.Data[i]-v)))
		}
		rms = math.Sqrt(rms / float64(want.Len()))
		t.Logf("%+v: max |bf16 - fp32| %.3g, rms of y %.3g", cfg, maxDiff, rms)
		if conv.winograd() {
			if maxDiff != 0 {
				t.Errorf("%+v: Winograd layer in bf16 mode differs from float32 by %g, want 0 (it runs float32)", cfg, maxDiff)
			}
		} else if maxDiff > 0.02*rms || maxDiff == 0 {
			t.Errorf("%+v: bf16 differs from float32 by up to %g (rms of y %g), want (0, 2%%]", cfg, maxDiff, rms)
		}
		gcZeroAllocs(t, "ConvBN bf16", func() { f.Forward(x, nil) })
	}
}

// TestConvBNVersions: with every source parameter's version unchanged the
// fold is trusted without comparing values (a snapshot corrupted behind
// its back goes unnoticed); after Changed the values are compared again,
// and a version of 0 (unknown) always compares.
func TestConvBNVersions(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	conv := NewConv2D("conv", Conv2DConfig{InC: 8, OutC: 8, Kernel: 3, Padding: 1}, rng)
	bn := NewBatchNorm2D("bn", BatchNorm2DConfig{C: 8})
	f, _ := NewConvBN(conv, bn, false)
	f.Forward(gcRandn(rng, 1, 6, 6, 8), nil)
	f.snapshot[0] += 1 // as if the weight had changed without Changed
	if f.stale() {
		t.Fatal("stale with every version unchanged: the values were compared")
	}
	conv.Weight.Changed()
	if !f.stale() {
		t.Fatal("not stale after Changed although the values differ from the snapshot")
	}
	f.fold()
	if f.stale() {
		t.Fatal("stale right after folding")
	}
	conv.Weight.Changed() // a new version, the same values: compared, equal, trusted again
	if f.stale() || f.keys != f.sourceKeys() {
		t.Fatal("a new version with unchanged values: stale, or keys not updated")
	}
	bn.Bias.version = 0 // unknown
	bn.Bias.Value.Data[0] += 1
	if !f.stale() {
		t.Fatal("an unknown version was trusted")
	}
}
