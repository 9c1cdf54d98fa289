package nn_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// A forward and backward pass through conv -> batch norm + ReLU -> global
// pooling -> linear -> cross-entropy, the way a model chains the layers:
// shapes are checked once with OutShape, then Forward and Backward run
// back to back, each layer's output feeding the next.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	conv := nn.NewConv2D("conv1", nn.Conv2DConfig{InC: 1, OutC: 8, Kernel: 3, Padding: 1, NoInputGrad: true}, rng)
	bn := nn.NewBatchNorm2D("bn1", nn.BatchNorm2DConfig{C: 8, ReLU: true})
	pool := nn.NewGlobalAvgPool("avgpool")
	fc := nn.NewLinear("fc", nn.LinearConfig{In: 8, Out: 7}, rng)
	loss, err := nn.NewSoftmaxCrossEntropy(nn.CrossEntropyConfig{Classes: 7, LabelSmoothing: 0.1})
	if err != nil {
		panic(err)
	}
	layers := []nn.Layer{conv, bn, pool, fc}

	shape := []int{4, 48, 48, 1} // a batch of 4 gray 48x48 images
	for _, l := range layers {
		if shape, err = l.OutShape(shape); err != nil {
			panic(err)
		}
	}
	fmt.Println("logits", tensor.ShapeString(shape))

	x := tensor.New(4, 48, 48, 1)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	h := x
	for _, l := range layers {
		h = l.Forward(h, true)
	}
	if _, err := loss.Forward(h, []int{0, 3, 6, 2}); err != nil {
		panic(err)
	}
	g := loss.Backward()
	for i := len(layers) - 1; i >= 0 && g != nil; i-- {
		g = layers[i].Backward(g) // conv1 returns nil: NoInputGrad
	}
	for _, l := range layers {
		for _, p := range l.Params() {
			fmt.Println(p.Name, tensor.ShapeString(p.Grad.Shape))
		}
	}
	_, err = fc.OutShape([]int{4, 16})
	fmt.Println(err)
	// Output:
	// logits (4,7)
	// conv1.weight (8,3,3,1)
	// bn1.weight (8)
	// bn1.bias (8)
	// fc.weight (7,8)
	// fc.bias (7)
	// fc: input shape (4,16) is incompatible: want (N,8)
}
