package serve

import (
	"context"
	"fmt"
	"image"
	"time"

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
}

// Result is the answer for one frame (the JSON of POST /v1/predict and of
// each WebSocket reply).
type Result struct {
	Model   string       `json:"model"`
	Width   int          `json:"width"`  // frame width in pixels
	Height  int          `json:"height"` // frame height in pixels
	Faces   []Prediction `json:"faces"`  // one per face (or the single region when faces=false)
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

	var boxes, crops []image.Rectangle
	var scores []float32
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
			boxes = append(boxes, fc.Box)
			crops = append(crops, fc.Crop)
			scores = append(scores, fc.Score)
		}
	} else {
		r := frameRect
		if !opt.ROI.Empty() {
			r = opt.ROI.Intersect(frameRect)
			if r.Empty() {
				return nil, &Error{Status: 400, Msg: fmt.Sprintf("region of interest %v is outside the %dx%d frame", opt.ROI, w, h)}
			}
		}
		boxes, crops, scores = []image.Rectangle{r}, []image.Rectangle{r}, []float32{0}
	}
	if len(crops) == 0 {
		return res, nil
	}

	t0 := time.Now()
	probs, err := m.Classify(ctx, f.Model, crops)
	if err != nil {
		return nil, err
	}
	res.Timings.Classify = ms(time.Since(t0))
	for i, p := range probs {
		pred := Prediction{Box: boxOf(boxes[i]), Crop: boxOf(crops[i]), Score: scores[i], Probs: make([]ClassProb, len(p))}
		best := 0
		for k, v := range p {
			pred.Probs[k] = ClassProb{Label: m.Classes[k], P: v}
			if v > p[best] {
				best = k
			}
		}
		pred.Label, pred.Confidence = m.Classes[best], p[best]
		res.Faces = append(res.Faces, pred)
	}
	return res, nil
}

// Annotate returns a copy of img with each prediction's box and top label
// ("happy 87%") drawn on it, for writing an annotated image (residual
// predict --faces). img must be the frame the result was computed on.
func Annotate(img image.Image, res *Result) *image.RGBA {
	labels := make([]face.Label, len(res.Faces))
	for i, p := range res.Faces {
		labels[i] = face.Label{Box: p.Box.Rect(), Text: p.Label, Score: p.Confidence}
	}
	return face.Annotate(img, labels)
}
