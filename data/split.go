package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// SplitOptions selects how Split divides a dataset into train and
// validation parts.
type SplitOptions struct {
	// ValFraction is the share of samples to hold out (default 0.2).
	ValFraction float64
	// ValGroups holds out exactly these groups (subjects, sessions);
	// numeric names match regardless of zero padding ("8" matches "08").
	ValGroups []string
	// Random forces a random stratified split even when the dataset has
	// groups. Split then returns a warning: frames of one subject or
	// session end up on both sides, so validation accuracy overestimates
	// accuracy on new people.
	Random bool
	// Seed makes the split deterministic.
	Seed uint64
}

// LeakWarning is the warning Split returns for a random split of a
// grouped dataset.
const LeakWarning = "random split of a dataset with subject/session groups: consecutive, near-identical frames of the same subject end up in both train and validation, so validation accuracy will overestimate accuracy on unseen people; prefer a group-wise split"

// Split divides d by the options: explicit ValGroups, else a group-wise
// split when d has groups (whole groups held out), else (or with Random)
// a random stratified split. warning is non-empty when the split leaks
// groups between the parts.
func Split(d *Dataset, opt SplitOptions) (train, val *Dataset, warning string, err error) {
	if opt.ValFraction == 0 {
		opt.ValFraction = 0.2
	}
	switch {
	case len(opt.ValGroups) > 0:
		if opt.Random {
			return nil, nil, "", fmt.Errorf("split: ValGroups and Random are exclusive")
		}
		train, val, err = SplitByGroups(d, opt.ValGroups)
	case d.Groups != nil && !opt.Random:
		train, val, err = SplitGroupsFraction(d, opt.ValFraction, opt.Seed)
	default:
		if d.Groups != nil {
			warning = LeakWarning
		}
		train, val, err = SplitStratified(d, opt.ValFraction, opt.Seed)
	}
	return train, val, warning, err
}

func checkFraction(f float64) error {
	if !(f > 0 && f < 1) {
		return fmt.Errorf("split: validation fraction %v must be in (0,1)", f)
	}
	return nil
}

// SplitStratified holds out round(valFrac*n_k) random samples of every
// class k (at least one when the class has two or more), so both parts
// keep the class proportions. Deterministic given seed.
func SplitStratified(d *Dataset, valFrac float64, seed uint64) (train, val *Dataset, err error) {
	if err := checkFraction(valFrac); err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(mix64(seed), 0x73706c6974))
	byClass := make([][]int, len(d.Classes))
	for i, l := range d.Labels {
		byClass[l] = append(byClass[l], i)
	}
	var tr, va []int
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		k := int(math.Round(valFrac * float64(len(idx))))
		if k == 0 && len(idx) >= 2 {
			k = 1
		}
		if k == len(idx) && k > 1 {
			k--
		}
		va = append(va, idx[:k]...)
		tr = append(tr, idx[k:]...)
	}
	sort.Ints(tr)
	sort.Ints(va)
	return d.Subset(tr), d.Subset(va), nil
}

// sameGroup reports whether a group name matches a requested one,
// comparing numbers numerically ("8" matches "08").
func sameGroup(have, want string) bool {
	if have == want {
		return true
	}
	a, err1 := strconv.Atoi(have)
	b, err2 := strconv.Atoi(want)
	return err1 == nil && err2 == nil && a == b
}

// SplitByGroups puts the samples of valGroups in val and the rest in
// train. Every requested group must exist.
func SplitByGroups(d *Dataset, valGroups []string) (train, val *Dataset, err error) {
	if d.Groups == nil {
		return nil, nil, fmt.Errorf("split: dataset has no groups (subjects/sessions) to hold out %v", valGroups)
	}
	names := d.GroupNames()
	inVal := map[string]bool{}
	for _, want := range valGroups {
		found := false
		for _, g := range names {
			if sameGroup(g, want) {
				inVal[g], found = true, true
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("split: unknown group %q; groups are %s", want, strings.Join(names, ","))
		}
	}
	if len(inVal) == len(names) {
		return nil, nil, fmt.Errorf("split: holding out %v leaves no training groups", valGroups)
	}
	var tr, va []int
	for i, g := range d.Groups {
		if inVal[g] {
			va = append(va, i)
		} else {
			tr = append(tr, i)
		}
	}
	return d.Subset(tr), d.Subset(va), nil
}

// SplitGroupsFraction holds out whole groups, chosen at random (seeded),
// until about valFrac of the samples are held out, then swaps groups so
// that every class appears in both parts when the groups allow it.
func SplitGroupsFraction(d *Dataset, valFrac float64, seed uint64) (train, val *Dataset, err error) {
	if err := checkFraction(valFrac); err != nil {
		return nil, nil, err
	}
	if d.Groups == nil {
		return nil, nil, fmt.Errorf("split: dataset has no groups for a group-wise split")
	}
	names := d.GroupNames()
	if len(names) < 2 {
		return nil, nil, fmt.Errorf("split: a group-wise split needs at least 2 groups, have %d", len(names))
	}
	nc := len(d.Classes)
	// counts[g][k]: samples of class k in group g.
	gi := map[string]int{}
	for i, g := range names {
		gi[g] = i
	}
	counts := make([][]int, len(names))
	sizes := make([]int, len(names))
	for i := range counts {
		counts[i] = make([]int, nc)
	}
	for i, g := range d.Groups {
		counts[gi[g]][d.Labels[i]]++
		sizes[gi[g]]++
	}
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(mix64(seed), 0x67726f7570))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

	inVal := make([]bool, len(names))
	target := valFrac * float64(d.Len())
	held := 0
	for _, g := range order {
		if float64(held) >= target || held+sizes[g] >= d.Len() {
			break
		}
		inVal[g] = true
		held += sizes[g]
	}
	// classTotals[side][k] for side 0 train, 1 val.
	totals := func() [2][]int {
		t := [2][]int{make([]int, nc), make([]int, nc)}
		for g, c := range counts {
			side := 0
			if inVal[g] {
				side = 1
			}
			for k, n := range c {
				t[side][k] += n
			}
		}
		return t
	}
	// Repair: move a group to the side missing a class, if the move keeps
	// every class present on the side it leaves.
	for iter := 0; iter < 4*len(names); iter++ {
		t := totals()
		moved := false
		for side := 0; side < 2 && !moved; side++ {
			for k := 0; k < nc && !moved; k++ {
				if t[side][k] > 0 || t[1-side][k] == 0 {
					continue
				}
				for _, g := range order {
					if inVal[g] == (side == 1) || counts[g][k] == 0 {
						continue
					}
					ok := true
					for kk := 0; kk < nc; kk++ {
						if t[1-side][kk] > 0 && t[1-side][kk] == counts[g][kk] {
							ok = false // the group holds the last samples of class kk
						}
					}
					if ok {
						inVal[g] = side == 1
						moved = true
						break
					}
				}
			}
		}
		if !moved {
			break
		}
	}
	t := totals()
	var missing []string
	for k := 0; k < nc; k++ {
		if (t[0][k] == 0) != (t[1][k] == 0) {
			missing = append(missing, d.Classes[k])
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("split: cannot hold out whole groups of %d so that classes %v appear in both parts", len(names), missing)
	}
	var tr, va []int
	for i, g := range d.Groups {
		if inVal[gi[g]] {
			va = append(va, i)
		} else {
			tr = append(tr, i)
		}
	}
	if len(tr) == 0 || len(va) == 0 {
		return nil, nil, fmt.Errorf("split: group-wise split of %d groups left an empty part", len(names))
	}
	return d.Subset(tr), d.Subset(va), nil
}
