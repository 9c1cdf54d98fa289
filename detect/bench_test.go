package detect

import (
	"testing"

	"github.com/residual-go/residual/vision"
)

// benchFrame is a 640x480 RGB frame with a photo in it (or gray noise
// when the shared photos are absent).
func benchFrame(b *testing.B) *vision.Image {
	img := loadShared(b, "faces/grace_hopper.jpg")
	var r vision.Resizer
	small, err := r.Resize(nil, img, 240, 240)
	if err != nil {
		b.Fatal(err)
	}
	f := vision.NewImage(640, 480, 3)
	for i := range f.Pix {
		f.Pix[i] = 90
	}
	for y := 0; y < 240; y++ {
		copy(f.Pix[((100+y)*640+200)*3:((100+y)*640+440)*3], small.Pix[y*240*3:(y+1)*240*3])
	}
	return f
}

// BenchmarkFaceDetect640x480: one BlazeFace detection on a 640x480 frame
// with one face (letterbox, network on our engine, decoding, NMS).
func BenchmarkFaceDetect640x480(b *testing.B) {
	for _, r := range []Range{Short, Full} {
		b.Run(string(r), func(b *testing.B) {
			d, err := NewFaceDetector(FaceOptions{Range: r, Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			f := benchFrame(b)
			for b.Loop() {
				if _, err := d.Detect(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPalmDetect640x480: one palm detection on a 640x480 frame.
func BenchmarkPalmDetect640x480(b *testing.B) {
	d, err := NewHandDetector(HandOptions{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	f := benchFrame(b)
	for b.Loop() {
		if _, err := d.Detect(f); err != nil {
			b.Fatal(err)
		}
	}
}
