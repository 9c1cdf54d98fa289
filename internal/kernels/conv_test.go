package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvRow checks ConvRow against the loop-by-loop definition on
// shapes that hit full tiles, edge tiles (wo or Cout not a multiple of the
// kernel's tile) and strides, with every variant, and beta 0 and 1.
func TestConvRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, v := range Variants() {
		restore, err := Use(v)
		if err != nil {
			t.Fatal(err)
		}
		defer restore()
		for _, tc := range []struct{ cout, kh, k, wo, pix, tap int }{
			{16, 3, 48, 48, 16, 50 * 16},
			{32, 3, 96, 24, 32, 26 * 32},
			{64, 3, 192, 12, 64, 14 * 64},
			{5, 2, 7, 13, 3, 40},         // edges everywhere
			{32, 3, 48, 24, 32, 50 * 16}, // stride 2: windows 2*C apart
			{16, 1, 16, 7, 32, 0},        // strided 1x1
		} {
			src := make([]float32, (tc.kh-1)*tc.tap+(tc.wo-1)*tc.pix+tc.k+5)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			w := make([]float32, tc.cout*tc.kh*tc.k)
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			var cw ConvWeights
			cw.Pack(w, tc.cout, tc.kh, tc.k, tc.wo)
			ldy := tc.cout + 3
			for _, beta := range []float32{0, 1} {
				y := make([]float32, tc.wo*ldy)
				for i := range y {
					y[i] = float32(i % 7)
				}
				s := GetConvScratch()
				cw.ConvRow(s, src, 5, tc.tap, tc.pix, tc.wo, y, ldy, beta)
				PutConvScratch(s)
				for ox := 0; ox < tc.wo; ox++ {
					for j := 0; j < ldy; j++ {
						want := float64((ox*ldy + j) % 7)
						if j < tc.cout {
							want *= float64(beta)
							for ky := 0; ky < tc.kh; ky++ {
								for p := 0; p < tc.k; p++ {
									want += float64(src[5+ky*tc.tap+ox*tc.pix+p]) * float64(w[(j*tc.kh+ky)*tc.k+p])
								}
							}
						}
						if got := y[ox*ldy+j]; math.Abs(float64(got)-want) > 1e-3*(1+math.Abs(want)) {
							t.Fatalf("%s %+v beta %g: y[%d,%d] = %g, want %g", v, tc, beta, ox, j, got, want)
						}
					}
				}
			}
		}
	}
}

// BenchmarkConvRowKernels runs ConvRow over a whole batch-64 image set
// of the reference network's 3x3 convolutions with each AVX-512
// micro-kernel, to see which tile suits which shape.
func BenchmarkConvRowKernels(b *testing.B) {
	v := active.Load()
	for _, s := range []struct {
		name        string
		c, hw, cout int
	}{{"C16", 16, 48, 16}, {"C32", 32, 24, 32}, {"C64", 64, 12, 64}} {
		hp, wp := s.hw+2, s.hw+2
		src := make([]float32, 64*hp*wp*s.c)
		w := make([]float32, s.cout*9*s.c)
		y := make([]float32, 64*s.hw*s.hw*s.cout)
		for i := range v.kernels {
			kern := &v.kernels[i]
			if kern.fn == nil || s.cout%kern.nr != 0 || kern.nr > s.cout {
				continue
			}
			b.Run(s.name+"/"+kern.name, func(b *testing.B) {
				var cw ConvWeights
				cw.packFor(kern, w, s.cout, 3, 3*s.c)
				sc := GetConvScratch()
				defer PutConvScratch(sc)
				b.ResetTimer()
				for it := 0; it < b.N; it++ {
					for r := 0; r < 64*s.hw; r++ {
						n, oy := r/s.hw, r%s.hw
						cw.ConvRow(sc, src, (n*hp+oy)*wp*s.c, wp*s.c, s.c, s.hw, y[r*s.hw*s.cout:], s.cout, 0)
					}
				}
				flops := 2 * float64(64*s.hw*s.hw*s.cout*9*s.c)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestToBF16Pairs checks the vector conversion against toBF16, on lengths
// around its 8-pair blocks.
func TestToBF16Pairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 3, 8, 17} {
		src := make([]float32, 2*n)
		for i := range src {
			src[i] = float32(rng.NormFloat64() * 100)
		}
		dst := make([]float32, n)
		ToBF16Pairs(dst, src, n)
		for q, w := range words(dst) {
			if want := toBF16(src[2*q]) | toBF16(src[2*q+1])<<16; w != want {
				t.Fatalf("n=%d: word %d = %#x, want %#x", n, q, w, want)
			}
		}
	}
}
