package nn

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/tensor"
)

// Distillation is the soft-target loss of knowledge distillation (Hinton
// et al. 2015): for student logits z (N,K), soft targets t (N,K) (the
// teachers' softmax at the same temperature T, rows summing to 1) and
// s = softmax(z/T),
//
//	loss = T² · mean_i KL(t_i || s_i) = T² · mean_i sum_k t_ik (log t_ik - log s_ik)
//	dz   = T · (s - t) / N
//
// The T² factor keeps the gradient's scale independent of T, so the loss
// can be mixed with the hard-label cross-entropy as (1-α)·CE + α·KD.
// This is PyTorch's F.kl_div(log_softmax(z/T), t, reduction="batchmean")·T².
type Distillation struct {
	t       float64        // temperature
	probs   *tensor.Tensor // (N,K) softmax(z/T) of the last Forward
	targets *tensor.Tensor // (N,K) the last targets (copied)
	scaled  []float32      // one row of z/T
	dlogits *tensor.Tensor
}

// NewDistillation builds the loss for temperature T > 0.
func NewDistillation(temperature float64) (*Distillation, error) {
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("distillation: temperature %g, want a finite value > 0", temperature)
	}
	return &Distillation{t: temperature}, nil
}

// Temperature returns T.
func (d *Distillation) Temperature() float64 { return d.t }

// SoftTargets writes softmax(logits/T) (N,K) into dst (allocated or
// reused, tensor.Ensure) and returns it: one teacher's soft targets.
func (d *Distillation) SoftTargets(dst, logits *tensor.Tensor) *tensor.Tensor {
	n, k := logits.Shape[0], logits.Shape[1]
	dst = tensor.Ensure(dst, n, k)
	if cap(d.scaled) < k {
		d.scaled = make([]float32, k)
	}
	row := d.scaled[:k]
	for i := 0; i < n; i++ {
		for j, v := range logits.Data[i*k : (i+1)*k] {
			row[j] = float32(float64(v) / d.t)
		}
		softmaxRow(row, dst.Data[i*k:(i+1)*k])
	}
	return dst
}

// Forward returns the loss of logits against targets, both (N,K).
func (d *Distillation) Forward(logits, targets *tensor.Tensor) (float32, error) {
	if len(logits.Shape) != 2 || logits.Shape[0] <= 0 || !tensor.SameShape(logits.Shape, targets.Shape) {
		return 0, fmt.Errorf("distillation: logits %s and targets %s, want the same (N,K)", tensor.ShapeString(logits.Shape), tensor.ShapeString(targets.Shape))
	}
	n, k := logits.Shape[0], logits.Shape[1]
	d.probs = tensor.Ensure(d.probs, n, k)
	d.targets = tensor.Ensure(d.targets, n, k)
	copy(d.targets.Data, targets.Data[:n*k])
	if cap(d.scaled) < k {
		d.scaled = make([]float32, k)
	}
	row := d.scaled[:k]
	var total float64
	for i := 0; i < n; i++ {
		for j, v := range logits.Data[i*k : (i+1)*k] {
			row[j] = float32(float64(v) / d.t)
		}
		lse := softmaxRow(row, d.probs.Data[i*k:(i+1)*k])
		for j, zt := range row {
			if t := float64(targets.Data[i*k+j]); t > 0 { // 0·log 0 = 0
				total += t * (math.Log(t) - (float64(zt) - lse))
			}
		}
	}
	loss := d.t * d.t * total / float64(n)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return float32(loss), fmt.Errorf("distillation: loss is %g; the logits or targets may hold NaN or Inf", loss)
	}
	return float32(loss), nil
}

// Backward returns dloss/dlogits (N,K) of the last Forward.
func (d *Distillation) Backward() *tensor.Tensor {
	n, k := d.probs.Shape[0], d.probs.Shape[1]
	d.dlogits = tensor.Ensure(d.dlogits, n, k)
	scale := float32(d.t / float64(n))
	for i, p := range d.probs.Data[:n*k] {
		d.dlogits.Data[i] = scale * (p - d.targets.Data[i])
	}
	return d.dlogits
}
