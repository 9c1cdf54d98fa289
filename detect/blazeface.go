// Package detect finds faces and hands with MediaPipe's neural detectors
// (BlazeFace short and full range, the palm detector), imported from
// their ONNX files (embedded, see models/README.md) and run on this
// project's own ONNX engine (package onnx), not ONNX Runtime.
//
// A frame goes through what MediaPipe's graphs do:
//
//	frame -> letterbox into the square input (keep aspect ratio, pad)
//	      -> RGB scaled to [-1, 1]
//	      -> the network: one raw score and box+keypoint values per SSD anchor
//	      -> anchors (SsdAnchorsCalculator), decoding relative to them
//	         (TensorsToDetectionsCalculator), score clipping + sigmoid,
//	         threshold
//	      -> weighted non-maximum suppression (NonMaxSuppressionCalculator)
//	      -> boxes and keypoints mapped back to frame pixels
package detect

import (
	_ "embed"
	"fmt"
	"math"
	"runtime"

	"github.com/residual-go/residual/vision"
)

//go:embed models/face_detection_front_128x128_barracuda.onnx
var blazeFaceFront []byte

//go:embed models/face_detection_back_256x256_barracuda.onnx
var blazeFaceBack []byte

// Face keypoints, in BlazeFace's order. "Right" is the subject's right
// (on the left of an unmirrored photo).
const (
	RightEye = iota
	LeftEye
	NoseTip
	Mouth
	RightEar
	LeftEar
)

// Range selects a BlazeFace model.
type Range string

const (
	// Short is BlazeFace short range (128x128 input, MediaPipe's "front"
	// model): faces filling a good part of the frame, within about 2 m of
	// a webcam. About 4x cheaper than Full.
	Short Range = "short"
	// Full is BlazeFace full range (256x256, MediaPipe's "back" model):
	// smaller and farther faces, group photos.
	Full Range = "full"
)

// blazeFaceSpec returns the file and MediaPipe's options for a range
// (mediapipe/modules/face_detection: face_detection_front and
// face_detection_back graphs' SsdAnchorsCalculator and
// TensorsToDetectionsCalculator options).
func blazeFaceSpec(r Range) (spec, error) {
	s := spec{
		anchors: AnchorOptions{
			MinScale: 0.1484375, MaxScale: 0.75, AspectRatios: []float64{1},
			InterpolatedScaleAspectRatio: 1, OffsetX: 0.5, OffsetY: 0.5, FixedAnchorSize: true,
		},
		decode:    DecodeOptions{NumCoords: 16, NumKeypoints: 6, ScoreClip: 100},
		scoreOuts: []string{"Identity:0", "Identity_1:0"},
		boxOuts:   []string{"Identity_2:0", "Identity_3:0"},
	}
	switch r {
	case Short:
		s.name, s.file, s.size = "BlazeFace short range", blazeFaceFront, 128
		s.anchors.Strides = []int{8, 16, 16, 16}
	case Full:
		s.name, s.file, s.size = "BlazeFace full range", blazeFaceBack, 256
		s.anchors.MinScale = 0.15625
		s.anchors.Strides = []int{16, 32, 32, 32}
	default:
		return spec{}, fmt.Errorf("detect: BlazeFace range %q, want %q or %q", r, Short, Full)
	}
	s.anchors.InputW, s.anchors.InputH = s.size, s.size
	s.decode.Scale = float32(s.size)
	return s, nil
}

// FaceOptions configure a FaceDetector. Zero fields take the documented
// defaults; set a field to choose any other valid value.
type FaceOptions struct {
	// Range is the BlazeFace model. Default Full: it finds faces down to
	// about 1/16 of the frame's longer side (40 px in 640x480), Short
	// only those larger than about 1/5.
	Range Range
	// MinScore is the smallest sigmoid score kept. Default 0.5
	// (MediaPipe's min_score_thresh for these models). Must be in (0,1).
	MinScore float32
	// IoU is the overlap above which detections merge in weighted NMS.
	// Default 0.3 (MediaPipe's min_suppression_threshold). In (0,1).
	IoU float32
	// MaxFaces keeps the best faces only. Default 16.
	MaxFaces int
	// Margin widens the model crop (Find's Face.Crop) around the square
	// face box by this fraction of its side on each side, and CropShift
	// moves the crop's centre along the face's up axis by this fraction
	// of the side (negative: towards the forehead). Defaults 0.08 and
	// -0.07: FER2013's framing, measured by BlazeFace full range on 200
	// PublicTest faces pasted at 240 px (the box side is 0.861 of the
	// FER2013 square, median, and its centre 0.086 of it lower; the
	// keypoints' centre is about 0.03 above the box centre). A negative
	// Margin means none; CropShift 0 keeps the default, use a tiny value
	// such as 1e-9 for none.
	Margin    float64
	CropShift float64
	// Workers is how many frames may be detected at once (each has its own
	// compiled graph). Default runtime.GOMAXPROCS(0), at most 4.
	Workers int
}

func (o FaceOptions) withDefaults() FaceOptions {
	if o.Range == "" {
		o.Range = Full
	}
	if o.MinScore == 0 {
		o.MinScore = 0.5
	}
	if o.IoU == 0 {
		o.IoU = 0.3
	}
	if o.MaxFaces == 0 {
		o.MaxFaces = 16
	}
	if o.Workers == 0 {
		o.Workers = min(runtime.GOMAXPROCS(0), 4)
	}
	switch {
	case o.Margin == 0:
		o.Margin = 0.08
	case o.Margin < 0:
		o.Margin = 0
	}
	if o.CropShift == 0 {
		o.CropShift = -0.07
	}
	return o
}

func checkCommon(what string, minScore, iou float32, maxN, workers int) error {
	switch {
	case !(minScore > 0 && minScore < 1):
		return fmt.Errorf("detect: %s min score %g, want in (0,1)", what, minScore)
	case !(iou > 0 && iou < 1):
		return fmt.Errorf("detect: %s NMS IoU %g, want in (0,1)", what, iou)
	case maxN < 1:
		return fmt.Errorf("detect: max %ss %d, want at least 1", what, maxN)
	case workers < 1:
		return fmt.Errorf("detect: %s detector workers %d, want at least 1", what, workers)
	}
	return nil
}

// FaceDetector finds faces with BlazeFace. It is safe for concurrent use.
type FaceDetector struct {
	opt FaceOptions
	ssd *ssd
}

// NewFaceDetector compiles the embedded BlazeFace model of opt.Range.
func NewFaceDetector(opt FaceOptions) (*FaceDetector, error) {
	opt = opt.withDefaults()
	if err := checkCommon("face", opt.MinScore, opt.IoU, opt.MaxFaces, opt.Workers); err != nil {
		return nil, err
	}
	if opt.Margin > 1 || math.IsNaN(opt.Margin) {
		return nil, fmt.Errorf("detect: face margin %g, want at most 1 (one box side each way)", opt.Margin)
	}
	if !(math.Abs(opt.CropShift) <= 1) {
		return nil, fmt.Errorf("detect: face crop shift %g, want in [-1, 1]", opt.CropShift)
	}
	s, err := blazeFaceSpec(opt.Range)
	if err != nil {
		return nil, err
	}
	d, err := newSSD(s, opt.Workers)
	if err != nil {
		return nil, err
	}
	return &FaceDetector{opt: opt, ssd: d}, nil
}

// Options returns the detector's options with defaults filled in.
func (d *FaceDetector) Options() FaceOptions { return d.opt }

// InputSize is the side of the model's square input.
func (d *FaceDetector) InputSize() int { return d.ssd.spec.size }

// Detect finds the faces in frame (gray, RGB or RGBA), best first, with
// boxes and the 6 keypoints (RightEye ... LeftEar) in frame pixels.
func (d *FaceDetector) Detect(frame *vision.Image) ([]Detection, error) {
	return d.ssd.detect(frame, d.opt.MinScore, d.opt.IoU, d.opt.MaxFaces)
}
