// Package inference runs trained classifiers for prediction and
// evaluation: the Predictor (a network in evaluation mode with optional
// test-time augmentation) and Evaluate over a data loader, shared by
// `residual predict`, `eval` and the trainer's validation. The detectors
// that find what to classify are beside it, in package detect.
package inference

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/eval"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// TTA modes of a Predictor.
var TTAModes = []string{"none", "flip", "ten-crop"}

// Predictor computes class probabilities of preprocessed images with a
// network in evaluation mode, optionally averaging test-time views:
//
//   - "none": the image alone;
//   - "flip": the image and its mirror;
//   - "ten-crop": the image shifted by ±Pad pixels towards each corner
//     plus the centre (reflect padding, the views the training pad-crop
//     augmentation produces), and the mirrors of these five.
//
// The views keep the network's input size. Buffers are reused between
// calls; a Predictor is not safe for concurrent use.
type Predictor struct {
	Net   *model.Net
	Mode  string
	Pad   int // ten-crop shift in pixels (default 4)
	Chunk int // images per Forward, views included (default 64)

	// other is the network when it is not a model.Net (NewNetworkPredictor).
	other   Network
	classes int
	input   [3]int

	views  int
	x      *tensor.Tensor // (chunk*views, H,W,C)
	probs  *tensor.Tensor
	shifts [][2]int
}

// NewPredictor returns a predictor for net with the TTA mode ("none",
// "flip" or "ten-crop"; "" is "none").
func NewPredictor(net *model.Net, mode string) (*Predictor, error) {
	return newPredictor(&Predictor{Net: net}, mode)
}

// Network is what a Predictor runs besides a model.Net: anything mapping
// an (N,H,W,C) batch to (N,classes) logits, e.g. an imported onnx.Graph.
type Network interface {
	Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error)
}

// NewNetworkPredictor returns a predictor for any Network (e.g. an
// imported onnx.Graph) with `classes` outputs and (H,W,C) input.
func NewNetworkPredictor(net Network, classes int, input [3]int, mode string) (*Predictor, error) {
	if classes < 1 {
		return nil, fmt.Errorf("inference: predictor for %d classes, want at least 1", classes)
	}
	return newPredictor(&Predictor{other: net, classes: classes, input: input}, mode)
}

func newPredictor(p *Predictor, mode string) (*Predictor, error) {
	p.Mode, p.Pad, p.Chunk = mode, 4, 64
	switch mode {
	case "", "none":
		p.Mode, p.views, p.shifts = "none", 1, [][2]int{{0, 0}}
	case "flip":
		p.views, p.shifts = 2, [][2]int{{0, 0}}
	case "ten-crop":
		p.views = 10
	default:
		return nil, fmt.Errorf("inference: TTA mode %q, want none, flip or ten-crop", mode)
	}
	return p, nil
}

// Views is the number of views averaged per image.
func (p *Predictor) Views() int { return p.views }

// Probs writes the (N,K) class probabilities of the batch x (N,H,W,C) of
// preprocessed images into dst (N*K values).
func (p *Predictor) Probs(dst []float32, x *tensor.Tensor) error {
	if err := p.checkInput(x); err != nil {
		return err
	}
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	k := p.numClasses()
	if len(dst) < n*k {
		return fmt.Errorf("inference: %d values for %d images of %d classes", len(dst), n, k)
	}
	if p.views == 1 {
		logits, err := p.forward(x)
		if err != nil {
			return err
		}
		p.probs = nn.Softmax(logits, p.probs)
		copy(dst, p.probs.Data[:n*k])
		return nil
	}
	if p.Mode == "ten-crop" && len(p.shifts) == 0 {
		d := p.Pad
		p.shifts = [][2]int{{-d, -d}, {d, -d}, {-d, d}, {d, d}, {0, 0}}
	}
	size := h * w * c
	per := max(1, p.Chunk/p.views) // images per Forward
	for i0 := 0; i0 < n; i0 += per {
		m := min(per, n-i0)
		p.x = tensor.Ensure(p.x, m*p.views, h, w, c)
		// Views of image i are rows i*views ... i*views+views-1: the
		// shifted views first, then their mirrors.
		for i := 0; i < m; i++ {
			img := x.Data[(i0+i)*size : (i0+i+1)*size]
			for s, sh := range p.shifts {
				v := p.x.Data[(i*p.views+s)*size : (i*p.views+s+1)*size]
				data.Shift(v, img, h, w, c, sh[0], sh[1], data.PadReflect)
				f := p.x.Data[(i*p.views+len(p.shifts)+s)*size : (i*p.views+len(p.shifts)+s+1)*size]
				data.FlipHorizontal(f, v, h, w, c)
			}
		}
		logits, err := p.forward(p.x)
		if err != nil {
			return err
		}
		p.probs = nn.Softmax(logits, p.probs)
		for i := 0; i < m; i++ {
			data.AverageViews(dst[(i0+i)*k:(i0+i+1)*k], p.probs.Data[i*p.views*k:(i+1)*p.views*k], p.views, k)
		}
	}
	return nil
}

func (p *Predictor) checkInput(x *tensor.Tensor) error {
	if p.Net != nil {
		return p.Net.CheckInput(x)
	}
	if x == nil || len(x.Shape) != 4 || x.Shape[0] < 1 || x.Shape[1] != p.input[0] || x.Shape[2] != p.input[1] || x.Shape[3] != p.input[2] || len(x.Data) < x.Len() {
		var got []int
		if x != nil {
			got = x.Shape
		}
		return fmt.Errorf("inference: input shape %s, want (N,%d,%d,%d)", tensor.ShapeString(got), p.input[0], p.input[1], p.input[2])
	}
	return nil
}

func (p *Predictor) numClasses() int {
	if p.Net != nil {
		return p.Net.Config.Classes
	}
	return p.classes
}

// forward returns the (N,K) logits in evaluation mode.
func (p *Predictor) forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if p.Net != nil {
		return p.Net.Forward(x, false)
	}
	y, err := p.other.Forward(x, false)
	if err != nil {
		return nil, err
	}
	if len(y.Shape) != 2 || y.Shape[0] != x.Shape[0] || y.Shape[1] != p.classes {
		return nil, fmt.Errorf("inference: network output %s for %d images, want (%d,%d)", tensor.ShapeString(y.Shape), x.Shape[0], x.Shape[0], p.classes)
	}
	return y, nil
}

// Evaluation is the result of running a network over a dataset.
type Evaluation struct {
	Metrics *eval.Metrics
	// Loss is the mean cross-entropy -log p(label) of the (averaged)
	// probabilities, without label smoothing or class weights.
	Loss float64
	// Probs are the (N,K) probabilities in dataset order.
	Probs []float32
	// Labels are the true labels in dataset order.
	Labels []int
}

// Evaluate runs the predictor over every batch of the (unshuffled,
// unaugmented) loader and computes the metrics against the labels.
func Evaluate(p *Predictor, l *data.Loader, classes []string) (*Evaluation, error) {
	k := len(classes)
	ev := &Evaluation{Probs: make([]float32, l.Len()*k), Labels: make([]int, l.Len())}
	l.Start(0, 0)
	n := 0
	for {
		b, ok := l.Next()
		if !ok {
			break
		}
		m := len(b.Labels)
		err := p.Probs(ev.Probs[n*k:(n+m)*k], b.X)
		copy(ev.Labels[n:], b.Labels)
		l.Release(b)
		if err != nil {
			return nil, err
		}
		n += m
	}
	if n != l.Len() {
		return nil, fmt.Errorf("inference: evaluated %d of %d samples", n, l.Len())
	}
	for i, y := range ev.Labels {
		ev.Loss -= math.Log(math.Max(float64(ev.Probs[i*k+y]), 1e-12))
	}
	ev.Loss /= float64(n)
	m, err := eval.ComputeFromScores(ev.Labels, ev.Probs, classes)
	if err != nil {
		return nil, err
	}
	ev.Metrics = m
	return ev, nil
}
