package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// ceRef follows PyTorch's cross_entropy step by step: log_softmax, a
// weighted-mean nll_loss, and the smoothing term normalised by the same
// sum of label weights.
func ceRef(z *tensor.Tensor, labels []int, eps float64, weights []float64) float64 {
	n, k := z.Shape[0], z.Shape[1]
	w := func(j int) float64 {
		if weights == nil {
			return 1
		}
		return weights[j]
	}
	var nll, wsum, smooth float64
	for i := 0; i < n; i++ {
		row := z.Data[i*k : (i+1)*k]
		var se float64
		for _, v := range row {
			se += math.Exp(float64(v))
		}
		logp := func(j int) float64 { return float64(row[j]) - math.Log(se) }
		nll += -w(labels[i]) * logp(labels[i])
		wsum += w(labels[i])
		for j := 0; j < k; j++ {
			smooth += -w(j) * logp(j)
		}
	}
	return (1-eps)*nll/wsum + eps/float64(k)*smooth/wsum
}

func TestSoftmaxCrossEntropyKnownValues(t *testing.T) {
	l, err := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 4, LabelSmoothing: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	// Equal logits: p = 1/4 everywhere, loss = ln 4 whatever the smoothing.
	z := tensor.New(2, 4)
	loss, err := l.Forward(z, []int{0, 3})
	if err != nil || math.Abs(float64(loss)-math.Log(4)) > 1e-6 {
		t.Fatalf("loss = %g, %v; want ln 4", loss, err)
	}
	if p := l.Probs().Data[5]; p != 0.25 {
		t.Errorf("prob = %g, want 0.25", p)
	}
	// Huge logits must not overflow.
	z = tensor.FromData([]float32{1000, 0, 0, 0}, 1, 4)
	l2, _ := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 4})
	if loss, err = l2.Forward(z, []int{0}); err != nil || loss > 1e-6 {
		t.Fatalf("loss = %g, %v; want 0", loss, err)
	}
}

func TestSoftmaxCrossEntropyMatchesReferenceAndGradients(t *testing.T) {
	for _, tc := range []struct {
		name    string
		eps     float32
		weights []float32
	}{
		{"plain", 0, nil},
		{"smoothing", 0.1, nil},
		{"weights", 0, []float32{0.5, 2, 1, 0.25, 3}},
		{"weights+smoothing", 0.3, []float32{0.5, 2, 1, 0.25, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 1))
			l, err := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 5, LabelSmoothing: tc.eps, Weights: tc.weights})
			if err != nil {
				t.Fatal(err)
			}
			z := gcRandn(rng, 6, 5)
			labels := []int{0, 4, 2, 2, 1, 3}
			var w64 []float64
			for _, v := range tc.weights {
				w64 = append(w64, float64(v))
			}
			loss, err := l.Forward(z, labels)
			if err != nil {
				t.Fatal(err)
			}
			if want := ceRef(z, labels, float64(tc.eps), w64); math.Abs(float64(loss)-want) > 1e-6*(1+want) {
				t.Fatalf("loss = %.8g, want %.8g", loss, want)
			}
			dz := l.Backward().Clone()
			gcCheck(t, func() float64 {
				loss, err := l.Forward(z, labels)
				if err != nil {
					t.Fatal(err)
				}
				return float64(loss)
			}, []gcTarget{{"logits", z, dz}}, 1e-2, 2e-3, 30)
		})
	}
}

func TestSoftmaxCrossEntropyErrors(t *testing.T) {
	l, _ := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 7})
	z := tensor.New(3, 7)
	_, err := l.Forward(z, []int{0, 7, 1})
	gcWantErr(t, err, "label 1", "is 7", "[0,7)")
	_, err = l.Forward(z, []int{0, -1, 1})
	gcWantErr(t, err, "label 1", "is -1")
	_, err = l.Forward(z, []int{0, 1})
	gcWantErr(t, err, "2 labels", "3")
	_, err = l.Forward(tensor.New(3, 5), []int{0, 1, 2})
	gcWantErr(t, err, "(3,5)", "(N,7)")
	z.Data[3] = float32(math.NaN())
	_, err = l.Forward(z, []int{0, 1, 2})
	gcWantErr(t, err, "NaN")
	z.Data[3] = float32(math.Inf(1))
	_, err = l.Forward(z, []int{0, 1, 2})
	gcWantErr(t, err, "loss is")
	// All label weights zero: 0/0.
	lw, _ := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 2, Weights: []float32{0, 1}})
	_, err = lw.Forward(tensor.New(1, 2), []int{0})
	gcWantErr(t, err, "loss is")

	_, err = NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 3, Weights: []float32{1, 2}})
	gcWantErr(t, err, "2 class weights", "3 classes")
	_, err = NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 3, LabelSmoothing: 1.5})
	gcWantErr(t, err, "LabelSmoothing=1.5")
	_, err = NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 2, Weights: []float32{1, -1}})
	gcWantErr(t, err, "class 1", "-1")
}

func TestSoftmaxCrossEntropyCorrect(t *testing.T) {
	l, _ := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 3})
	z := tensor.FromData([]float32{3, 1, 0, 0, 2, 1, 0, 0, 5, 1, 1, 0}, 4, 3)
	if _, err := l.Forward(z, []int{0, 1, 1, 0}); err != nil {
		t.Fatal(err)
	}
	if got := l.Correct(); got != 3 {
		t.Errorf("Correct = %d, want 3", got)
	}
}

func TestSoftmaxCrossEntropyZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	l, _ := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 7, LabelSmoothing: 0.1})
	z := gcRandn(rng, 64, 7)
	labels := make([]int, 64)
	for i := range labels {
		labels[i] = i % 7
	}
	gcZeroAllocs(t, "SoftmaxCrossEntropy", func() {
		if _, err := l.Forward(z, labels); err != nil {
			t.Fatal(err)
		}
		l.Backward()
	})
}

func BenchmarkSoftmaxCrossEntropy7(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	l, _ := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 7, LabelSmoothing: 0.1})
	z := gcRandn(rng, 64, 7)
	labels := make([]int, 64)
	for i := range labels {
		labels[i] = i % 7
	}
	benchElementwise(b, func() { l.Forward(z, labels) }, func() { l.Backward() })
}

func TestSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	z := gcRandn(rng, 5, 7)
	z.Data[3] = 500 // no overflow
	l, _ := NewSoftmaxCrossEntropy(CrossEntropyConfig{Classes: 7})
	if _, err := l.Forward(z, []int{0, 1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	p := Softmax(z, nil)
	gcSame(t, "Softmax", p, l.Probs())
	for i := 0; i < 5; i++ {
		var s float64
		for _, v := range p.Data[i*7 : (i+1)*7] {
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-6 {
			t.Errorf("row %d sums to %g", i, s)
		}
	}
	if a := testing.AllocsPerRun(5, func() { Softmax(z, p) }); a != 0 {
		t.Errorf("Softmax into a reused tensor: %v allocations", a)
	}
}
