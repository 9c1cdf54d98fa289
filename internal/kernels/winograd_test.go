package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The transform matrices, written out as in Lavin & Gray 2016, for the
// float64 reference below.
var (
	bt2 = [][]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}
	at2 = [][]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}
	bt4 = [][]float64{{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}}
	at4 = [][]float64{{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}}
)

// sandwich returns L x Rᵀ: out[i][j] = sum over a, b of L[i][a] x[a][b] R[j][b].
func sandwich(l [][]float64, x [][]float64, r [][]float64) [][]float64 {
	out := make([][]float64, len(l))
	for i := range l {
		out[i] = make([]float64, len(r))
		for j := range r {
			for a := range x {
				for b := range x[a] {
					out[i][j] += l[i][a] * x[a][b] * r[j][b]
				}
			}
		}
	}
	return out
}

func transpose(m [][]float64) [][]float64 {
	t := make([][]float64, len(m[0]))
	for j := range t {
		t[j] = make([]float64, len(m))
		for i := range m {
			t[j][i] = m[i][j]
		}
	}
	return t
}

func winoRand(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func near(t *testing.T, what string, got float32, want float64) {
	t.Helper()
	if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
		t.Fatalf("%s = %g, want %g", what, got, want)
	}
}

// TestWinogradTransforms checks the AVX-512 tile transforms (F(2x2) input,
// output with every epilogue, gradient; F(4x4) input and output) against
// the matrices in float64, on two tiles inside a larger image (rows
// further apart than the tiles), for channel counts that fill whole
// registers and that end in a partial (masked) group. Nothing past the
// transformed values may be written.
func TestWinogradTransforms(t *testing.T) {
	if !WinogradSupported(16) {
		t.Skip("no AVX-512: the transforms run in nn's plain Go")
	}
	for _, c := range []int{32, 24, 8, 3, 17, 264} {
		t.Run(fmt.Sprintf("c=%d", c), func(t *testing.T) { testWinogradTransforms(t, c) })
	}
}

// guarded returns a slice of n values followed by 64 sentinels, and a
// check that the sentinels are intact.
func guarded(n int) ([]float32, func(t *testing.T, what string)) {
	buf := make([]float32, n+64)
	for i := n; i < len(buf); i++ {
		buf[i] = 12345
	}
	return buf[:n], func(t *testing.T, what string) {
		t.Helper()
		for i := n; i < len(buf); i++ {
			if buf[i] != 12345 {
				t.Fatalf("%s: value %d past the end (of %d) overwritten", what, i-n, n)
			}
		}
	}
}

func testWinogradTransforms(t *testing.T, c int) {
	const tiles = 2
	rng := rand.New(rand.NewPCG(1, uint64(c)))
	for _, f := range []struct {
		m         int // output tile side
		bt, at    [][]float64
		input     func(v, src []float32, base, rowStride int) bool
		output    func(y []float32, off, rowStride int, m []float32, bias, res []float32, relu bool) bool
		hasGrad   bool
		inputSide int
	}{
		{m: 2, bt: bt2, at: at2, inputSide: 4, hasGrad: true,
			input: func(v, src []float32, base, rs int) bool { return WinogradInput(v, src, base, rs, c, tiles) },
			output: func(y []float32, off, rs int, m, bias, res []float32, relu bool) bool {
				return WinogradOutput(y, off, rs, m, c, tiles, bias, res, relu)
			}},
		{m: 4, bt: bt4, at: at4, inputSide: 6,
			input: func(v, src []float32, base, rs int) bool {
				return Winograd4Input(new(Winograd4Scratch), v, src, base, rs, c, tiles)
			},
			output: func(y []float32, off, rs int, m, bias, res []float32, relu bool) bool {
				return Winograd4Output(new(Winograd4Scratch), y, off, rs, m, c, tiles, bias, res, relu)
			}},
	} {
		n := f.inputSide
		k := n * n
		rowStride := (f.m*tiles + 5) * c // wider than the tiles
		base := 3*c + rowStride
		src := winoRand(rng, base+n*rowStride)
		v, vIntact := guarded(tiles * k * c)
		if !f.input(v, src, base, rowStride) {
			t.Fatal("input transform not run")
		}
		vIntact(t, "input transform")
		m := winoRand(rng, tiles*k*c)
		bias := winoRand(rng, c)
		res := winoRand(rng, base+f.m*rowStride)
		for tile := 0; tile < tiles; tile++ {
			for ch := 0; ch < c; ch++ {
				d := make([][]float64, n)
				for i := range d {
					d[i] = make([]float64, n)
					for j := range d[i] {
						d[i][j] = float64(src[base+f.m*tile*c+i*rowStride+j*c+ch])
					}
				}
				want := sandwich(f.bt, d, f.bt) // Bᵀ d B
				for i := range want {
					for j := range want[i] {
						near(t, "v", v[tile*k*c+(n*i+j)*c+ch], want[i][j])
					}
				}
			}
		}
		for _, epi := range []struct {
			bias, res bool
			relu      bool
		}{{false, false, false}, {true, false, false}, {true, true, true}, {false, true, false}} {
			y := make([]float32, len(res))
			var b, r []float32
			if epi.bias {
				b = bias
			}
			if epi.res {
				r = res
			}
			if !f.output(y, base, rowStride, m, b, r, epi.relu) {
				t.Fatal("output transform not run")
			}
			written := make([]bool, len(y))
			for tile := 0; tile < tiles; tile++ {
				for ch := 0; ch < c; ch++ {
					mm := make([][]float64, n)
					for i := range mm {
						mm[i] = make([]float64, n)
						for j := range mm[i] {
							mm[i][j] = float64(m[tile*k*c+(n*i+j)*c+ch])
						}
					}
					want := sandwich(f.at, mm, f.at) // Aᵀ M A
					for i := range want {
						for j := range want[i] {
							o := base + f.m*tile*c + i*rowStride + j*c + ch
							w := want[i][j]
							if epi.bias {
								w += float64(bias[ch])
							}
							if epi.res {
								w += float64(res[o])
							}
							if epi.relu {
								w = max(w, 0)
							}
							near(t, "y", y[o], w)
							written[o] = true
						}
					}
				}
			}
			for o, v := range y {
				if !written[o] && v != 0 {
					t.Fatalf("output transform wrote y[%d] = %g outside its tiles", o, v)
				}
			}
		}
		if f.hasGrad {
			dy := winoRand(rng, base+2*rowStride)
			g, gIntact := guarded(tiles * k * c)
			if !WinogradGrad(g, dy, base, rowStride, c, tiles) {
				t.Fatal("gradient transform not run")
			}
			gIntact(t, "gradient transform")
			a := transpose(f.at) // A (4x2)
			for tile := 0; tile < tiles; tile++ {
				for ch := 0; ch < c; ch++ {
					yy := [][]float64{make([]float64, 2), make([]float64, 2)}
					for i := 0; i < 2; i++ {
						for j := 0; j < 2; j++ {
							yy[i][j] = float64(dy[base+2*tile*c+i*rowStride+j*c+ch])
						}
					}
					want := sandwich(a, yy, a) // A dY Aᵀ
					for i := range want {
						for j := range want[i] {
							near(t, "dM", g[tile*16*c+(4*i+j)*c+ch], want[i][j])
						}
					}
				}
			}
		}
	}
}
