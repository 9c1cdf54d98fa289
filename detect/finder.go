package detect

import (
	"fmt"
	"image"
	"math"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/vision"
)

// Detector names accepted by --detector and serve's configuration.
const (
	// DetectorAuto ("blazeface") is BlazeFace with the range chosen by
	// the input: short range for live frames (webcam, /v1/stream), where
	// faces are near the camera and time matters, full range for photos
	// (predict, /v1/predict), which may hold small or far faces.
	DetectorAuto  = "blazeface"
	DetectorShort = "blazeface-short"
	DetectorFull  = "blazeface-full"
	DetectorPigo  = "pigo" // the pixel-comparison cascade of package face
)

// Resolve turns a detector name into a concrete one: "" and "blazeface"
// become blazeface-short for live frames and blazeface-full otherwise.
func Resolve(name string, live bool) (string, error) {
	switch name {
	case "", DetectorAuto:
		if live {
			return DetectorShort, nil
		}
		return DetectorFull, nil
	case DetectorShort, DetectorFull, DetectorPigo:
		return name, nil
	}
	return "", fmt.Errorf("detect: detector %q, want %s, %s, %s or %s", name, DetectorAuto, DetectorShort, DetectorFull, DetectorPigo)
}

// NewFinder builds the face detector named name (resolved with live as
// Resolve does): pigo with pigoOpt, or BlazeFace with opt (its Range is
// set from the name).
func NewFinder(name string, live bool, pigoOpt face.Options, opt FaceOptions) (face.Finder, error) {
	n, err := Resolve(name, live)
	if err != nil {
		return nil, err
	}
	switch n {
	case DetectorPigo:
		return face.NewDetector(pigoOpt)
	case DetectorShort:
		opt.Range = Short
	default:
		opt.Range = Full
	}
	return NewFaceDetector(opt)
}

// Name is "blazeface-short" or "blazeface-full".
func (d *FaceDetector) Name() string { return "blazeface-" + string(d.opt.Range) }

// Find implements face.Finder: Detect, with each box made square on its
// longer side about its centre (clipped to the frame), the keypoints
// rounded to pixels, the eye-line roll, and the model crop framed as
// FER2013 frames faces (see FaceOptions.Margin and CropShift): centred on
// the face's keypoints, moved along the face's own up axis, kept inside
// the frame (face.CropBox).
func (d *FaceDetector) Find(frame *vision.Image) ([]face.Face, error) {
	dets, err := d.Detect(frame)
	if err != nil {
		return nil, err
	}
	faces := make([]face.Face, 0, len(dets))
	for _, dt := range dets {
		faces = append(faces, d.toFace(dt, frame.W, frame.H))
	}
	return faces, nil
}

func square(c Point, side float64) image.Rectangle {
	x0 := int(math.Round(float64(c.X) - side/2))
	y0 := int(math.Round(float64(c.Y) - side/2))
	return image.Rect(x0, y0, x0+int(side), y0+int(side))
}

func (d *FaceDetector) toFace(dt Detection, w, h int) face.Face {
	re, le := dt.Keypoints[RightEye], dt.Keypoints[LeftEye]
	roll := math.Atan2(float64(le.Y-re.Y), float64(le.X-re.X))
	side := math.Round(float64(max(dt.Box.W(), dt.Box.H())))
	// The crop is centred halfway between the eyes' midpoint and the
	// mouth, which stays on the face when it turns (the box centre drifts
	// by a few pixels), then moved by CropShift of the side along the
	// face's up axis; BlazeFace keeps the box side at the face's size at
	// any roll.
	m := dt.Keypoints[Mouth]
	c := Point{((re.X+le.X)/2 + m.X) / 2, ((re.Y+le.Y)/2 + m.Y) / 2}
	sh := d.opt.CropShift * side
	c.X -= float32(sh * math.Sin(roll))
	c.Y += float32(sh * math.Cos(roll))
	f := face.Face{
		Box:   square(dt.Box.Centre(), side).Intersect(image.Rect(0, 0, w, h)),
		Crop:  face.CropBox(square(c, side), d.opt.Margin, w, h),
		Score: dt.Score,
		Roll:  roll,
	}
	for _, k := range dt.Keypoints {
		f.Keypoints = append(f.Keypoints, image.Pt(int(math.Round(float64(k.X))), int(math.Round(float64(k.Y)))))
	}
	return f
}
