package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/optim"
	"github.com/residual-go/residual/tensor"
)

// BenchStepConfig chooses the training step a BenchStep times. The zero
// value is plain SGD with momentum 0.9; the FER2013 recipe's step is
// {Nesterov: true, WeightDecay: 5e-4, LabelSmoothing: 0.1}.
type BenchStepConfig struct {
	Batch          int     // images per step (required, > 0)
	Nesterov       bool    // Nesterov momentum
	WeightDecay    float64 // weight decay (BN parameters and biases excluded)
	LabelSmoothing float32 // label smoothing of the cross-entropy loss
}

// BenchStep is a network with a fixed batch of random images and labels:
// one training step (forward, loss, backward, SGD update at learning rate
// 0.01) or one batched inference pass per call, allocation-free after the
// first. It is what `residual bench` and the model benchmarks time.
type BenchStep struct {
	Net    *model.Net
	X      *tensor.Tensor // the batch (Batch,H,W,C), normal random values
	labels []int
	loss   *nn.SoftmaxCrossEntropy
	opt    *optim.SGD
}

// NewBenchStep builds the network cfg (weights from seed 1) and a random
// batch for it.
func NewBenchStep(cfg model.Config, c BenchStepConfig) (*BenchStep, error) {
	if c.Batch < 1 {
		return nil, fmt.Errorf("train: bench step batch %d, want > 0", c.Batch)
	}
	net, err := model.New(cfg, 1)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(net.InputShape(c.Batch)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, c.Batch)
	for i := range labels {
		labels[i] = rng.IntN(net.Config.Classes)
	}
	loss, err := nn.NewSoftmaxCrossEntropy(nn.CrossEntropyConfig{Classes: net.Config.Classes, LabelSmoothing: c.LabelSmoothing})
	if err != nil {
		return nil, err
	}
	opt, err := optim.NewSGD(net.Params(), optim.SGDConfig{Momentum: 0.9, Nesterov: c.Nesterov, WeightDecay: c.WeightDecay})
	if err != nil {
		return nil, err
	}
	return &BenchStep{Net: net, X: x, labels: labels, loss: loss, opt: opt}, nil
}

// Train runs one training step on the batch.
func (s *BenchStep) Train() error {
	logits, err := s.Net.Forward(s.X, true)
	if err != nil {
		return err
	}
	if _, err := s.loss.Forward(logits, s.labels); err != nil {
		return err
	}
	s.Net.Backward(s.loss.Backward())
	s.opt.Step(0.01)
	return nil
}

// Infer runs the network on the batch in evaluation mode.
func (s *BenchStep) Infer() error {
	_, err := s.Net.Forward(s.X, false)
	return err
}
