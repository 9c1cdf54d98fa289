package detect

import (
	"math"
	"strings"
	"testing"

	"github.com/residual-go/residual/vision"
)

// TestAnchorGrids: each model's anchors are 16x16 cells of 2 anchors then
// 8x8 cells of 6 (three stride-16 layers of 2), centred in their cells,
// and their count matches the model's outputs.
func TestAnchorGrids(t *testing.T) {
	for _, r := range []Range{Short, Full} {
		s, err := blazeFaceSpec(r)
		if err != nil {
			t.Fatal(err)
		}
		checkGrid(t, string(r), s.anchors)
	}
	checkGrid(t, "palm", palmSpec().anchors)
}

func checkGrid(t *testing.T, name string, o AnchorOptions) {
	a, err := Anchors(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 896 {
		t.Fatalf("%s: %d anchors, want 896", name, len(a))
	}
	want := []struct {
		i    int
		x, y float32
	}{
		{0, 0.5 / 16, 0.5 / 16}, {1, 0.5 / 16, 0.5 / 16}, {2, 1.5 / 16, 0.5 / 16}, {511, 15.5 / 16, 15.5 / 16},
		{512, 0.5 / 8, 0.5 / 8}, {517, 0.5 / 8, 0.5 / 8}, {518, 1.5 / 8, 0.5 / 8}, {895, 7.5 / 8, 7.5 / 8},
	}
	for _, w := range want {
		if got := a[w.i]; math.Abs(float64(got.X-w.x)) > 1e-6 || math.Abs(float64(got.Y-w.y)) > 1e-6 || got.W != 1 || got.H != 1 {
			t.Errorf("%s: anchor %d = %+v, want centre (%g,%g) size 1", name, w.i, got, w.x, w.y)
		}
	}
}

// TestWeightedNMS: overlapping detections merge into their score-weighted
// mean with the best score; a separate one stays.
func TestWeightedNMS(t *testing.T) {
	dets := []Detection{
		{Box: Box{0, 0, 10, 10}, Score: 0.6, Anchor: 1, Keypoints: []Point{{2, 2}}},
		{Box: Box{1, 1, 11, 11}, Score: 0.9, Anchor: 2, Keypoints: []Point{{4, 4}}},
		{Box: Box{50, 50, 60, 60}, Score: 0.7, Anchor: 3, Keypoints: []Point{{55, 55}}},
	}
	out := WeightedNMS(dets, 0.3, 0)
	if len(out) != 2 {
		t.Fatalf("%d detections, want 2: %+v", len(out), out)
	}
	m := out[0]
	w := func(a, b float32) float32 { return (a*0.6 + b*0.9) / 1.5 }
	if m.Score != 0.9 || m.Anchor != 2 || math.Abs(float64(m.Box.X0-w(0, 1))) > 1e-6 || math.Abs(float64(m.Box.X1-w(10, 11))) > 1e-6 || math.Abs(float64(m.Keypoints[0].X-w(2, 4))) > 1e-6 {
		t.Errorf("merged %+v, want the weighted mean with score 0.9", m)
	}
	if out[1].Anchor != 3 || out[1].Box != dets[2].Box {
		t.Errorf("second %+v, want the separate detection unchanged", out[1])
	}
	if got := WeightedNMS(dets, 0.3, 1); len(got) != 1 {
		t.Errorf("max 1 gave %d", len(got))
	}
}

// TestHandROI: an upright palm (middle finger base straight above the
// wrist) gives angle 0 and a box shifted up by half the palm height; a
// palm pointing right turns the box by +90° (clockwise on screen) and
// shifts it right.
func TestHandROI(t *testing.T) {
	p := Detection{Box: Box{40, 40, 60, 60}, Keypoints: make([]Point, 7)}
	p.Keypoints[Wrist], p.Keypoints[MiddleMCP] = Point{50, 60}, Point{50, 40}
	r := HandROI(p, 2.6, -0.5)
	if math.Abs(float64(r.Angle)) > 1e-6 || math.Abs(float64(r.Centre.X-50)) > 1e-4 || math.Abs(float64(r.Centre.Y-40)) > 1e-4 || math.Abs(float64(r.Side-52)) > 1e-4 {
		t.Errorf("upright: %+v, want centre (50,40), side 52, angle 0", r)
	}
	p.Keypoints[Wrist], p.Keypoints[MiddleMCP] = Point{40, 50}, Point{60, 50}
	r = HandROI(p, 2.6, -0.5)
	if math.Abs(float64(r.Angle)-math.Pi/2) > 1e-6 || math.Abs(float64(r.Centre.X-60)) > 1e-4 || math.Abs(float64(r.Centre.Y-50)) > 1e-4 {
		t.Errorf("pointing right: %+v, want centre (60,50), angle π/2", r)
	}
	// The upright crop's top edge is on the fingers' side (x large).
	c := r.Corners()
	if !(c[0].X > r.Centre.X && c[1].X > r.Centre.X) {
		t.Errorf("corners %v: the top edge should be right of the centre", c)
	}
}

// TestDetectorOptionErrors: invalid options name the field and value.
func TestDetectorOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opt  FaceOptions
		want string
	}{
		{FaceOptions{Range: "mid"}, `range "mid"`},
		{FaceOptions{MinScore: 1.5}, "min score 1.5"},
		{FaceOptions{IoU: -0.1}, "IoU -0.1"},
		{FaceOptions{MaxFaces: -1}, "max faces -1"},
	} {
		if _, err := NewFaceDetector(tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to mention %q", tc.opt, err, tc.want)
		}
	}
	if _, err := NewHandDetector(HandOptions{Scale: -2}); err == nil || !strings.Contains(err.Error(), "scale -2") {
		t.Errorf("hand scale -2: error %v", err)
	}
	d, err := NewFaceDetector(FaceOptions{Range: Short})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Detect(&vision.Image{W: 10, H: 10, C: 3}); err == nil || !strings.Contains(err.Error(), "10x10x3 with 0 bytes") {
		t.Errorf("short frame: %v", err)
	}
}

// TestDetectFacesInPhotos: both ranges find exactly one face in each
// public-domain photo, where it is (measured by eye on the 512x512
// photos), with the eyes above the nose above the mouth.
func TestDetectFacesInPhotos(t *testing.T) {
	for _, r := range []Range{Short, Full} {
		d, err := NewFaceDetector(FaceOptions{Range: r})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			file   string
			cx, cy float32
			side   float32
		}{
			{"faces/astronaut.png", 222, 125, 100},
			{"faces/grace_hopper.jpg", 262, 222, 190},
		} {
			img := loadShared(t, tc.file)
			faces, err := d.Detect(img)
			if err != nil {
				t.Fatal(err)
			}
			if len(faces) != 1 {
				t.Fatalf("%s %s: %d faces, want 1: %+v", r, tc.file, len(faces), faces)
			}
			f := faces[0]
			c := f.Box.Centre()
			t.Logf("%s %s: score %.3f box %.0f,%.0f-%.0f,%.0f", r, tc.file, f.Score, f.Box.X0, f.Box.Y0, f.Box.X1, f.Box.Y1)
			if math.Abs(float64(c.X-tc.cx)) > 15 || math.Abs(float64(c.Y-tc.cy)) > 15 || math.Abs(float64(f.Box.W()-tc.side)) > 0.2*float64(tc.side) {
				t.Errorf("%s %s: box %+v, want centre near (%g,%g) and side near %g", r, tc.file, f.Box, tc.cx, tc.cy, tc.side)
			}
			k := f.Keypoints
			if !(k[RightEye].X < k[LeftEye].X && k[RightEye].Y < k[NoseTip].Y && k[NoseTip].Y < k[Mouth].Y) {
				t.Errorf("%s %s: keypoints %v out of order", r, tc.file, k)
			}
		}
	}
}

// TestHandTiles: a 110 px hand photo in a 640x480 frame is too small for
// the whole frame letterboxed into the 128x128 input (22 px there), and
// is found with Tiles, in the right place (mapped back from its tile).
func TestHandTiles(t *testing.T) {
	img := loadShared(t, "gestures/sign-language-digits/5/IMG_1123.JPG")
	small, err := vision.Resize(img, 110, 110)
	if err != nil {
		t.Fatal(err)
	}
	f := vision.NewImage(640, 480, 3)
	for i := range f.Pix {
		f.Pix[i] = 120
	}
	for y := 0; y < 110; y++ {
		copy(f.Pix[((280+y)*640+440)*3:((280+y)*640+550)*3], small.Pix[y*110*3:(y+1)*110*3])
	}
	for _, tiles := range []bool{false, true} {
		d, err := NewHandDetector(HandOptions{Tiles: tiles})
		if err != nil {
			t.Fatal(err)
		}
		hands, err := d.Detect(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("tiles %v: %d hands", tiles, len(hands))
		if !tiles && len(hands) != 0 {
			t.Logf("found without tiles too (the test then shows only the mapping)")
		}
		if tiles {
			if len(hands) != 1 {
				t.Fatalf("with tiles: %d hands, want 1", len(hands))
			}
			c := hands[0].Palm.Box.Centre()
			if c.X < 440 || c.X > 550 || c.Y < 280 || c.Y > 390 {
				t.Errorf("palm centre %+v outside the pasted photo (440,280)-(550,390)", c)
			}
		}
	}
}
