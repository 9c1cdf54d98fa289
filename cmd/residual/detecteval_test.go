package main

import (
	"bytes"
	"image"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/vision"
)

// TestEvalFramePaste: a pasted square lands where makeFrame says, and
// rectIoU and faceBox are what they claim.
func TestEvalFramePaste(t *testing.T) {
	src := vision.NewImage(10, 10, 1)
	for i := range src.Pix {
		src.Pix[i] = 255
	}
	rng := rand.New(rand.NewPCG(1, 2))
	f, gt, _ := makeFrame(rng, src, 100, 0)
	if gt.Dx() != 100 || gt.Dy() != 100 || !gt.In(image.Rect(0, 0, 640, 480)) {
		t.Fatalf("box %v, want a 100x100 square inside the frame", gt)
	}
	c := image.Pt((gt.Min.X+gt.Max.X)/2, (gt.Min.Y+gt.Max.Y)/2)
	for _, p := range []image.Point{c, gt.Min.Add(image.Pt(2, 2)), gt.Max.Sub(image.Pt(3, 3))} {
		if v := f.Pix[(p.Y*640+p.X)*3]; v != 255 {
			t.Errorf("pixel %v inside the pasted square is %d, want 255", p, v)
		}
	}
	if v := rectIoU(image.Rect(0, 0, 10, 10), image.Rect(5, 0, 15, 10)); v < 0.333 || v > 0.334 {
		t.Errorf("IoU %g, want 1/3", v)
	}
	if fb := faceBox(image.Rect(0, 0, 1000, 1000)); fb != image.Rect(70, 156, 931, 1017) {
		t.Errorf("face box %v", fb)
	}
}

// TestDetectEvalRuns: a small run on real faces and hands prints both
// tables (skipped without the datasets).
func TestDetectEvalRuns(t *testing.T) {
	fer := fixtures.Dataset(t, "fer2013")
	digits := fixtures.Dataset(t, "gestures/sign-language-digits")
	var out bytes.Buffer
	o := detectEvalOptions{fer: fer, digits: digits, faces: 6, hands: 4, empty: 2, maxRoll: 30, seed: 3,
		detectors: []string{"pigo", "blazeface-short"}, margins: []float64{0.08}}
	if err := runDetectEval(t.Context(), o, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| pigo | 0.10 |", "| blazeface-short | 0.08 |", "| palm (hand box) |", "classifier alone"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	o.maxRoll = 100
	if err := runDetectEval(t.Context(), o, &out); err == nil || !strings.Contains(err.Error(), "--max-roll 100") {
		t.Errorf("--max-roll 100: %v", err)
	}
}
