package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// TestBetaMoments: the sample mean and variance of Beta(a,b) match
// a/(a+b) and ab/((a+b)^2(a+b+1)) for the shapes mixup and CutMix use.
func TestBetaMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ab := range [][2]float64{{0.2, 0.2}, {1, 1}, {0.4, 2}, {3, 5}} {
		a, b := ab[0], ab[1]
		const n = 40000
		var sum, sq float64
		for i := 0; i < n; i++ {
			x := Beta(rng, a, b)
			if !(x >= 0 && x <= 1) {
				t.Fatalf("Beta(%g,%g) drew %g", a, b, x)
			}
			sum += x
			sq += x * x
		}
		mean, v := sum/n, sq/n-(sum/n)*(sum/n)
		wantMean, wantVar := a/(a+b), a*b/((a+b)*(a+b)*(a+b+1))
		t.Logf("Beta(%g,%g): mean %.4f (want %.4f), var %.4f (want %.4f)", a, b, mean, wantMean, v, wantVar)
		if math.Abs(mean-wantMean) > 0.01 || math.Abs(v-wantVar) > 0.01 {
			t.Errorf("Beta(%g,%g): mean %.4f var %.4f, want %.4f %.4f", a, b, mean, v, wantMean, wantVar)
		}
	}
}

func mixBatch() (*tensor.Tensor, []int) {
	x := tensor.New(6, 8, 10, 2) // image n holds 100n + (j mod 7)
	for n := 0; n < 6; n++ {
		for j := 0; j < 8*10*2; j++ {
			x.Data[n*160+j] = float32(100*n + j%7)
		}
	}
	return x, []int{0, 1, 2, 3, 4, 5}
}

// TestMixup: every image becomes lambda*itself + (1-lambda)*its partner,
// the partner labels follow the same permutation, and the same seed gives
// the same batch.
func TestMixup(t *testing.T) {
	m, err := NewMixer(Mix{MixupAlpha: 0.4, Prob: 1})
	if err != nil {
		t.Fatal(err)
	}
	x, labels := mixBatch()
	orig := x.Clone()
	partner, lam := m.Apply(rand.New(rand.NewPCG(5, 6)), x, labels)
	if partner == nil || !(lam > 0 && lam < 1) {
		t.Fatalf("lambda %g partner %v", lam, partner)
	}
	size := 160
	for i, p := range partner {
		for j := 0; j < size; j++ {
			want := float32(lam)*orig.Data[i*size+j] + float32(1-lam)*orig.Data[p*size+j]
			if d := math.Abs(float64(x.Data[i*size+j] - want)); d > 1e-4 {
				t.Fatalf("image %d value %d = %g, want %g", i, j, x.Data[i*size+j], want)
			}
		}
	}
	sorted := slices.Clone(partner)
	slices.Sort(sorted)
	if !slices.Equal(sorted, labels) {
		t.Errorf("partner labels %v are not a permutation of %v", partner, labels)
	}
	y, _ := mixBatch()
	partner2, lam2 := m.Apply(rand.New(rand.NewPCG(5, 6)), y, labels)
	if lam2 != lam || !slices.Equal(partner2, partner) || !slices.Equal(y.Data, x.Data) {
		t.Error("the same seed mixed differently")
	}
}

// TestCutMix: each image keeps its own pixels outside one box and takes
// its partner's inside, and lambda is the kept share of the area.
func TestCutMix(t *testing.T) {
	m, err := NewMixer(Mix{CutMixAlpha: 1, Prob: 1})
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(0); seed < 20; seed++ {
		x, labels := mixBatch()
		orig := x.Clone()
		partner, lam := m.Apply(rand.New(rand.NewPCG(seed, 1)), x, labels)
		if partner == nil {
			t.Fatal("not mixed")
		}
		for i, p := range partner {
			taken := 0
			for pix := 0; pix < 80; pix++ {
				j := i*160 + pix*2
				switch {
				case x.Data[j] == orig.Data[j] && x.Data[j+1] == orig.Data[j+1]:
				case x.Data[j] == orig.Data[p*160+pix*2] && x.Data[j+1] == orig.Data[p*160+pix*2+1]:
					taken++
				default:
					t.Fatalf("seed %d image %d pixel %d comes from neither image", seed, i, pix)
				}
			}
			if p != i && math.Abs(float64(taken)/80-(1-lam)) > 1e-9 {
				t.Fatalf("seed %d image %d: %d of 80 pixels taken, lambda %g", seed, i, taken, lam)
			}
		}
	}
}

// TestMixOff: probability 0, no alpha or a batch of one leaves the batch
// alone; bad settings are errors.
func TestMixOff(t *testing.T) {
	for _, cfg := range []Mix{{MixupAlpha: 1, Prob: 0}, {Prob: 1}} {
		m, _ := NewMixer(cfg)
		x, labels := mixBatch()
		orig := x.Clone()
		if p, lam := m.Apply(rand.New(rand.NewPCG(1, 1)), x, labels); p != nil || lam != 1 || !slices.Equal(x.Data, orig.Data) {
			t.Errorf("%+v mixed the batch", cfg)
		}
	}
	for _, cfg := range []Mix{{MixupAlpha: -1, Prob: 1}, {CutMixAlpha: math.NaN(), Prob: 1}, {MixupAlpha: 1, Prob: 1.5}} {
		if _, err := NewMixer(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
