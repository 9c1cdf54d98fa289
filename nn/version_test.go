package nn

import (
	"testing"

	"github.com/residual-go/residual/tensor"
)

// TestParamVersion: parameters start with a known version, every Changed
// gives a new one never seen before, and BatchNorm2D's training forward
// (which updates the running statistics) announces it while inference
// does not.
func TestParamVersion(t *testing.T) {
	bn := NewBatchNorm2D("bn", BatchNorm2DConfig{C: 3})
	seen := map[uint64]bool{}
	for _, p := range []*Param{bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar} {
		if p.Version() == 0 || seen[p.Version()] {
			t.Fatalf("%s starts at version %d (0 or shared)", p.Name, p.Version())
		}
		seen[p.Version()] = true
	}
	w := bn.Weight.Version()
	bn.Weight.Changed()
	if bn.Weight.Version() == w || seen[bn.Weight.Version()] {
		t.Errorf("Changed kept or reused version %d", bn.Weight.Version())
	}
	x := tensor.New(2, 2, 2, 3)
	for i := range x.Data {
		x.Data[i] = float32(i % 5)
	}
	rm := bn.RunningMean.Version()
	bn.Forward(x, false)
	if bn.RunningMean.Version() != rm {
		t.Errorf("inference changed the running mean's version")
	}
	bn.Forward(x, true)
	if bn.RunningMean.Version() == rm {
		t.Errorf("training did not announce the running mean's update")
	}
	if (&Param{}).Version() != 0 {
		t.Errorf("a literal Param should have version 0 (unknown)")
	}
}
