package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestLinearForwardAndGradients(t *testing.T) {
	for _, noBias := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(1, 1))
		l := NewLinear("fc", LinearConfig{In: 5, Out: 3, NoBias: noBias}, rng)
		x := gcRandn(rng, 4, 5)
		y := l.Forward(x, false)
		for n := 0; n < 4; n++ {
			for o := 0; o < 3; o++ {
				var want float64
				if l.Bias != nil {
					want = float64(l.Bias.Value.Data[o])
				}
				for i := 0; i < 5; i++ {
					want += float64(x.Data[n*5+i]) * float64(l.Weight.Value.Data[o*5+i])
				}
				if math.Abs(float64(y.Data[n*3+o])-want) > 1e-5 {
					t.Fatalf("y[%d,%d] = %g, want %g", n, o, y.Data[n*3+o], want)
				}
			}
		}
		gcLayer(t, l, x, 1e-2, 1e-3, nil)
	}
}

func TestLinearInit(t *testing.T) {
	l := NewLinear("fc", LinearConfig{In: 64, Out: 7}, rand.New(rand.NewPCG(1, 1)))
	bound := float32(1 / math.Sqrt(64))
	var maxAbs float32
	for _, p := range l.Params() {
		for _, v := range p.Value.Data {
			maxAbs = max(maxAbs, float32(math.Abs(float64(v))))
		}
	}
	if maxAbs > bound || maxAbs < 0.8*bound {
		t.Errorf("max |param| %g, want close to but within 1/sqrt(In) = %g", maxAbs, bound)
	}
	if l.Weight.Name != "fc.weight" || l.Bias.Name != "fc.bias" || !l.Bias.NoDecay || l.Weight.NoDecay {
		t.Errorf("param names/flags: %q %q", l.Weight.Name, l.Bias.Name)
	}
}

func TestLinearShapeErrors(t *testing.T) {
	l := NewLinear("fc", LinearConfig{In: 64, Out: 7}, rand.New(rand.NewPCG(1, 1)))
	_, err := l.OutShape([]int{8, 32})
	gcWantErr(t, err, "fc", "(8,32)", "(N,64)")
	_, err = l.OutShape([]int{8, 1, 1, 64})
	gcWantErr(t, err, "fc", "(8,1,1,64)")
	bad := NewLinear("head", LinearConfig{In: 0, Out: 7}, rand.New(rand.NewPCG(1, 1)))
	_, err = bad.OutShape([]int{8, 64})
	gcWantErr(t, err, "head", "In=0")
}

func TestLinearZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	l := NewLinear("fc", LinearConfig{In: 64, Out: 7}, rng)
	x := gcRandn(rng, 16, 64)
	dy := gcRandn(rng, 16, 7)
	gcZeroAllocs(t, "Linear", func() { l.Forward(x, true); l.Backward(dy) })
}

func BenchmarkLinear64to7(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	l := NewLinear("fc", LinearConfig{In: 64, Out: 7}, rng)
	x := gcRandn(rng, 64, 64)
	dy := gcRandn(rng, 64, 7)
	benchElementwise(b, func() { l.Forward(x, true) }, func() { l.Backward(dy) })
}
