package nn

import (
	"github.com/residual-go/residual/internal/cputime"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/internal/kernels"
)

// winogradPaths runs f with Winograd disabled and forced on (from one
// channel up).
func winogradPaths(t *testing.T, f func(t *testing.T)) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	for _, p := range []struct {
		name string
		minC int
	}{{"direct", math.MaxInt}, {"winograd", 1}} {
		winogradMinC = p.minC
		t.Run(p.name, f)
	}
}

// TestWinogradMatchesDirect compares Winograd convolutions with the
// float64 definition on shapes with odd sizes (tiles past the edge),
// batch 1, one pixel, and many channels.
func TestWinogradMatchesDirect(t *testing.T) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	defer func(v bool) { winograd4On = v }(winograd4On)
	winogradMinC = 1
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range []struct{ n, h, w, cin, cout int }{
		{1, 1, 1, 3, 2}, {1, 2, 2, 1, 1}, {2, 5, 7, 3, 4}, {1, 48, 48, 16, 16},
		{3, 7, 4, 32, 17}, {2, 12, 12, 64, 64}, {1, 3, 9, 96, 40}, {5, 6, 6, 16, 32},
	} {
		// F(2x2,3x3) alone, then F(4x4,3x3) where it applies (less
		// accurate: 5x the tolerance).
		for _, bias := range []bool{false, true} {
			winograd4On = bias
			tol := 1e-5
			if bias {
				tol = 5e-5
			}
			c := NewConv2D("conv", Conv2DConfig{InC: s.cin, OutC: s.cout, Kernel: 3, Padding: 1, Bias: bias}, rng)
			if !c.winograd() {
				t.Fatalf("%+v does not take the Winograd path", s)
			}
			if bias {
				for i := range c.Bias.Value.Data {
					c.Bias.Value.Data[i] = float32(rng.NormFloat64())
				}
			}
			x := gcRandn(rng, s.n, s.h, s.w, s.cin)
			y := c.Forward(x, false)
			want := convRef(c, x)
			// Relative to the size of the terms summed (sqrt(9*Cin) of
			// them of size ~std*|x|).
			scale := math.Sqrt(2/float64(9*s.cout)) * math.Sqrt(float64(9*s.cin))
			for i, v := range want {
				if d := math.Abs(float64(y.Data[i]) - v); d > tol*(scale+math.Abs(v)) {
					t.Fatalf("%+v bias %v: y[%d] = %g, want %g (error %g)", s, bias, i, y.Data[i], v, d)
				}
			}
		}
	}
}

// TestWinogradGradients: Backward after a Winograd Forward (whose padded
// input has extra rows and columns for odd sizes) by finite differences.
func TestWinogradGradients(t *testing.T) {
	winogradPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, s := range []struct{ h, w, c int }{{5, 6, 16}, {4, 4, 16}, {3, 5, 16}} {
			c := NewConv2D("conv", Conv2DConfig{InC: s.c, OutC: s.c, Kernel: 3, Padding: 1}, rng)
			x := gcRandn(rng, 2, s.h, s.w, s.c)
			gcLayer(t, c, x, 1e-2, 1e-3, nil)
		}
	})
}

// randomConvBN returns a fused 3x3 convolution (padding 1) and BN with
// ReLU, the BN with random running statistics and scale.
func randomConvBN(t *testing.T, rng *rand.Rand, cin, cout int) *ConvBN {
	t.Helper()
	conv := NewConv2D("conv", Conv2DConfig{InC: cin, OutC: cout, Kernel: 3, Padding: 1}, rng)
	bn := NewBatchNorm2D("bn", BatchNorm2DConfig{C: cout})
	for i := range bn.RunningMean.Value.Data {
		bn.RunningMean.Value.Data[i] = float32(rng.NormFloat64())
		bn.RunningVar.Value.Data[i] = float32(0.5 + rng.Float64())
		bn.Weight.Value.Data[i] = float32(rng.NormFloat64())
	}
	f, err := NewConvBN(conv, bn, true)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWinogradConvBN checks the fused convolution on the Winograd path
// against the direct path, and that it follows weight changes.
func TestWinogradConvBN(t *testing.T) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	rng := rand.New(rand.NewPCG(5, 5))
	f := randomConvBN(t, rng, 32, 32)
	conv := f.Conv
	x := gcRandn(rng, 3, 9, 10, 32)
	res := gcRandn(rng, 3, 9, 10, 32)
	for step := 0; step < 2; step++ {
		winogradMinC = math.MaxInt
		want := f.Forward(x, res).Clone()
		winogradMinC = 1
		got := f.Forward(x, res)
		for i, v := range want.Data {
			if math.Abs(float64(got.Data[i]-v)) > 1e-4*(1+math.Abs(float64(v))) {
				t.Fatalf("step %d: y[%d] = %g, want %g", step, i, got.Data[i], v)
			}
		}
		conv.Weight.Value.Data[0] += 1 // the fold must follow
		conv.Weight.Changed()
	}
}

func TestWinogradZeroAllocs(t *testing.T) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	winogradMinC = 1
	rng := rand.New(rand.NewPCG(1, 1))
	c := NewConv2D("conv", Conv2DConfig{InC: 16, OutC: 16, Kernel: 3, Padding: 1, Bias: true}, rng)
	x := gcRandn(rng, 4, 11, 12, 16)
	dy := gcRandn(rng, 4, 11, 12, 16)
	gcZeroAllocs(t, "Conv2D", func() { c.Forward(x, true); c.Backward(dy) })
}

// BenchmarkWinograd compares the implicit GEMM with Winograd on the
// reference network's 3x3 stride-1 convolutions (batch 64 and 1),
// forward only, in GFLOP (of the direct convolution) per CPU-second. A
// weight changes before every call, so the weights are transformed every
// time, as in training.
//
// The backward pass: BenchmarkConv2D3x3C*Backward with and without
// Winograd (dx only; dW is the same), see BenchmarkWinogradBackward.
func BenchmarkWinograd(b *testing.B) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	for _, s := range []struct {
		name string
		n    int
		hw   int
		c    int
	}{{"C16", 64, 48, 16}, {"C32", 64, 24, 32}, {"C64", 64, 12, 64}, {"C64b1", 1, 12, 64}, {"C16b1", 1, 48, 16}} {
		for _, p := range []struct {
			name string
			minC int
		}{{"implicit", math.MaxInt}, {"winograd", 1}} {
			b.Run(s.name+"/"+p.name, func(b *testing.B) {
				winogradMinC = p.minC
				rng := rand.New(rand.NewPCG(1, 1))
				c := NewConv2D("conv", Conv2DConfig{InC: s.c, OutC: s.c, Kernel: 3, Padding: 1}, rng)
				x := gcRandn(rng, s.n, s.hw, s.hw, s.c)
				c.Forward(x, false)
				flops := 2 * float64(s.n*s.hw*s.hw*s.c) * float64(9*s.c)
				cpu0 := cputime.Process()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					c.Weight.Value.Data[0] = -c.Weight.Value.Data[0] // as an optimizer step would
					c.Weight.Changed()
					c.Forward(x, false)
				}
				b.StopTimer()
				if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
					b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkWinogradBackward compares Backward (dW by implicit GEMM in
// both, dx through Winograd or not) in GFLOP (of the direct dx and dW)
// per CPU-second.
func BenchmarkWinogradBackward(b *testing.B) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	for _, s := range []struct {
		name  string
		n, hw int
		c     int
	}{{"C16", 64, 48, 16}, {"C32", 64, 24, 32}, {"C64", 64, 12, 64}} {
		for _, p := range []struct {
			name string
			minC int
		}{{"implicit", math.MaxInt}, {"winograd", 1}} {
			b.Run(s.name+"/"+p.name, func(b *testing.B) {
				winogradMinC = p.minC
				rng := rand.New(rand.NewPCG(1, 1))
				c := NewConv2D("conv", Conv2DConfig{InC: s.c, OutC: s.c, Kernel: 3, Padding: 1}, rng)
				x := gcRandn(rng, s.n, s.hw, s.hw, s.c)
				dy := gcRandn(rng, s.n, s.hw, s.hw, s.c)
				c.Forward(x, true)
				c.Backward(dy)
				flops := 2 * 2 * float64(s.n*s.hw*s.hw*s.c) * float64(9*s.c)
				cpu0 := cputime.Process()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					c.Backward(dy)
				}
				b.StopTimer()
				if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
					b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkWinogradConvBN compares the fused inference convolution (+BN,
// residual, ReLU; weights folded and transformed once) with and without
// Winograd F(2x2,3x3) and F(4x4,3x3), in GFLOP (of the direct
// convolution) per CPU-second.
func BenchmarkWinogradConvBN(b *testing.B) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	defer func(v bool) { winograd4On = v }(winograd4On)
	for _, s := range []struct {
		name  string
		n, hw int
		c     int
	}{{"C16", 64, 48, 16}, {"C32", 64, 24, 32}, {"C64", 64, 12, 64}, {"C16b1", 1, 48, 16}, {"C32b1", 1, 24, 32}, {"C64b1", 1, 12, 64}} {
		for _, p := range []struct {
			name string
			minC int
			f4   bool
		}{{"implicit", math.MaxInt, false}, {"winograd", 1, false}, {"winograd4", 1, true}} {
			b.Run(s.name+"/"+p.name, func(b *testing.B) {
				winogradMinC, winograd4On = p.minC, p.f4
				rng := rand.New(rand.NewPCG(1, 1))
				conv := NewConv2D("conv", Conv2DConfig{InC: s.c, OutC: s.c, Kernel: 3, Padding: 1}, rng)
				f, err := NewConvBN(conv, NewBatchNorm2D("bn", BatchNorm2DConfig{C: s.c}), true)
				if err != nil {
					b.Fatal(err)
				}
				x := gcRandn(rng, s.n, s.hw, s.hw, s.c)
				res := gcRandn(rng, s.n, s.hw, s.hw, s.c)
				f.Forward(x, res)
				flops := 2 * float64(s.n*s.hw*s.hw*s.c) * float64(9*s.c)
				cpu0 := cputime.Process()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					f.Forward(x, res)
				}
				b.StopTimer()
				if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
					b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestWinogradBackwardMatchesDirect compares y, dW and dx of the Winograd
// path with the implicit-GEMM path on the same input and gradient,
// including odd sizes (partial edge tiles) and channel counts that only
// the plain-Go transforms take.
func TestWinogradBackwardMatchesDirect(t *testing.T) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range []struct{ n, h, w, cin, cout int }{
		{2, 5, 7, 16, 16}, {1, 8, 8, 32, 64}, {3, 6, 3, 64, 32}, {2, 4, 5, 24, 8}, {1, 1, 1, 16, 16},
		{8, 8, 8, 16, 32}, {2, 16, 16, 32, 16}, // F(4x4,3x3) forward and dx
	} {
		c := NewConv2D("conv", Conv2DConfig{InC: s.cin, OutC: s.cout, Kernel: 3, Padding: 1}, rng)
		x := gcRandn(rng, s.n, s.h, s.w, s.cin)
		dy := gcRandn(rng, s.n, s.h, s.w, s.cout)
		var dW, dx, y [2][]float32
		for i, minC := range []int{math.MaxInt, 1} {
			winogradMinC = minC
			y[i] = append([]float32(nil), c.Forward(x, true).Data...)
			dx[i] = append([]float32(nil), c.Backward(dy).Data...)
			dW[i] = append([]float32(nil), c.Weight.Grad.Data...)
		}
		if s.cin%16 == 0 && s.cout%16 == 0 && !c.winogradGradOK() {
			t.Errorf("%+v: dW does not take the Winograd path", s)
		}
		for name, pair := range map[string][2][]float32{"y": y, "dW": dW, "dx": dx} {
			for i, want := range pair[0] {
				if got := pair[1][i]; math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
					t.Fatalf("%+v: %s[%d] = %g, want %g", s, name, i, got, want)
				}
			}
		}
	}
}

// TestWinograd4ConvBN checks the F(4x4,3x3) inference path against the
// direct (implicit-GEMM) fused convolution, with residual and ReLU.
func TestWinograd4ConvBN(t *testing.T) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	winogradMinTiles = 0 // small shapes too
	defer func(v bool) { winograd4On = v }(winograd4On)
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range []struct{ n, h, w, cin, cout int }{
		{2, 16, 20, 16, 32}, {4, 12, 12, 64, 64}, {1, 48, 48, 16, 16}, {32, 4, 4, 32, 16}, {1, 24, 24, 32, 32},
	} {
		f := randomConvBN(t, rng, s.cin, s.cout)
		conv := f.Conv
		x := gcRandn(rng, s.n, s.h, s.w, s.cin)
		res := gcRandn(rng, s.n, s.h, s.w, s.cout)
		winogradMinC, winograd4On = math.MaxInt, false
		want := f.Forward(x, res).Clone()
		winogradMinC, winograd4On = 1, true
		if !conv.winograd4(s.n, s.h, s.w) && kernels.WinogradSupported(16) {
			t.Fatalf("%+v does not take the F(4x4) path", s)
		}
		got := f.Forward(x, res)
		var maxErr float64
		for i, v := range want.Data {
			d := math.Abs(float64(got.Data[i]-v)) / (1 + math.Abs(float64(v)))
			maxErr = max(maxErr, d)
			if d > 1e-4 {
				t.Fatalf("%+v: y[%d] = %g, want %g", s, i, got.Data[i], v)
			}
		}
		t.Logf("%+v: largest error %.2g", s, maxErr)
	}
}

// TestWinogradConvBNBatchSizes runs one fused convolution on batches of
// changing size, as the server's cross-request batches do: the tile
// blocks change size with the batch and the packed weights are reused
// unless another micro-kernel is called for. Every result must match the
// direct path, on F(2x2) and F(4x4).
func TestWinogradConvBNBatchSizes(t *testing.T) {
	defer func(v int) { winogradMinC = v }(winogradMinC)
	defer func(v int) { winogradMinTiles = v }(winogradMinTiles)
	defer func(v bool) { winograd4On = v }(winograd4On)
	winogradMinTiles = 0 // small shapes too
	rng := rand.New(rand.NewPCG(31, 32))
	for _, hw := range []int{6, 12} { // 6: F(2x2) only; 12: F(4x4) where it pays
		f := randomConvBN(t, rng, 32, 48)
		for _, n := range []int{1, 7, 2, 16, 1, 5, 64, 3} {
			x := gcRandn(rng, n, hw, hw, 32)
			winogradMinC, winograd4On = math.MaxInt, false
			want := f.Forward(x, nil).Clone()
			winogradMinC, winograd4On = 1, true
			got := f.Forward(x, nil)
			var maxErr float64
			for i, v := range want.Data {
				maxErr = max(maxErr, math.Abs(float64(got.Data[i]-v))/(1+math.Abs(float64(v))))
			}
			if maxErr > 1e-4 {
				t.Fatalf("%dx%d batch %d: largest relative error %.2g", hw, hw, n, maxErr)
			}
		}
	}
}
