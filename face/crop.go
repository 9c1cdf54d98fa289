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
