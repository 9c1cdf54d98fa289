package detect

import (
	_ "embed"
	"fmt"
	"math"
	"runtime"

	"github.com/residual-go/residual/vision"
)

//go:embed models/palm_detection.onnx
var palmModel []byte

// Palm keypoints, in the palm detector's order.
const (
	Wrist = iota
	IndexMCP
	MiddleMCP
	RingMCP
	PinkyMCP
	ThumbCMC
	ThumbMCP
)

// palmSpec is MediaPipe's configuration of the 128x128 palm detector
// (896 anchors: strides 8, 16, 16, 16; 18 values per anchor: the box and
// 7 keypoints).
func palmSpec() spec {
	return spec{
		name: "palm detector", file: palmModel, size: 128,
		anchors: AnchorOptions{
			InputW: 128, InputH: 128, MinScale: 0.1484375, MaxScale: 0.75,
			Strides: []int{8, 16, 16, 16}, AspectRatios: []float64{1},
			InterpolatedScaleAspectRatio: 1, OffsetX: 0.5, OffsetY: 0.5, FixedAnchorSize: true,
		},
		decode:    DecodeOptions{NumCoords: 18, NumKeypoints: 7, Scale: 128, ScoreClip: 100},
		scoreOuts: []string{"classificators"},
		boxOuts:   []string{"regressors"},
	}
}

// HandOptions configure a HandDetector. Zero fields take the documented
// defaults; set a field to choose any other valid value.
type HandOptions struct {
	// MinScore is the smallest sigmoid palm score kept. Default 0.7: on
	// the two face photos (no hand) the best palm anchor scores 0.32 and
	// 0.52, on real hand photos 0.86 and more. In (0,1).
	MinScore float32
	// IoU is the weighted-NMS overlap threshold. Default 0.3 (MediaPipe's).
	IoU float32
	// MaxHands keeps the best hands only. Default 4.
	MaxHands int
	// Scale enlarges the palm box into the hand box. Default 2.6, and
	// ShiftY moves it towards the fingers by this fraction of the palm
	// box height: default -0.5 (MediaPipe's palm-to-hand-ROI
	// RectTransformationCalculator: scale 2.6, shift_y -0.5, square_long).
	Scale, ShiftY float32
	// Workers is how many frames may be detected at once. Default
	// runtime.GOMAXPROCS(0), at most 4.
	Workers int
	// Tiles also runs the detector on four overlapping corner tiles (0.6
	// of the frame each), merging everything by NMS: smaller hands are
	// found, at 5x the cost. Default false.
	Tiles bool
}

func (o HandOptions) withDefaults() HandOptions {
	if o.MinScore == 0 {
		o.MinScore = 0.7
	}
	if o.IoU == 0 {
		o.IoU = 0.3
	}
	if o.MaxHands == 0 {
		o.MaxHands = 4
	}
	if o.Scale == 0 {
		o.Scale = 2.6
	}
	if o.ShiftY == 0 {
		o.ShiftY = -0.5
	}
	if o.Workers == 0 {
		o.Workers = min(runtime.GOMAXPROCS(0), 4)
	}
	return o
}

// Rotated is a square region of a frame turned by Angle radians. In image
// coordinates (x right, y down) the region's own x axis is (cos, sin) of
// Angle and its y axis (-sin, cos), as in MediaPipe's rotated rects: an
// upright region has Angle 0, and positive angles turn it clockwise on
// screen.
type Rotated struct {
	Centre Point
	Side   float32
	Angle  float32
}

// Corners returns the region's corners in order top-left, top-right,
// bottom-right, bottom-left of the upright crop.
func (r Rotated) Corners() [4]Point {
	c, s := float32(math.Cos(float64(r.Angle))), float32(math.Sin(float64(r.Angle)))
	h := r.Side / 2
	var out [4]Point
	for i, p := range [4]Point{{-h, -h}, {h, -h}, {h, h}, {-h, h}} {
		out[i] = Point{r.Centre.X + p.X*c - p.Y*s, r.Centre.Y + p.X*s + p.Y*c}
	}
	return out
}

// Bounds is the axis-aligned box around the region.
func (r Rotated) Bounds() Box {
	cs := r.Corners()
	b := Box{cs[0].X, cs[0].Y, cs[0].X, cs[0].Y}
	for _, p := range cs[1:] {
		b.X0, b.Y0 = min(b.X0, p.X), min(b.Y0, p.Y)
		b.X1, b.Y1 = max(b.X1, p.X), max(b.Y1, p.Y)
	}
	return b
}

// Hand is one detected hand: the palm detection and the hand region
// derived from it.
type Hand struct {
	Palm Detection
	ROI  Rotated
}

// HandROI turns a palm detection into the hand region as MediaPipe's
// palm_detection_detection_to_roi does: the rotation makes the line from
// the wrist to the middle finger's base point up (target angle 90°), the
// palm box is shifted by shiftY of its height along the rotated up axis,
// made square on its longer side and scaled by scale.
func HandROI(p Detection, scale, shiftY float32) Rotated {
	w, m := p.Keypoints[Wrist], p.Keypoints[MiddleMCP]
	// MediaPipe: rotation = target - atan2(-(y1-y0), x1-x0), target = 90°.
	angle := math.Pi/2 - math.Atan2(-float64(m.Y-w.Y), float64(m.X-w.X))
	angle = angle - 2*math.Pi*math.Floor((angle+math.Pi)/(2*math.Pi)) // to [-π, π)
	c, s := float32(math.Cos(angle)), float32(math.Sin(angle))
	bw, bh := p.Box.W(), p.Box.H()
	centre := p.Box.Centre()
	// shift (0, shiftY·h) in the rotated frame.
	centre.X += -bh * shiftY * s
	centre.Y += bh * shiftY * c
	return Rotated{Centre: centre, Side: max(bw, bh) * scale, Angle: float32(angle)}
}

// HandDetector finds hands with the palm detector. It is safe for
// concurrent use.
type HandDetector struct {
	opt HandOptions
	ssd *ssd
}

// NewHandDetector compiles the embedded palm detector.
func NewHandDetector(opt HandOptions) (*HandDetector, error) {
	opt = opt.withDefaults()
	if err := checkCommon("hand", opt.MinScore, opt.IoU, opt.MaxHands, opt.Workers); err != nil {
		return nil, err
	}
	if !(opt.Scale > 0) || math.IsInf(float64(opt.Scale), 0) || math.IsNaN(float64(opt.ShiftY)) || math.IsInf(float64(opt.ShiftY), 0) {
		return nil, fmt.Errorf("detect: hand box scale %g and shift %g, want a positive finite scale and a finite shift", opt.Scale, opt.ShiftY)
	}
	d, err := newSSD(palmSpec(), opt.Workers)
	if err != nil {
		return nil, err
	}
	return &HandDetector{opt: opt, ssd: d}, nil
}

// Options returns the detector's options with defaults filled in.
func (d *HandDetector) Options() HandOptions { return d.opt }

// Detect finds the hands in frame (gray, RGB or RGBA), best first.
func (d *HandDetector) Detect(frame *vision.Image) ([]Hand, error) {
	detect := d.ssd.detect
	if d.opt.Tiles {
		detect = d.ssd.detectTiled
	}
	dets, err := detect(frame, d.opt.MinScore, d.opt.IoU, d.opt.MaxHands)
	if err != nil {
		return nil, err
	}
	hands := make([]Hand, len(dets))
	for i, p := range dets {
		hands[i] = Hand{Palm: p, ROI: HandROI(p, d.opt.Scale, d.opt.ShiftY)}
	}
	return hands, nil
}
