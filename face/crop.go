package face

import (
	"fmt"
	"image"

	"github.com/residual-go/residual/vision"
)

// Scratch holds the buffers of Input so that preprocessing many faces
// allocates nothing once warmed up. Not safe for concurrent use; the zero
// value is ready.
type Scratch struct {
	crop vision.Image
	pre  vision.Scratch
}

// Region is what a model classifies: the square Rect of a frame (for a
// detected face its Crop), turned by Angle radians about its centre
// (vision.RotatedCrop's convention: a face's Roll makes its eyes level, a
// hand box's angle puts its fingers up). Angle 0 is the plain crop.
type Region struct {
	Rect  image.Rectangle
	Angle float64
}

// RegionInput is Input for a region: a turned region is sampled upright
// (at its own resolution, then resized by the preprocessing like any
// crop); parts outside the frame repeat the edge pixels. An unturned
// region is exactly Input.
func RegionInput(dst []float32, frame *vision.Image, r Region, p vision.Preprocess, s *Scratch) error {
	if r.Angle == 0 || r.Rect.Empty() {
		return Input(dst, frame, r.Rect, p, s)
	}
	if s == nil {
		s = new(Scratch)
	}
	if frame == nil || frame.W <= 0 || frame.H <= 0 {
		return fmt.Errorf("face: empty frame")
	}
	side := float64(max(r.Rect.Dx(), r.Rect.Dy()))
	cx, cy := float64(r.Rect.Min.X+r.Rect.Max.X)/2, float64(r.Rect.Min.Y+r.Rect.Max.Y)/2
	out := min(int(side+0.5), 512) // enough for any model input here
	if _, err := vision.RotatedCrop(&s.crop, frame, cx, cy, side, r.Angle, max(out, 1)); err != nil {
		return fmt.Errorf("face: region %v turned by %.3f rad: %w", r.Rect, r.Angle, err)
	}
	return p.FromPixels(dst, s.crop.Pix, s.crop.H, s.crop.W, s.crop.C, &s.pre)
}

// Input crops region r of frame and preprocesses it with p into dst
// (p.Size() values, laid out (H,W,C)): exactly the path a training image
// takes (channel conversion, resize, normalisation by vision.Preprocess),
// so a face crop reaches the model as a training sample would. frame may
// have 1, 3 or 4 channels; r must lie inside it. An empty r means the
// whole frame.
func Input(dst []float32, frame *vision.Image, r image.Rectangle, p vision.Preprocess, s *Scratch) error {
	if s == nil {
		s = new(Scratch)
	}
	if frame == nil || frame.W <= 0 || frame.H <= 0 {
		return fmt.Errorf("face: empty frame")
	}
	src := frame
	if !r.Empty() && r != image.Rect(0, 0, frame.W, frame.H) {
		if _, err := vision.Crop(&s.crop, frame, r); err != nil {
			return fmt.Errorf("face: cropping %v: %w", r, err)
		}
		src = &s.crop
	}
	return p.FromPixels(dst, src.Pix, src.H, src.W, src.C, &s.pre)
}
