package data

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestSplitStratified(t *testing.T) {
	d := countingDataset(100, 4)
	d.Labels[0] = 3 // class sizes 24..26
	tr, va, err := SplitStratified(d, 0.25, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len()+va.Len() != 100 || va.Len() < 23 || va.Len() > 27 {
		t.Fatalf("sizes %d/%d", tr.Len(), va.Len())
	}
	for k, n := range va.ClassCounts() {
		if n < 6 || n > 7 {
			t.Fatalf("class %d: %d validation samples", k, n)
		}
	}
	// Deterministic, and no sample on both sides.
	tr2, va2, _ := SplitStratified(d, 0.25, 1)
	if !slices.Equal(va.Sources, va2.Sources) || !slices.Equal(tr.Sources, tr2.Sources) {
		t.Fatal("same seed, different split")
	}
	_, va3, _ := SplitStratified(d, 0.25, 2)
	if slices.Equal(va.Sources, va3.Sources) {
		t.Fatal("different seeds, same split")
	}
	for _, s := range va.Sources {
		if slices.Contains(tr.Sources, s) {
			t.Fatalf("%s on both sides", s)
		}
	}
	if _, _, err := SplitStratified(d, 1.2, 1); err == nil {
		t.Fatal("fraction 1.2 accepted")
	}
}

// groupedDataset: groups g00..g(ng-1), each with perGroup samples of
// every class.
func groupedDataset(ng, classes, perGroup int) *Dataset {
	d := countingDataset(0, classes)
	img := make([]uint8, 16)
	for g := 0; g < ng; g++ {
		for k := 0; k < classes; k++ {
			for j := 0; j < perGroup; j++ {
				d.Append(img, k, fmt.Sprintf("g%02d/%d/%d", g, k, j), fmt.Sprintf("%02d", g))
			}
		}
	}
	return d
}

func TestSplitByGroupsAndFraction(t *testing.T) {
	d := groupedDataset(10, 3, 2)
	tr, va, err := SplitByGroups(d, []string{"8", "09"})
	if err != nil {
		t.Fatal(err)
	}
	if va.Len() != 12 || !slices.Equal(va.GroupNames(), []string{"08", "09"}) || slices.Contains(tr.GroupNames(), "08") {
		t.Fatalf("held out %v, kept %v", va.GroupNames(), tr.GroupNames())
	}
	if _, _, err := SplitByGroups(d, []string{"11"}); err == nil || !strings.Contains(err.Error(), `"11"`) {
		t.Fatalf("unknown group: %v", err)
	}
	tr, va, err = SplitGroupsFraction(d, 0.3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if va.Len() != 18 {
		t.Fatalf("held out %d samples, want 3 groups = 18", va.Len())
	}
	for _, g := range va.GroupNames() {
		if slices.Contains(tr.GroupNames(), g) {
			t.Fatalf("group %s on both sides", g)
		}
	}
	// Classes concentrated in few groups: the repair keeps every class
	// on both sides.
	e := countingDataset(0, 3)
	img := make([]uint8, 16)
	for g := 0; g < 8; g++ {
		for j := 0; j < 5; j++ {
			e.Append(img, 0, "", fmt.Sprint("s", g))
		}
	}
	for _, g := range []string{"s0", "s5"} { // class 1 lives only in s0 and s5
		e.Append(img, 1, "", g)
	}
	for _, g := range []string{"s1", "s2"} { // class 2 only in s1 and s2
		e.Append(img, 2, "", g)
	}
	for seed := uint64(0); seed < 20; seed++ {
		tr, va, err := SplitGroupsFraction(e, 0.25, seed)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for k := 0; k < 3; k++ {
			if tr.ClassCounts()[k] == 0 || va.ClassCounts()[k] == 0 {
				t.Fatalf("seed %d: class %d missing (train %v val %v)", seed, k, tr.ClassCounts(), va.ClassCounts())
			}
		}
	}
	// Impossible: class 1 only in one group.
	f := groupedDataset(3, 1, 2)
	f.Classes = append(f.Classes, "rare")
	f.Append(img, 1, "", "00")
	if _, _, err := SplitGroupsFraction(f, 0.3, 1); err == nil || !strings.Contains(err.Error(), "rare") {
		t.Fatalf("impossible split: %v", err)
	}
}

func TestSplitDispatch(t *testing.T) {
	d := groupedDataset(5, 2, 3)
	_, va, warn, err := Split(d, SplitOptions{ValFraction: 0.2, Seed: 1})
	if err != nil || warn != "" || len(va.GroupNames()) != 1 {
		t.Fatalf("group-wise default: %v %q %v", err, warn, va.GroupNames())
	}
	_, _, warn, err = Split(d, SplitOptions{Random: true})
	if err != nil || warn != LeakWarning {
		t.Fatalf("random split of a grouped dataset must warn: %q %v", warn, err)
	}
	_, va, _, err = Split(d, SplitOptions{ValGroups: []string{"4"}})
	if err != nil || va.GroupNames()[0] != "04" {
		t.Fatalf("ValGroups: %v", err)
	}
	_, _, warn, err = Split(countingDataset(20, 2), SplitOptions{})
	if err != nil || warn != "" {
		t.Fatalf("ungrouped: %q %v", warn, err)
	}
	if _, _, _, err := Split(d, SplitOptions{ValGroups: []string{"1"}, Random: true}); err == nil {
		t.Fatal("ValGroups with Random accepted")
	}
}
