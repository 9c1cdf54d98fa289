package face

import (
	"image"
	"image/color"
	"testing"
)

func TestAnnotate(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 100, 80))
	box := image.Rect(20, 30, 60, 70)
	out := Annotate(src, []Label{{Box: box, Text: "happy", Score: 0.87}})
	if out.Bounds() != src.Bounds() {
		t.Fatalf("bounds %v, want %v", out.Bounds(), src.Bounds())
	}
	if got := out.RGBAAt(20, 50); got != boxColors[0] {
		t.Errorf("left edge pixel %v, want the box colour %v", got, boxColors[0])
	}
	if got := out.RGBAAt(40, 50); got != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("inside pixel %v changed, want black", got)
	}
	// The caption band sits above the box.
	colored := 0
	for x := 20; x < 60; x++ {
		if out.RGBAAt(x, 25) == boxColors[0] {
			colored++
		}
	}
	if colored == 0 {
		t.Error("no caption band above the box")
	}
	if src.GrayAt(20, 50).Y != 0 {
		t.Error("Annotate changed its input")
	}
	// Boxes outside the image are ignored, not a panic.
	Annotate(src, []Label{{Box: image.Rect(500, 500, 600, 600), Text: "x"}})
}
