package data

import (
	"fmt"
	"sort"
	"strings"
)

// Dataset is a set of same-size 8-bit images with integer labels.
// Images are stored back to back, (N,H,W,C) row-major.
type Dataset struct {
	H, W, C int
	Pix     []uint8  // N*H*W*C bytes
	Labels  []int    // N labels in [0, len(Classes))
	Classes []string // class names, indexed by label
	// Sources says where each sample came from, for error messages:
	// "file.csv:123" for CSV rows, the file path for image files.
	Sources []string
	// Groups optionally holds a group id per sample (a subject or a
	// recording session) for group-wise splits; nil when unknown.
	Groups []string
}

// NewDataset returns an empty dataset of (h,w,c) images and the given classes.
func NewDataset(h, w, c int, classes []string) *Dataset {
	return &Dataset{H: h, W: w, C: c, Classes: append([]string(nil), classes...)}
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.Labels) }

// ImageSize is H*W*C, the bytes of one image.
func (d *Dataset) ImageSize() int { return d.H * d.W * d.C }

// Image returns sample i's pixels (H,W,C), a view into Pix.
func (d *Dataset) Image(i int) []uint8 {
	n := d.ImageSize()
	return d.Pix[i*n : (i+1)*n : (i+1)*n]
}

// Append adds one sample; pix must hold exactly H*W*C bytes. group may be
// empty when the dataset has no groups.
func (d *Dataset) Append(pix []uint8, label int, source, group string) error {
	if len(pix) != d.ImageSize() {
		return fmt.Errorf("%s: image has %d bytes, dataset wants %d (%dx%dx%d)", source, len(pix), d.ImageSize(), d.H, d.W, d.C)
	}
	if label < 0 || label >= len(d.Classes) {
		return fmt.Errorf("%s: label %d outside [0,%d)", source, label, len(d.Classes))
	}
	if group != "" && d.Groups == nil {
		d.Groups = make([]string, len(d.Labels), cap(d.Labels)+1)
	}
	d.Pix = append(d.Pix, pix...)
	d.Labels = append(d.Labels, label)
	d.Sources = append(d.Sources, source)
	if d.Groups != nil {
		d.Groups = append(d.Groups, group)
	}
	return nil
}

// Source names sample i for messages ("sample 12" when unknown).
func (d *Dataset) Source(i int) string {
	if i < len(d.Sources) && d.Sources[i] != "" {
		return d.Sources[i]
	}
	return fmt.Sprintf("sample %d", i)
}

// Subset returns a new dataset holding the samples idx, in that order
// (pixels are copied).
func (d *Dataset) Subset(idx []int) *Dataset {
	out := NewDataset(d.H, d.W, d.C, d.Classes)
	n := d.ImageSize()
	out.Pix = make([]uint8, 0, len(idx)*n)
	out.Labels = make([]int, 0, len(idx))
	out.Sources = make([]string, 0, len(idx))
	if d.Groups != nil {
		out.Groups = make([]string, 0, len(idx))
	}
	for _, i := range idx {
		out.Pix = append(out.Pix, d.Image(i)...)
		out.Labels = append(out.Labels, d.Labels[i])
		out.Sources = append(out.Sources, d.Source(i))
		if d.Groups != nil {
			out.Groups = append(out.Groups, d.Groups[i])
		}
	}
	return out
}

// Concat appends the samples of o, which must have the same image size
// and classes.
func (d *Dataset) Concat(o *Dataset) error {
	if o.H != d.H || o.W != d.W || o.C != d.C {
		return fmt.Errorf("data: cannot concatenate %dx%dx%d images to a %dx%dx%d dataset", o.H, o.W, o.C, d.H, d.W, d.C)
	}
	if strings.Join(o.Classes, ",") != strings.Join(d.Classes, ",") {
		return fmt.Errorf("data: cannot concatenate datasets with classes %v and %v", o.Classes, d.Classes)
	}
	if (d.Groups != nil || o.Groups != nil) && d.Groups == nil {
		d.Groups = make([]string, d.Len())
	}
	for i := 0; i < o.Len(); i++ {
		g := ""
		if o.Groups != nil {
			g = o.Groups[i]
		}
		d.Pix = append(d.Pix, o.Image(i)...)
		d.Labels = append(d.Labels, o.Labels[i])
		d.Sources = append(d.Sources, o.Source(i))
		if d.Groups != nil {
			d.Groups = append(d.Groups, g)
		}
	}
	return nil
}

// ClassCounts returns the number of samples of each class.
func (d *Dataset) ClassCounts() []int {
	counts := make([]int, len(d.Classes))
	for _, l := range d.Labels {
		if l >= 0 && l < len(counts) {
			counts[l]++
		}
	}
	return counts
}

// GroupNames returns the distinct group ids, sorted.
func (d *Dataset) GroupNames() []string {
	seen := map[string]bool{}
	for _, g := range d.Groups {
		seen[g] = true
	}
	names := make([]string, 0, len(seen))
	for g := range seen {
		names = append(names, g)
	}
	sort.Strings(names)
	return names
}

// Validate checks that the sizes of all fields agree and labels are in range.
func (d *Dataset) Validate() error {
	if d.H <= 0 || d.W <= 0 || (d.C != 1 && d.C != 3) {
		return fmt.Errorf("data: bad image shape (%d,%d,%d)", d.H, d.W, d.C)
	}
	n := d.Len()
	if len(d.Pix) != n*d.ImageSize() {
		return fmt.Errorf("data: %d samples of %d bytes need %d pixel bytes, have %d", n, d.ImageSize(), n*d.ImageSize(), len(d.Pix))
	}
	if len(d.Sources) != 0 && len(d.Sources) != n {
		return fmt.Errorf("data: %d sources for %d samples", len(d.Sources), n)
	}
	if d.Groups != nil && len(d.Groups) != n {
		return fmt.Errorf("data: %d groups for %d samples", len(d.Groups), n)
	}
	if len(d.Classes) == 0 {
		return fmt.Errorf("data: no class names")
	}
	for i, l := range d.Labels {
		if l < 0 || l >= len(d.Classes) {
			return fmt.Errorf("data: %s: label %d outside [0,%d)", d.Source(i), l, len(d.Classes))
		}
	}
	return nil
}

// Report counts what a loader read and skipped.
type Report struct {
	Loaded  int
	Skipped int
	// Reasons holds the first MaxReasons skip reasons, each naming the
	// file (and line) and the problem.
	Reasons []string
}

// MaxReasons is how many skip reasons a Report keeps.
const MaxReasons = 5

func (r *Report) skip(reason string) {
	r.Skipped++
	if len(r.Reasons) < MaxReasons {
		r.Reasons = append(r.Reasons, reason)
	}
}

// Merge adds the counts and reasons of o.
func (r *Report) Merge(o Report) {
	r.Loaded += o.Loaded
	r.Skipped += o.Skipped
	for _, reason := range o.Reasons {
		if len(r.Reasons) < MaxReasons {
			r.Reasons = append(r.Reasons, reason)
		}
	}
}

func (r Report) String() string {
	s := fmt.Sprintf("loaded %d, skipped %d", r.Loaded, r.Skipped)
	if len(r.Reasons) > 0 {
		s += "; first problems: " + strings.Join(r.Reasons, "; ")
	}
	return s
}
