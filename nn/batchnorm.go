package nn

import (
	"fmt"
	"math"

	"residual/internal/parallel"
	"residual/tensor"
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
	gk     []float32      // (C) gamma*invStd, for Backward
	gkSum  []float32      // (C) gamma*invStd*mean(g), for Backward
	gkXhat []float32      // (C) gamma*invStd*mean(g*xhat), for Backward
	part   []float64      // (reduceChunks, 2*C) partial sums
	dy     *tensor.Tensor // gradient being propagated, not owned

	sumFn, sqDevFn, affineFn, gradSumFn, gradFn func(lo, hi int)
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
	b.gkSum = make([]float32, c)
	b.gkXhat = make([]float32, c)
	b.part = make([]float64, reduceChunks*2*c)
	b.sumFn = b.sumChunks
	b.sqDevFn = b.sqDevChunks
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
// the batch statistics (two passes over x in float64: mean, then squared
// deviations, which stays accurate when |mean| >> std) and updates the
// running statistics; otherwise it uses the running statistics.
func (b *BatchNorm2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	c := b.cfg.C
	b.x = x
	b.m = x.Len() / c
	b.out = tensor.Ensure(b.out, x.Shape...)
	grain := grainFor(c, minParallelWork)
	if train {
		m := float64(b.m)
		parallel.For(reduceChunks, 1, b.sumFn)
		for j := 0; j < c; j++ {
			b.mean[j] = float32(b.reducePart(j) / m)
		}
		parallel.For(reduceChunks, 1, b.sqDevFn)
		mom := float64(b.cfg.Momentum)
		rm, rv := b.RunningMean.Value.Data, b.RunningVar.Value.Data
		for j := 0; j < c; j++ {
			v := b.reducePart(j) / m // biased variance, used to normalise
			unbiased := v
			if b.m > 1 {
				unbiased = v * m / (m - 1)
			}
			rm[j] = float32((1-mom)*float64(rm[j]) + mom*float64(b.mean[j]))
			rv[j] = float32((1-mom)*float64(rv[j]) + mom*unbiased)
			b.invStd[j] = float32(1 / math.Sqrt(v+float64(b.cfg.Eps)))
		}
		b.NumBatchesTracked.Value.Data[0]++
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

// reducePart adds the reduceChunks partial sums of column j of part
// (reduceChunks, 2*C).
func (b *BatchNorm2D) reducePart(j int) float64 {
	var acc float64
	w := 2 * b.cfg.C
	for k := 0; k < reduceChunks; k++ {
		acc += b.part[k*w+j]
	}
	return acc
}

// sumChunks: part[k][j] = sum of x[:,j] over the pixels of chunk k.
func (b *BatchNorm2D) sumChunks(lo, hi int) {
	c := b.cfg.C
	x := b.x.Data
	for k := lo; k < hi; k++ {
		acc := b.part[k*2*c : k*2*c+c]
		clear(acc)
		r0, r1 := chunkBounds(b.m, reduceChunks, k)
		for r := r0; r < r1; r++ {
			for j, v := range x[r*c : (r+1)*c] {
				acc[j] += float64(v)
			}
		}
	}
}

// sqDevChunks: part[k][j] = sum of (x[:,j]-mean[j])² over chunk k.
func (b *BatchNorm2D) sqDevChunks(lo, hi int) {
	c := b.cfg.C
	x := b.x.Data
	mean := b.mean[:c]
	for k := lo; k < hi; k++ {
		acc := b.part[k*2*c : k*2*c+c]
		clear(acc)
		r0, r1 := chunkBounds(b.m, reduceChunks, k)
		for r := r0; r < r1; r++ {
			for j, v := range x[r*c : (r+1)*c] {
				d := float64(v - mean[j])
				acc[j] += d * d
			}
		}
	}
}

// affineRows: y = x*scale + shift (then ReLU) for pixels [lo,hi).
func (b *BatchNorm2D) affineRows(lo, hi int) {
	c := b.cfg.C
	x, y := b.x.Data, b.out.Data
	scale, shift := b.scale[:c], b.shift[:c]
	for r := lo; r < hi; r++ {
		xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
		for j, v := range xr {
			o := v*scale[j] + shift[j]
			if b.cfg.ReLU && o < 0 {
				o = 0
			}
			yr[j] = o
		}
	}
}

// Backward takes dy (N,H,W,C) of the last training Forward and returns dx.
// With g = dy masked by the fused ReLU and xhat = (x-mean)*invStd:
//
//	dbeta  = sum g                       (per channel, over N*H*W)
//	dgamma = sum g*xhat
//	dx     = gamma*invStd * (g - dbeta/M - xhat*dgamma/M)
func (b *BatchNorm2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	c := b.cfg.C
	b.dy = dy
	b.dx = tensor.Ensure(b.dx, dy.Shape...)
	parallel.For(reduceChunks, 1, b.gradSumFn)
	m := float64(b.m)
	dgamma, dbeta := b.Weight.Grad.Data, b.Bias.Grad.Data
	for j := 0; j < c; j++ {
		var sg, sgx float64
		for k := 0; k < reduceChunks; k++ {
			sg += b.part[k*2*c+j]
			sgx += b.part[k*2*c+c+j]
		}
		dbeta[j] = float32(sg)
		dgamma[j] = float32(sgx)
		// dx = k*g - k*sg/M - xhat*k*sgx/M with k = gamma*invStd
		k := float64(b.Weight.Value.Data[j]) * float64(b.invStd[j])
		b.gk[j] = float32(k)
		b.gkSum[j] = float32(k * sg / m)
		b.gkXhat[j] = float32(k * sgx / m)
	}
	parallel.For(b.m, grainFor(c, minParallelWork), b.gradFn)
	b.dy = nil
	return b.dx
}

// gradSumChunks: part[k][j] = sum g, part[k][C+j] = sum g*xhat over chunk k.
func (b *BatchNorm2D) gradSumChunks(lo, hi int) {
	c := b.cfg.C
	x, y, dy := b.x.Data, b.out.Data, b.dy.Data
	mean, invStd := b.mean[:c], b.invStd[:c]
	for k := lo; k < hi; k++ {
		sg := b.part[k*2*c : k*2*c+c]
		sgx := b.part[k*2*c+c : k*2*c+2*c]
		clear(sg)
		clear(sgx)
		r0, r1 := chunkBounds(b.m, reduceChunks, k)
		for r := r0; r < r1; r++ {
			xr, yr, dr := x[r*c:(r+1)*c], y[r*c:(r+1)*c], dy[r*c:(r+1)*c]
			for j, g := range dr {
				if b.cfg.ReLU && yr[j] <= 0 {
					continue
				}
				xhat := (xr[j] - mean[j]) * invStd[j]
				sg[j] += float64(g)
				sgx[j] += float64(g * xhat)
			}
		}
	}
}

// gradRows computes dx for pixels [lo,hi); see Backward.
func (b *BatchNorm2D) gradRows(lo, hi int) {
	c := b.cfg.C
	x, y, dy, dx := b.x.Data, b.out.Data, b.dy.Data, b.dx.Data
	mean, invStd := b.mean[:c], b.invStd[:c]
	k, kg, kgx := b.gk[:c], b.gkSum[:c], b.gkXhat[:c]
	for r := lo; r < hi; r++ {
		xr, yr, dr, out := x[r*c:(r+1)*c], y[r*c:(r+1)*c], dy[r*c:(r+1)*c], dx[r*c:(r+1)*c]
		for j, g := range dr {
			if b.cfg.ReLU && yr[j] <= 0 {
				g = 0
			}
			xhat := (xr[j] - mean[j]) * invStd[j]
			out[j] = k[j]*g - kg[j] - xhat*kgx[j]
		}
	}
}
