package data

import (
	"math"
	"math/rand/v2"
)

// softmaxAccuracy (a test helper) trains a multinomial logistic regression on
// standardised pixels with SGD and returns its test accuracy.
func softmaxAccuracy(train, test *Dataset, epochs int) float64 {
	n, k := train.ImageSize(), len(train.Classes)
	feat := func(d *Dataset, i int, x []float64) {
		var mean, sq float64
		for p, v := range d.Image(i) {
			x[p] = float64(v)
			mean += x[p]
		}
		mean /= float64(n)
		for p := range x[:n] {
			x[p] -= mean
			sq += x[p] * x[p]
		}
		std := math.Sqrt(sq/float64(n)) + 1e-6
		for p := range x[:n] {
			x[p] /= std
		}
		x[n] = 1 // bias
	}
	w := make([]float64, k*(n+1))
	x := make([]float64, n+1)
	z := make([]float64, k)
	rng := rand.New(rand.NewPCG(1, 2))
	lr := 0.01
	for e := 0; e < epochs; e++ {
		for _, i := range rng.Perm(train.Len()) {
			feat(train, i, x)
			scores(w, x, z)
			for c := 0; c < k; c++ {
				g := z[c]
				if c == train.Labels[i] {
					g--
				}
				row := w[c*(n+1) : (c+1)*(n+1)]
				for p, v := range x {
					row[p] -= lr * g * v
				}
			}
		}
	}
	correct := 0
	for i := 0; i < test.Len(); i++ {
		feat(test, i, x)
		scores(w, x, z)
		best := 0
		for c := range z {
			if z[c] > z[best] {
				best = c
			}
		}
		if best == test.Labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(test.Len())
}

// scores writes softmax(W x) into z.
func scores(w, x, z []float64) {
	m := len(x)
	maxv := math.Inf(-1)
	for c := range z {
		var s float64
		for p, v := range x {
			s += w[c*m+p] * v
		}
		z[c] = s
		maxv = math.Max(maxv, s)
	}
	var sum float64
	for c := range z {
		z[c] = math.Exp(z[c] - maxv)
		sum += z[c]
	}
	for c := range z {
		z[c] /= sum
	}
}
