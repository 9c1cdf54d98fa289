package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// freshLayers builds one of each single-input layer, identically for the
// same seed, with the input shape (batch excluded) each one takes.
func freshLayers(seed uint64) map[string]struct {
	l  Layer
	in []int
} {
	rng := rand.New(rand.NewPCG(seed, seed))
	type entry = struct {
		l  Layer
		in []int
	}
	return map[string]entry{
		"conv3x3":  {NewConv2D("c", Conv2DConfig{InC: 3, OutC: 4, Kernel: 3, Padding: 1, Bias: true}, rng), []int{6, 5, 3}},
		"conv1x1":  {NewConv2D("c", Conv2DConfig{InC: 3, OutC: 4, Kernel: 1}, rng), []int{6, 5, 3}},
		"bn":       {NewBatchNorm2D("b", BatchNorm2DConfig{C: 3, ReLU: true}), []int{6, 5, 3}},
		"relu":     {NewReLU("r"), []int{6, 5, 3}},
		"maxpool":  {NewMaxPool2D("m", Pool2DConfig{Kernel: 3, Stride: 2, Padding: 1}), []int{6, 5, 3}},
		"avgpool":  {NewAvgPool2D("a", Pool2DConfig{Kernel: 2}), []int{6, 5, 3}},
		"gap":      {NewGlobalAvgPool("g"), []int{6, 5, 3}},
		"linear":   {NewLinear("l", LinearConfig{In: 7, Out: 3}, rng), []int{7}},
		"dropout":  {NewDropout("d", 0.5, 1), []int{7}},
		"flatten":  {NewFlatten("f"), []int{6, 5, 3}},
		"conv7x7":  {NewConv2D("c", Conv2DConfig{InC: 1, OutC: 2, Kernel: 7, Stride: 2, Padding: 3}, rng), []int{9, 9, 1}},
		"conv1x1s": {NewConv2D("c", Conv2DConfig{InC: 3, OutC: 2, Kernel: 1, Stride: 2}, rng), []int{6, 5, 3}},
	}
}

// TestLayersFollowBatchSize runs batches of 4, 1 and 3 through each layer
// and compares every output and gradient with a fresh layer's: reused
// buffers must follow the batch size and carry nothing over.
func TestLayersFollowBatchSize(t *testing.T) {
	reused := freshLayers(1)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{4, 1, 3} {
		fresh := freshLayers(1)
		for name, e := range reused {
			shape := append([]int{n}, e.in...)
			x := gcRandn(rng, shape...)
			out, err := e.l.OutShape(shape)
			if err != nil {
				t.Fatal(err)
			}
			dy := gcRandn(rng, out...)
			f := fresh[name].l
			if d, ok := e.l.(*Dropout); ok { // same masks for both
				state, _ := f.(*Dropout).State()
				if err := d.SetState(state); err != nil {
					t.Fatal(err)
				}
			}
			y1, y2 := e.l.Forward(x, true).Clone(), f.Forward(x, true)
			dx1, dx2 := e.l.Backward(dy).Clone(), f.Backward(dy)
			gcSame(t, name+" y", y1, y2)
			gcSame(t, name+" dx", dx1, dx2)
			for i, p := range e.l.Params() {
				gcSame(t, name+" "+p.Name, p.Grad, f.Params()[i].Grad)
			}
		}
	}
}

// gcSame fails unless a and b have the same shape and values.
func gcSame(t *testing.T, what string, a, b *tensor.Tensor) {
	t.Helper()
	if !tensor.SameShape(a.Shape, b.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, a.Shape, b.Shape)
	}
	for i := 0; i < a.Len(); i++ {
		if a.Data[i] != b.Data[i] {
			t.Fatalf("%s[%d] = %g, want %g", what, i, a.Data[i], b.Data[i])
		}
	}
}

// TestFrozenParamsGetNoGradient freezes every parameter: Backward must
// leave the gradients alone and still return the same dx.
func TestFrozenParamsGetNoGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	frozen, live := freshLayers(1), freshLayers(1)
	for name, e := range frozen {
		if len(e.l.Params()) == 0 {
			continue
		}
		shape := append([]int{2}, e.in...)
		x := gcRandn(rng, shape...)
		out, _ := e.l.OutShape(shape)
		dy := gcRandn(rng, out...)
		for _, p := range e.l.Params() {
			p.Frozen = true
			for i := range p.Grad.Data {
				p.Grad.Data[i] = 42
			}
		}
		e.l.Forward(x, true)
		dx := e.l.Backward(dy)
		live[name].l.Forward(x, true)
		gcSame(t, name+" dx", dx, live[name].l.Backward(dy))
		for _, p := range e.l.Params() {
			for _, g := range p.Grad.Data {
				if g != 42 {
					t.Fatalf("%s: frozen %s got a gradient", name, p.Name)
				}
			}
		}
	}
}
