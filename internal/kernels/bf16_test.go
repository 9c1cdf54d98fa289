package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestToBF16(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint32
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie: to even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie: to even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{float32(math.Inf(1)), 0x7f80},
	} {
		if got := toBF16(c.in); got != c.want {
			t.Errorf("toBF16(%g) = %#x, want %#x", c.in, got, c.want)
		}
	}
	if got := toBF16(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("toBF16(NaN) = %#x, not a NaN", got)
	}
}

// TestSgemmBF16 checks SgemmBF16 against a float64 reference computed on
// inputs rounded to bfloat16 (exactly what the hardware multiplies).
func TestSgemmBF16(t *testing.T) {
	if !HasBF16() {
		t.Skip("no AVX512_BF16 on this CPU: SgemmBF16 is Sgemm")
	}
	r := rand.New(rand.NewPCG(21, 22))
	round := func(s []float32) []float32 {
		out := make([]float32, len(s))
		for i, v := range s {
			out[i] = math.Float32frombits(toBF16(v) << 16)
		}
		return out
	}
	for _, g := range []gemmCase{
		{m: 1, n: 1, k: 1, alpha: 1},
		{m: 13, n: 17, k: 3, alpha: 1},
		{m: 37, n: 45, k: 29, alpha: 0.5, beta: 2, pad: 3},
		{m: 64, n: 16, k: 144, alpha: 1, transB: true},
		{m: 100, n: 70, k: 600, alpha: 1, beta: 1, transA: true},
		{m: 300, n: 64, k: 576, alpha: 1, transB: true},
		{m: 20, n: 40, k: 3001, alpha: 1, transA: true, transB: true},
	} {
		ar, ac := g.m, g.k
		if g.transA {
			ar, ac = g.k, g.m
		}
		br, bc := g.k, g.n
		if g.transB {
			br, bc = g.n, g.k
		}
		lda, ldb, ldc := ac+g.pad, bc+g.pad, g.n+g.pad
		a := randSlice(r, (ar-1)*lda+ac)
		b := randSlice(r, (br-1)*ldb+bc)
		c := randSlice(r, (g.m-1)*ldc+g.n)
		if g.beta == 0 {
			for i := range c {
				c[i] = float32(math.NaN())
			}
		}
		want := refGemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, round(a), lda, round(b), ldb, g.beta, c, ldc)
		SgemmBF16(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
		tol := 1e-6 * float64(g.k+4) * (math.Abs(float64(g.alpha)) + math.Abs(float64(g.beta)) + 1)
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				got, w := float64(c[i*ldc+j]), want[i*g.n+j]
				if math.IsNaN(got) || math.Abs(got-w) > tol {
					t.Fatalf("%v: C[%d,%d] = %g, want %g (tol %g)", g, i, j, got, w, tol)
				}
			}
		}
	}
}

func BenchmarkSgemmBF16(b *testing.B) {
	if !HasBF16() {
		b.Skip("no AVX512_BF16 on this CPU")
	}
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			lda, ldb := s.k, s.n
			if s.transA {
				lda = s.m
			}
			if s.transB {
				ldb = s.k
			}
			a := make([]float32, s.m*s.k)
			bm := make([]float32, s.k*s.n)
			c := make([]float32, s.m*s.n)
			SgemmBF16(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			b.ResetTimer()
			for range b.N {
				SgemmBF16(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			}
			b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestEveryBF16Kernel forces each bf16 micro-kernel in turn.
func TestEveryBF16Kernel(t *testing.T) {
	if !HasBF16() {
		t.Skip("no AVX512_BF16 on this CPU")
	}
	saved := bf16Variant
	defer func() { bf16Variant = saved }()
	r := rand.New(rand.NewPCG(23, 24))
	for _, kk := range saved.kernels {
		bf16Variant = &variant{name: saved.name, kernels: []kernelInfo{kk}}
		m, n, k := 2*kk.mr+3, 3*kk.nr+5, 41
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		c := make([]float32, m*n)
		SgemmBF16(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		ra, rb := make([]float32, len(a)), make([]float32, len(b))
		for i, x := range a {
			ra[i] = math.Float32frombits(toBF16(x) << 16)
		}
		for i, x := range b {
			rb[i] = math.Float32frombits(toBF16(x) << 16)
		}
		want := refGemm(false, false, m, n, k, 1, ra, k, rb, n, 0, c, n)
		for i, w := range want {
			if math.Abs(float64(c[i])-w) > 1e-4 {
				t.Fatalf("%s: C[%d] = %g, want %g", kk.name, i, c[i], w)
			}
		}
	}
}
