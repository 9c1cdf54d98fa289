package optim

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestCosineWithWarmup(t *testing.T) {
	s, err := NewSchedule(ScheduleConfig{Kind: "cosine", BaseLR: 0.1, WarmupEpochs: 2, Epochs: 12, MinLR: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	if lr := s.LR(1); !near(lr, 0.1*1.001/2) {
		t.Errorf("warm-up midpoint lr %g", lr)
	}
	if lr := s.LR(2); !near(lr, 0.1) {
		t.Errorf("end of warm-up lr %g, want 0.1", lr)
	}
	if lr := s.LR(7); !near(lr, 0.001+0.099*0.5) {
		t.Errorf("cosine midpoint lr %g, want %g", lr, 0.001+0.099*0.5)
	}
	if lr := s.LR(12); !near(lr, 0.001) {
		t.Errorf("final lr %g, want 0.001", lr)
	}
	prev := math.Inf(1)
	for p := 2.0; p <= 12; p += 0.25 {
		lr := s.LR(p)
		if lr > prev {
			t.Fatalf("cosine rose at %g: %g > %g", p, lr, prev)
		}
		prev = lr
	}
}

func TestStepSchedule(t *testing.T) {
	s, err := NewSchedule(ScheduleConfig{Kind: "step", BaseLR: 1, Milestones: []int{3, 6}, Gamma: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {2.9, 1}, {3, 0.5}, {5.5, 0.5}, {6, 0.25}, {20, 0.25}} {
		if lr := s.LR(c.p); !near(lr, c.want) {
			t.Errorf("step lr at %g = %g, want %g", c.p, lr, c.want)
		}
	}
}

func TestPlateauSchedule(t *testing.T) {
	s, err := NewSchedule(ScheduleConfig{Kind: "plateau", BaseLR: 1, Patience: 2, Gamma: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	metrics := []float64{0.5, 0.6, 0.6, 0.59, 0.6, 0.7, 0.7, 0.7, 0.7}
	wantReduced := []bool{false, false, false, false, true, false, false, false, true}
	for i, m := range metrics {
		if got := s.Observe(m); got != wantReduced[i] {
			t.Errorf("epoch %d metric %g: reduced=%v, want %v", i, m, got, wantReduced[i])
		}
	}
	if lr := s.LR(9); !near(lr, 0.01) {
		t.Errorf("lr after two reductions %g, want 0.01", lr)
	}
	// State survives a round trip (checkpoint resume).
	r, _ := NewSchedule(ScheduleConfig{Kind: "plateau", BaseLR: 1, Patience: 2, Gamma: 0.1})
	r.SetState(s.State())
	if r.LR(9) != s.LR(9) || r.Observe(0.7) != s.Observe(0.7) {
		t.Error("restored plateau schedule differs")
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, c := range []ScheduleConfig{
		{Kind: "cosine", BaseLR: 0.1},              // no epochs
		{Kind: "linear", BaseLR: 0.1, Epochs: 3},   // unknown kind
		{Kind: "step", BaseLR: 0},                  // no rate
		{Kind: "step", BaseLR: 0.1, Gamma: 2},      // growing
		{BaseLR: 0.1, Epochs: 3, WarmupEpochs: -1}, // negative warm-up
	} {
		if _, err := NewSchedule(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}
