package optim

import (
	"fmt"
	"math"
)

// ScheduleConfig describes a learning-rate schedule. Progress is measured
// in epochs as a float (epoch + step/stepsPerEpoch), so the rate changes
// smoothly within an epoch.
type ScheduleConfig struct {
	Kind   string  // "constant", "step", "cosine" or "plateau"; default "cosine"
	BaseLR float64 // peak learning rate, reached at the end of warm-up
	// WarmupEpochs ramps the rate linearly from BaseLR/WarmupEpochs*progress
	// up to BaseLR over this many epochs (default 0: no warm-up).
	WarmupEpochs float64
	Epochs       int     // total epochs (cosine decays to MinLR at the end)
	MinLR        float64 // cosine floor, default 0
	Milestones   []int   // step: epochs at which the rate is multiplied by Gamma
	Gamma        float64 // step and plateau factor, default 0.1
	Patience     int     // plateau: epochs without improvement before reducing, default 5
	// Threshold is the relative improvement that counts for plateau
	// (default 1e-4, as PyTorch's ReduceLROnPlateau in "rel" mode, maximising).
	Threshold float64
}

// Schedule computes the learning rate. The plateau kind is stateful:
// feed it the validation metric after each epoch with Observe.
type Schedule struct {
	cfg ScheduleConfig
	// plateau state
	best      float64
	seen      bool // best holds a metric
	badEpochs int
	scale     float64
}

// NewSchedule validates cfg and applies defaults.
func NewSchedule(cfg ScheduleConfig) (*Schedule, error) {
	if cfg.Kind == "" {
		cfg.Kind = "cosine"
	}
	if cfg.Gamma == 0 {
		cfg.Gamma = 0.1
	}
	if cfg.Patience == 0 {
		cfg.Patience = 5
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = 1e-4
	}
	switch {
	case cfg.BaseLR <= 0:
		return nil, fmt.Errorf("optim: learning rate %g must be > 0", cfg.BaseLR)
	case cfg.WarmupEpochs < 0:
		return nil, fmt.Errorf("optim: warm-up epochs %g must be >= 0", cfg.WarmupEpochs)
	case cfg.Kind == "cosine" && cfg.Epochs <= 0:
		return nil, fmt.Errorf("optim: cosine schedule needs epochs > 0, have %d", cfg.Epochs)
	case cfg.Gamma <= 0 || cfg.Gamma > 1:
		return nil, fmt.Errorf("optim: gamma %g must be in (0,1]", cfg.Gamma)
	}
	switch cfg.Kind {
	case "constant", "step", "cosine", "plateau":
	default:
		return nil, fmt.Errorf("optim: unknown schedule %q (want constant, step, cosine or plateau)", cfg.Kind)
	}
	return &Schedule{cfg: cfg, scale: 1}, nil
}

// LR returns the learning rate at a point of training given in epochs
// (e.g. 3.5 is halfway through the fourth epoch).
func (s *Schedule) LR(progress float64) float64 {
	c := s.cfg
	if c.WarmupEpochs > 0 && progress < c.WarmupEpochs {
		return c.BaseLR * (progress + 1e-3) / c.WarmupEpochs
	}
	switch c.Kind {
	case "step":
		lr := c.BaseLR
		for _, m := range c.Milestones {
			if progress >= float64(m) {
				lr *= c.Gamma
			}
		}
		return lr
	case "cosine":
		span := float64(c.Epochs) - c.WarmupEpochs
		t := 1.0
		if span > 0 {
			t = math.Min(1, (progress-c.WarmupEpochs)/span)
		}
		return c.MinLR + (c.BaseLR-c.MinLR)*0.5*(1+math.Cos(math.Pi*t))
	case "plateau":
		return c.BaseLR * s.scale
	}
	return c.BaseLR
}

// Observe feeds the validation metric (higher is better) at the end of an
// epoch. It only matters for the plateau kind; it reports whether the rate
// was reduced.
func (s *Schedule) Observe(metric float64) bool {
	if s.cfg.Kind != "plateau" {
		return false
	}
	if !s.seen || metric > s.best*(1+s.cfg.Threshold) {
		s.best, s.seen, s.badEpochs = metric, true, 0
		return false
	}
	s.badEpochs++
	if s.badEpochs > s.cfg.Patience {
		s.scale *= s.cfg.Gamma
		s.badEpochs = 0
		return true
	}
	return false
}

// ScheduleState is the plateau state, saved in checkpoints.
type ScheduleState struct {
	Best      float64 `json:"best"`
	Seen      bool    `json:"seen"`
	BadEpochs int     `json:"bad_epochs"`
	Scale     float64 `json:"scale"`
}

// State returns the schedule's mutable state.
func (s *Schedule) State() ScheduleState {
	return ScheduleState{Best: s.best, Seen: s.seen, BadEpochs: s.badEpochs, Scale: s.scale}
}

// SetState restores what State returned.
func (s *Schedule) SetState(st ScheduleState) {
	s.best, s.seen, s.badEpochs, s.scale = st.Best, st.Seen, st.BadEpochs, st.Scale
}
