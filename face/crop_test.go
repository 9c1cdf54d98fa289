package face

import (
	"image"
	"testing"

	"github.com/residual-go/residual/vision"
)

// TestInputMatchesPreprocess checks that a face crop reaches the model
// exactly as vision.Preprocess makes a training image of the same pixels.
func TestInputMatchesPreprocess(t *testing.T) {
	frame := vision.NewImage(90, 70, 3)
	for i := range frame.Pix {
		frame.Pix[i] = uint8(i * 7 % 251)
	}
	r := image.Rect(10, 5, 60, 55)
	p := vision.DefaultFER()

	got := make([]float32, p.Size())
	var s Scratch
	if err := Input(got, frame, r, p, &s); err != nil {
		t.Fatal(err)
	}

	crop, err := vision.Crop(nil, frame, r)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, p.Size())
	if err := p.FromPixels(want, crop.Pix, crop.H, crop.W, crop.C, nil); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d: got %v, want %v", i, got[i], want[i])
		}
	}

	// An empty rectangle means the whole frame.
	if err := Input(got, frame, image.Rectangle{}, p, &s); err != nil {
		t.Fatal(err)
	}
	if err := p.FromPixels(want, frame.Pix, frame.H, frame.W, frame.C, nil); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("whole frame, value %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestInputErrors(t *testing.T) {
	p := vision.DefaultFER()
	dst := make([]float32, p.Size())
	frame := vision.NewImage(40, 40, 1)
	if err := Input(dst, frame, image.Rect(30, 30, 50, 50), p, nil); err == nil {
		t.Error("crop outside the frame succeeded")
	}
	if err := Input(dst[:10], frame, image.Rect(0, 0, 20, 20), p, nil); err == nil {
		t.Error("short output succeeded")
	}
	if err := Input(dst, nil, image.Rectangle{}, p, nil); err == nil {
		t.Error("nil frame succeeded")
	}
}

func TestInputNoAlloc(t *testing.T) {
	frame := vision.NewImage(200, 150, 1)
	p := vision.DefaultFER()
	dst := make([]float32, p.Size())
	var s Scratch
	r := image.Rect(20, 20, 120, 120)
	if err := Input(dst, frame, r, p, &s); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(10, func() { _ = Input(dst, frame, r, p, &s) }); n > 1 {
		t.Errorf("Input allocates %v times per call once warm, want at most 1", n)
	}
}
