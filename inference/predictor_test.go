package inference

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/tensor"
)

// TestPredictorViews: each TTA mode's probabilities sum to 1 per image,
// "flip" equals the mean of the image's and its mirror's plain
// probabilities, and an unknown mode is refused by name.
func TestPredictorViews(t *testing.T) {
	net, err := model.New(model.Config{Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(2, 8, 8, 1)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	mirror := tensor.New(2, 8, 8, 1)
	for n := 0; n < 2; n++ {
		for y := 0; y < 8; y++ {
			for c := 0; c < 8; c++ {
				mirror.Data[(n*8+y)*8+c] = x.Data[(n*8+y)*8+7-c]
			}
		}
	}
	probs := func(mode string, in *tensor.Tensor) []float32 {
		p, err := NewPredictor(net, mode)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, 6)
		if err := p.Probs(out, in); err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain, mir, flip := probs("none", x), probs("none", mirror), probs("flip", x)
	for i := range flip {
		if d := math.Abs(float64(flip[i] - (plain[i]+mir[i])/2)); d > 1e-5 {
			t.Errorf("flip[%d] = %g, want the mean of the two views %g", i, flip[i], (plain[i]+mir[i])/2)
		}
	}
	for _, mode := range TTAModes {
		p := probs(mode, x)
		for n := 0; n < 2; n++ {
			if s := p[n*3] + p[n*3+1] + p[n*3+2]; math.Abs(float64(s-1)) > 1e-5 {
				t.Errorf("%s: image %d probabilities sum to %g", mode, n, s)
			}
		}
	}
	if _, err := NewPredictor(net, "five"); err == nil {
		t.Error("mode five accepted")
	}
}
