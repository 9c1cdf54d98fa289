package model

import "testing"

// TestConvs finds every convolution of the reference network (stem, two
// per basic block, two projections) and of a bottleneck ResNet.
func TestConvs(t *testing.T) {
	for _, c := range []struct {
		preset string
		want   int
	}{{"reference", 1 + 6*2 + 2}, {"resnet50", 1 + 16*3 + 4}} {
		cfg, err := Preset(c.preset)
		if err != nil {
			t.Fatal(err)
		}
		cfg.WidthMult = 0.125 // small weights: the structure is what counts
		if cfg.Input == ([3]int{}) {
			cfg.Input = [3]int{32, 32, 3}
		}
		if cfg.Classes == 0 {
			cfg.Classes = 7
		}
		net, err := New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		convs := net.Convs()
		if len(convs) != c.want {
			t.Errorf("%s: %d convolutions, want %d", c.preset, len(convs), c.want)
		}
		seen := map[string]bool{}
		for _, cv := range convs {
			if seen[cv.Name()] {
				t.Errorf("%s: %s listed twice", c.preset, cv.Name())
			}
			seen[cv.Name()] = true
		}
	}
}
