package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/residual-go/residual/internal/parallel"
)

// Cache blocking (see doc.go). A packed block of B, kcBlock x ncBlock
// float32s (512 KiB), stays in the 1 MiB L2 of a Zen 4 core while every
// MR-row panel of A (MR x kcBlock, 12 KiB) is swept across it from L1.
const (
	kcBlock = 256
	ncBlock = 512 // a multiple of every kernel's NR
	// kcDirect is the k block when A is read in place and B is at most
	// 2 panels (64 columns) wide: 1024 x 64 float32s is 256 KiB.
	kcDirect = 1024
)

// directBOK lets the k-major kernels read B in place (a variable so that
// tests and benchmarks can compare with packing).
var directBOK = true

// ntMinBytes is the size of C from which a GEMM that overwrites C in one
// pass over k stores it with non-temporal stores: C then goes straight to
// memory instead of being read in first (for ownership) and evicting A
// and B from the caches. Below it, C may well be read again from L3.
var ntMinBytes = 16 << 20 // a variable so that tests can lower it

// smallM is the number of rows of A up to which a B stored k x n is read
// in place by the k-major kernels rather than packed.
const smallM = 32

// parallelBusy is set while an Sgemm spreads over the workers. A
// concurrent Sgemm then runs on its own goroutine: the cores are taken
// anyway, and an Sgemm called from inside a parallel.For body cannot wait
// for workers that are all busy running that same loop.
var parallelBusy atomic.Bool

// parallelFlops is the work (2*m*n*k) below which Sgemm stays on the
// calling goroutine: waking a worker costs a few microseconds.
const parallelFlops = 1 << 21

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is
// m x n. lda, ldb and ldc are the row strides of A, B and C as stored.
// With beta == 0, C is overwritten (NaNs in C do not propagate).
//
// Sgemm panics with a message naming the offending argument when a
// dimension is negative, a stride is shorter than its row, or a slice is too
// short for the matrix it holds: those are programming errors of the
// caller, and the kernels must never read or write outside the slices.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	v := active.Load()
	kern := v.pickK(m, n, k, transA)
	call := getCall()
	*call.p = problem{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, dot8: v.dot8}
	call.execute()
}

// execute plans and runs the problem in c.p, then recycles c.
func (call *call) execute() {
	call.plan()
	switch {
	case call.chunks <= 1:
		call.p.run(call.ws[0])
	case parallelBusy.CompareAndSwap(false, true):
		parallel.For(call.chunks, 1, call.work)
		parallelBusy.Store(false)
	default:
		// Another Sgemm has the workers (or this one runs inside a
		// parallel loop): run the chunks here rather than queue behind it.
		call.do(0, call.chunks)
	}
	if call.chunks > 1 && call.split == splitK {
		call.reduce()
	}
	putCall(call)
}

// checkArgs panics when the arguments of Sgemm describe matrices that do
// not fit their slices.
func checkArgs(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	check := func(name string, rows, cols, length, ld int) {
		if rows == 0 || cols == 0 {
			return // an empty matrix is never read
		}
		if ld < cols {
			panic(fmt.Sprintf("kernels.Sgemm: ld%s=%d is less than the %d columns of %s as stored", name, ld, cols, name))
		}
		if length < (rows-1)*ld+cols {
			panic(fmt.Sprintf("kernels.Sgemm: len(%s)=%d is too short for a %dx%d matrix with stride %d (need %d)",
				name, length, rows, cols, ld, (rows-1)*ld+cols))
		}
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check("a", ar, ac, la, lda)
	check("b", br, bc, lb, ldb)
	check("c", m, n, lc, ldc)
}

// scaleC sets C = beta*C (C = 0 when beta == 0).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// problem is one (sub-)GEMM: C = alpha*op(A)*op(B) + beta*C.
type problem struct {
	kern           *kernelInfo
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	bf16           bool     // multiply in bfloat16 (SgemmBF16)
	dot8           dot8Func // the variant's matrix-vector kernel, or nil
}

// workspace holds one worker's packing buffers; they only ever grow, so
// Sgemm allocates nothing once they have reached the sizes it needs.
type workspace struct {
	packB   []float32 // kcBlock x ncBlock block of B as NR-column panels
	packA   []float32 // one MR x kcBlock panel of A, row by row
	tile    []float32 // MR x NR scratch tile for the edges of C
	partial []float32 // m x n partial product when splitting over k
	tmp     []float32 // scratch for SgemmBF16's packing
}

func grow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// run computes the problem on the calling goroutine with workspace ws
// (the GotoBLAS loop nest, without the MC loop: see doc.go).
func (p *problem) run(ws *workspace) {
	if p.bf16 {
		p.runBF16(ws)
		return
	}
	if p.useDot() {
		p.runDot()
		return
	}
	mr, nr := p.kern.mr, p.kern.nr
	// The k-major kernels serve a transposed A, and also a few rows of A
	// times a B stored k x n: they read that B in place, so the only
	// packing left is a tiny transpose of A.
	kmajor := p.transA || (!p.transB && p.m <= smallM && p.kern.fnK != nil)
	fn := p.kern.fn
	if kmajor {
		fn = p.kern.fnK
	}
	fnNT, ntAlign := p.kern.fnNT, p.kern.ntAlign
	useNT := fnNT != nil && !kmajor && p.beta == 0 && p.k <= kcDirect &&
		p.m*p.n*4 >= ntMinBytes && p.ldc*4%int(ntAlign) == 0
	if useNT {
		defer sfenceFn()
	}
	tile := grow(&ws.tile, mr*nr)
	for j0 := 0; j0 < p.n; j0 += ncBlock {
		nc := min(ncBlock, p.n-j0)
		panels := (nc + nr - 1) / nr
		// A is read in place (no packing) when it is stored row by row
		// and its panels meet at most 64 columns of B, or its rows are
		// short (then k <= lda <= 128): packing would cost as much as the
		// multiplication it speeds up.
		direct := !kmajor && (nc <= 64 || p.lda <= 128)
		kcb := kcBlock
		if direct {
			// B is at most 64 columns wide (or k <= 128): a deeper block
			// still fits in L2, and whole rows of A make one stream the
			// kernel can prefetch.
			kcb = kcDirect
		}
		// The k-major kernels read B in place when it is stored k x n;
		// only a partial last panel is packed (zero-padded).
		directB := kmajor && !p.transB && directBOK
		full := nc / nr
		for p0 := 0; p0 < p.k; p0 += kcb {
			kc := min(kcb, p.k-p0)
			packB := grow(&ws.packB, panels*nr*kc)
			if !directB {
				p.packB(packB, j0, nc, p0, kc, nr)
			} else if full < panels {
				p.packB(packB[full*nr*kc:], j0+full*nr, nc-full*nr, p0, kc, nr)
			}
			beta := p.beta
			if p0 > 0 {
				beta = 1
			}
			var packA []float32
			if !direct {
				packA = grow(&ws.packA, mr*kc)
			}
			// While the kernels run on this block, they prefetch the
			// input that the next block reads from memory.
			var pfs prefetcher
			pfs.add(p.nextBRange(j0, nc, p0+kc, kcb))
			pfs.add(p.nextARange(p0+kc, kcb))
			for i0 := 0; i0 < p.m; i0 += mr {
				rows := min(mr, p.m-i0)
				var aPtr *float32
				var rs, pf uintptr
				if direct {
					aPtr, rs = &p.a[i0*p.lda+p0], uintptr(p.lda)*4
					// The next panel of A (its rows are contiguous when
					// lda == kc, as in an im2col matrix).
					pf = uintptr(unsafe.Pointer(aPtr)) + uintptr(mr)*rs
				} else if p.transA && rows == mr {
					// A stored k x m: a full panel is k-major in place.
					aPtr, rs = &p.a[p0*p.lda+i0], uintptr(p.lda)*4
				} else if kmajor {
					p.packAKMajor(packA, i0, rows, p0, kc, mr)
					aPtr, rs = &packA[0], uintptr(mr)*4
				} else {
					p.packARows(packA, i0, rows, p0, kc)
					aPtr, rs = &packA[0], uintptr(kc)*4
				}
				for jp := 0; jp < panels; jp++ {
					j := j0 + jp*nr
					cols := min(nr, p.n-j)
					bPtr, bs := &packB[jp*nr*kc], uintptr(nr)*4
					if directB && jp < full {
						bPtr, bs = &p.b[p0*p.ldb+j], uintptr(p.ldb)*4
					}
					if !direct {
						pf = pfs.take(uintptr(mr*kc*4), uintptr(unsafe.Pointer(aPtr)))
					}
					if rows == mr && cols == nr {
						cPtr := &p.c[i0*p.ldc+j]
						if useNT && p0 == 0 && kc == p.k && uintptr(unsafe.Pointer(cPtr))%ntAlign == 0 {
							fnNT(kc, aPtr, rs, rows, bPtr, bs, pf, cPtr, uintptr(p.ldc)*4, p.alpha, 0)
						} else {
							fn(kc, aPtr, rs, rows, bPtr, bs, pf, cPtr, uintptr(p.ldc)*4, p.alpha, beta)
						}
						continue
					}
					fn(kc, aPtr, rs, rows, bPtr, bs, pf, &tile[0], uintptr(nr)*4, p.alpha, 0)
					p.mergeTile(tile, nr, i0, j, rows, cols, beta)
				}
			}
		}
	}
}

// mergeTile sets C[i0:i0+rows, j:j+cols] = tile + beta*C, where tile (row
// stride nr) holds alpha*op(A)*op(B) for an edge of C.
func (p *problem) mergeTile(tile []float32, nr, i0, j, rows, cols int, beta float32) {
	for r := 0; r < rows; r++ {
		crow := p.c[(i0+r)*p.ldc+j : (i0+r)*p.ldc+j+cols]
		trow := tile[r*nr : r*nr+cols]
		if beta == 0 {
			copy(crow, trow)
		} else {
			for q, t := range trow {
				crow[q] = t + beta*crow[q]
			}
		}
	}
}

// prefetcher hands out consecutive pieces of up to two byte ranges, one
// piece per kernel call, for the kernels to prefetch.
type prefetcher struct {
	from, to [2]uintptr
	n        int
}

func (f *prefetcher) add(from, to uintptr) {
	if from < to && f.n < len(f.from) {
		f.from[f.n], f.to[f.n] = from, to
		f.n++
	}
}

// take returns the start of the next piece of size bytes, or idle (an
// address already in cache) when everything has been handed out.
func (f *prefetcher) take(size, idle uintptr) uintptr {
	for i := 0; i < f.n; i++ {
		if f.from[i] < f.to[i] {
			at := f.from[i]
			f.from[i] += size
			return at
		}
	}
	return idle
}

// nextBRange returns the bytes of B that the k block [p1, p1+kcb) will
// read, when they are one dense stretch of memory (B stored k x n with ldb
// close to nc, as the im2col matrix of a weight gradient). Otherwise the
// range is empty. Prefetching never faults, so a range may run past the
// end of its matrix.
func (p *problem) nextBRange(j0, nc, p1, kcb int) (from, to uintptr) {
	if p.transB || p1 >= p.k || p.ldb > 2*nc {
		return 0, 0
	}
	from = uintptr(unsafe.Pointer(&p.b[p1*p.ldb]))
	return from, from + uintptr(min(kcb, p.k-p1)*p.ldb*4)
}

// nextARange is nextBRange for a transposed A (stored k x m, as the output
// gradient in a weight gradient).
func (p *problem) nextARange(p1, kcb int) (from, to uintptr) {
	if !p.transA || p1 >= p.k || p.lda > 2*p.m {
		return 0, 0
	}
	from = uintptr(unsafe.Pointer(&p.a[p1*p.lda]))
	return from, from + uintptr(min(kcb, p.k-p1)*p.lda*4)
}

// packB copies op(B)[p0:p0+kc, j0:j0+nc] into dst as panels of nr columns:
// panel q holds kc rows of nr consecutive values, zero-padded past nc.
func (p *problem) packB(dst []float32, j0, nc, p0, kc, nr int) {
	full := nc / nr // panels without padding
	if !p.transB {
		// Walk B row by row (one sequential stream) and deal each row's
		// nr-wide pieces out to the panels.
		if full > 0 && packBRowsFn != nil && nr%8 == 0 {
			_ = p.b[(p0+kc-1)*p.ldb+j0+full*nr-1] // the last value copied
			_ = dst[full*nr*kc-1]
			packBRowsFn(&dst[0], &p.b[p0*p.ldb+j0], uintptr(p.ldb)*4, kc, full, nr)
		} else {
			for r := 0; r < kc; r++ {
				src := p.b[(p0+r)*p.ldb+j0:]
				off := r * nr
				for q := 0; q < full; q++ {
					copyRow(dst[off:off+nr], src[q*nr:q*nr+nr], nr)
					off += nr * kc
				}
			}
		}
		if rest := nc - full*nr; rest > 0 {
			panel := dst[full*nr*kc : (full+1)*nr*kc]
			for r := 0; r < kc; r++ {
				d := panel[r*nr : r*nr+nr]
				copy(d, p.b[(p0+r)*p.ldb+j0+full*nr:(p0+r)*p.ldb+j0+nc])
				clear(d[rest:])
			}
		}
		return
	}
	// B is stored n x k: column j of op(B) is row j of B.
	for q := 0; q*nr < nc; q++ {
		panel := dst[q*nr*kc : (q+1)*nr*kc]
		cols := min(nr, nc-q*nr)
		if cols < nr {
			clear(panel)
		}
		jb := j0 + q*nr
		jj := 0
		if transposePackFn != nil {
			// 8 rows of B at a time, 8x8 blocks of k; the rest below.
			k8 := kc &^ 7
			for ; k8 > 0 && jj+8 <= cols; jj += 8 {
				_ = p.b[(jb+jj+7)*p.ldb+p0+k8-1]
				_ = panel[(k8-1)*nr+jj+7]
				transposePackFn(&panel[jj], &p.b[(jb+jj)*p.ldb+p0], uintptr(p.ldb)*4, k8, uintptr(nr)*4)
			}
			for j := 0; j < jj; j++ {
				src := p.b[(jb+j)*p.ldb+p0+k8 : (jb+j)*p.ldb+p0+kc]
				for r, v := range src {
					panel[(k8+r)*nr+j] = v
				}
			}
		}
		for ; jj < cols; jj++ {
			src := p.b[(jb+jj)*p.ldb+p0 : (jb+jj)*p.ldb+p0+kc]
			for r, v := range src {
				panel[r*nr+jj] = v
			}
		}
	}
}

// transposePackFn is an assembly transposing copy for packB with a
// transposed B (nil when there is none for this CPU or build).
var transposePackFn func(dst *float32, src *float32, ldb uintptr, kc int, nrb uintptr)

// sfenceFn makes non-temporal stores visible in order (nil when there
// are no NT kernels).
var sfenceFn func()

// packBRowsFn is an assembly version of the copy loop of packB for a B
// stored k x n (nil when there is none for this CPU or build).
var packBRowsFn func(dst *float32, src *float32, ldb uintptr, kc int, panels int, nr int)

// copyRow copies n = len(dst) = len(src) values. Go compiles a copy of a
// [4]float32 to one vector move but calls memmove for longer arrays, so
// the fixed widths of the kernels are copied 4 values at a time.
func copyRow(dst, src []float32, n int) {
	if n%4 != 0 || n > 32 {
		copy(dst, src)
		return
	}
	dst, src = dst[:n], src[:n]
	for i := 0; i+4 <= n; i += 4 {
		*(*[4]float32)(dst[i:]) = *(*[4]float32)(src[i:])
	}
}

// packARows copies op(A)[i0:i0+rows, p0:p0+kc] (A stored m x k) into dst
// row by row, with row stride kc; the kernel repeats the last row when
// rows < MR.
func (p *problem) packARows(dst []float32, i0, rows, p0, kc int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*kc:r*kc+kc], p.a[(i0+r)*p.lda+p0:])
	}
}

// packAKMajor copies op(A)[i0:i0+rows, p0:p0+kc] into dst k-major: kc
// groups of mr values, zero-padded past rows. When A is stored k x m
// (transA) each group is a contiguous piece of a row of A.
func (p *problem) packAKMajor(dst []float32, i0, rows, p0, kc, mr int) {
	if !p.transA {
		clear(dst[:kc*mr])
		for r := 0; r < rows; r++ {
			for q, v := range p.a[(i0+r)*p.lda+p0 : (i0+r)*p.lda+p0+kc] {
				dst[q*mr+r] = v
			}
		}
		return
	}
	for q := 0; q < kc; q++ {
		src := p.a[(p0+q)*p.lda+i0 : (p0+q)*p.lda+i0+rows]
		d := dst[q*mr : q*mr+mr]
		if rows == mr {
			copyRow(d, src, mr)
		} else {
			copy(d, src)
			clear(d[rows:])
		}
	}
}

// How a call is spread over the workers.
const (
	splitNone = iota
	splitM    // each worker owns a band of rows of C
	splitN    // each worker owns a band of columns of C
	splitK    // each worker sums a slice of k into its own partial C
)

// call is the reusable state of one Sgemm call: the problem, how it is
// split, and one workspace per worker. Calls are recycled through a free
// list (not a sync.Pool, which the GC may empty) so Sgemm does not allocate.
type call struct {
	p      *problem
	sub    []problem // per-chunk sub-problems
	ws     []*workspace
	split  int
	chunks int
	work   func(lo, hi int) // c.do, bound once so parallel.For does not allocate
}

var (
	callsMu sync.Mutex
	calls   []*call
)

func getCall() *call {
	callsMu.Lock()
	defer callsMu.Unlock()
	if n := len(calls); n > 0 {
		c := calls[n-1]
		calls = calls[:n-1]
		return c
	}
	w := parallel.Workers()
	c := &call{p: new(problem), sub: make([]problem, w), ws: make([]*workspace, w)}
	for i := range c.ws {
		c.ws[i] = new(workspace)
	}
	c.work = c.do
	return c
}

func putCall(c *call) {
	c.p.a, c.p.b, c.p.c = nil, nil, nil // do not keep the caller's matrices alive
	for i := range c.sub {
		c.sub[i] = problem{}
	}
	callsMu.Lock()
	calls = append(calls, c)
	callsMu.Unlock()
}

// plan chooses how to split the problem over the workers and prepares the
// sub-problems: rows of C when there are many, else k when it dwarfs m and
// n (the weight gradient of a convolution), else columns of C.
func (c *call) plan() {
	p := c.p
	w := len(c.ws)
	mr, nr := p.kern.mr, p.kern.nr
	c.split, c.chunks = splitNone, 1
	if w <= 1 || 2*p.m*p.n*p.k < parallelFlops {
		return
	}
	switch {
	case p.m >= w*4*mr:
		c.split = splitM
	case p.k >= 4*(p.m+p.n) && p.k >= w*kcBlock:
		c.split = splitK
	case p.n >= w*2*nr:
		c.split = splitN
	case p.m >= w*mr:
		c.split = splitM
	default:
		return
	}
	var total, align int
	switch c.split {
	case splitM:
		total, align = p.m, mr
	case splitN:
		total, align = p.n, nr
	case splitK:
		total, align = p.k, 1
	}
	chunk := roundUp((total+w-1)/w, align)
	c.chunks = (total + chunk - 1) / chunk
	for i := 0; i < c.chunks; i++ {
		lo := i * chunk
		hi := min(total, lo+chunk)
		s := *p
		switch c.split {
		case splitM:
			s.m = hi - lo
			if p.transA {
				s.a = p.a[lo:]
			} else {
				s.a = p.a[lo*p.lda:]
			}
			s.c = p.c[lo*p.ldc:]
		case splitN:
			s.n = hi - lo
			if p.transB {
				s.b = p.b[lo*p.ldb:]
			} else {
				s.b = p.b[lo:]
			}
			s.c = p.c[lo:]
		case splitK:
			s.k = hi - lo
			if p.transA {
				s.a = p.a[lo*p.lda:]
			} else {
				s.a = p.a[lo:]
			}
			if p.transB {
				s.b = p.b[lo:]
			} else {
				s.b = p.b[lo*p.ldb:]
			}
			if i > 0 { // chunk 0 accumulates into C itself
				s.c = grow(&c.ws[i].partial, p.m*p.n)
				s.ldc, s.beta = p.n, 0
			}
		}
		c.sub[i] = s
	}
}

// do runs chunks [lo,hi) of the planned split (called by parallel.For).
func (c *call) do(lo, hi int) {
	for i := lo; i < hi; i++ {
		c.sub[i].run(c.ws[i])
	}
}

// reduce adds the partial products of a k split into C.
func (c *call) reduce() {
	p := c.p
	for i := 1; i < c.chunks; i++ {
		part := c.ws[i].partial
		for r := 0; r < p.m; r++ {
			crow := p.c[r*p.ldc : r*p.ldc+p.n]
			for j, v := range part[r*p.n : r*p.n+p.n] {
				crow[j] += v
			}
		}
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }
