package nn

import (
	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
)

// Winograd F(4x4,3x3) (Lavin & Gray 2016; see winograd.go for F(2x2,3x3)
// and kernels/winograd4.go for Bᵀ and Aᵀ): 4x4 output tiles from 6x6
// input blocks, 36 products per tile and channel pair instead of 144,
// with
//
//	G = |  1/4     0     0   |
//	    | -1/6  -1/6  -1/6  |
//	    | -1/6   1/6  -1/6  |
//	    |  1/24  1/12  1/6  |
//	    |  1/24 -1/12  1/6  |
//	    |  0     0     1    |
//
// Its larger coefficients cost accuracy (errors about 1e-6 to 1e-5 of the
// output's scale in float32, several times F(2x2)'s; fine for training,
// as in cuDNN). It runs for the forward convolution (Conv2D.Forward and
// ConvBN) and the stride-1 dx, where the images' sides are multiples of 4
// and the CPU has AVX-512 (the transforms have no plain-Go path); the
// weight gradient stays F(2x2,3x3).

// winograd4 reports whether a convolution (or its dx) over n h x w
// images runs through F(4x4,3x3): it needs enough tiles for the 36
// products to keep the micro-kernels busy (one 12x12 image, 9 tiles, ran
// 2.5x slower than through F(2x2,3x3)).
func (c *Conv2D) winograd4(n, h, w int) bool {
	return winograd4On && c.winograd() && h%4 == 0 && w%4 == 0 && n*(h/4)*(w/4) >= wino4MinTiles &&
		kernels.WinogradSupported(c.cfg.InC) && kernels.WinogradSupported(c.cfg.OutC)
}

// winograd4On enables F(4x4,3x3); a variable so that tests
// and benchmarks can compare it with F(2x2,3x3).
var winograd4On = true

// wino4MinTiles is the fewest tiles for which F(4x4,3x3) is used.
const wino4MinTiles = 32

// wino4Weights holds transformed weights U_k (k < 36), packed.
type wino4Weights struct {
	ut    []float32 // (36, Cout, Cin)
	u     [36]kernels.ConvWeights
	tiles int       // block size the packing was chosen for (0: not packed)
	from  []float32 // the weight transformed last
	// fromKey is the parameter state from was copied from, when known
	// (see sameSource).
	fromKey paramKey
}

// same reports whether w is the weight transformed last, so that repeated
// calls with unchanged weights (inference through Conv2D.Forward) skip
// the transform: by the parameter's version (key) when known, else a
// memory compare.
func (ww *wino4Weights) same(w []float32, key paramKey) bool {
	return sameSource(w, key, ww.from, &ww.fromKey)
}

// pack transforms w (Cout, 3, 3, Cin) into U = G g Gᵀ for every channel
// pair and packs the 36 (Cout, Cin) matrices for blocks of tiles rows.
func (ww *wino4Weights) pack(w []float32, cout, cin, tiles int) {
	ww.ut = growFloats(ww.ut, 36*cout*cin)
	ut := ww.ut
	plane := cout * cin
	// gRow computes G x for a column x of 3 values (in float64).
	gRow := func(x0, x1, x2 float64) [6]float64 {
		return [6]float64{
			x0 / 4,
			-(x0 + x1 + x2) / 6,
			-(x0 - x1 + x2) / 6,
			x0/24 + x1/12 + x2/6,
			x0/24 - x1/12 + x2/6,
			x2,
		}
	}
	for co := 0; co < cout; co++ {
		for ci := 0; ci < cin; ci++ {
			var g [3][3]float64
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					g[ky][kx] = float64(w[((co*3+ky)*3+kx)*cin+ci])
				}
			}
			var t [6][3]float64 // G g
			for kx := 0; kx < 3; kx++ {
				col := gRow(g[0][kx], g[1][kx], g[2][kx])
				for i := range col {
					t[i][kx] = col[i]
				}
			}
			at := co*cin + ci
			for i := 0; i < 6; i++ { // (G g) Gᵀ
				row := gRow(t[i][0], t[i][1], t[i][2])
				for j, v := range row {
					ut[(6*i+j)*plane+at] = float32(v)
				}
			}
		}
	}
	for k := range ww.u {
		ww.u[k].Pack(ut[k*plane:(k+1)*plane], cout, 1, cin, tiles)
	}
	ww.tiles = tiles
	ww.from = append(ww.from[:0], w...)
	ww.fromKey = paramKey{}
}

// wino4Run holds the arguments of an F(4x4,3x3) convolution's block loop.
type wino4Run struct {
	ww           *wino4Weights
	x, y         []float32 // input (N,H,W,Cin), output (N,H,W,Cout)
	n, h, w      int
	cin, cout    int
	th, tw       int // tiles per column and per row
	rowsPerBlock int
	blocks       int
	epi          *epilogue // fused into the output transform
	pool         winoPool
	fn           func(lo, hi int)
}

// wino4BlockTiles is the number of tiles a block aims at (36 values of
// V and M per tile and channel: fewer tiles than F(2x2) for the same
// cache footprint).
const wino4BlockTiles = 24

// conv computes y (N,H,W,Cout) = epi(conv3x3(x)) (stride 1, padding 1;
// H and W multiples of 4) with weight wt (Cout,3,3,Cin), transformed into
// ww again when repack is set and wt changed, or when the block size calls
// for another micro-kernel.
func (r *wino4Run) conv(x []float32, n, h, w, cin, cout int, wt []float32, key paramKey, ww *wino4Weights, repack bool, y []float32, epi *epilogue) {
	r.th, r.tw = h/4, w/4
	rows := n * r.th
	rpb := max(1, (wino4BlockTiles+r.tw/2)/r.tw)
	if workers := parallel.Workers(); (rows+rpb-1)/rpb < 4*workers {
		blocks := (rows + rpb - 1) / rpb
		blocks = min(rows, (blocks+workers-1)/workers*workers)
		rpb = (rows + blocks - 1) / blocks
	}
	r.rowsPerBlock = rpb
	r.blocks = (rows + rpb - 1) / rpb
	tiles := rpb * r.tw
	// Blocks of another size (another batch size) reuse the packing
	// unless the micro-kernel they call for differs.
	if ww.tiles == 0 || !ww.u[0].Suits(tiles) || repack && !ww.same(wt, key) {
		ww.pack(wt, cout, cin, tiles)
		ww.fromKey = key
	}
	r.ww, r.x, r.y, r.epi = ww, x, y, epi
	r.n, r.h, r.w, r.cin, r.cout = n, h, w, cin, cout
	r.pool.prepare(tiles*36*cin, tiles*36*cout, 6*(w+2)*cin)
	if r.fn == nil {
		r.fn = r.blockRange
	}
	parallel.For(r.blocks, 1, r.fn)
	r.x, r.y, r.epi, r.ww = nil, nil, nil, nil
}

// blockRange runs blocks [lo,hi).
func (r *wino4Run) blockRange(lo, hi int) {
	s := r.pool.get()
	defer r.pool.put(s)
	total := r.n * r.th
	for b := lo; b < hi; b++ {
		r0 := b * r.rowsPerBlock
		r.block(s, r0, min(total, r0+r.rowsPerBlock))
	}
}

// block computes the output pixels of tile rows [r0,r1) (index n*th+ty).
func (r *wino4Run) block(s *winoScratch, r0, r1 int) {
	cin, cout, tw := r.cin, r.cout, r.tw
	tiles := (r1 - r0) * tw
	padW := r.w + 2
	for i := r0; i < r1; i++ {
		n, ty := i/r.th, i%r.th
		kernels.Winograd4Input(&s.tr, s.v[(i-r0)*tw*36*cin:], r.strip(s, n, ty), 0, padW*cin, cin, tw)
	}
	// M_k (tiles, Cout) = V_k (tiles, Cin) · U_k (Cin, Cout)
	for k := 0; k < 36; k++ {
		r.ww.u[k].ConvRow(s.conv, s.v, k*cin, 0, 36*cin, tiles, s.m[k*cout:], 36*cout, 0)
	}
	var bias, res []float32
	relu := false
	if r.epi != nil {
		bias, res, relu = r.epi.bias, r.epi.residual, r.epi.relu
	}
	for i := r0; i < r1; i++ {
		n, ty := i/r.th, i%r.th
		y0 := ((n*r.h + 4*ty) * r.w) * cout
		kernels.Winograd4Output(&s.tr, r.y, y0, r.w*cout, s.m[(i-r0)*tw*36*cout:], cout, tw, bias, res, relu)
	}
}

// strip copies the six padded input rows of tile row ty of image n (rows
// 4ty-1..4ty+4, zero outside the image, one zero pixel on each side) into
// s.strip and returns it: (6, W+2, Cin).
func (r *wino4Run) strip(s *winoScratch, n, ty int) []float32 {
	cin, wc := r.cin, r.w*r.cin
	rowLen := (r.w + 2) * cin
	for k := 0; k < 6; k++ {
		row := s.strip[k*rowLen : (k+1)*rowLen]
		iy := 4*ty + k - 1
		if iy < 0 || iy >= r.h {
			clear(row)
			continue
		}
		clear(row[:cin])
		copy(row[cin:cin+wc], r.x[(n*r.h+iy)*wc:(n*r.h+iy+1)*wc])
		clear(row[cin+wc:])
	}
	return s.strip
}
