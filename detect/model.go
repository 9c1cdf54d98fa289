package detect

import (
	"bytes"
	"fmt"
	"image"
	"math"

	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// spec describes one SSD detector file: its input, the anchors and
// decoding MediaPipe configures for it, and which outputs hold the
// scores and the box values, in anchor order.
type spec struct {
	name      string
	file      []byte
	size      int // square input side
	anchors   AnchorOptions
	decode    DecodeOptions
	scoreOuts []string
	boxOuts   []string
}

// ssd runs one detector file on our own ONNX engine. Several goroutines
// may call detect at once: each takes one of up to `workers` compiled
// graphs (made on first need), as a Graph is not safe for concurrent use.
type ssd struct {
	spec    spec
	anchors []Anchor
	pool    chan *instance
	made    chan struct{} // one token per graph that may still be made
}

// instance is one compiled graph with its buffers.
type instance struct {
	g        *onnx.Graph
	outIdx   []int // index in ForwardOutputs of scoreOuts..., then boxOuts...
	in       *tensor.Tensor
	rgb      vision.Image
	small    vision.Image
	tile     vision.Image
	resizer  vision.Resizer
	scores   []float32
	raw      []float32
	lastDets []Detection
}

func newSSD(s spec, workers int) (*ssd, error) {
	a, err := Anchors(s.anchors)
	if err != nil {
		return nil, err
	}
	if workers < 1 {
		return nil, fmt.Errorf("detect: %d workers, want at least 1", workers)
	}
	d := &ssd{spec: s, anchors: a, pool: make(chan *instance, workers), made: make(chan struct{}, workers)}
	for range workers {
		d.made <- struct{}{}
	}
	// Compile one graph now so that a broken file fails at start-up.
	<-d.made
	inst, err := d.newInstance()
	if err != nil {
		return nil, err
	}
	d.pool <- inst
	return d, nil
}

func (d *ssd) newInstance() (*instance, error) {
	g, err := onnx.Import(bytes.NewReader(d.spec.file), onnx.Options{})
	if err != nil {
		return nil, fmt.Errorf("detect: %s: %w", d.spec.name, err)
	}
	names := g.OutputNames()
	inst := &instance{g: g, in: tensor.New(1, d.spec.size, d.spec.size, 3)}
	for _, want := range append(append([]string(nil), d.spec.scoreOuts...), d.spec.boxOuts...) {
		k := -1
		for i, n := range names {
			if n == want {
				k = i
			}
		}
		if k < 0 {
			return nil, fmt.Errorf("detect: %s has no output %q (outputs %q)", d.spec.name, want, names)
		}
		inst.outIdx = append(inst.outIdx, k)
	}
	return inst, nil
}

func (d *ssd) get() (*instance, error) {
	select {
	case inst := <-d.pool:
		return inst, nil
	default:
	}
	select {
	case inst := <-d.pool:
		return inst, nil
	case <-d.made:
		inst, err := d.newInstance()
		if err != nil {
			d.made <- struct{}{}
			return nil, err
		}
		return inst, nil
	}
}

// letterbox is how a frame was fitted into the square input: scaled by
// Scale and offset by (PadX, PadY) input pixels, as MediaPipe's
// ImageToTensorCalculator does with keep_aspect_ratio.
type letterbox struct {
	ScaleX, ScaleY float32
	PadX, PadY     float32
	Size           float32
}

// toFrame maps normalised input coordinates to frame pixels.
func (l letterbox) toFrame(p Point) Point {
	return Point{(p.X*l.Size - l.PadX) / l.ScaleX, (p.Y*l.Size - l.PadY) / l.ScaleY}
}

// prepare letterboxes frame (1, 3 or 4 channels) into inst.in as RGB
// scaled to [-1, 1] (x/127.5 - 1), padding with -1 (black).
func (d *ssd) prepare(inst *instance, frame *vision.Image) (letterbox, error) {
	if frame == nil || frame.W <= 0 || frame.H <= 0 || len(frame.Pix) < frame.Len() {
		if frame == nil {
			return letterbox{}, fmt.Errorf("detect: nil frame")
		}
		return letterbox{}, fmt.Errorf("detect: empty or short frame %dx%dx%d with %d bytes", frame.W, frame.H, frame.C, len(frame.Pix))
	}
	src := frame
	if frame.C != 3 {
		if _, err := vision.ConvertChannels(&inst.rgb, frame, 3); err != nil {
			return letterbox{}, fmt.Errorf("detect: %w", err)
		}
		src = &inst.rgb
	}
	s := d.spec.size
	scale := math.Min(float64(s)/float64(src.W), float64(s)/float64(src.H))
	rw := min(max(int(math.Round(float64(src.W)*scale)), 1), s)
	rh := min(max(int(math.Round(float64(src.H)*scale)), 1), s)
	small, err := inst.resizer.Resize(&inst.small, src, rw, rh)
	if err != nil {
		return letterbox{}, fmt.Errorf("detect: %w", err)
	}
	px, py := (s-rw)/2, (s-rh)/2
	in := inst.in.Data
	for i := range in {
		in[i] = -1
	}
	for y := 0; y < rh; y++ {
		row := in[((py+y)*s+px)*3 : ((py+y)*s+px+rw)*3]
		pix := small.Pix[y*rw*3 : (y+1)*rw*3]
		for i, v := range pix {
			row[i] = float32(v)/127.5 - 1
		}
	}
	// The effective scale per axis (after rounding rw, rh).
	return letterbox{ScaleX: float32(rw) / float32(src.W), ScaleY: float32(rh) / float32(src.H), PadX: float32(px), PadY: float32(py), Size: float32(s)}, nil
}

// run prepares frame, runs the graph and decodes every anchor scoring
// at least minScore, in frame pixels (before NMS).
func (d *ssd) run(inst *instance, frame *vision.Image, minScore float32) ([]Detection, error) {
	lb, err := d.prepare(inst, frame)
	if err != nil {
		return nil, err
	}
	outs, err := inst.g.ForwardOutputs(inst.in)
	if err != nil {
		return nil, fmt.Errorf("detect: %s: %w", d.spec.name, err)
	}
	inst.scores = inst.scores[:0]
	inst.raw = inst.raw[:0]
	ns := len(d.spec.scoreOuts)
	for i, k := range inst.outIdx {
		t := outs[k]
		if i < ns {
			inst.scores = append(inst.scores, t.Data[:t.Len()]...)
		} else {
			inst.raw = append(inst.raw, t.Data[:t.Len()]...)
		}
	}
	o := d.spec.decode
	o.MinScore = minScore
	dets, err := Decode(inst.scores, inst.raw, d.anchors, o)
	if err != nil {
		return nil, fmt.Errorf("detect: %s: %w", d.spec.name, err)
	}
	for i := range dets {
		dt := &dets[i]
		p0 := lb.toFrame(Point{dt.Box.X0, dt.Box.Y0})
		p1 := lb.toFrame(Point{dt.Box.X1, dt.Box.Y1})
		dt.Box = Box{p0.X, p0.Y, p1.X, p1.Y}
		for k, p := range dt.Keypoints {
			dt.Keypoints[k] = lb.toFrame(p)
		}
	}
	return dets, nil
}

// detect runs the detector on frame and returns the detections after
// weighted NMS, best first.
func (d *ssd) detect(frame *vision.Image, minScore, iou float32, max int) ([]Detection, error) {
	inst, err := d.get()
	if err != nil {
		return nil, err
	}
	defer func() { d.pool <- inst }()
	dets, err := d.run(inst, frame, minScore)
	if err != nil {
		return nil, err
	}
	return WeightedNMS(dets, iou, max), nil
}

// detectTiled is detect plus four overlapping corner tiles of the frame
// (each 0.6 of its width and height), run one after another: objects
// too small for the whole frame letterboxed into the input are 1.67x
// larger in a tile. All anchors found are merged by one weighted NMS.
func (d *ssd) detectTiled(frame *vision.Image, minScore, iou float32, max int) ([]Detection, error) {
	inst, err := d.get()
	if err != nil {
		return nil, err
	}
	defer func() { d.pool <- inst }()
	all, err := d.run(inst, frame, minScore)
	if err != nil {
		return nil, err
	}
	tw, th := frame.W*3/5, frame.H*3/5
	if tw < d.spec.size || th < d.spec.size {
		return WeightedNMS(all, iou, max), nil // tiles would not be larger
	}
	for _, at := range [4]image.Point{{0, 0}, {frame.W - tw, 0}, {0, frame.H - th}, {frame.W - tw, frame.H - th}} {
		if _, err := vision.Crop(&inst.tile, frame, image.Rect(at.X, at.Y, at.X+tw, at.Y+th)); err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		dets, err := d.run(inst, &inst.tile, minScore)
		if err != nil {
			return nil, err
		}
		for _, dt := range dets {
			dt.Box = Box{dt.Box.X0 + float32(at.X), dt.Box.Y0 + float32(at.Y), dt.Box.X1 + float32(at.X), dt.Box.Y1 + float32(at.Y)}
			for k := range dt.Keypoints {
				dt.Keypoints[k].X += float32(at.X)
				dt.Keypoints[k].Y += float32(at.Y)
			}
			dt.Anchor += len(d.anchors) * (1 + len(all)) // distinct from the whole frame's anchors in NMS
			all = append(all, dt)
		}
	}
	return WeightedNMS(all, iou, max), nil
}
