package cpupeak

import (
	"testing"
	"time"

	"github.com/residual-go/residual/internal/cpufeat"
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

func TestMeasureBF16(t *testing.T) {
	g := MeasureBF16(1, 50*time.Millisecond)
	if !availableBF16() {
		if g != 0 {
			t.Fatalf("no AVX512-BF16 but MeasureBF16 returned %g", g)
		}
		t.Skip("no AVX512-BF16 on this CPU (or purego build)")
	}
	if g <= 1 {
		t.Fatalf("VDPBF16PS loop measured %g GFLOP/s", g)
	}
	t.Logf("one core: %.1f GFLOP/s bf16 (fp32 FMA: %.1f)", g, Measure(1, 50*time.Millisecond))
}

func TestMeasureAMX(t *testing.T) {
	g := MeasureAMX(1, 50*time.Millisecond)
	if !availableAMX() {
		if g != 0 {
			t.Fatalf("no AMX but MeasureAMX returned %g", g)
		}
		t.Skipf("AMX cannot be tested on this machine (%v); the tile loop runs only where the CPU has AMX-BF16", cpufeat.AMX())
	}
	if g <= 1 {
		t.Fatalf("TDPBF16PS loop measured %g GFLOP/s", g)
	}
	t.Logf("one core: %.1f GFLOP/s AMX bf16", g)
}
