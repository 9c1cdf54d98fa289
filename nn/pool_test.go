package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// poolRef computes max or average pooling in float64 over an explicitly
// padded image (padding -Inf for max unless cfg.ZeroPad, 0 for average).
func poolRef(x *tensor.Tensor, cfg Pool2DConfig, isMax bool) []float64 {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	k, p, s := cfg.Kernel, cfg.Padding, cfg.Stride
	if s == 0 {
		s = k
	}
	ho, wo := (h+2*p-k)/s+1, (w+2*p-k)/s+1
	at := func(b, y, xx, j int) float64 {
		if y < 0 || y >= h || xx < 0 || xx >= w {
			if isMax && !cfg.ZeroPad {
				return math.Inf(-1)
			}
			return 0
		}
		return float64(x.Data[((b*h+y)*w+xx)*c+j])
	}
	var out []float64
	for b := 0; b < n; b++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				for j := 0; j < c; j++ {
					acc := math.Inf(-1)
					if !isMax {
						acc = 0
					}
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							v := at(b, oy*s-p+ky, ox*s-p+kx, j)
							if isMax {
								acc = math.Max(acc, v)
							} else {
								acc += v
							}
						}
					}
					if !isMax {
						acc /= float64(k * k)
					}
					out = append(out, acc)
				}
			}
		}
	}
	return out
}

// distinctValues fills x with a shuffled ramp spaced 0.05 apart, so max
// pooling has a clear winner in every window.
func distinctValues(rng *rand.Rand, x *tensor.Tensor) {
	for i, j := range rng.Perm(x.Len()) {
		x.Data[i] = float32(j)*0.05 - 3
	}
}

var poolCases = []struct {
	name string
	cfg  Pool2DConfig
	h, w int
}{
	{"3x3s2p1", Pool2DConfig{Kernel: 3, Stride: 2, Padding: 1}, 5, 7},
	{"2x2", Pool2DConfig{Kernel: 2}, 5, 7},
	{"3x3s1p1", Pool2DConfig{Kernel: 3, Stride: 1, Padding: 1}, 4, 4},
	{"2x2s1", Pool2DConfig{Kernel: 2, Stride: 1}, 3, 4},
}

func TestPool2DForwardAndGradients(t *testing.T) {
	for _, tc := range poolCases {
		for _, isMax := range []bool{true, false} {
			rng := rand.New(rand.NewPCG(1, 1))
			var l Layer = NewAvgPool2D("pool", tc.cfg)
			if isMax {
				l = NewMaxPool2D("pool", tc.cfg)
			}
			x := tensor.New(2, tc.h, tc.w, 3)
			distinctValues(rng, x)
			y := l.Forward(x, false)
			want := poolRef(x, tc.cfg, isMax)
			if y.Len() != len(want) {
				t.Fatalf("%s max=%v: %d outputs, want %d", tc.name, isMax, y.Len(), len(want))
			}
			for i, v := range want {
				if math.Abs(float64(y.Data[i])-v) > 1e-5 {
					t.Fatalf("%s max=%v: y[%d] = %g, want %g", tc.name, isMax, i, y.Data[i], v)
				}
			}
			gcLayer(t, l, x, 1e-2, 1e-3, nil)
		}
	}
}

// TestMaxPool2DZeroPad: with ZeroPad the padding counts as zeros (Keras'
// ZeroPadding2D + MaxPooling2D): on an all-negative image every border
// window gives 0 and passes no gradient; checked against the explicitly
// padded reference and by finite differences.
func TestMaxPool2DZeroPad(t *testing.T) {
	for _, cfg := range []Pool2DConfig{{Kernel: 3, Stride: 2, Padding: 1, ZeroPad: true}, {Kernel: 3, Stride: 1, Padding: 1, ZeroPad: true}} {
		rng := rand.New(rand.NewPCG(3, 1))
		m := NewMaxPool2D("pool", cfg)
		x := tensor.New(2, 5, 6, 3)
		distinctValues(rng, x)
		for i := range x.Data {
			x.Data[i] -= 20 // all negative: the zero padding wins at the border
		}
		y := m.Forward(x, false)
		want := poolRef(x, cfg, true)
		zeros := 0
		for i, v := range want {
			if math.Abs(float64(y.Data[i])-v) > 1e-5 {
				t.Fatalf("%+v: y[%d] = %g, want %g", cfg, i, y.Data[i], v)
			}
			if v == 0 {
				zeros++
			}
		}
		if zeros == 0 {
			t.Fatalf("%+v: no window took the zero padding", cfg)
		}
		gcLayer(t, m, x, 1e-2, 1e-3, nil)
	}
}

func TestMaxPool2DNaNPropagates(t *testing.T) {
	m := NewMaxPool2D("pool", Pool2DConfig{Kernel: 2})
	x := tensor.FromData([]float32{1, float32(math.NaN()), 3, 2}, 1, 2, 2, 1)
	if y := m.Forward(x, false); !math.IsNaN(float64(y.Data[0])) {
		t.Errorf("max of a window holding NaN = %g, want NaN", y.Data[0])
	}
}

func TestPool2DShapeErrors(t *testing.T) {
	m := NewMaxPool2D("maxpool", Pool2DConfig{Kernel: 3, Stride: 2, Padding: 1})
	if s, err := m.OutShape([]int{4, 48, 48, 16}); err != nil || !tensor.SameShape(s, []int{4, 24, 24, 16}) {
		t.Fatalf("OutShape = %v, %v", s, err)
	}
	_, err := m.OutShape([]int{4, 48, 48})
	gcWantErr(t, err, "maxpool", "(4,48,48)", "(N,H,W,C)")
	a := NewAvgPool2D("avg", Pool2DConfig{Kernel: 4})
	_, err = a.OutShape([]int{4, 3, 8, 2})
	gcWantErr(t, err, "avg", "(4,3,8,2)", ">= 4")
	bad := NewMaxPool2D("bad", Pool2DConfig{Kernel: 3, Padding: 2})
	_, err = bad.OutShape([]int{1, 8, 8, 1})
	gcWantErr(t, err, "bad", "padding 2")
	bad = NewMaxPool2D("bad", Pool2DConfig{})
	_, err = bad.OutShape([]int{1, 8, 8, 1})
	gcWantErr(t, err, "bad", "kernel 0")
}

func TestPool2DZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := gcRandn(rng, 8, 12, 12, 16)
	dy := gcRandn(rng, 8, 6, 6, 16)
	m := NewMaxPool2D("pool", Pool2DConfig{Kernel: 3, Stride: 2, Padding: 1})
	gcZeroAllocs(t, "MaxPool2D", func() { m.Forward(x, true); m.Backward(dy) })
	a := NewAvgPool2D("pool", Pool2DConfig{Kernel: 2})
	gcZeroAllocs(t, "AvgPool2D", func() { a.Forward(x, true); a.Backward(dy) })
}

func BenchmarkMaxPool2D3x3S2C16(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := NewMaxPool2D("pool", Pool2DConfig{Kernel: 3, Stride: 2, Padding: 1})
	x := gcRandn(rng, 64, 48, 48, 16)
	dy := gcRandn(rng, 64, 24, 24, 16)
	b.SetBytes(int64(4 * x.Len()))
	benchElementwise(b, func() { m.Forward(x, true) }, func() { m.Backward(dy) })
}

func BenchmarkAvgPool2D2x2C16(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := NewAvgPool2D("pool", Pool2DConfig{Kernel: 2})
	x := gcRandn(rng, 64, 48, 48, 16)
	dy := gcRandn(rng, 64, 24, 24, 16)
	b.SetBytes(int64(4 * x.Len()))
	benchElementwise(b, func() { a.Forward(x, true) }, func() { a.Backward(dy) })
}

// TestPool2DRandomConfigs checks both poolings on random geometries.
func TestPool2DRandomConfigs(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 40; i++ {
		k := 1 + rng.IntN(4)
		cfg := Pool2DConfig{Kernel: k, Stride: rng.IntN(4), Padding: rng.IntN(k/2 + 1)}
		x := tensor.New(1+rng.IntN(2), k+rng.IntN(5), k+rng.IntN(5), 1+rng.IntN(3))
		distinctValues(rng, x)
		for _, isMax := range []bool{true, false} {
			var l Layer = NewAvgPool2D("pool", cfg)
			if isMax {
				l = NewMaxPool2D("pool", cfg)
			}
			if _, err := l.OutShape(x.Shape); err != nil {
				t.Fatalf("%+v on %v: %v", cfg, x.Shape, err)
			}
			y := l.Forward(x, false)
			for j, v := range poolRef(x, cfg, isMax) {
				if math.Abs(float64(y.Data[j])-v) > 1e-5 {
					t.Fatalf("%+v max=%v on %v: y[%d] = %g, want %g", cfg, isMax, x.Shape, j, y.Data[j], v)
				}
			}
			gcLayer(t, l, x, 1e-2, 1e-3, nil)
			if t.Failed() {
				t.Fatalf("config %+v max=%v, input %v", cfg, isMax, x.Shape)
			}
		}
	}
}
