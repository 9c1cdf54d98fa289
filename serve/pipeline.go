package serve

import (
	"context"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/residual-go/residual/detect"
	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/vision"
)

// FrameOptions say what to classify in a frame.
type FrameOptions struct {
	// Faces detects faces and classifies each; otherwise one region is
	// classified: ROI, or the whole frame when ROI is empty.
	Faces bool
	// ROI is the region of interest classified when Faces is false (for
	// gesture models, which have no hand detector). It is clipped to the
	// frame.
	ROI image.Rectangle
	// Live marks a frame of a live stream: the server then uses its live
	// face detector (BlazeFace short range by default).
	Live bool
	// NoAlign classifies face crops as detected, without turning them so
	// that the eyes are level (alignment needs the detector's keypoints:
	// BlazeFace has them, pigo not).
	NoAlign bool
	// Hands, when set, finds hands with this palm detector and classifies
	// each hand box (turned upright, fingers up) with the model: the
	// results are in Result.Hands. Without it and without Faces, one
	// region (ROI or the frame) is classified.
	Hands *detect.HandDetector
}

// Result is the answer for one frame (the JSON of POST /v1/predict and of
// each WebSocket reply).
type Result struct {
	Model   string       `json:"model"`
	Width   int          `json:"width"`           // frame width in pixels
	Height  int          `json:"height"`          // frame height in pixels
	Faces   []Prediction `json:"faces"`           // one per face (or the single region when faces=false and no hands)
	Hands   []Prediction `json:"hands,omitempty"` // one per hand found (hands=true)
	Timings Timings      `json:"timings_ms"`
}

// Prediction is one classified region.
type Prediction struct {
	Box        Box         `json:"box"`             // the face (or region) in frame pixels
	Crop       Box         `json:"crop"`            // the square given to the model (box + margin)
	Score      float32     `json:"score,omitempty"` // the detector's confidence; absent without detection
	Label      string      `json:"label"`           // the most probable class
	Confidence float32     `json:"confidence"`      // its probability
	Probs      []ClassProb `json:"probs"`           // every class, in the model's class order
	// Angle is how far the crop was turned (radians, clockwise on screen)
	// before classification: a face's eye-line roll, a hand box's
	// rotation; 0 for plain crops.
	Angle float64 `json:"angle,omitempty"`
	// Keypoints are the detector's landmarks in frame pixels (BlazeFace:
	// right eye, left eye, nose, mouth, right ear, left ear; palm: wrist,
	// index, middle, ring and pinky bases, two thumb joints).
	Keypoints []Point `json:"keypoints,omitempty"`
}

// Point is a position in frame pixels.
type Point struct {
	X int `json:"x"`
	Y int `json:"y"`
}

// ClassProb is one class's probability.
type ClassProb struct {
	Label string  `json:"label"`
	P     float32 `json:"p"`
}

// Box is a rectangle in frame pixels: top-left corner and size.
type Box struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

func boxOf(r image.Rectangle) Box { return Box{r.Min.X, r.Min.Y, r.Dx(), r.Dy()} }

// Rect is the box as an image.Rectangle.
func (b Box) Rect() image.Rectangle { return image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H) }

// Timings are the stages of one frame in milliseconds.
type Timings struct {
	Decode   float64 `json:"decode"`   // JPEG/PNG decoding and colour conversion
	Detect   float64 `json:"detect"`   // face detection (0 when faces=false)
	Classify float64 `json:"classify"` // crops, preprocessing and the network
	Total    float64 `json:"total"`    // all of the above and the rest of the request
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Frame is a decoded frame in the forms the pipeline needs: RGB for the
// detector (BlazeFace looks at colour; pigo converts to gray), and the
// model's channel count for classification (the same image when the
// model is RGB).
type Frame struct {
	Color *vision.Image
	Model *vision.Image
}

// NewFrame converts a decoded image for a model with the given channel
// count (1 or 3).
func NewFrame(img image.Image, channels int) (*Frame, error) {
	rgb, err := vision.FromImage(nil, img, 3)
	if err != nil {
		return nil, err
	}
	f := &Frame{Color: rgb, Model: rgb}
	if channels != 3 {
		if f.Model, err = vision.ConvertChannels(nil, rgb, channels); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Predict classifies a frame with model m: every face found by det when
// opt.Faces (det may be nil otherwise), else the ROI or the whole frame.
// Result.Timings.Decode and Total are left for the caller.
func Predict(ctx context.Context, m *Model, det face.Finder, f *Frame, opt FrameOptions) (*Result, error) {
	w, h := f.Color.W, f.Color.H
	res := &Result{Model: m.Name, Width: w, Height: h, Faces: []Prediction{}}
	frameRect := image.Rect(0, 0, w, h)

	var preds []Prediction
	var regions []face.Region
	if opt.Faces {
		if det == nil {
			return nil, fmt.Errorf("serve: face detection asked for but no detector configured")
		}
		t0 := time.Now()
		faces, err := det.Find(f.Color)
		if err != nil {
			return nil, err
		}
		res.Timings.Detect = ms(time.Since(t0))
		for _, fc := range faces {
			p := Prediction{Box: boxOf(fc.Box), Crop: boxOf(fc.Crop), Score: fc.Score}
			for _, k := range fc.Keypoints {
				p.Keypoints = append(p.Keypoints, Point{k.X, k.Y})
			}
			r := face.Region{Rect: fc.Crop}
			if !opt.NoAlign && fc.Keypoints != nil {
				r.Angle, p.Angle = fc.Roll, fc.Roll
			}
			preds, regions = append(preds, p), append(regions, r)
		}
	} else if opt.Hands == nil {
		r := frameRect
		if !opt.ROI.Empty() {
			r = opt.ROI.Intersect(frameRect)
			if r.Empty() {
				return nil, &Error{Status: 400, Msg: fmt.Sprintf("region of interest %v is outside the %dx%d frame", opt.ROI, w, h)}
			}
		}
		preds, regions = []Prediction{{Box: boxOf(r), Crop: boxOf(r)}}, []face.Region{{Rect: r}}
	}
	nFaces := len(preds)
	if opt.Hands != nil {
		t0 := time.Now()
		hands, err := opt.Hands.Detect(f.Color)
		if err != nil {
			return nil, err
		}
		res.Timings.Detect += ms(time.Since(t0))
		res.Hands = []Prediction{}
		for _, hd := range hands {
			c, side := hd.ROI.Centre, float64(hd.ROI.Side)
			x0, y0 := int(math.Round(float64(c.X)-side/2)), int(math.Round(float64(c.Y)-side/2))
			sq := image.Rect(x0, y0, x0+int(math.Round(side)), y0+int(math.Round(side)))
			b := hd.ROI.Bounds()
			bounds := image.Rect(int(b.X0), int(b.Y0), int(math.Ceil(float64(b.X1))), int(math.Ceil(float64(b.Y1)))).Intersect(frameRect)
			p := Prediction{Box: boxOf(bounds), Crop: boxOf(sq), Score: hd.Palm.Score, Angle: float64(hd.ROI.Angle)}
			for _, k := range hd.Palm.Keypoints {
				p.Keypoints = append(p.Keypoints, Point{int(math.Round(float64(k.X))), int(math.Round(float64(k.Y)))})
			}
			preds, regions = append(preds, p), append(regions, face.Region{Rect: sq, Angle: float64(hd.ROI.Angle)})
		}
	}
	if len(regions) == 0 {
		return res, nil
	}

	t0 := time.Now()
	probs, err := m.ClassifyRegions(ctx, f.Model, regions)
	if err != nil {
		return nil, err
	}
	res.Timings.Classify = ms(time.Since(t0))
	for i, p := range probs {
		pred := preds[i]
		pred.Probs = make([]ClassProb, len(p))
		best := 0
		for k, v := range p {
			pred.Probs[k] = ClassProb{Label: m.Classes[k], P: v}
			if v > p[best] {
				best = k
			}
		}
		pred.Label, pred.Confidence = m.Classes[best], p[best]
		if i < nFaces {
			res.Faces = append(res.Faces, pred)
		} else {
			res.Hands = append(res.Hands, pred)
		}
	}
	return res, nil
}

// Annotate returns a copy of img with each prediction's box and top label
// ("happy 87%") drawn on it, for writing an annotated image (residual
// predict --faces). img must be the frame the result was computed on.
func Annotate(img image.Image, res *Result) *image.RGBA {
	var labels []face.Label
	for _, p := range append(append([]Prediction(nil), res.Faces...), res.Hands...) {
		labels = append(labels, face.Label{Box: p.Box.Rect(), Text: p.Label, Score: p.Confidence})
	}
	return face.Annotate(img, labels)
}
