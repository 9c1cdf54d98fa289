package nn

import (
	"sync"

	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// Winograd convolution F(2x2, 3x3) for 3x3 convolutions with stride 1 and
// padding 1 (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
// Networks", arXiv:1509.09308). Every 2x2 block of output pixels (a tile)
// is computed from the 4x4 block of (padded) input pixels under it as
//
//	Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//
// where g is one 3x3 kernel slice (one input channel to one output
// channel), d the 4x4 input block of that input channel, ⊙ the elementwise
// product summed over input channels, and
//
//	Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//	     | 0  1  1  0 |        | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
//	     | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
//	     | 0  1  0 -1 |        | 0    0    1  |
//
// The sum over input channels of the 16 elementwise products is, for each
// of the 16 positions k of the 4x4 transformed tile, a matrix product
//
//	M_k (tiles, Cout) = V_k (tiles, Cin) · U_k (Cin, Cout)
//
// with V_k the transformed input tiles and U_k the transformed weights.
// That is 16 multiply-adds per tile per channel pair where the direct
// convolution does 4*9 = 36: 2.25x fewer. The price is the two transforms
// (additions only, memory-bound) and a rounding error a few times that of
// the direct sum (the transforms add up to 4x4 = 16 terms).
//
// The tiles are processed in blocks of whole tile rows, each block on one
// worker: transform the block's input tiles into V (tiles, 16, Cin), run
// the 16 products with the implicit-GEMM micro-kernels (kernels.ConvWeights
// with a 1x1 "kernel": the rows of V_k are read in place, 16*Cin floats
// apart), transform M (tiles, 16, Cout) back into output pixels, and apply
// the epilogue (bias, residual, ReLU) while they are in cache.

// winogradMinC is the fewest input and output channels for which 3x3
// stride-1 convolutions run through Winograd; a variable so that tests
// and benchmarks can force either path (math.MaxInt disables it).
var winogradMinC = 16

// winogradBlockTiles is the number of tiles a block aims at: enough rows
// for the micro-kernels (12 per tile of registers), few enough that V, M
// and the transformed weights stay in the L2 cache.
const winogradBlockTiles = 48

// winogradMinTiles is the fewest 2x2 tiles (over the batch) for which
// Conv2D.Forward and the dx use Winograd: the weight transform, redone at
// every training step, does not pay on tiny inputs (one 12x12 image with
// 64 channels, 36 tiles, ran 2.5x slower than the implicit GEMM). ConvBN,
// whose weights are transformed once, ignores it. A variable so that
// tests can use small shapes.
var winogradMinTiles = 64

// winograd reports whether a convolution with this configuration can run
// through Winograd.
func (c *Conv2D) winograd() bool {
	return c.kh == 3 && c.kw == 3 && c.cfg.Stride == 1 && c.cfg.Padding == 1 &&
		c.cfg.InC >= winogradMinC && c.cfg.OutC >= winogradMinC && c.implicit(c.cfg.InC)
}

// winogradTiles reports whether the last Forward's shape has enough tiles
// for Winograd to pay when the weights change at every call (training).
func (c *Conv2D) winogradTiles() bool {
	return c.n*((c.h+1)/2)*((c.w+1)/2) >= winogradMinTiles
}

// winogradData reports whether Backward computes dx through Winograd: the
// transposed convolution of a 3x3 stride-1 padding-1 convolution is one
// too, from Cout to Cin channels, with the kernel flipped.
func (c *Conv2D) winogradData() bool {
	return c.kh == 3 && c.kw == 3 && c.cfg.Stride == 1 && c.cfg.Padding == 1 &&
		c.cfg.InC >= winogradMinC && c.cfg.OutC >= winogradMinC && c.implicit(c.cfg.OutC) &&
		c.winogradTiles()
}

// winoWeights holds transformed weights U_k, packed for the micro-kernels.
type winoWeights struct {
	ut    []float32 // (16, Cout, Cin): U_k transposed, before packing
	u     [16]kernels.ConvWeights
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
func (ww *winoWeights) same(w []float32, key paramKey) bool {
	return sameSource(w, key, ww.from, &ww.fromKey)
}

// pack transforms w (Cout, 3, 3, Cin) into U_k = G g Gᵀ for every channel
// pair and packs the 16 (Cout, Cin) matrices for blocks of tiles rows.
func (ww *winoWeights) pack(w []float32, cout, cin, tiles int) {
	ww.ut = growFloats(ww.ut, 16*cout*cin)
	ut := ww.ut
	plane := cout * cin
	for co := 0; co < cout; co++ {
		for ci := 0; ci < cin; ci++ {
			var g [3][3]float32
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					g[ky][kx] = w[((co*3+ky)*3+kx)*cin+ci]
				}
			}
			// t = G g (4x3)
			var t [4][3]float32
			for kx := 0; kx < 3; kx++ {
				g0, g1, g2 := g[0][kx], g[1][kx], g[2][kx]
				t[0][kx] = g0
				t[1][kx] = 0.5 * (g0 + g1 + g2)
				t[2][kx] = 0.5 * (g0 - g1 + g2)
				t[3][kx] = g2
			}
			// U = t Gᵀ (4x4)
			at := co*cin + ci
			for i := 0; i < 4; i++ {
				t0, t1, t2 := t[i][0], t[i][1], t[i][2]
				ut[(4*i+0)*plane+at] = t0
				ut[(4*i+1)*plane+at] = 0.5 * (t0 + t1 + t2)
				ut[(4*i+2)*plane+at] = 0.5 * (t0 - t1 + t2)
				ut[(4*i+3)*plane+at] = t2
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

// winoScratch is one goroutine's block buffers.
type winoScratch struct {
	v, m  []float32 // transformed input and output tiles: (tiles, 16 or 36, C)
	strip []float32 // padded input rows of one tile row
	tr    kernels.Winograd4Scratch
	conv  *kernels.ConvScratch
}

// winoPool holds a run's scratch buffers: one per goroutine that may run
// its blocks at once (the workers and the caller), all sized for the run
// before it starts. Buffers shared by every layer would be met by a
// larger layer at random times, and allocate then; these allocate
// nothing once warm, whatever the scheduling.
type winoPool struct {
	mu   sync.Mutex
	all  []*winoScratch
	free []*winoScratch
}

// prepare sizes every buffer of the pool (v, m and strip floats).
func (p *winoPool) prepare(v, m, strip int) {
	if p.all == nil {
		n := parallel.Workers() + 1
		for range n {
			p.all = append(p.all, &winoScratch{conv: kernels.GetConvScratch()})
		}
		p.free = append(make([]*winoScratch, 0, n), p.all...)
	}
	for _, s := range p.all {
		s.v, s.m, s.strip = growFloats(s.v, v), growFloats(s.m, m), growFloats(s.strip, strip)
	}
}

// get takes a scratch from the pool (a new one, sized like the others, if
// more goroutines than expected run at once).
func (p *winoPool) get() *winoScratch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		return s
	}
	s0 := p.all[0]
	s := &winoScratch{conv: kernels.GetConvScratch(), v: make([]float32, len(s0.v)), m: make([]float32, len(s0.m)), strip: make([]float32, len(s0.strip))}
	p.all = append(p.all, s)
	return s
}

// put returns s to the pool.
func (p *winoPool) put(s *winoScratch) {
	p.mu.Lock()
	p.free = append(p.free, s)
	p.mu.Unlock()
}

// winoRun holds the arguments of a Winograd convolution's block loop.
type winoRun struct {
	ww           *winoWeights
	src          []float32 // padded input (N, 2*th+2, 2*tw+2, Cin)
	y            []float32 // output (N, H, W, Cout)
	n, h, w      int       // image size (= output size)
	cin, cout    int
	th, tw       int // tiles per column and per row
	rowsPerBlock int // tile rows per block
	blocks       int
	epi          *epilogue // applied to the output rows of each block, or nil
	padH, padW   int       // padded size
	x            []float32 // the unpadded input when src is nil
	pool         winoPool
	fn           func(lo, hi int)
}

// winogradPad returns the padding (top, bottom, left, right) of an h x w
// image for Winograd: 1 on every side, plus one more at the bottom (right)
// when h (w) is odd so that the last tile's 4x4 input block fits.
func winogradPad(h, w int) (pt, pb, pl, pr int) { return 1, 1 + h%2, 1, 1 + w%2 }

// winogradConv computes y (N,H,W,Cout) = conv3x3(x) (stride 1, padding 1)
// with weight w (Cout,3,3,Cin) through Winograd F(2x2,3x3), then applies
// epi (if not nil). pad receives the padded input (see winogradPad) when
// it is needed later (the weight gradient); with pad nil, each tile row's
// four padded input rows are copied into a small buffer instead, which
// stays in cache. ww holds the transformed weights, transformed and packed
// again when repack is set and wt changed, or when the block size calls
// for another micro-kernel.
func (r *winoRun) conv(pad *padded, x []float32, n, h, w, cin, cout int, wt []float32, key paramKey, ww *winoWeights, repack bool, y []float32, epi *epilogue) {
	pt, pb, pl, pr := winogradPad(h, w)
	r.src, r.x = nil, x
	if pad != nil {
		r.src = pad.fill(x, n, h, w, cin, pt, pb, pl, pr)
	}
	r.padH, r.padW = pt+h+pb, pl+w+pr
	r.th, r.tw = (h+1)/2, (w+1)/2
	rows := n * r.th
	// Whole tile rows per block, and at least two blocks when there are
	// two tile rows, so that both cores work on small inputs.
	rpb := max(1, (winogradBlockTiles+r.tw/2)/r.tw)
	// Few blocks (small inputs): make their count a multiple of the
	// workers, so that none waits for a last lone block.
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
	r.ww, r.y, r.epi = ww, y, epi
	r.n, r.h, r.w, r.cin, r.cout = n, h, w, cin, cout
	r.pool.prepare(tiles*16*cin, tiles*16*cout, 4*r.padW*cin)
	if r.fn == nil {
		r.fn = r.blockRange
	}
	parallel.For(r.blocks, 1, r.fn)
	r.src, r.x, r.y, r.epi, r.ww = nil, nil, nil, nil, nil
}

// blockRange runs blocks [lo,hi).
func (r *winoRun) blockRange(lo, hi int) {
	s := r.pool.get()
	defer r.pool.put(s)
	total := r.n * r.th
	for b := lo; b < hi; b++ {
		r0 := b * r.rowsPerBlock
		r1 := min(total, r0+r.rowsPerBlock)
		r.block(s, r0, r1)
	}
}

// block computes the output pixels of tile rows [r0,r1) (index n*th+ty).
func (r *winoRun) block(s *winoScratch, r0, r1 int) {
	cin, cout, tw := r.cin, r.cout, r.tw
	tiles := (r1 - r0) * tw
	// Input transform: V[t] (16, Cin) = Bᵀ d B for each tile t.
	rowStride := r.padW * cin
	for i := r0; i < r1; i++ {
		n, ty := i/r.th, i%r.th
		src, base := r.src, ((n*r.padH+2*ty)*r.padW)*cin
		if src == nil {
			src, base = r.strip(s, n, ty), 0
		}
		if kernels.WinogradInput(s.v[(i-r0)*tw*16*cin:], src, base, rowStride, cin, tw) {
			continue // AVX-512
		}
		for tx := 0; tx < tw; tx++ {
			t := (i-r0)*tw + tx
			winoInputTile(s.v[t*16*cin:(t+1)*16*cin], src, base+2*tx*cin, rowStride, cin)
		}
	}
	// M_k (tiles, Cout) = V_k (tiles, Cin) · U_k (Cin, Cout)
	for k := 0; k < 16; k++ {
		r.ww.u[k].ConvRow(s.conv, s.v, k*cin, 0, 16*cin, tiles, s.m[k*cout:], 16*cout, 0)
	}
	// Output transform: Y = Aᵀ M A, the pixels inside the image only.
	for i := r0; i < r1; i++ {
		n, ty := i/r.th, i%r.th
		oy := 2 * ty
		rowsOut := min(2, r.h-oy)
		tx0 := 0       // the tiles from tx0 on go through winoOutputTile
		fused := false // the epilogue is done
		if rowsOut == 2 && r.w >= 2 {
			// Whole tiles in AVX-512 where supported, with the epilogue
			// when they cover the two rows.
			full := r.w / 2
			y0 := ((n*r.h + oy) * r.w) * cout
			var bias, res []float32
			relu := false
			whole := full == tw && r.epi != nil
			if whole {
				bias, res, relu = r.epi.bias, r.epi.residual, r.epi.relu
			}
			if kernels.WinogradOutput(r.y, y0, r.w*cout, s.m[(i-r0)*tw*16*cout:], cout, full, bias, res, relu) {
				tx0, fused = full, whole
			}
		}
		for tx := tx0; tx < tw; tx++ {
			t := (i-r0)*tw + tx
			ox := 2 * tx
			y0 := ((n*r.h+oy)*r.w + ox) * cout
			y1 := y0 + r.w*cout
			if rowsOut < 2 {
				y1 = -1
			}
			winoOutputTile(r.y, y0, y1, min(2, r.w-ox), s.m[t*16*cout:(t+1)*16*cout], cout)
		}
		if r.epi != nil && !fused {
			p0 := (n*r.h + oy) * r.w
			r.epi.apply(r.y, cout, p0, p0+rowsOut*r.w)
		}
	}
}

// strip copies the four padded input rows of tile row ty of image n
// (padded rows 2ty..2ty+3, zero outside the image) into s.strip and
// returns it: (4, padW, Cin).
func (r *winoRun) strip(s *winoScratch, n, ty int) []float32 {
	cin, wc := r.cin, r.w*r.cin
	rowLen := r.padW * cin
	for k := 0; k < 4; k++ {
		row := s.strip[k*rowLen : (k+1)*rowLen]
		iy := 2*ty + k - 1
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

// winoInputTile computes v (16, C) = Bᵀ d B for the 4x4 block d of
// pixels whose top-left pixel starts at src[base] (rows rowStride apart,
// pixels C apart), for each channel.
func winoInputTile(v, src []float32, base, rowStride, c int) {
	s0 := src[base : base+4*c]
	s1 := src[base+rowStride : base+rowStride+4*c]
	s2 := src[base+2*rowStride : base+2*rowStride+4*c]
	s3 := src[base+3*rowStride : base+3*rowStride+4*c]
	v = v[:16*c]
	for ch := 0; ch < c; ch++ {
		// Columns j of Bᵀ d: t_0j = d_0j - d_2j, t_1j = d_1j + d_2j,
		// t_2j = d_2j - d_1j, t_3j = d_1j - d_3j.
		var t [4][4]float32
		for j := 0; j < 4; j++ {
			d0, d1, d2, d3 := s0[j*c+ch], s1[j*c+ch], s2[j*c+ch], s3[j*c+ch]
			t[0][j] = d0 - d2
			t[1][j] = d1 + d2
			t[2][j] = d2 - d1
			t[3][j] = d1 - d3
		}
		// Rows of (Bᵀ d) B, the same combination along j.
		for i := 0; i < 4; i++ {
			t0, t1, t2, t3 := t[i][0], t[i][1], t[i][2], t[i][3]
			v[(4*i+0)*c+ch] = t0 - t2
			v[(4*i+1)*c+ch] = t1 + t2
			v[(4*i+2)*c+ch] = t2 - t1
			v[(4*i+3)*c+ch] = t1 - t3
		}
	}
}

// winoOutputTile computes the 2x2 output pixels Aᵀ m A of one tile from
// m (16, C) and writes the first cols (1 or 2) of them in each row: row
// 0 at y[y0:], row 1 at y[y1:] unless y1 < 0 (the image ends there).
func winoOutputTile(y []float32, y0, y1, cols int, m []float32, c int) {
	m = m[:16*c]
	for ch := 0; ch < c; ch++ {
		// t = Aᵀ m (2x4): t_0j = m_0j + m_1j + m_2j, t_1j = m_1j - m_2j - m_3j.
		var t [2][4]float32
		for j := 0; j < 4; j++ {
			m0, m1, m2, m3 := m[j*c+ch], m[(4+j)*c+ch], m[(8+j)*c+ch], m[(12+j)*c+ch]
			t[0][j] = m0 + m1 + m2
			t[1][j] = m1 - m2 - m3
		}
		for i := 0; i < 2; i++ {
			yo := y0
			if i == 1 {
				if y1 < 0 {
					break
				}
				yo = y1
			}
			t0, t1, t2, t3 := t[i][0], t[i][1], t[i][2], t[i][3]
			y[yo+ch] = t0 + t1 + t2
			if cols == 2 {
				y[yo+c+ch] = t1 - t2 - t3
			}
		}
	}
}

// winogradGradOK reports whether Backward computes dW through Winograd:
// Forward went through it (so xpad holds the input padded as
// winogradPad says) and the k-major micro-kernels take the shapes.
func (c *Conv2D) winogradGradOK() bool {
	return c.winoFwd && c.winoWG.Plan(c.cfg.OutC, 1, c.cfg.InC)
}

// winoGradRun holds the arguments of winogradWeightGrad's chunk loop.
type winoGradRun struct {
	src, dy      []float32 // padded input (N, padH, padW, Cin), dy (N,H,W,Cout)
	n, h, w      int
	cin, cout    int
	th, tw       int
	padH, padW   int
	chunks       int
	rowsPerBlock int       // tile rows per block within a chunk
	part         []float32 // (chunks, 16, Cout, Cin): each chunk's dU
	fn           func(lo, hi int)
	wg           *kernels.ConvWeightGrad
	pool         winoPool
}

// winogradWeightGrad computes dW (Cout,3,3,Cin) for the Winograd forward.
// The gradient of the 16 products M_k = V_k · U_k with respect to U_k is
//
//	dU_k (Cout, Cin) = dM_kᵀ (Cout, tiles) · V_k (tiles, Cin),  dM = A dY Aᵀ per tile,
//
// (dY of the pixels past the image's edge is 0), and dW = Gᵀ dU G per
// channel pair. Tile rows are split into wgChunks fixed chunks whose dU
// are summed in order (deterministic), each chunk in blocks of tiles that
// stay in cache, with the k-major micro-kernels reading dM and V in place.
func (c *Conv2D) winogradWeightGrad(dy *tensor.Tensor, dW []float32) {
	cin, cout := c.cfg.InC, c.cfg.OutC
	g := &c.winoG
	pt, pb, pl, pr := winogradPad(c.h, c.w)
	g.src, g.dy = c.xpad.buf, dy.Data
	g.n, g.h, g.w, g.cin, g.cout = c.n, c.h, c.w, cin, cout
	g.th, g.tw = (c.h+1)/2, (c.w+1)/2
	g.padH, g.padW = pt+c.h+pb, pl+c.w+pr
	rows := c.n * g.th
	g.chunks = min(wgChunks, rows)
	g.rowsPerBlock = max(1, (winogradBlockTiles+g.tw/2)/g.tw)
	g.wg = &c.winoWG
	tiles := g.rowsPerBlock * g.tw
	g.pool.prepare(tiles*16*cin, tiles*16*cout, 0)
	size := 16 * cout * cin
	g.part = growFloats(g.part, g.chunks*size)
	if g.fn == nil {
		g.fn = g.chunkRange
	}
	parallel.For(g.chunks, 1, g.fn)
	dU := g.part[:size]
	for ch := 1; ch < g.chunks; ch++ {
		for i, v := range g.part[ch*size : (ch+1)*size] {
			dU[i] += v
		}
	}
	// dW = Gᵀ dU G for each channel pair.
	plane := cout * cin
	for co := 0; co < cout; co++ {
		for ci := 0; ci < cin; ci++ {
			at := co*cin + ci
			// e = dU G (4x3): e_i0 = d_i0 + (d_i1 + d_i2)/2,
			// e_i1 = (d_i1 - d_i2)/2, e_i2 = (d_i1 + d_i2)/2 + d_i3.
			var e [4][3]float32
			for i := 0; i < 4; i++ {
				d0, d1, d2, d3 := dU[(4*i)*plane+at], dU[(4*i+1)*plane+at], dU[(4*i+2)*plane+at], dU[(4*i+3)*plane+at]
				e[i][0] = d0 + 0.5*(d1+d2)
				e[i][1] = 0.5 * (d1 - d2)
				e[i][2] = 0.5*(d1+d2) + d3
			}
			// dW = Gᵀ e (3x3), the same combination over i.
			for kx := 0; kx < 3; kx++ {
				e0, e1, e2, e3 := e[0][kx], e[1][kx], e[2][kx], e[3][kx]
				dW[((co*3+0)*3+kx)*cin+ci] = e0 + 0.5*(e1+e2)
				dW[((co*3+1)*3+kx)*cin+ci] = 0.5 * (e1 - e2)
				dW[((co*3+2)*3+kx)*cin+ci] = 0.5*(e1+e2) + e3
			}
		}
	}
	g.src, g.dy, g.wg = nil, nil, nil
}

// chunkRange computes the dU of chunks [lo,hi).
func (g *winoGradRun) chunkRange(lo, hi int) {
	s := g.pool.get()
	defer g.pool.put(s)
	size := 16 * g.cout * g.cin
	for ch := lo; ch < hi; ch++ {
		part := g.part[ch*size : (ch+1)*size]
		clear(part)
		r0, r1 := chunkBounds(g.n*g.th, g.chunks, ch)
		for b := r0; b < r1; b += g.rowsPerBlock {
			g.block(s, b, min(r1, b+g.rowsPerBlock), part)
		}
	}
}

// block adds the dU of tile rows [r0,r1) to part (16, Cout, Cin).
func (g *winoGradRun) block(s *winoScratch, r0, r1 int, part []float32) {
	cin, cout, tw := g.cin, g.cout, g.tw
	tiles := (r1 - r0) * tw
	rowStride := g.padW * cin
	for i := r0; i < r1; i++ {
		n, ty := i/g.th, i%g.th
		// V: the input tiles, as in the forward pass.
		base := ((n*g.padH + 2*ty) * g.padW) * cin
		v := s.v[(i-r0)*tw*16*cin:]
		if !kernels.WinogradInput(v, g.src, base, rowStride, cin, tw) {
			for tx := 0; tx < tw; tx++ {
				winoInputTile(v[tx*16*cin:(tx+1)*16*cin], g.src, base+2*tx*cin, rowStride, cin)
			}
		}
		// dM = A dY Aᵀ per tile.
		oy := 2 * ty
		rowsIn := min(2, g.h-oy)
		y0 := ((n*g.h + oy) * g.w) * cout
		m := s.m[(i-r0)*tw*16*cout:]
		tx0 := 0
		if rowsIn == 2 && g.w >= 2 && kernels.WinogradGrad(m, g.dy, y0, g.w*cout, cout, g.w/2) {
			tx0 = g.w / 2
		}
		for tx := tx0; tx < tw; tx++ {
			y1 := y0 + g.w*cout + 2*tx*cout
			if rowsIn < 2 {
				y1 = -1
			}
			winoGradTile(m[tx*16*cout:(tx+1)*16*cout], g.dy, y0+2*tx*cout, y1, min(2, g.w-2*tx), cout)
		}
	}
	// dU_k (Cout, Cin) += dM_kᵀ · V_k
	for k := 0; k < 16; k++ {
		g.wg.Row(s.m[k*cout:], 16*cout, s.v, k*cin, 0, 16*cin, tiles, part[k*cout*cin:(k+1)*cout*cin])
	}
}

// winoGradTile computes m (16, C) = A y Aᵀ for the 2x2 pixels y of one
// output tile: row 0 from dy[y0:], row 1 from dy[y1:] (zeros if y1 < 0),
// and only the first cols (1 or 2) pixels of each row (zeros past them).
func winoGradTile(m, dy []float32, y0, y1, cols int, c int) {
	m = m[:16*c]
	for ch := 0; ch < c; ch++ {
		var y [2][2]float32
		for a := 0; a < 2; a++ {
			yo := y0
			if a == 1 {
				if y1 < 0 {
					break
				}
				yo = y1
			}
			y[a][0] = dy[yo+ch]
			if cols == 2 {
				y[a][1] = dy[yo+c+ch]
			}
		}
		// u = A y (4x2): u_0 = y_0, u_1 = y_0 + y_1, u_2 = y_0 - y_1, u_3 = -y_1.
		var u [4][2]float32
		for b := 0; b < 2; b++ {
			u[0][b], u[1][b], u[2][b], u[3][b] = y[0][b], y[0][b]+y[1][b], y[0][b]-y[1][b], -y[1][b]
		}
		for i := 0; i < 4; i++ {
			m[(4*i+0)*c+ch] = u[i][0]
			m[(4*i+1)*c+ch] = u[i][0] + u[i][1]
			m[(4*i+2)*c+ch] = u[i][0] - u[i][1]
			m[(4*i+3)*c+ch] = -u[i][1]
		}
	}
}
