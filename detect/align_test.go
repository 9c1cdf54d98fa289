package detect

import (
	"math"
	"testing"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/vision"
)

// TestRollOfRotatedFaces turns the photos by up to 30 degrees and checks
// that BlazeFace still finds the face and that the eye-line roll of
// Find (what aligned crops are turned by) follows the rotation.
func TestRollOfRotatedFaces(t *testing.T) {
	d, err := NewFaceDetector(FaceOptions{Range: Full})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"faces/astronaut.png", "faces/grace_hopper.jpg"} {
		img := loadShared(t, file)
		base, err := d.Find(img)
		if err != nil || len(base) != 1 {
			t.Fatalf("%s: %d faces (%v)", file, len(base), err)
		}
		c := base[0].Box
		cx, cy := float64(c.Min.X+c.Max.X)/2, float64(c.Min.Y+c.Max.Y)/2
		for _, deg := range []float64{-30, -15, 15, 30} {
			a := deg * math.Pi / 180
			// Sampling with angle a shows the content turned by -a.
			rot, err := vision.RotatedCrop(nil, img, cx, cy, float64(img.W), a, img.W)
			if err != nil {
				t.Fatal(err)
			}
			faces, err := d.Find(rot)
			if err != nil {
				t.Fatal(err)
			}
			if len(faces) != 1 {
				t.Errorf("%s turned %g°: %d faces, want 1", file, -deg, len(faces))
				continue
			}
			want := base[0].Roll - a
			t.Logf("%s turned %g°: roll %.1f° (want %.1f°), score %.2f", file, -deg, faces[0].Roll*180/math.Pi, want*180/math.Pi, faces[0].Score)
			if math.Abs(faces[0].Roll-want) > 6*math.Pi/180 {
				t.Errorf("%s turned %g°: roll %.1f°, want %.1f° ± 6°", file, -deg, faces[0].Roll*180/math.Pi, want*180/math.Pi)
			}
			// The aligned crop of the turned photo matches the upright
			// photo's aligned crop (same face, eyes level).
			var s1, s2 face.Scratch
			pre := vision.DefaultFER()
			x1, x2 := make([]float32, pre.Size()), make([]float32, pre.Size())
			if err := face.RegionInput(x1, img, face.Region{Rect: base[0].Crop, Angle: base[0].Roll}, pre, &s1); err != nil {
				t.Fatal(err)
			}
			if err := face.RegionInput(x2, rot, face.Region{Rect: faces[0].Crop, Angle: faces[0].Roll}, pre, &s2); err != nil {
				t.Fatal(err)
			}
			x3 := make([]float32, pre.Size())
			if err := face.RegionInput(x3, rot, face.Region{Rect: faces[0].Crop}, pre, &s2); err != nil {
				t.Fatal(err)
			}
			aligned, plain := correlation(x1, x2), correlation(x1, x3)
			t.Logf("  model input vs the upright photo's: correlation %.2f aligned, %.2f unaligned", aligned, plain)
			if aligned < 0.6 || aligned <= plain {
				t.Errorf("%s turned %g°: the aligned crop correlates %.2f with the upright one's (unaligned %.2f), want >= 0.6 and better", file, -deg, aligned, plain)
			}
		}
	}
}

func correlation(a, b []float32) float64 {
	var ma, mb float64
	for i := range a {
		ma += float64(a[i])
		mb += float64(b[i])
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		da, db := float64(a[i])-ma, float64(b[i])-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return sab / math.Sqrt(saa*sbb)
}
