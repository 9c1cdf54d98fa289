package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/tensor"
)

// LinearConfig describes a fully connected layer.
type LinearConfig struct {
	In, Out int  // input and output features (required, > 0)
	NoBias  bool // omit the bias (default: with bias)
}

// Linear is a fully connected layer, y = x · Wᵀ + b, with PyTorch's
// layout: weight (Out,In), bias (Out); x is (N,In) and y (N,Out).
type Linear struct {
	name string
	cfg  LinearConfig
	err  error

	Weight *Param // (Out,In)
	Bias   *Param // (Out), nil with NoBias

	x    *tensor.Tensor // input of the last Forward, not owned
	out  *tensor.Tensor // (N,Out)
	dx   *tensor.Tensor // (N,In)
	bsum colSummer
}

// NewLinear builds a fully connected layer named name ("<name>.weight",
// "<name>.bias"), initialised like PyTorch's nn.Linear: weight and bias
// uniform in ±1/sqrt(In) (kaiming_uniform with a=sqrt(5) for the weight).
// An invalid configuration is reported by OutShape.
func NewLinear(name string, cfg LinearConfig, rng *rand.Rand) *Linear {
	l := &Linear{name: name, cfg: cfg}
	if cfg.In <= 0 || cfg.Out <= 0 {
		l.err = configError(name, "features In=%d Out=%d must be > 0", cfg.In, cfg.Out)
		l.Weight = newParam(name+".weight", false, 0)
		return l
	}
	bound := 1 / math.Sqrt(float64(cfg.In))
	l.Weight = newParam(name+".weight", false, cfg.Out, cfg.In)
	for i := range l.Weight.Value.Data {
		l.Weight.Value.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
	if !cfg.NoBias {
		l.Bias = newParam(name+".bias", true, cfg.Out)
		for i := range l.Bias.Value.Data {
			l.Bias.Value.Data[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	return l
}

// Name returns the layer's name.
func (l *Linear) Name() string { return l.name }

// Config returns the configuration.
func (l *Linear) Config() LinearConfig { return l.cfg }

// Params returns the weight and, if present, the bias.
func (l *Linear) Params() []*Param {
	if l.Bias != nil {
		return []*Param{l.Weight, l.Bias}
	}
	return []*Param{l.Weight}
}

// Buffers returns nil.
func (l *Linear) Buffers() []*Param { return nil }

// OutShape maps (N,In) to (N,Out).
func (l *Linear) OutShape(in []int) ([]int, error) {
	if l.err != nil {
		return nil, l.err
	}
	if len(in) != 2 || in[0] <= 0 || in[1] != l.cfg.In {
		return nil, shapeError(l.name, in, fmt.Sprintf("(N,%d)", l.cfg.In))
	}
	return []int{in[0], l.cfg.Out}, nil
}

// Forward computes y (N,Out) = x (N,In) · Wᵀ + b, the bias pre-filled into
// y and accumulated onto by the GEMM (beta = 1).
func (l *Linear) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	n, in, out := x.Shape[0], l.cfg.In, l.cfg.Out
	l.x = x
	l.out = tensor.Ensure(l.out, n, out)
	beta := float32(0)
	if l.Bias != nil {
		for i := 0; i < n; i++ {
			copy(l.out.Data[i*out:(i+1)*out], l.Bias.Value.Data)
		}
		beta = 1
	}
	kernels.Sgemm(false, true, n, out, in, 1, x.Data, in, l.Weight.Value.Data, in, beta, l.out.Data, out)
	return l.out
}

// Backward takes dy (N,Out) and computes
//
//	dW (Out,In) = dyᵀ · x
//	db (Out)    = column sums of dy
//	dx (N,In)   = dy · W
//
// Frozen parameters get no gradient (their Grad is left as it was).
func (l *Linear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	n, in, out := l.x.Shape[0], l.cfg.In, l.cfg.Out
	if !l.Weight.Frozen {
		kernels.Sgemm(true, false, out, in, n, 1, dy.Data, out, l.x.Data, in, 0, l.Weight.Grad.Data, in)
	}
	if l.Bias != nil && !l.Bias.Frozen {
		l.bsum.sum(dy.Data, n, out, l.Bias.Grad.Data)
	}
	l.dx = tensor.Ensure(l.dx, n, in)
	kernels.Sgemm(false, false, n, in, out, 1, dy.Data, out, l.Weight.Value.Data, in, 0, l.dx.Data, in)
	return l.dx
}
