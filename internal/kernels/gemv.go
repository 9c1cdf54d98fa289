package kernels

// A GEMM with one row, C (1 x n) = alpha * a (1 x k) * B^T + beta*C with B
// stored n x k, is a matrix-vector product: a Linear layer on one sample.
// The tiled kernels would compute MR rows to keep one and pack all of B
// for a single use; runDot instead takes dot products of a with the rows
// of B where they lie.

// dot8Func sets out[r] = dot(x[:k], row r of b) for 8 rows ldb bytes
// apart; a variant that has one sets it in its dot8 field.
type dot8Func func(k int, x *float32, b *float32, ldb uintptr, out *[8]float32)

// useDot tells whether run hands the problem to runDot.
func (p *problem) useDot() bool {
	return p.dot8 != nil && p.m == 1 && p.transB && !p.transA && !p.bf16
}

// runDot computes the one-row problem (see useDot) 8 columns at a time.
func (p *problem) runDot() {
	x := p.a[:p.k]
	crow := p.c[:p.n]
	var out [8]float32
	j := 0
	for ; j+8 <= p.n; j += 8 {
		_ = p.b[(j+7)*p.ldb+p.k-1] // the last value read
		p.dot8(p.k, &x[0], &p.b[j*p.ldb], uintptr(p.ldb)*4, &out)
		for r, d := range out {
			p.storeDot(crow, j+r, d)
		}
	}
	for ; j < p.n; j++ {
		var d float32
		for q, v := range p.b[j*p.ldb : j*p.ldb+p.k] {
			d += x[q] * v
		}
		p.storeDot(crow, j, d)
	}
}

func (p *problem) storeDot(crow []float32, j int, d float32) {
	if p.beta == 0 {
		crow[j] = p.alpha * d
	} else {
		crow[j] = p.alpha*d + p.beta*crow[j]
	}
}
