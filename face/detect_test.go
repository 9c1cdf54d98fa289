package face

import (
	"image"
	"math"
	"testing"

	"github.com/residual-go/residual/internal/cputime"
	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/vision"
)

// loadGray loads one of the committed face photos (testdata/faces) as
// gray.
func loadGray(t testing.TB, name string) *vision.Image {
	t.Helper()
	g, err := vision.LoadFile(nil, fixtures.Face(t, name), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func newDetector(t testing.TB, o Options) *Detector {
	t.Helper()
	d, err := NewDetector(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func center(r image.Rectangle) image.Point {
	return image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
}

func TestDetectRealPhotos(t *testing.T) {
	d := newDetector(t, Options{})
	for _, tc := range []struct {
		file string
		// where the face is, measured by eye on the 512x512 photos: its
		// centre lies within tol px of (cx,cy), and its side is in
		// [minSide,maxSide].
		cx, cy, tol      int
		minSide, maxSide int
	}{
		{"astronaut.png", 222, 112, 20, 80, 140},     // Eileen Collins, top centre
		{"grace_hopper.jpg", 260, 190, 30, 170, 280}, // face and cap, centre
	} {
		t.Run(tc.file, func(t *testing.T) {
			g := loadGray(t, tc.file)
			faces, err := d.Detect(g)
			if err != nil {
				t.Fatal(err)
			}
			if len(faces) != 1 {
				t.Fatalf("found %d faces %v, want exactly 1", len(faces), faces)
			}
			f := faces[0]
			c := center(f.Box)
			if abs(c.X-tc.cx) > tc.tol || abs(c.Y-tc.cy) > tc.tol {
				t.Errorf("box %v centred at %v, want within %d px of (%d,%d)", f.Box, c, tc.tol, tc.cx, tc.cy)
			}
			if s := f.Box.Dx(); s < tc.minSide || s > tc.maxSide {
				t.Errorf("box %v side %d, want in [%d,%d]", f.Box, s, tc.minSide, tc.maxSide)
			}
			if !f.Box.In(f.Crop) || f.Crop.Dx() != f.Crop.Dy() || !f.Crop.In(image.Rect(0, 0, g.W, g.H)) {
				t.Errorf("crop %v must be a square holding box %v inside the %dx%d frame", f.Crop, f.Box, g.W, g.H)
			}
			if f.Score < d.Options().MinScore {
				t.Errorf("score %v below threshold %v", f.Score, d.Options().MinScore)
			}
		})
	}
}

// TestDetectTwoFaces puts both photos side by side (downscaled) in one
// 640x480 frame: both faces must be found, one in each half.
func TestDetectTwoFaces(t *testing.T) {
	frame := twoFaceFrame(t)
	faces, err := newDetector(t, Options{}).Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 2 {
		t.Fatalf("found %d faces %v, want 2", len(faces), faces)
	}
	left, right := 0, 0
	for _, f := range faces {
		if center(f.Box).X < 320 {
			left++
		} else {
			right++
		}
	}
	if left != 1 || right != 1 {
		t.Errorf("faces %v: %d in the left half, %d in the right, want one each", faces, left, right)
	}
}

// twoFaceFrame is a 640x480 gray frame with the astronaut (left) and Grace
// Hopper (right), each scaled to 320x320, on mid gray.
func twoFaceFrame(t testing.TB) *vision.Image {
	a, g := loadGray(t, "astronaut.png"), loadGray(t, "grace_hopper.jpg")
	frame := vision.NewImage(640, 480, 1)
	for i := range frame.Pix {
		frame.Pix[i] = 128
	}
	for i, src := range []*vision.Image{a, g} {
		s, err := vision.Resize(src, 320, 320)
		if err != nil {
			t.Fatal(err)
		}
		for y := 0; y < 320; y++ {
			copy(frame.Pix[(y+80)*640+i*320:], s.Pix[y*320:(y+1)*320])
		}
	}
	return frame
}

func TestDetectNoFace(t *testing.T) {
	d := newDetector(t, Options{})
	// A smooth gradient has no face.
	g := vision.NewImage(320, 240, 1)
	for y := 0; y < g.H; y++ {
		for x := 0; x < g.W; x++ {
			g.Pix[y*g.W+x] = uint8((x + y) / 3)
		}
	}
	faces, err := d.Detect(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 0 {
		t.Errorf("found %d faces %v in a gradient, want none", len(faces), faces)
	}
	// A frame smaller than MinSize has none and is not an error.
	small := vision.NewImage(20, 20, 1)
	if faces, err := d.Detect(small); err != nil || len(faces) != 0 {
		t.Errorf("20x20 frame: faces %v, err %v; want none, no error", faces, err)
	}
}

func TestDetectSizeLimits(t *testing.T) {
	g := loadGray(t, "astronaut.png") // face side about 107 px
	for _, tc := range []struct {
		o    Options
		want int
	}{
		{Options{MinSize: 150}, 0},             // face smaller than the minimum
		{Options{MinSize: 20, MaxSize: 60}, 0}, // face larger than the maximum
		{Options{MinSize: 60, MaxSize: 160}, 1},
		{Options{MinScore: 1e6}, 0}, // nothing is that sure
	} {
		faces, err := newDetector(t, tc.o).Detect(g)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) != tc.want {
			t.Errorf("options %+v: %d faces %v, want %d", tc.o, len(faces), faces, tc.want)
		}
	}
}

func TestDetectBadInput(t *testing.T) {
	d := newDetector(t, Options{})
	for _, img := range []*vision.Image{nil, vision.NewImage(64, 64, 3), {W: 64, H: 64, C: 1, Pix: make([]uint8, 10)}} {
		if _, err := d.Detect(img); err == nil {
			t.Errorf("Detect(%v) succeeded, want an error", img)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{MinSize: 4},
		{MinSize: 50, MaxSize: 40},
		{ShiftFactor: 2},
		{ScaleFactor: 0.9},
		{IoU: 1.5},
		{Margin: 3},
		{MaxFaces: -1},
	} {
		if _, err := NewDetector(o); err == nil {
			t.Errorf("NewDetector(%+v) succeeded, want an error", o)
		}
	}
}

func TestCropBox(t *testing.T) {
	for _, tc := range []struct {
		box    image.Rectangle
		margin float64
		w, h   int
		want   image.Rectangle
	}{
		{image.Rect(100, 100, 200, 200), 0.1, 640, 480, image.Rect(90, 90, 210, 210)},
		{image.Rect(100, 100, 200, 200), 0, 640, 480, image.Rect(100, 100, 200, 200)},
		// overhangs the top-left corner: moved inside, same size
		{image.Rect(-20, -10, 80, 90), 0.1, 640, 480, image.Rect(0, 0, 120, 120)},
		// overhangs the bottom-right corner
		{image.Rect(600, 440, 700, 540), 0.1, 640, 480, image.Rect(520, 360, 640, 480)},
		// larger than the frame: shrunk to the frame's shorter side
		{image.Rect(0, 0, 500, 500), 0.1, 640, 480, image.Rect(10, 0, 490, 480)},
	} {
		if got := CropBox(tc.box, tc.margin, tc.w, tc.h); got != tc.want {
			t.Errorf("CropBox(%v, %g, %d, %d) = %v, want %v", tc.box, tc.margin, tc.w, tc.h, got, tc.want)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// BenchmarkDetect640x480 is detection alone on a 640x480 frame holding
// two faces, with the default options.
func BenchmarkDetect640x480(b *testing.B) {
	frame := twoFaceFrame(b)
	d := newDetector(b, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, err := d.Detect(frame); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}

// TestScaleBands checks that the bands cover exactly the sizes a single
// scan visits, in order, so splitting the scan changes no result.
func TestScaleBands(t *testing.T) {
	one := scaleBands(40, 480, 640, 480, 0.1, 1.15, 1)
	if len(one) != 1 || one[0] != [2]int{40, 480 - (480 - one[0][1])} || one[0][0] != 40 {
		t.Fatalf("one band: %v", one)
	}
	for _, n := range []int{2, 3, 8} {
		bands := scaleBands(40, 480, 640, 480, 0.1, 1.15, n)
		if len(bands) > n || len(bands) < 2 {
			t.Fatalf("%d workers: %d bands %v", n, len(bands), bands)
		}
		if bands[0][0] != 40 || bands[len(bands)-1][1] != one[0][1] {
			t.Errorf("%d workers: bands %v do not span [%d,%d]", n, bands, 40, one[0][1])
		}
		for i := 1; i < len(bands); i++ {
			next := int(float64(bands[i-1][1]) + math.Max(2, float64(bands[i-1][1])*1.15-float64(bands[i-1][1])))
			if bands[i][0] != next {
				t.Errorf("%d workers: band %d starts at %d, want %d (the size after %d)", n, i, bands[i][0], next, bands[i-1][1])
			}
		}
	}
}

// TestWorkersSameResult checks that one and several workers find the same
// faces.
func TestWorkersSameResult(t *testing.T) {
	frame := twoFaceFrame(t)
	a, err := newDetector(t, Options{Workers: 1}).Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newDetector(t, Options{Workers: 3}).Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("1 worker: %v; 3 workers: %v", a, b)
	}
	for i := range a {
		if a[i].Box != b[i].Box || math.Abs(float64(a[i].Score-b[i].Score)) > 1e-3 {
			t.Errorf("face %d: 1 worker %v, 3 workers %v", i, a[i], b[i])
		}
	}
}

func BenchmarkDetectWorkers1(b *testing.B) {
	frame := twoFaceFrame(b)
	d := newDetector(b, Options{Workers: 1})
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, err := d.Detect(frame); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}

// TestDetectConcurrent shares one detector between goroutines (run with
// -race): every call must find the same faces.
func TestDetectConcurrent(t *testing.T) {
	frame := twoFaceFrame(t)
	d := newDetector(t, Options{})
	want, err := d.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got, err := d.Detect(frame)
			switch {
			case err != nil:
				errs <- err.Error()
			case len(got) != len(want) || got[0].Box != want[0].Box:
				errs <- "different faces from concurrent calls"
			default:
				errs <- ""
			}
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
