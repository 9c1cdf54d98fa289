package data

import (
	"bytes"
	"testing"
)

func TestDatasetBasics(t *testing.T) {
	d := NewDataset(1, 2, 1, []string{"x", "y"})
	if err := d.Append([]uint8{1, 2}, 0, "s0", ""); err != nil {
		t.Fatal(err)
	}
	if err := d.Append([]uint8{3, 4}, 1, "s1", "g1"); err != nil {
		t.Fatal(err)
	}
	if d.Groups == nil || d.Groups[0] != "" || d.Groups[1] != "g1" {
		t.Fatalf("groups %v", d.Groups)
	}
	if err := d.Append([]uint8{1}, 0, "s2", ""); err == nil {
		t.Fatal("wrong size accepted")
	}
	if err := d.Append([]uint8{1, 1}, 2, "s2", ""); err == nil {
		t.Fatal("bad label accepted")
	}
	s := d.Subset([]int{1, 0, 1})
	if s.Len() != 3 || !bytes.Equal(s.Pix, []uint8{3, 4, 1, 2, 3, 4}) || s.Groups[0] != "g1" || s.Sources[1] != "s0" {
		t.Fatalf("subset %+v", s)
	}
	if c := s.ClassCounts(); c[0] != 1 || c[1] != 2 {
		t.Fatalf("counts %v", c)
	}
	if err := s.Concat(d); err != nil || s.Len() != 5 {
		t.Fatalf("concat %v", err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	s.Labels[0] = 5
	if err := s.Validate(); err == nil {
		t.Fatal("bad label validated")
	}
	if g := d.GroupNames(); len(g) != 2 || g[1] != "g1" {
		t.Fatalf("group names %v", g)
	}
}
