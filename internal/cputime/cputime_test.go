package cputime

import (
	"runtime"
	"testing"
)

func TestProcessAdvances(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no rusage here")
	}
	t0 := Process()
	x := 0.0
	for i := 0; i < 50_000_000; i++ {
		x += float64(i)
	}
	if Process() <= t0 || x == 0 {
		t.Errorf("CPU time did not advance over a busy loop: %v -> %v", t0, Process())
	}
}
