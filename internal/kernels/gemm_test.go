package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/internal/parallel"
)

// refGemm is the naive definition of Sgemm, accumulating in float64.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var x, y float32
				if transA {
					x = a[p*lda+i]
				} else {
					x = a[i*lda+p]
				}
				if transB {
					y = b[j*ldb+p]
				} else {
					y = b[p*ldb+j]
				}
				s += float64(x) * float64(y)
			}
			r := float64(alpha) * s
			if beta != 0 {
				r += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*n+j] = r
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra columns in every leading dimension
}

func (g gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_m%d_n%d_k%d_a%g_b%g_pad%d", t(g.transA), t(g.transB), g.m, g.n, g.k, g.alpha, g.beta, g.pad)
}

// preparedCase holds the inputs of a gemmCase and the reference result.
type preparedCase struct {
	g             gemmCase
	a, b, c0      []float32
	lda, ldb, ldc int
	want          []float64
}

const sentinel = 12345 // in C past each row: must stay untouched

// prepareCase makes random inputs for g, with NaN garbage in C when
// beta == 0 and sentinels after every row of C, and computes the reference.
func prepareCase(r *rand.Rand, g gemmCase) *preparedCase {
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	pc := &preparedCase{g: g, lda: ac + g.pad, ldb: bc + g.pad, ldc: g.n + g.pad}
	pc.a = randSlice(r, max(0, (ar-1)*pc.lda+ac))
	pc.b = randSlice(r, max(0, (br-1)*pc.ldb+bc))
	pc.c0 = randSlice(r, max(0, (g.m-1)*pc.ldc+g.n))
	for i := 0; i < g.m; i++ {
		for j := g.n; j < pc.ldc && i*pc.ldc+j < len(pc.c0); j++ {
			pc.c0[i*pc.ldc+j] = sentinel
		}
		if g.beta == 0 {
			for j := 0; j < g.n; j++ {
				pc.c0[i*pc.ldc+j] = float32(math.NaN())
			}
		}
	}
	pc.want = refGemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, pc.a, pc.lda, pc.b, pc.ldb, g.beta, pc.c0, pc.ldc)
	return pc
}

// check runs Sgemm on a fresh copy of C and compares with the reference.
func (pc *preparedCase) check(t *testing.T) {
	t.Helper()
	g, ldc := pc.g, pc.ldc
	c := append([]float32(nil), pc.c0...)
	Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, pc.a, pc.lda, pc.b, pc.ldb, g.beta, c, ldc)
	// Each product is rounded to fp32 and summed k times: allow a few ulps
	// per term relative to the magnitude of the terms (|a|,|b| <= 1).
	tol := 1e-6 * float64(g.k+4) * (math.Abs(float64(g.alpha)) + math.Abs(float64(g.beta)) + 1)
	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(c); j++ {
			got := c[i*ldc+j]
			if j >= g.n {
				if got != sentinel {
					t.Fatalf("%v: C[%d,%d] past the row was overwritten: %g", g, i, j, got)
				}
				continue
			}
			w := pc.want[i*g.n+j]
			if math.IsNaN(float64(got)) || math.Abs(float64(got)-w) > tol {
				if bad++; bad <= 5 {
					t.Errorf("%v: C[%d,%d] = %g, want %g (tol %g)", g, i, j, got, w, tol)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d wrong values", g, bad)
	}
}

// checkCase runs one Sgemm against refGemm (see prepareCase).
func checkCase(t *testing.T, r *rand.Rand, g gemmCase) {
	t.Helper()
	prepareCase(r, g).check(t)
}

// forEachVariant runs f with every variant usable on this CPU forced.
func forEachVariant(t *testing.T, f func(t *testing.T)) {
	for _, name := range Variants() {
		t.Run(name, func(t *testing.T) {
			restore, err := Use(name)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			if Variant() != name {
				t.Fatalf("Variant() = %q after Use(%q)", Variant(), name)
			}
			f(t)
		})
	}
}

func TestSgemmAwkwardShapes(t *testing.T) {
	sizes := []int{1, 2, 3, 17, 63, 65}
	forEachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range []int{1, 3, 17, 65} {
					for tr := 0; tr < 4; tr++ {
						checkCase(t, r, gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k, alpha: 1, beta: 0})
					}
				}
			}
		}
	})
}

func TestSgemmAlphaBetaStrides(t *testing.T) {
	forEachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2, -1}, {0.25, 0}} {
			for tr := 0; tr < 4; tr++ {
				for _, pad := range []int{0, 3} {
					checkCase(t, r, gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: 37, n: 45, k: 29, alpha: ab[0], beta: ab[1], pad: pad})
					checkCase(t, r, gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: 1, n: 21, k: 35, alpha: ab[0], beta: ab[1], pad: pad})
				}
			}
		}
	})
}

// TestSgemmLarge crosses the cache-block boundaries (k > kcBlock,
// n > ncBlock) and the parallel splits over m, n and k.
func TestSgemmLarge(t *testing.T) {
	cases := []gemmCase{
		{m: 257, n: 257, k: 257, alpha: 1, beta: 0},
		{m: 130, n: 520, k: 300, alpha: 1, beta: 1, pad: 5, transA: true},
		{m: 33, n: 600, k: 70, alpha: 0.5, beta: 0, transB: true},         // split over n
		{m: 20, n: 40, k: 3000, alpha: 1, beta: 0.5, transA: true},        // split over k
		{m: 2000, n: 16, k: 144, alpha: 1, beta: 0, transB: true},         // conv forward, N=16
		{m: 1000, n: 32, k: 288, alpha: 1, beta: 0, transB: true},         // conv forward, N=32
		{m: 600, n: 64, k: 576, alpha: 1, beta: 0, transB: true},          // conv forward, N=64
		{m: 1500, n: 144, k: 16, alpha: 1, beta: 0},                       // conv backward data
		{m: 16, n: 144, k: 2500, alpha: 1, beta: 1, transA: true},         // conv backward weights
		{m: 64, n: 576, k: 1100, alpha: 1, beta: 0, transA: true, pad: 1}, // conv backward weights
	}
	// The references are the slow part: compute each once for all variants.
	r := rand.New(rand.NewPCG(5, 6))
	prepared := make([]*preparedCase, len(cases))
	for i, g := range cases {
		prepared[i] = prepareCase(r, g)
	}
	forEachVariant(t, func(t *testing.T) {
		for _, pc := range prepared {
			pc.check(t)
		}
	})
}

// TestSgemmConcurrent runs Sgemm from several goroutines at once, and from
// inside a parallel loop, where a nested parallel GEMM must not deadlock.
func TestSgemmConcurrent(t *testing.T) {
	const m, n, k = 200, 70, 300
	r := rand.New(rand.NewPCG(13, 14))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	outs := make([][]float32, 8)
	for i := range outs {
		outs[i] = make([]float32, m*n)
	}
	parallel.For(len(outs), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, outs[i], n)
		}
	})
	for i, out := range outs {
		for j := range out {
			if out[j] != want[j] {
				t.Fatalf("call %d: C[%d] = %g, want %g", i, j, out[j], want[j])
			}
		}
	}
}

func TestSgemmDegenerate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, g := range []gemmCase{
		{m: 5, n: 7, k: 0, alpha: 1, beta: 0},
		{m: 5, n: 7, k: 0, alpha: 1, beta: 2},
		{m: 5, n: 7, k: 9, alpha: 0, beta: 0.5},
		{m: 0, n: 7, k: 9, alpha: 1, beta: 0},
		{m: 5, n: 0, k: 9, alpha: 1, beta: 0},
	} {
		checkCase(t, r, g)
	}
}

func TestSgemmBadArgsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Sgemm with a short slice did not panic")
		}
	}()
	a := make([]float32, 5) // needs 6 for 2x3
	Sgemm(false, false, 2, 2, 3, 1, a, 3, make([]float32, 6), 2, 0, make([]float32, 4), 2)
}

func TestUseUnknownVariant(t *testing.T) {
	if _, err := Use("sse9"); err == nil {
		t.Fatal("Use(\"sse9\") returned no error")
	}
}

func TestSgemmAllocationFree(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	shapes := []gemmCase{
		{m: 300, n: 300, k: 300},               // split over m
		{m: 20, n: 40, k: 3000, transA: true},  // split over k
		{m: 2000, n: 16, k: 144, transB: true}, // conv forward
		{m: 10, n: 10, k: 10},                  // serial
	}
	forEachVariant(t, func(t *testing.T) {
		for _, g := range shapes {
			a := randSlice(r, g.m*g.k)
			b := randSlice(r, g.k*g.n)
			c := make([]float32, g.m*g.n)
			lda, ldb := g.k, g.n
			if g.transA {
				lda = g.m
			}
			if g.transB {
				ldb = g.k
			}
			allocs := testing.AllocsPerRun(20, func() {
				Sgemm(g.transA, g.transB, g.m, g.n, g.k, 1, a, lda, b, ldb, 0, c, g.n)
			})
			if allocs != 0 {
				t.Errorf("%v: %v allocations per call, want 0", g, allocs)
			}
		}
	})
}

// TestSgemmNonTemporal forces the non-temporal store path (normally only
// for C of 16 MiB and more) on shapes whose rows are 64-byte multiples.
func TestSgemmNonTemporal(t *testing.T) {
	saved := ntMinBytes
	ntMinBytes = 0
	defer func() { ntMinBytes = saved }()
	forEachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, g := range []gemmCase{
			{m: 500, n: 144, k: 16, alpha: 1, beta: 0},
			{m: 301, n: 64, k: 40, alpha: 2, beta: 0, pad: 16},
			{m: 130, n: 32, k: 300, alpha: 1, beta: 0, transB: true},
		} {
			checkCase(t, r, g)
		}
	})
}

// TestEveryKernel forces each micro-kernel of each variant in turn (the
// automatic choice would leave some unused) through its row, k-major and
// non-temporal forms, on shapes with edges in every direction.
func TestEveryKernel(t *testing.T) {
	saved, savedNT := active.Load(), ntMinBytes
	defer func() { active.Store(saved); ntMinBytes = savedNT }()
	ntMinBytes = 0
	r := rand.New(rand.NewPCG(15, 16))
	for _, v := range variants {
		for _, kk := range v.kernels {
			t.Run(v.name+"/"+kk.name, func(t *testing.T) {
				active.Store(&variant{name: v.name, kernels: []kernelInfo{kk}})
				for _, g := range []gemmCase{
					{m: 2*kk.mr + 3, n: 3*kk.nr + 5, k: 37, alpha: 1, beta: 0},         // edges
					{m: 2*kk.mr + 3, n: 2 * kk.nr, k: 37, alpha: 2, beta: 0, pad: 16},  // NT stores
					{m: 3 * kk.mr, n: 2 * kk.nr, k: 300, alpha: 0.5, beta: 1, pad: 16}, // two k blocks
					{m: 5, n: kk.nr - 1, k: 9, alpha: 1, beta: -1, transB: true},
				} {
					for _, transA := range []bool{false, true} {
						if (transA && kk.fnK == nil) || (!transA && kk.fn == nil) {
							continue
						}
						g.transA = transA
						checkCase(t, r, g)
					}
				}
			})
		}
	}
}
