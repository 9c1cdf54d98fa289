// Package face finds faces in a frame and turns each one into model input
// through the same preprocessing as training (vision.Preprocess).
//
// Detection uses the pixel-intensity-comparison cascade of esimov/pigo
// (pure Go, no cgo) with its MIT-licensed "facefinder" cascade, embedded
// here (see LICENSE.pigo). A frame goes through:
//
//	gray frame -> cascade at every scale from MinSize to MaxSize
//	           -> IoU clustering of overlapping windows
//	           -> clusters scoring at least MinScore
//	           -> square box + Margin, kept inside the frame (CropBox)
//	           -> crop -> Preprocess (channels, resize, normalise)
package face

import (
	_ "embed"
	"fmt"
	"image"
	"math"
	"runtime"
	"sort"
	"sync"

	pigo "github.com/esimov/pigo/core"

	"github.com/residual-go/residual/vision"
)

// facefinder is pigo v1.4.6's cascade/facefinder (MIT, Copyright (c) 2018
// Endre Simo; see LICENSE.pigo).
//
//go:embed facefinder
var facefinder []byte

// Options control detection. Zero fields take the documented defaults.
type Options struct {
	// MinSize is the smallest face side searched, in pixels. Default 48,
	// the side of FER2013 faces: a smaller face would be upscaled into the
	// model input, and the scan costs about 1/MinSize² (48 instead of 40
	// saves 30%).
	MinSize int
	// MaxSize is the largest face side searched, in pixels. Default (0):
	// the frame's shorter side.
	MaxSize int
	// ShiftFactor is the window step as a fraction of its size. Default
	// 0.1 (at 0.15, pigo's own, the window grid misses faces: Grace Hopper
	// scores 0.8 instead of 10).
	ShiftFactor float64
	// ScaleFactor is the ratio between successive window sizes. Default 1.15.
	ScaleFactor float64
	// IoU is the overlap above which two windows are one face. Default 0.2.
	IoU float64
	// MinScore is the smallest cluster score kept (the cascade's summed
	// confidence over a cluster's windows). Default 5, pigo's own choice.
	MinScore float32
	// Margin widens the model crop around the detected box by this
	// fraction of the box side on each side. Default 0.1; set a negative
	// value for none.
	Margin float64
	// MaxFaces keeps only the highest-scoring faces. Default 16.
	MaxFaces int
	// Workers is how many goroutines scan the frame, each a band of window
	// sizes of about equal cost. Default runtime.GOMAXPROCS(0), at most 8.
	Workers int
}

func (o Options) withDefaults() Options {
	if o.MinSize == 0 {
		o.MinSize = 48
	}
	if o.ShiftFactor == 0 {
		o.ShiftFactor = 0.1
	}
	if o.ScaleFactor == 0 {
		o.ScaleFactor = 1.15
	}
	if o.IoU == 0 {
		o.IoU = 0.2
	}
	if o.MinScore == 0 {
		o.MinScore = 5
	}
	switch {
	case o.Margin == 0:
		o.Margin = 0.1
	case o.Margin < 0:
		o.Margin = 0
	}
	if o.MaxFaces == 0 {
		o.MaxFaces = 16
	}
	if o.Workers == 0 {
		o.Workers = min(runtime.GOMAXPROCS(0), 8)
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.MinSize < 8:
		return fmt.Errorf("face: min size %d px, want at least 8", o.MinSize)
	case o.MaxSize != 0 && o.MaxSize < o.MinSize:
		return fmt.Errorf("face: max size %d px is below min size %d px", o.MaxSize, o.MinSize)
	case o.ShiftFactor <= 0 || o.ShiftFactor > 1:
		return fmt.Errorf("face: shift factor %g, want in (0,1]", o.ShiftFactor)
	case o.ScaleFactor <= 1 || o.ScaleFactor > 2:
		return fmt.Errorf("face: scale factor %g, want in (1,2]", o.ScaleFactor)
	case o.IoU <= 0 || o.IoU >= 1:
		return fmt.Errorf("face: IoU threshold %g, want in (0,1)", o.IoU)
	case o.Margin > 1:
		return fmt.Errorf("face: margin %g, want at most 1 (one box side each way)", o.Margin)
	case o.MaxFaces < 1:
		return fmt.Errorf("face: max faces %d, want at least 1", o.MaxFaces)
	case o.Workers < 1:
		return fmt.Errorf("face: %d workers, want at least 1", o.Workers)
	}
	return nil
}

// Face is one detected face.
type Face struct {
	// Box is the detector's square around the face, clipped to the frame.
	Box image.Rectangle
	// Crop is the region given to the model: Box widened by the margin,
	// kept square and inside the frame.
	Crop image.Rectangle
	// Score is the detector's confidence: for pigo the cluster's summed
	// cascade confidence (higher is surer, unbounded), for BlazeFace the
	// sigmoid score in [0,1].
	Score float32
	// Keypoints are the detector's landmarks in frame pixels, nil for
	// pigo; BlazeFace gives 6: right eye, left eye, nose tip, mouth, right
	// ear, left ear (the subject's right).
	Keypoints []image.Point
	// Roll is the angle of the line from the right to the left eye in
	// radians (image y down: positive when the left eye is lower), 0 when
	// the detector has no keypoints. A crop rotated by -Roll has level
	// eyes.
	Roll float64
}

// Finder is a face detector: pigo's cascade (Detector here) or BlazeFace
// (package detect). Find takes a gray, RGB or RGBA frame and returns the
// faces best first. Implementations are safe for concurrent use.
type Finder interface {
	Find(frame *vision.Image) ([]Face, error)
	// Name says which detector it is ("pigo", "blazeface-full", ...).
	Name() string
}

// Name is "pigo".
func (d *Detector) Name() string { return "pigo" }

// Find is Detect on any frame: an RGB or RGBA frame is converted to gray
// first.
func (d *Detector) Find(frame *vision.Image) ([]Face, error) {
	if frame != nil && frame.C != 1 {
		gray, err := vision.ConvertChannels(nil, frame, 1)
		if err != nil {
			return nil, fmt.Errorf("face: %w", err)
		}
		frame = gray
	}
	return d.Detect(frame)
}

// Detector finds faces. It is safe for concurrent use: the cascade is
// only read.
type Detector struct {
	opt     Options
	cascade *pigo.Pigo
}

// NewDetector unpacks the embedded cascade and checks the options.
func NewDetector(opt Options) (*Detector, error) {
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	c, err := pigo.NewPigo().Unpack(facefinder)
	if err != nil {
		return nil, fmt.Errorf("face: unpacking the facefinder cascade: %w", err)
	}
	return &Detector{opt: opt, cascade: c}, nil
}

// Options returns the detector's options with defaults filled in.
func (d *Detector) Options() Options { return d.opt }

// Detect finds faces in a gray (C == 1) image, best score first.
func (d *Detector) Detect(gray *vision.Image) ([]Face, error) {
	if gray == nil || gray.C != 1 || gray.W <= 0 || gray.H <= 0 || len(gray.Pix) < gray.Len() {
		if gray == nil {
			return nil, fmt.Errorf("face: nil image")
		}
		return nil, fmt.Errorf("face: detection needs a gray image, got %dx%dx%d with %d bytes", gray.W, gray.H, gray.C, len(gray.Pix))
	}
	o := d.opt
	maxSize := min(gray.W, gray.H)
	if o.MaxSize > 0 {
		maxSize = min(maxSize, o.MaxSize)
	}
	if maxSize < o.MinSize {
		return nil, nil // the frame is smaller than the smallest face
	}
	dets := d.scan(gray, maxSize)
	dets = d.cascade.ClusterDetections(dets, o.IoU)

	faces := make([]Face, 0, len(dets))
	for _, det := range dets {
		if det.Q < o.MinScore {
			continue
		}
		half := det.Scale / 2
		sq := image.Rect(det.Col-half, det.Row-half, det.Col-half+det.Scale, det.Row-half+det.Scale)
		faces = append(faces, Face{
			Box:   sq.Intersect(image.Rect(0, 0, gray.W, gray.H)),
			Crop:  CropBox(sq, o.Margin, gray.W, gray.H),
			Score: det.Q,
		})
	}
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Score > faces[j].Score })
	if len(faces) > o.MaxFaces {
		faces = faces[:o.MaxFaces]
	}
	return faces, nil
}

// scan runs the cascade over every window size from MinSize to maxSize,
// split into bands of about equal cost scanned concurrently, and returns
// every window the cascade accepts.
func (d *Detector) scan(gray *vision.Image, maxSize int) []pigo.Detection {
	o := d.opt
	params := pigo.CascadeParams{
		ShiftFactor: o.ShiftFactor,
		ScaleFactor: o.ScaleFactor,
		ImageParams: pigo.ImageParams{Pixels: gray.Pix[:gray.Len()], Rows: gray.H, Cols: gray.W, Dim: gray.W},
	}
	bands := scaleBands(o.MinSize, maxSize, gray.W, gray.H, o.ShiftFactor, o.ScaleFactor, o.Workers)
	if len(bands) == 1 {
		params.MinSize, params.MaxSize = bands[0][0], bands[0][1]
		return d.cascade.RunCascade(params, 0)
	}
	found := make([][]pigo.Detection, len(bands))
	var wg sync.WaitGroup
	for i, b := range bands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := params
			p.MinSize, p.MaxSize = b[0], b[1]
			found[i] = d.cascade.RunCascade(p, 0)
		}()
	}
	wg.Wait()
	var all []pigo.Detection
	for _, f := range found {
		all = append(all, f...)
	}
	return all
}

// scaleBands splits the window sizes pigo visits from minSize up to
// maxSize (each the previous times scaleFactor, at least 2 px more) into
// at most n contiguous [first,last] bands of about equal work, the work of
// a size s being its number of windows on a w x h frame.
func scaleBands(minSize, maxSize, w, h int, shift, scaleFactor float64, n int) [][2]int {
	var sizes []int
	var cost []float64
	total := 0.0
	for s := minSize; s <= maxSize; s = int(float64(s) + math.Max(2, float64(s)*scaleFactor-float64(s))) {
		step := math.Max(shift*float64(s), 1)
		c := math.Max(float64(w-s), 1) * math.Max(float64(h-s), 1) / (step * step)
		sizes = append(sizes, s)
		cost = append(cost, c)
		total += c
	}
	var bands [][2]int
	start, acc := 0, 0.0
	for i := range sizes {
		acc += cost[i]
		last := i == len(sizes)-1
		if last || (acc >= total/float64(n) && len(bands) < n-1) {
			bands = append(bands, [2]int{sizes[start], sizes[i]})
			start, acc = i+1, 0
		}
	}
	return bands
}

// CropBox widens the square box by margin times its side on each side and
// returns a square inside a w x h frame: moved inward when it overhangs,
// shrunk (about its centre) only when it is larger than the frame. The
// crop stays square so resizing it to the model input does not distort
// the face.
func CropBox(box image.Rectangle, margin float64, w, h int) image.Rectangle {
	side := max(box.Dx(), box.Dy())
	pad := int(margin*float64(side) + 0.5)
	s := side + 2*pad
	s = min(s, w, h)
	if s <= 0 {
		return image.Rectangle{}
	}
	cx, cy := (box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2
	x0 := min(max(cx-s/2, 0), w-s)
	y0 := min(max(cy-s/2, 0), h-s)
	return image.Rect(x0, y0, x0+s, y0+s)
}
