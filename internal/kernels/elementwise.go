package kernels

import "fmt"

// Elementwise kernels of the residual join (nn.Add) and ReLU, in AVX-512
// where the CPU has it (16 values at a time, the tail in Go).

func checkLen(name string, n int, vs ...[]float32) {
	for i, v := range vs {
		if len(v) < n {
			panic(fmt.Sprintf("kernels.%s: argument %d has %d values, need %d", name, i, len(v), n))
		}
	}
}

// AddReLU sets out[i] = a[i] + b[i] (then max(.,0) if relu) for i < n.
// out may be a or b.
func AddReLU(out, a, b []float32, n int, relu bool) {
	checkLen("AddReLU", n, out, a, b)
	i := 0
	if hasBNAVX512 && n >= 16 {
		i = n &^ 15
		addReLUAVX512(&out[0], &a[0], &b[0], i, relu)
	}
	for ; i < n; i++ {
		v := a[i] + b[i]
		if relu {
			v = max(v, 0)
		}
		out[i] = v
	}
}

// ReLUGrad sets dx[i] = dy[i] where y[i] > 0 and 0 elsewhere, for i < n:
// the gradient through a ReLU whose output is y. dx may be dy.
func ReLUGrad(dx, dy, y []float32, n int) {
	checkLen("ReLUGrad", n, dx, dy, y)
	i := 0
	if hasBNAVX512 && n >= 16 {
		i = n &^ 15
		reluGradAVX512(&dx[0], &dy[0], &y[0], i)
	}
	for ; i < n; i++ {
		if y[i] > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}
