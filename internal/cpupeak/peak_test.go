package cpupeak

import (
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	g := Measure(1, 50*time.Millisecond)
	if !available() {
		if g != 0 {
			t.Fatalf("no AVX-512 but Measure returned %g", g)
		}
		t.Skip("no AVX-512 on this CPU")
	}
	if g <= 1 {
		t.Fatalf("FMA loop measured %g GFLOP/s", g)
	}
	t.Logf("one core: %.1f GFLOP/s", g)
}
