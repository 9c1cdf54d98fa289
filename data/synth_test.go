package data

import (
	"bytes"
	"math"
	"testing"

	"github.com/residual-go/residual/vision"
)

func TestSynthFacesDeterministicAndClassDependent(t *testing.T) {
	a := SynthFaces(210, 7)
	b := SynthFaces(210, 7)
	if !bytes.Equal(a.Pix, b.Pix) || a.Labels[5] != b.Labels[5] {
		t.Fatal("same seed, different faces")
	}
	if c := SynthFaces(10, 8); bytes.Equal(c.Pix, a.Pix[:len(c.Pix)]) {
		t.Fatal("different seeds, same faces")
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	counts := a.ClassCounts()
	for k, n := range counts {
		if n < 15 {
			t.Fatalf("class %s has only %d of 210 samples", a.Classes[k], n)
		}
	}
	// Learnable but not trivial: a linear softmax classifier on 16x16
	// downsampled pixels clearly beats chance (1/7) on fresh samples but
	// is far from perfect (pose, lighting and expression strength vary).
	train, test := downsample(SynthFaces(1400, 1), 16), downsample(SynthFaces(350, 2), 16)
	acc := softmaxAccuracy(train, test, 20)
	if acc < 0.4 || acc > 0.95 {
		t.Fatalf("linear classifier accuracy %.2f outside [0.40, 0.95]", acc)
	}
	t.Logf("synthetic faces: linear classifier accuracy %.2f (chance 0.14)", acc)
}

// downsample resizes every image of d to s x s (area filter).
func downsample(d *Dataset, s int) *Dataset {
	o := NewDataset(s, s, d.C, d.Classes)
	var r vision.Resizer
	var img *vision.Image
	for i := 0; i < d.Len(); i++ {
		img, _ = r.Resize(img, &vision.Image{W: d.W, H: d.H, C: d.C, Pix: d.Image(i)}, s, s)
		o.Append(img.Pix, d.Labels[i], d.Source(i), "")
	}
	return o
}

func TestSynthHands(t *testing.T) {
	d := SynthHands(HandOptions{Subjects: 3, FramesPerGesture: 4, Width: 32, Height: 24, Seed: 5})
	if d.Len() != 3*10*4 || d.W != 32 || d.H != 24 || len(d.Classes) != 10 {
		t.Fatalf("got %d samples %dx%d", d.Len(), d.W, d.H)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if g := d.GroupNames(); len(g) != 3 || g[0] != "00" || g[2] != "02" {
		t.Fatalf("groups %v", g)
	}
	e := SynthHands(HandOptions{Subjects: 3, FramesPerGesture: 4, Width: 32, Height: 24, Seed: 5})
	if !bytes.Equal(d.Pix, e.Pix) {
		t.Fatal("same seed, different hands")
	}
	// A bright hand on a dark background: mean well below the max.
	var sum, maxv float64
	for _, v := range d.Image(0) {
		sum += float64(v)
		maxv = math.Max(maxv, float64(v))
	}
	if mean := sum / float64(d.ImageSize()); maxv < 120 || mean > maxv/2 {
		t.Fatalf("hand image mean %v max %v", mean, maxv)
	}
	// Consecutive frames of one subject and gesture are more alike than
	// frames of another subject with the same gesture.
	near := imageDist(d.Image(0), d.Image(1))
	far := imageDist(d.Image(0), d.Image(40))
	if near >= far {
		t.Fatalf("consecutive frames distance %v >= other subject %v", near, far)
	}
}

func imageDist(a, b []uint8) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

// The synthetic hands reproduce why LeapGestRecog needs subject-wise
// splits: a linear classifier scores far higher on a random split
// (near-duplicate frames on both sides) than on held-out subjects, and
// both beat chance (0.1).
func TestSynthHandsSplitLeakage(t *testing.T) {
	d := SynthHands(HandOptions{Subjects: 6, FramesPerGesture: 20, Width: 32, Height: 32, Seed: 1})
	tr, va, err := SplitByGroups(d, []string{"4", "5"})
	if err != nil {
		t.Fatal(err)
	}
	subjectWise := softmaxAccuracy(tr, va, 15)
	tr, va, _ = SplitStratified(d, 0.33, 1)
	random := softmaxAccuracy(tr, va, 15)
	t.Logf("linear classifier: subject-wise %.2f, random split %.2f", subjectWise, random)
	if subjectWise < 0.2 || random < subjectWise+0.2 {
		t.Fatalf("subject-wise %.2f, random %.2f: want > 0.2 and a gap > 0.2", subjectWise, random)
	}
}
