package data

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/residual-go/residual/tensor"
)

// Mix configures batch-level mixing for training: mixup (Zhang et al.
// 2018) blends every image with another image of the batch, CutMix (Yun
// et al. 2019) pastes a rectangle of another image; the loss mixes the
// two labels with the same weight (see nn.SoftmaxCrossEntropy.ForwardMix).
// The zero value mixes nothing; Prob must be set for any mixing.
type Mix struct {
	// MixupAlpha > 0 enables mixup: lambda ~ Beta(alpha, alpha) and
	// x = lambda*x + (1-lambda)*x[perm] (default 0: off; 0.2 is usual).
	MixupAlpha float64
	// CutMixAlpha > 0 enables CutMix: a box of area fraction 1-lambda,
	// lambda ~ Beta(alpha, alpha), centred uniformly and clipped to the
	// image, is copied from x[perm]; lambda becomes 1 - box area / image
	// area (default 0: off; 1 is usual).
	CutMixAlpha float64
	// Prob is the probability that a batch is mixed at all (1: every
	// batch). With both alphas set, a mixed batch uses mixup or CutMix
	// with probability 1/2 each.
	Prob float64
}

// Enabled reports whether m mixes anything.
func (m Mix) Enabled() bool { return (m.MixupAlpha > 0 || m.CutMixAlpha > 0) && m.Prob > 0 }

// Validate checks the alphas and the probability.
func (m Mix) Validate() error {
	for _, v := range []struct {
		name string
		v    float64
	}{{"mixup alpha", m.MixupAlpha}, {"cutmix alpha", m.CutMixAlpha}} {
		if !(v.v >= 0) || math.IsInf(v.v, 0) {
			return fmt.Errorf("mix: %s %v, want a finite value >= 0", v.name, v.v)
		}
	}
	if !(m.Prob >= 0 && m.Prob <= 1) {
		return fmt.Errorf("mix: probability %v outside [0,1]", m.Prob)
	}
	return nil
}

// Mixer mixes batches in place; its scratch buffers are reused, so it
// allocates nothing once warmed up. Not safe for concurrent use.
type Mixer struct {
	cfg    Mix
	perm   []int
	labels []int
	tmp    []float32
}

// NewMixer checks cfg.
func NewMixer(cfg Mix) (*Mixer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Mixer{cfg: cfg}, nil
}

// Apply mixes the batch x (N,H,W,C) with labels in place, drawing every
// random choice from rng (seed it from the batch's position for exact
// resumption). It returns the partner labels (labels[perm], owned by the
// mixer) and lambda, the weight of the original labels; lambda is 1 and
// partner nil when the batch is left alone.
func (m *Mixer) Apply(rng *rand.Rand, x *tensor.Tensor, labels []int) (partner []int, lambda float64) {
	n := x.Shape[0]
	if !m.cfg.Enabled() || n < 2 || rng.Float64() >= m.cfg.Prob {
		return nil, 1
	}
	cutmix := m.cfg.CutMixAlpha > 0
	if m.cfg.MixupAlpha > 0 && cutmix {
		cutmix = rng.IntN(2) == 1
	}
	if cap(m.perm) < n {
		m.perm, m.labels = make([]int, n), make([]int, n)
	}
	m.perm, m.labels = m.perm[:n], m.labels[:n]
	for i := range m.perm {
		m.perm[i] = i
	}
	rng.Shuffle(n, func(i, j int) { m.perm[i], m.perm[j] = m.perm[j], m.perm[i] })
	for i, p := range m.perm {
		m.labels[i] = labels[p]
	}
	size := x.Len() / n
	if cap(m.tmp) < x.Len() {
		m.tmp = make([]float32, x.Len())
	}
	src := m.tmp[:x.Len()]
	copy(src, x.Data[:x.Len()])
	if !cutmix {
		lambda = Beta(rng, m.cfg.MixupAlpha, m.cfg.MixupAlpha)
		a, b := float32(lambda), float32(1-lambda)
		for i, p := range m.perm {
			dst, other := x.Data[i*size:(i+1)*size], src[p*size:(p+1)*size]
			for j := range dst {
				dst[j] = a*dst[j] + b*other[j]
			}
		}
		return m.labels, lambda
	}
	h, w, c := x.Shape[1], x.Shape[2], x.Shape[3]
	lam := Beta(rng, m.cfg.CutMixAlpha, m.cfg.CutMixAlpha)
	y0, y1, x0, x1 := cutBox(rng, h, w, lam)
	for i, p := range m.perm {
		for y := y0; y < y1; y++ {
			row := (y*w + x0) * c
			copy(x.Data[i*size+row:i*size+row+(x1-x0)*c], src[p*size+row:p*size+row+(x1-x0)*c])
		}
	}
	lambda = 1 - float64((y1-y0)*(x1-x0))/float64(h*w)
	return m.labels, lambda
}

// cutBox draws CutMix's box: sides sqrt(1-lam) of the image's, centre
// uniform over the image, clipped to it. Rows [y0,y1), columns [x0,x1).
func cutBox(rng *rand.Rand, h, w int, lam float64) (y0, y1, x0, x1 int) {
	r := math.Sqrt(1 - lam)
	bh, bw := int(float64(h)*r), int(float64(w)*r)
	cy, cx := rng.IntN(h), rng.IntN(w)
	y0, y1 = max(cy-bh/2, 0), min(cy+bh/2, h)
	x0, x1 = max(cx-bw/2, 0), min(cx+bw/2, w)
	if y1 <= y0 || x1 <= x0 {
		return 0, 0, 0, 0
	}
	return y0, y1, x0, x1
}

// Beta draws from the Beta(a, b) distribution (a, b > 0) as
// G_a / (G_a + G_b) with G ~ Gamma(shape, 1).
func Beta(rng *rand.Rand, a, b float64) float64 {
	x, y := gamma(rng, a), gamma(rng, b)
	if x+y == 0 {
		return 0.5 // both underflowed (tiny shapes): the symmetric answer
	}
	return x / (x + y)
}

// gamma draws from Gamma(k, 1) by Marsaglia and Tsang's method (2000),
// with the U^(1/k) boost for k < 1.
func gamma(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return gamma(rng, k+1) * math.Pow(u, 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		z := rng.NormFloat64()
		v := 1 + c*z
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*z*z*z*z || math.Log(u) < 0.5*z*z+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
