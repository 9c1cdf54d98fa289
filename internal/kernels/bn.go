package kernels

import "fmt"

// Batch-normalisation inner loops in AVX-512, for the per-channel
// operations of nn.BatchNorm2D over a (rows, c) row-major matrix (NHWC
// pixels by channels). They need c % 16 == 0 and an AVX-512 CPU: each
// returns false, doing nothing, when that does not hold, and the caller
// runs its own loop instead. With relu, the gradient g is dy where y > 0
// and 0 elsewhere (y being the output of a BN with fused ReLU).

// BNSupported reports whether the BN kernels run for c channels.
func BNSupported(c int) bool { return hasBNAVX512 && c > 0 }

// checkBN panics when a matrix argument is shorter than rows*c.
func checkBN(name string, rows, c int, ms ...[]float32) {
	for i, m := range ms {
		if len(m) < rows*c {
			panic(fmt.Sprintf("kernels.%s: matrix argument %d has %d values, need rows*c = %d*%d", name, i, len(m), rows, c))
		}
	}
}

// checkVec panics when a per-channel argument is shorter than c.
func checkVec(name string, c int, vs ...[]float32) {
	for i, v := range vs {
		if len(v) < c {
			panic(fmt.Sprintf("kernels.%s: per-channel argument %d has %d values, need %d", name, i, len(v), c))
		}
	}
}

// BNAffine sets y[r,j] = x[r,j]*scale[j] + shift[j] (then max(.,0) if
// relu) for r < rows.
func BNAffine(y, x, scale, shift []float32, rows, c int, relu bool) bool {
	if !BNSupported(c) {
		return false
	}
	if rows <= 0 {
		return true
	}
	checkBN("BNAffine", rows, c, y, x)
	checkVec("BNAffine", c, scale, shift)
	bnAffineAVX512(&y[0], &x[0], &scale[0], &shift[0], rows, c, relu)
	return true
}

// BNGradSums sets sg[j] = sum over r < rows of g[r,j] and
// sgx[j] = sum of g[r,j]*(x[r,j]-mean[j])*invStd[j], accumulated in
// float32 (callers sum blocks of a few hundred rows, then in float64).
// y is read only with relu (it may be nil otherwise).
func BNGradSums(sg, sgx, x, y, dy, mean, invStd []float32, rows, c int, relu bool) bool {
	if !BNSupported(c) {
		return false
	}
	if rows <= 0 {
		clear(sg[:c])
		clear(sgx[:c])
		return true
	}
	if !relu {
		y = dy // not read
	}
	checkBN("BNGradSums", rows, c, x, y, dy)
	checkVec("BNGradSums", c, sg, sgx, mean, invStd)
	bnGradSumsAVX512(&sg[0], &sgx[0], &x[0], &y[0], &dy[0], &mean[0], &invStd[0], rows, c, relu)
	return true
}

// BNGrad sets dx[r,j] = k[j]*g[r,j] + a[j]*x[r,j] + cc[j] for r < rows.
// y is read only with relu (it may be nil otherwise).
func BNGrad(dx, x, y, dy, k, a, cc []float32, rows, c int, relu bool) bool {
	if !BNSupported(c) {
		return false
	}
	if rows <= 0 {
		return true
	}
	if !relu {
		y = dy
	}
	checkBN("BNGrad", rows, c, dx, x, y, dy)
	checkVec("BNGrad", c, k, a, cc)
	bnGradAVX512(&dx[0], &x[0], &y[0], &dy[0], &k[0], &a[0], &cc[0], rows, c, relu)
	return true
}

// BiasResReLU sets y[r,j] += bias[j] + res[r,j] (res may be nil), then
// y = max(y,0) if relu, for r < rows: the epilogue of a convolution with
// a folded BatchNorm, a residual add and a ReLU.
func BiasResReLU(y, bias, res []float32, rows, c int, relu bool) bool {
	if !BNSupported(c) {
		return false
	}
	if rows <= 0 {
		return true
	}
	checkBN("BiasResReLU", rows, c, y)
	checkVec("BiasResReLU", c, bias)
	var r *float32
	if res != nil {
		checkBN("BiasResReLU", rows, c, res)
		r = &res[0]
	}
	biasResReLUAVX512(&y[0], &bias[0], r, rows, c, relu)
	return true
}

// BNBlockStats sets mean[j] to the mean of x[r,j] over r < rows (rows > 0)
// and m2[j] to the sum of squared deviations from it, in float32: two
// passes over a block small enough to stay in L1 (callers merge blocks in
// float64).
func BNBlockStats(mean, m2, x []float32, rows, c int) bool {
	if !BNSupported(c) || rows <= 0 {
		return false
	}
	checkBN("BNBlockStats", rows, c, x)
	checkVec("BNBlockStats", c, mean, m2)
	bnBlockStatsAVX512(&mean[0], &m2[0], &x[0], rows, c, 1/float32(rows))
	return true
}
