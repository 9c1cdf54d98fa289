package nn

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/tensor"
)

// CrossEntropyConfig describes a softmax cross-entropy loss with mean
// reduction, matching PyTorch's nn.CrossEntropyLoss.
type CrossEntropyConfig struct {
	Classes int // number of classes K (required, > 0)
	// LabelSmoothing eps in [0,1): the target becomes (1-eps) on the label
	// plus eps/K on every class, as CrossEntropyLoss(label_smoothing=eps).
	// Default 0.
	LabelSmoothing float32
	// Weights are optional per-class weights (length K, >= 0). As in
	// PyTorch, the mean is then weighted: the sum of the per-sample losses
	// divided by the sum of the weights of the samples' labels (also for
	// the smoothing term). nil means all 1.
	Weights []float32
}

// SoftmaxCrossEntropy fuses softmax and cross-entropy: for logits z (N,K)
// and labels y, with p = softmax(z) and w the class weights,
//
//	loss = sum_i [ (1-eps) w[y_i] (-log p[i,y_i]) + eps/K sum_j w[j] (-log p[i,j]) ] / sum_i w[y_i]
//
// and its gradient is dz[i,j] = p[i,j]*Q_i - q[i,j] where q is the
// (weighted, smoothed, normalised) target and Q_i its row sum.
type SoftmaxCrossEntropy struct {
	cfg     CrossEntropyConfig
	weights []float64      // (K) class weights, 1 when not configured
	probs   *tensor.Tensor // (N,K) softmax of the last Forward
	dlogits *tensor.Tensor // (N,K)
	labels  []int          // labels of the last Forward (copied)
	wsum    float64        // sum_i w[y_i] of the last Forward
	partner []int          // ForwardMix's partner labels (empty for Forward)
	lambda  float64        // ForwardMix's weight of labels
	wsumB   float64        // sum_i w[partner_i]
}

// NewSoftmaxCrossEntropy builds the loss, or returns an error naming the
// offending configuration value.
func NewSoftmaxCrossEntropy(cfg CrossEntropyConfig) (*SoftmaxCrossEntropy, error) {
	if cfg.Classes <= 0 {
		return nil, fmt.Errorf("cross-entropy: Classes=%d must be > 0", cfg.Classes)
	}
	if !(cfg.LabelSmoothing >= 0 && cfg.LabelSmoothing < 1) {
		return nil, fmt.Errorf("cross-entropy: LabelSmoothing=%g must be in [0,1)", cfg.LabelSmoothing)
	}
	l := &SoftmaxCrossEntropy{cfg: cfg, weights: make([]float64, cfg.Classes)}
	if cfg.Weights != nil && len(cfg.Weights) != cfg.Classes {
		return nil, fmt.Errorf("cross-entropy: %d class weights for %d classes", len(cfg.Weights), cfg.Classes)
	}
	for j := range l.weights {
		l.weights[j] = 1
		if cfg.Weights != nil {
			w := cfg.Weights[j]
			if !(w >= 0) || math.IsInf(float64(w), 0) {
				return nil, fmt.Errorf("cross-entropy: weight of class %d is %g, want a finite value >= 0", j, w)
			}
			l.weights[j] = float64(w)
		}
	}
	l.cfg.Weights = append([]float32(nil), cfg.Weights...)
	return l, nil
}

// Config returns the configuration.
func (l *SoftmaxCrossEntropy) Config() CrossEntropyConfig { return l.cfg }

// Forward computes the mean loss of logits (N,K) against labels (N values
// in [0,K)). It returns an error, before computing anything, for a bad
// shape or a label out of range (naming its index and value), and after,
// for a non-finite loss.
func (l *SoftmaxCrossEntropy) Forward(logits *tensor.Tensor, labels []int) (float32, error) {
	return l.ForwardMix(logits, labels, nil, 1)
}

// ForwardMix is the loss of a mixed batch (mixup, CutMix): with L(y) the
// loss Forward computes against labels y,
//
//	loss = lambda*L(labels) + (1-lambda)*L(partner)
//
// each term normalised by its own sum of label weights, as PyTorch's
// lambda*criterion(z, y_a) + (1-lambda)*criterion(z, y_b). partner nil
// (or lambda 1) is Forward. lambda must be in [0,1].
func (l *SoftmaxCrossEntropy) ForwardMix(logits *tensor.Tensor, labels, partner []int, lambda float64) (float32, error) {
	k := l.cfg.Classes
	if len(logits.Shape) != 2 || logits.Shape[1] != k || logits.Shape[0] <= 0 {
		return 0, fmt.Errorf("cross-entropy: logits shape %s is incompatible: want (N,%d)", tensor.ShapeString(logits.Shape), k)
	}
	n := logits.Shape[0]
	if !(lambda >= 0 && lambda <= 1) {
		return 0, fmt.Errorf("cross-entropy: mixing weight lambda %g, want [0,1]", lambda)
	}
	if lambda == 1 {
		partner = nil
	}
	for side, ys := range [][]int{labels, partner} {
		if side == 1 && ys == nil {
			break
		}
		if len(ys) != n {
			return 0, fmt.Errorf("cross-entropy: %d labels for a batch of %d logits", len(ys), n)
		}
		for i, y := range ys {
			if y < 0 || y >= k {
				return 0, fmt.Errorf("cross-entropy: label %d is %d, want a class in [0,%d)", i, y, k)
			}
		}
	}
	l.labels = append(l.labels[:0], labels...)
	l.partner = append(l.partner[:0], partner...)
	l.lambda = lambda
	l.probs = tensor.Ensure(l.probs, n, k)
	eps := float64(l.cfg.LabelSmoothing)
	var total, wsum, totalB, wsumB float64
	for i := 0; i < n; i++ {
		z := logits.Data[i*k : (i+1)*k]
		p := l.probs.Data[i*k : (i+1)*k]
		lse := softmaxRow(z, p)
		var smooth float64 // sum_j w[j] * -log p[j]
		for j, v := range z {
			smooth -= l.weights[j] * (float64(v) - lse)
		}
		y := labels[i]
		wy := l.weights[y]
		total += (1-eps)*wy*(lse-float64(z[y])) + eps/float64(k)*smooth
		wsum += wy
		if partner != nil {
			y = partner[i]
			wy = l.weights[y]
			totalB += (1-eps)*wy*(lse-float64(z[y])) + eps/float64(k)*smooth
			wsumB += wy
		}
	}
	l.wsum, l.wsumB = wsum, wsumB
	loss := total / wsum
	if partner != nil {
		loss = lambda*loss + (1-lambda)*totalB/wsumB
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return float32(loss), fmt.Errorf("cross-entropy: loss is %g (sum of label weights %g); the logits may hold NaN or Inf", loss, wsum)
	}
	return float32(loss), nil
}

// Backward returns dL/dlogits (N,K) for the last successful Forward or
// ForwardMix.
func (l *SoftmaxCrossEntropy) Backward() *tensor.Tensor {
	n, k := l.probs.Shape[0], l.probs.Shape[1]
	l.dlogits = tensor.Ensure(l.dlogits, n, k)
	clear(l.dlogits.Data[:n*k])
	if len(l.partner) == 0 {
		l.addGrad(l.labels, l.wsum, 1)
	} else {
		l.addGrad(l.labels, l.wsum, l.lambda)
		l.addGrad(l.partner, l.wsumB, 1-l.lambda)
	}
	return l.dlogits
}

// addGrad adds scale * dL(labels)/dlogits to l.dlogits.
func (l *SoftmaxCrossEntropy) addGrad(labels []int, wsum, scale float64) {
	n, k := l.probs.Shape[0], l.probs.Shape[1]
	eps := float64(l.cfg.LabelSmoothing)
	var wall float64 // sum_j w[j]
	for _, w := range l.weights {
		wall += w
	}
	for i := 0; i < n; i++ {
		y := labels[i]
		wy := l.weights[y]
		// row sum of the target q[i,:], times wsum
		qsum := (1-eps)*wy + eps/float64(k)*wall
		p := l.probs.Data[i*k : (i+1)*k]
		d := l.dlogits.Data[i*k : (i+1)*k]
		for j := range d {
			q := eps / float64(k) * l.weights[j]
			if j == y {
				q += (1 - eps) * wy
			}
			d[j] += float32(scale * (float64(p[j])*qsum - q) / wsum)
		}
	}
}

// Probs returns the softmax probabilities (N,K) of the last Forward, owned
// by the loss (valid until its next Forward).
func (l *SoftmaxCrossEntropy) Probs() *tensor.Tensor { return l.probs }

// Correct counts the samples of the last Forward whose most probable class
// is their label (ties go to the lowest class index).
func (l *SoftmaxCrossEntropy) Correct() int {
	if l.probs == nil {
		return 0
	}
	k := l.probs.Shape[1]
	correct := 0
	for i, y := range l.labels {
		if Argmax(l.probs.Data[i*k:(i+1)*k]) == y {
			correct++
		}
	}
	return correct
}

// Argmax returns the index of the largest value of v (the first one on
// ties), or -1 for an empty v.
func Argmax(v []float32) int {
	best := -1
	for j, x := range v {
		if best < 0 || x > v[best] {
			best = j
		}
	}
	return best
}

// Softmax writes the row-wise softmax of logits (N,K) into probs, which it
// allocates or reuses (tensor.Ensure), and returns it: the probabilities a
// served model reports, without a loss. Rows are computed in float64,
// shifted by their maximum.
func Softmax(logits, probs *tensor.Tensor) *tensor.Tensor {
	n, k := logits.Shape[0], logits.Shape[len(logits.Shape)-1]
	n = logits.Len() / max(k, 1)
	probs = tensor.Ensure(probs, logits.Shape...)
	for i := 0; i < n; i++ {
		softmaxRow(logits.Data[i*k:(i+1)*k], probs.Data[i*k:(i+1)*k])
	}
	return probs
}

// softmaxRow writes softmax(z) into p and returns log(sum(exp(z))),
// computed in float64 and shifted by max(z) so that nothing overflows.
func softmaxRow(z, p []float32) (logSumExp float64) {
	zmax := math.Inf(-1)
	for _, v := range z {
		zmax = max(zmax, float64(v))
	}
	var se float64
	for _, v := range z {
		se += math.Exp(float64(v) - zmax)
	}
	for j, v := range z {
		p[j] = float32(math.Exp(float64(v)-zmax) / se)
	}
	return zmax + math.Log(se)
}
