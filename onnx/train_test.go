package onnx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// TestTrainingMatchesNet: the imported graph of an exported network
// trains like the network itself: in training mode (BN batch statistics)
// the logits, every parameter gradient (same names) and the updated
// running statistics agree.
func TestTrainingMatchesNet(t *testing.T) {
	for name, cfg := range roundTripConfigs {
		t.Run(name, func(t *testing.T) {
			cfg.Dropout = 0 // dropout masks are drawn differently
			rng := rand.New(rand.NewPCG(21, 22))
			net, err := model.New(cfg, 9)
			if err != nil {
				t.Fatal(err)
			}
			perturbBN(net, rng)
			var buf bytes.Buffer
			if err := Export(&buf, net, nil, vision.Preprocess{}); err != nil {
				t.Fatal(err)
			}
			g, err := Import(&buf, Options{})
			if err != nil {
				t.Fatal(err)
			}
			x := randomInput(rng, 4, cfg.Input[0], cfg.Input[1], cfg.Input[2])
			want, _ := net.Forward(x, true)
			want = want.Clone()
			got, err := g.Forward(x, true)
			if err != nil {
				t.Fatal(err)
			}
			if d := relDiff(got.Data, want.Data); d > 1e-5 {
				t.Fatalf("training-mode logits differ by %.3g", d)
			}
			dy := randomInput(rng, want.Shape...)
			net.Backward(dy)
			if err := g.Backward(dy); err != nil {
				t.Fatal(err)
			}
			ours := map[string]*nn.Param{}
			for _, p := range append(g.Params(), g.Buffers()...) {
				ours[p.Name] = p
			}
			for _, p := range net.Params() {
				q, ok := ours[p.Name]
				if !ok {
					t.Fatalf("imported graph has no parameter %q", p.Name)
				}
				wantG := p.Grad.Data
				if len(p.Value.Shape) == 4 { // conv weights: both OHWI
					if !tensor.SameShape(p.Grad.Shape, q.Grad.Shape) {
						t.Fatalf("%s: grad shape %v, want %v", p.Name, q.Grad.Shape, p.Grad.Shape)
					}
				}
				if d := relDiff(q.Grad.Data, wantG); d > 1e-4 {
					t.Errorf("%s: gradient differs by %.3g", p.Name, d)
				}
			}
			for _, p := range net.Buffers() {
				if q, ok := ours[p.Name]; ok && p.Value.Len() > 1 {
					if d := relDiff(q.Value.Data, p.Value.Data); d > 1e-5 {
						t.Errorf("%s: running statistic differs by %.3g", p.Name, d)
					}
				}
			}
		})
	}
}

// lossOf is L = sum(y * r), whose gradient is r.
func lossOf(y, r *tensor.Tensor) float64 {
	var s float64
	for i, v := range y.Data[:y.Len()] {
		s += float64(v) * float64(r.Data[i])
	}
	return s
}

// TestGradientsFiniteDifferences checks Backward against central
// differences of the loss for a few parameters of every trainable node of
// the PyTorch fixtures without BatchNormalization (resnet50_small has its
// BN folded into the convolutions), through every op they contain. BN in
// training mode couples the batch and makes finite differences of small
// networks unreliable; its gradients are checked exactly against
// model.Net in TestTrainingMatchesNet.
func TestGradientsFiniteDifferences(t *testing.T) {
	for _, name := range []string{"keras_style", "ferplus_like", "resnet50_small", "dynamic_view"} {
		t.Run(name, func(t *testing.T) {
			ref, x := loadReference(t, filepath.Join("testdata", name+".json"))
			g, err := ImportFile(filepath.Join("testdata", name+".onnx"), Options{InputLayout: ref.InputLayout})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			checkFiniteDifferences(t, g, x, rng)
		})
	}
}

// checkFiniteDifferences compares Backward with central differences for
// three random entries of every parameter.
func checkFiniteDifferences(t *testing.T, g *Graph, x *tensor.Tensor, rng *rand.Rand) {
	y, err := g.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	r := randomInput(rng, y.Shape...)
	if err := g.Backward(r); err != nil {
		t.Fatal(err)
	}
	params := g.Params()
	grads := make([][]float32, len(params))
	for i, p := range params {
		grads[i] = append([]float32(nil), p.Grad.Data...)
	}
	loss := func() float64 {
		y, err := g.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		return lossOf(y, r)
	}
	checked := 0
	for i, p := range params {
		for k := 0; k < 3; k++ {
			j := rng.IntN(p.Value.Len())
			old := p.Value.Data[j]
			h := float32(1e-2) * max(float32(math.Abs(float64(old))), 0.1)
			p.Value.Data[j] = old + h
			lp := loss()
			p.Value.Data[j] = old - h
			lm := loss()
			p.Value.Data[j] = old
			num := (lp - lm) / float64(2*h)
			an := float64(grads[i][j])
			if math.Abs(num-an) > 2e-2*math.Max(1, math.Abs(num)) {
				t.Errorf("%s[%d]: backward %.5g, finite difference %.5g", p.Name, j, an, num)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no parameters")
	}
}
