package nn

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// BatchNorm2DConfig describes batch normalisation over the channels of an
// NHWC tensor. Zero values select the documented defaults.
type BatchNorm2DConfig struct {
	C int // channels (required, > 0)
	// Momentum of the running statistics, PyTorch's convention:
	// running = (1-Momentum)*running + Momentum*batch. Default 0.1.
	Momentum float32
	Eps      float32 // added to the variance; default 1e-5
	ReLU     bool    // fuse a ReLU after the normalisation
}

// BatchNorm2D normalises each channel of (N,H,W,C) over its N*H*W values:
//
//	y = gamma * (x - mean) / sqrt(var + eps) + beta    [then max(y,0) if ReLU]
//
// In training, mean and var are the batch's (biased var), and the running
// statistics move towards them (with the unbiased var, as PyTorch does).
// In evaluation the running statistics are used.
type BatchNorm2D struct {
	name string
	cfg  BatchNorm2DConfig
	err  error

	Weight      *Param // gamma (C), initialised to 1
	Bias        *Param // beta (C), initialised to 0
	RunningMean *Param // buffer (C), initialised to 0
	RunningVar  *Param // buffer (C), initialised to 1
	// NumBatchesTracked counts training batches (a scalar buffer, kept for
	// PyTorch state_dict compatibility; it does not affect the maths).
	NumBatchesTracked *Param

	m      int            // N*H*W of the last Forward
	x      *tensor.Tensor // input of the last Forward, not owned
	out    *tensor.Tensor // (N,H,W,C)
	dx     *tensor.Tensor // (N,H,W,C)
	mean   []float32      // (C) batch mean of the last training Forward
	invStd []float32      // (C) 1/sqrt(var+eps) of the last training Forward
	scale  []float32      // (C) per-channel multiplier of Forward
	shift  []float32      // (C) per-channel offset of Forward
	gk     []float32      // (C) Backward's dx = gk*g + gA*x + gC
	gA     []float32      // (C)
	gC     []float32      // (C)
	part   []float64      // (reduceChunks, 2*C) per-chunk statistics or sums
	dy     *tensor.Tensor // gradient being propagated, not owned

	statsFn, affineFn, gradSumFn, gradFn func(lo, hi int)
}

// NewBatchNorm2D builds a batch normalisation named name; its tensors are
// "<name>.weight", "<name>.bias", "<name>.running_mean",
// "<name>.running_var" and "<name>.num_batches_tracked".
// An invalid configuration is reported by OutShape.
func NewBatchNorm2D(name string, cfg BatchNorm2DConfig) *BatchNorm2D {
	if cfg.Momentum == 0 {
		cfg.Momentum = 0.1
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-5
	}
	b := &BatchNorm2D{name: name, cfg: cfg}
	switch {
	case cfg.C <= 0:
		b.err = configError(name, "channels C=%d must be > 0", cfg.C)
	case !(cfg.Momentum > 0 && cfg.Momentum <= 1):
		b.err = configError(name, "momentum %g must be in (0,1]", cfg.Momentum)
	case !(cfg.Eps > 0):
		b.err = configError(name, "eps %g must be > 0", cfg.Eps)
	}
	c := max(cfg.C, 0)
	b.Weight = newParam(name+".weight", true, c)
	b.Bias = newParam(name+".bias", true, c)
	b.RunningMean = newBuffer(name+".running_mean", c)
	b.RunningVar = newBuffer(name+".running_var", c)
	b.NumBatchesTracked = newBuffer(name + ".num_batches_tracked")
	for i := 0; i < c; i++ {
		b.Weight.Value.Data[i] = 1
		b.RunningVar.Value.Data[i] = 1
	}
	b.mean = make([]float32, c)
	b.invStd = make([]float32, c)
	b.scale = make([]float32, c)
	b.shift = make([]float32, c)
	b.gk = make([]float32, c)
	b.gA = make([]float32, c)
	b.gC = make([]float32, c)
	b.part = make([]float64, reduceChunks*2*c)
	b.statsFn = b.statsChunks
	b.affineFn = b.affineRows
	b.gradSumFn = b.gradSumChunks
	b.gradFn = b.gradRows
	return b
}

// Name returns the layer's name.
func (b *BatchNorm2D) Name() string { return b.name }

// Config returns the configuration with defaults filled in.
func (b *BatchNorm2D) Config() BatchNorm2DConfig { return b.cfg }

// Params returns gamma and beta.
func (b *BatchNorm2D) Params() []*Param { return []*Param{b.Weight, b.Bias} }

// Buffers returns the running mean and variance and the batch count.
func (b *BatchNorm2D) Buffers() []*Param {
	return []*Param{b.RunningMean, b.RunningVar, b.NumBatchesTracked}
}

// OutShape accepts (N,H,W,C) and returns it unchanged.
func (b *BatchNorm2D) OutShape(in []int) ([]int, error) {
	if b.err != nil {
		return nil, b.err
	}
	if len(in) != 4 || in[0] <= 0 || in[1] <= 0 || in[2] <= 0 || in[3] != b.cfg.C {
		return nil, shapeError(b.name, in, fmt.Sprintf("(N,H,W,%d)", b.cfg.C))
	}
	return append([]int(nil), in...), nil
}

// Forward normalises x (N,H,W,C) into y (N,H,W,C). In training it uses
// the batch statistics and updates the running statistics; otherwise it
// uses the running statistics. The batch statistics take one pass over x
// in float64: per block of rows, a mean then the squared deviations from
// it (two passes over cache-resident data), merged pairwise (see
// combineChunks), which stays accurate when |mean| >> std.
func (b *BatchNorm2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	c := b.cfg.C
	b.x = x
	b.m = x.Len() / c
	b.out = tensor.Ensure(b.out, x.Shape...)
	grain := grainFor(c, minParallelWork)
	if train {
		m := float64(b.m)
		parallel.For(reduceChunks, reduceGrain(b.m, c), b.statsFn)
		mom := float64(b.cfg.Momentum)
		rm, rv := b.RunningMean.Value.Data, b.RunningVar.Value.Data
		for j := 0; j < c; j++ {
			mean, m2 := b.combineChunks(j)
			v := m2 / m // biased variance, used to normalise
			unbiased := v
			if b.m > 1 {
				unbiased = m2 / (m - 1)
			}
			b.mean[j] = float32(mean)
			rm[j] = float32((1-mom)*float64(rm[j]) + mom*mean)
			rv[j] = float32((1-mom)*float64(rv[j]) + mom*unbiased)
			b.invStd[j] = float32(1 / math.Sqrt(v+float64(b.cfg.Eps)))
		}
		b.NumBatchesTracked.Value.Data[0]++
		b.RunningMean.Changed()
		b.RunningVar.Changed()
		b.NumBatchesTracked.Changed()
		for j := 0; j < c; j++ {
			b.scale[j] = b.Weight.Value.Data[j] * b.invStd[j]
			b.shift[j] = b.Bias.Value.Data[j] - b.mean[j]*b.scale[j]
		}
	} else {
		rm, rv := b.RunningMean.Value.Data, b.RunningVar.Value.Data
		for j := 0; j < c; j++ {
			s := float32(float64(b.Weight.Value.Data[j]) / math.Sqrt(float64(rv[j])+float64(b.cfg.Eps)))
			b.scale[j] = s
			b.shift[j] = b.Bias.Value.Data[j] - rm[j]*s
		}
	}
	parallel.For(b.m, grain, b.affineFn)
	return b.out
}

// combineChunks merges the per-chunk (mean, M2) of channel j, in chunk
// order, into the batch mean and M2 (sum of squared deviations) with Chan
// et al.'s pairwise update, which stays accurate when |mean| >> std.
func (b *BatchNorm2D) combineChunks(j int) (mean, m2 float64) {
	c := b.cfg.C
	var n float64
	for k := 0; k < reduceChunks; k++ {
		r0, r1 := chunkBounds(b.m, reduceChunks, k)
		mean, m2, n = chanMerge(mean, m2, n, b.part[k*2*c+j], b.part[k*2*c+c+j], float64(r1-r0))
	}
	return mean, m2
}

// chanMerge merges the statistics (mean, M2, count) of two disjoint sets.
func chanMerge(meanA, m2A, nA, meanB, m2B, nB float64) (mean, m2, n float64) {
	n = nA + nB
	if nB == 0 {
		return meanA, m2A, nA
	}
	delta := meanB - meanA
	return meanA + delta*nB/n, m2A + m2B + delta*delta*nA*nB/n, n
}

// statsChunks: part[k][j] = mean and part[k][C+j] = M2 of x[:,j] over the
// pixels of chunk k.
func (b *BatchNorm2D) statsChunks(lo, hi int) {
	c := b.cfg.C
	for k := lo; k < hi; k++ {
		r0, r1 := chunkBounds(b.m, reduceChunks, k)
		bnStats(b.part[k*2*c:k*2*c+c], b.part[k*2*c+c:(k+1)*2*c], b.x.Data, c, r0, r1)
	}
}

// affineRows: y = x*scale + shift (then ReLU) for pixels [lo,hi).
func (b *BatchNorm2D) affineRows(lo, hi int) {
	bnAffine(b.out.Data, b.x.Data, b.scale, b.shift, b.cfg.ReLU, b.cfg.C, lo, hi)
}

// Backward takes dy (N,H,W,C) of the last training Forward and returns dx.
// With g = dy masked by the fused ReLU and xhat = (x-mean)*invStd:
//
//	dbeta  = sum g                       (per channel, over N*H*W)
//	dgamma = sum g*xhat
//	dx     = gamma*invStd * (g - dbeta/M - xhat*dgamma/M)
//
// in two passes: the sums, then dx. Frozen gamma or beta get no gradient
// (their Grad is left as it was).
func (b *BatchNorm2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	c := b.cfg.C
	b.dy = dy
	b.dx = tensor.Ensure(b.dx, dy.Shape...)
	parallel.For(reduceChunks, reduceGrain(b.m, c), b.gradSumFn)
	m := float64(b.m)
	dgamma, dbeta := b.Weight.Grad.Data, b.Bias.Grad.Data
	for j := 0; j < c; j++ {
		var sg, sgx float64
		for k := 0; k < reduceChunks; k++ {
			sg += b.part[k*2*c+j]
			sgx += b.part[k*2*c+c+j]
		}
		if !b.Bias.Frozen {
			dbeta[j] = float32(sg)
		}
		if !b.Weight.Frozen {
			dgamma[j] = float32(sgx)
		}
		// dx = k*g - k*sg/M - xhat*k*sgx/M with k = gamma*invStd and
		// xhat = (x-mean)*invStd, i.e. dx = k*g + A*x + C with
		// A = -invStd*k*sgx/M and C = mean*invStd*k*sgx/M - k*sg/M.
		is := float64(b.invStd[j])
		k := float64(b.Weight.Value.Data[j]) * is
		kx := k * sgx / m
		b.gk[j] = float32(k)
		b.gA[j] = float32(-is * kx)
		b.gC[j] = float32(float64(b.mean[j])*is*kx - k*sg/m)
	}
	parallel.For(b.m, grainFor(c, minParallelWork), b.gradFn)
	b.dy = nil
	return b.dx
}

// gradSumChunks: part[k][j] = sum g, part[k][C+j] = sum g*xhat over chunk k.
func (b *BatchNorm2D) gradSumChunks(lo, hi int) {
	c := b.cfg.C
	for k := lo; k < hi; k++ {
		r0, r1 := chunkBounds(b.m, reduceChunks, k)
		bnGradSums(b.part[k*2*c:k*2*c+c], b.part[k*2*c+c:k*2*c+2*c], b, r0, r1)
	}
}

// gradRows computes dx for pixels [lo,hi); see Backward.
func (b *BatchNorm2D) gradRows(lo, hi int) { bnGrad(b, lo, hi) }

// The kernels below walk a (rows, C) matrix in blocks of bnRowBlock rows
// (a few KiB, in L1) and, within a block, four channels at a time down the
// rows, so that per-channel constants and accumulators live in registers
// and the four accumulation chains run in parallel. Leftover channels
// (C not a multiple of 4) go one at a time.

// bnMaxVecC is the most channels for which bnStats and bnGradSums use the
// AVX-512 kernels (their block results live in stack arrays).
const bnMaxVecC = 512

// bnRowBlock is the number of rows of a block for C channels.
func bnRowBlock(c int) int { return max(1, 2048/c) }

// bnStats sets mean[j] and m2[j] to the mean and the sum of squared
// deviations of x[r,j] over rows [r0,r1). Each block of rows is read from
// memory once: its sums give the block's mean, a second look (in L1)
// its squared deviations, and chanMerge folds the block into the totals.
func bnStats(mean, m2 []float64, x []float32, c, r0, r1 int) {
	clear(mean)
	clear(m2)
	var n float64 // rows merged so far
	var bm, bm2 [bnMaxVecC]float32
	vec := c <= bnMaxVecC && kernels.BNSupported(c)
	for b0 := r0; b0 < r1; b0 += bnRowBlock(c) {
		b1 := min(r1, b0+bnRowBlock(c))
		nb := float64(b1 - b0)
		if vec {
			// The block's statistics in float32 (AVX-512), merged in float64.
			kernels.BNBlockStats(bm[:c], bm2[:c], x[b0*c:], b1-b0, c)
			for j := 0; j < c; j++ {
				mean[j], m2[j], _ = chanMerge(mean[j], m2[j], n, float64(bm[j]), float64(bm2[j]), nb)
			}
			n += nb
			continue
		}
		j := 0
		for ; j+4 <= c; j += 4 {
			var s0, s1, s2, s3 float64
			for r := b0; r < b1; r++ {
				v := x[r*c+j : r*c+j+4 : r*c+j+4]
				s0 += float64(v[0])
				s1 += float64(v[1])
				s2 += float64(v[2])
				s3 += float64(v[3])
			}
			m0, m1, m2_, m3 := s0/nb, s1/nb, s2/nb, s3/nb
			var q0, q1, q2, q3 float64
			for r := b0; r < b1; r++ {
				v := x[r*c+j : r*c+j+4 : r*c+j+4]
				d0, d1, d2, d3 := float64(v[0])-m0, float64(v[1])-m1, float64(v[2])-m2_, float64(v[3])-m3
				q0 += d0 * d0
				q1 += d1 * d1
				q2 += d2 * d2
				q3 += d3 * d3
			}
			mean[j], m2[j], _ = chanMerge(mean[j], m2[j], n, m0, q0, nb)
			mean[j+1], m2[j+1], _ = chanMerge(mean[j+1], m2[j+1], n, m1, q1, nb)
			mean[j+2], m2[j+2], _ = chanMerge(mean[j+2], m2[j+2], n, m2_, q2, nb)
			mean[j+3], m2[j+3], _ = chanMerge(mean[j+3], m2[j+3], n, m3, q3, nb)
		}
		for ; j < c; j++ {
			var s0 float64
			for r := b0; r < b1; r++ {
				s0 += float64(x[r*c+j])
			}
			m0 := s0 / nb
			var q0 float64
			for r := b0; r < b1; r++ {
				d := float64(x[r*c+j]) - m0
				q0 += d * d
			}
			mean[j], m2[j], _ = chanMerge(mean[j], m2[j], n, m0, q0, nb)
		}
		n += nb
	}
}

// bnAffine sets y[r,j] = x[r,j]*scale[j] + shift[j] (then max(.,0) if
// relu) for rows [r0,r1).
func bnAffine(y, x, scale, shift []float32, relu bool, c, r0, r1 int) {
	for b0 := r0; b0 < r1; b0 += bnRowBlock(c) {
		b1 := min(r1, b0+bnRowBlock(c))
		if kernels.BNAffine(y[b0*c:], x[b0*c:], scale, shift, b1-b0, c, relu) {
			continue // AVX-512, 16 channels at a time
		}
		j := 0
		for ; j+4 <= c; j += 4 {
			sc, sh := scale[j:j+4:j+4], shift[j:j+4:j+4]
			a0, a1, a2, a3 := sc[0], sc[1], sc[2], sc[3]
			b0_, b1_, b2_, b3_ := sh[0], sh[1], sh[2], sh[3]
			for r := b0; r < b1; r++ {
				v := x[r*c+j : r*c+j+4 : r*c+j+4]
				o := y[r*c+j : r*c+j+4 : r*c+j+4]
				o0, o1, o2, o3 := v[0]*a0+b0_, v[1]*a1+b1_, v[2]*a2+b2_, v[3]*a3+b3_
				if relu {
					o0, o1, o2, o3 = max(o0, 0), max(o1, 0), max(o2, 0), max(o3, 0)
				}
				o[0], o[1], o[2], o[3] = o0, o1, o2, o3
			}
		}
		for ; j < c; j++ {
			a, sh := scale[j], shift[j]
			for r := b0; r < b1; r++ {
				o := x[r*c+j]*a + sh
				if relu {
					o = max(o, 0)
				}
				y[r*c+j] = o
			}
		}
	}
}

// reluMask is 1 when y > 0 and 0 when y == 0, for y = max(.,0), without a
// branch (ReLU masks of real activations are unpredictable): the two
// products push every positive float32 to at least 1, or to +Inf.
func reluMask(y float32) float32 { return min(y*1e30*1e30, 1) }

// bnGradSums sets sg[j] = sum g[r,j] and sgx[j] = sum g[r,j]*xhat[r,j]
// over rows [r0,r1), where g is dy masked by the fused ReLU and
// xhat = (x-mean)*invStd.
func bnGradSums(sg, sgx []float64, b *BatchNorm2D, r0, r1 int) {
	c, relu := b.cfg.C, b.cfg.ReLU
	x, y, dy := b.x.Data, b.out.Data, b.dy.Data
	clear(sg)
	clear(sgx)
	// The AVX-512 kernel sums a block in float32; the blocks add up in
	// float64 as below.
	var bg, bgx [bnMaxVecC]float32
	vec := c <= bnMaxVecC && kernels.BNSupported(c)
	for b0 := r0; b0 < r1; b0 += bnRowBlock(c) {
		b1 := min(r1, b0+bnRowBlock(c))
		if vec {
			kernels.BNGradSums(bg[:c], bgx[:c], x[b0*c:], y[b0*c:], dy[b0*c:], b.mean, b.invStd, b1-b0, c, relu)
			for j := 0; j < c; j++ {
				sg[j] += float64(bg[j])
				sgx[j] += float64(bgx[j])
			}
			continue
		}
		j := 0
		for ; j+4 <= c; j += 4 {
			mu, is := b.mean[j:j+4:j+4], b.invStd[j:j+4:j+4]
			m0, m1, m2, m3 := mu[0], mu[1], mu[2], mu[3]
			i0, i1, i2, i3 := is[0], is[1], is[2], is[3]
			var g0, g1, g2, g3, h0, h1, h2, h3 float64
			for r := b0; r < b1; r++ {
				o := r*c + j
				v, d := x[o:o+4:o+4], dy[o:o+4:o+4]
				d0, d1, d2, d3 := d[0], d[1], d[2], d[3]
				if relu {
					yo := y[o : o+4 : o+4]
					d0 *= reluMask(yo[0])
					d1 *= reluMask(yo[1])
					d2 *= reluMask(yo[2])
					d3 *= reluMask(yo[3])
				}
				g0 += float64(d0)
				g1 += float64(d1)
				g2 += float64(d2)
				g3 += float64(d3)
				h0 += float64(d0 * ((v[0] - m0) * i0))
				h1 += float64(d1 * ((v[1] - m1) * i1))
				h2 += float64(d2 * ((v[2] - m2) * i2))
				h3 += float64(d3 * ((v[3] - m3) * i3))
			}
			sg[j] += g0
			sg[j+1] += g1
			sg[j+2] += g2
			sg[j+3] += g3
			sgx[j] += h0
			sgx[j+1] += h1
			sgx[j+2] += h2
			sgx[j+3] += h3
		}
		for ; j < c; j++ {
			m0, i0 := b.mean[j], b.invStd[j]
			var g0, h0 float64
			for r := b0; r < b1; r++ {
				d0 := dy[r*c+j]
				if relu {
					d0 *= reluMask(y[r*c+j])
				}
				g0 += float64(d0)
				h0 += float64(d0 * ((x[r*c+j] - m0) * i0))
			}
			sg[j] += g0
			sgx[j] += h0
		}
	}
}

// bnGrad sets dx = gk*g + gA*x + gC for rows [r0,r1), with the
// per-channel constants computed by Backward.
func bnGrad(b *BatchNorm2D, r0, r1 int) {
	c, relu := b.cfg.C, b.cfg.ReLU
	x, y, dy, dx := b.x.Data, b.out.Data, b.dy.Data, b.dx.Data
	for b0 := r0; b0 < r1; b0 += bnRowBlock(c) {
		b1 := min(r1, b0+bnRowBlock(c))
		if kernels.BNGrad(dx[b0*c:], x[b0*c:], y[b0*c:], dy[b0*c:], b.gk, b.gA, b.gC, b1-b0, c, relu) {
			continue
		}
		j := 0
		for ; j+4 <= c; j += 4 {
			k, a, cc := b.gk[j:j+4:j+4], b.gA[j:j+4:j+4], b.gC[j:j+4:j+4]
			k0, k1, k2, k3 := k[0], k[1], k[2], k[3]
			a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
			c0, c1, c2, c3 := cc[0], cc[1], cc[2], cc[3]
			for r := b0; r < b1; r++ {
				o := r*c + j
				v, d, out := x[o:o+4:o+4], dy[o:o+4:o+4], dx[o:o+4:o+4]
				d0, d1, d2, d3 := d[0], d[1], d[2], d[3]
				if relu {
					yo := y[o : o+4 : o+4]
					d0 *= reluMask(yo[0])
					d1 *= reluMask(yo[1])
					d2 *= reluMask(yo[2])
					d3 *= reluMask(yo[3])
				}
				out[0] = k0*d0 + a0*v[0] + c0
				out[1] = k1*d1 + a1*v[1] + c1
				out[2] = k2*d2 + a2*v[2] + c2
				out[3] = k3*d3 + a3*v[3] + c3
			}
		}
		for ; j < c; j++ {
			k0, a0, c0 := b.gk[j], b.gA[j], b.gC[j]
			for r := b0; r < b1; r++ {
				o := r*c + j
				d0 := dy[o]
				if relu {
					d0 *= reluMask(y[o])
				}
				dx[o] = k0*d0 + a0*x[o] + c0
			}
		}
	}
}
