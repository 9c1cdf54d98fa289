package vision

import (
	"math"
	"testing"
)

// TestRotatedCrop: angle 0 at native resolution is the plain crop; a
// quarter turn maps the crop's x axis onto the image's y axis.
func TestRotatedCrop(t *testing.T) {
	src := NewImage(7, 5, 1)
	for i := range src.Pix {
		src.Pix[i] = uint8(10 * i)
	}
	// The 3x3 square at (2..5, 1..4): centre (3.5, 2.5).
	got, err := RotatedCrop(nil, src, 3.5, 2.5, 3, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	for v := 0; v < 3; v++ {
		for u := 0; u < 3; u++ {
			if want := src.Pix[(1+v)*7+2+u]; got.Pix[v*3+u] != want {
				t.Fatalf("angle 0: (%d,%d) = %d, want %d", u, v, got.Pix[v*3+u], want)
			}
		}
	}
	// A quarter turn: crop pixel (u, v), at (lx, ly) from the centre,
	// samples the image at (cx - ly, cy + lx).
	q, err := RotatedCrop(nil, src, 3.5, 2.5, 3, math.Pi/2, 3)
	if err != nil {
		t.Fatal(err)
	}
	for v := 0; v < 3; v++ {
		for u := 0; u < 3; u++ {
			lx, ly := float64(u)-1, float64(v)-1
			x, y := int(3.5-ly-0.5+1e-9), int(2.5+lx-0.5+1e-9)
			if want := src.Pix[y*7+x]; q.Pix[v*3+u] != want {
				t.Errorf("quarter turn: (%d,%d) = %d, want image (%d,%d) = %d", u, v, q.Pix[v*3+u], x, y, want)
			}
		}
	}
	if _, err := RotatedCrop(nil, src, 1, 1, 0, 0, 4); err == nil {
		t.Error("side 0 accepted")
	}
	if _, err := RotatedCrop(nil, src, math.NaN(), 1, 2, 0, 4); err == nil {
		t.Error("NaN centre accepted")
	}
}
