package main

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/detect"
	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// detectEvalOptions are the flags of `residual detect-eval`.
type detectEvalOptions struct {
	fer       string // FER2013 folder with publictest/<class>/
	digits    string // sign-language-digits folder with <digit>/
	faces     int    // face frames
	hands     int    // hand frames
	empty     int    // frames with no face or hand
	maxRoll   float64
	seed      uint64
	detectors []string
	margins   []float64
	verbose   bool
	faceScore float64 // BlazeFace min score (0: its default)
	handScore float64 // palm min score (0: its default)
	handTiles bool
	noAlign   bool
}

func newDetectEvalCmd() *cobra.Command {
	var o detectEvalOptions
	cmd := &cobra.Command{
		Use:   "detect-eval",
		Short: "Measure face and hand detection on generated 640x480 frames with known boxes",
		Long: `detect-eval builds labelled evaluation frames in memory (nothing is written):
FER2013 PublicTest faces and sign-language-digits hand photos pasted into
640x480 frames at sides of 48-400 px, random positions, rolls up to
--max-roll degrees and four kinds of background (flat, gradient, noise,
clutter), plus frames with no face or hand. For each face detector it
reports recall at IoU 0.5 (all faces, faces of 64 px or more), false boxes
per frame, and end-to-end emotion accuracy (the built-in emotion model on
the detector's aligned crop) beside the classifier alone on the same 48x48
faces; for the palm detector, hand recall and end-to-end gesture accuracy.
A detection matches a pasted face when its box overlaps the pasted square,
or the face box inside it (0.861 of its side, centred 0.086 of it lower:
FER2013's framing as measured with BlazeFace), by IoU >= 0.5; for hands the upright hand box (the palm box enlarged as
MediaPipe does) is compared with the pasted photo's square.`,
		Example: `  residual detect-eval --fer ../shared/data/fer2013 --digits ../shared/data/gestures/sign-language-digits`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDetectEval(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.fer, "fer", "", "FER2013 folder holding publictest/<class>/ (required for face frames)")
	f.StringVar(&o.digits, "digits", "", "sign-language-digits folder holding <digit>/ (required for hand frames)")
	countVar(f, &o.faces, "faces", 300, 0, "face frames (one face each)")
	countVar(f, &o.hands, "hands", 200, 0, "hand frames (one hand each)")
	countVar(f, &o.empty, "empty", 100, 0, "frames with neither (false boxes only)")
	f.Float64Var(&o.maxRoll, "max-roll", 30, "largest roll of a pasted face or hand, in degrees")
	f.Uint64Var(&o.seed, "seed", 1, "random seed of the frames")
	f.StringSliceVar(&o.detectors, "detectors", []string{detect.DetectorPigo, detect.DetectorShort, detect.DetectorFull}, "face detectors compared")
	f.Float64Var(&o.faceScore, "face-min-score", 0, "BlazeFace's min score (0: its default, detect.FaceOptions)")
	f.Float64Var(&o.handScore, "hand-min-score", 0, "the palm detector's min score (0: its default, detect.HandOptions)")
	f.BoolVar(&o.noAlign, "no-align", false, "classify face crops without turning them level (serve's align=false)")
	f.BoolVar(&o.handTiles, "hand-tiles", false, "run the palm detector on four corner tiles too (detect.HandOptions.Tiles)")
	f.BoolVar(&o.verbose, "verbose", false, "also print recall per pasted side and the median best IoU")
	f.Float64SliceVar(&o.margins, "margins", []float64{0.08}, "BlazeFace crop margins tried for the emotion accuracy (fraction of the box side each way; negative: none)")
	return cmd
}

// sample is one pasted object: its source image, label and where it went.
type sample struct {
	img   *vision.Image
	label int
	box   image.Rectangle // the pasted square before rotation, frame pixels
	side  int
}

// listClassFiles returns (path, class index) of the images under
// root/<class>/ for the given class names.
func listClassFiles(root string, classes []string) ([]string, []int, error) {
	var paths []string
	var labels []int
	for k, c := range classes {
		entries, err := os.ReadDir(filepath.Join(root, c))
		if err != nil {
			return nil, nil, fmt.Errorf("detect-eval: class %q: %w", c, err)
		}
		for _, e := range entries {
			if !e.IsDir() && data.IsImageFile(e.Name()) {
				paths = append(paths, filepath.Join(root, c, e.Name()))
				labels = append(labels, k)
			}
		}
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("detect-eval: no images under %s for classes %v", root, classes)
	}
	return paths, labels, nil
}

// background fills a 640x480 RGB frame with one of four kinds.
func background(rng *rand.Rand, kind int) *vision.Image {
	f := vision.NewImage(640, 480, 3)
	c0 := [3]float64{rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
	c1 := [3]float64{rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			for k := 0; k < 3; k++ {
				var v float64
				switch kind {
				case 0: // flat
					v = c0[k]
				case 1: // gradient
					t := (float64(x)/640 + float64(y)/480) / 2
					v = c0[k]*(1-t) + c1[k]*t
				case 2: // noise around a colour
					v = c0[k] + rng.NormFloat64()*30
				default: // clutter, drawn below
					v = c0[k]
				}
				f.Pix[(y*640+x)*3+k] = uint8(min(max(v, 0), 255))
			}
		}
	}
	if kind == 3 {
		for range 12 {
			w, h := 20+rng.IntN(200), 20+rng.IntN(200)
			x0, y0 := rng.IntN(640-w), rng.IntN(480-h)
			col := [3]uint8{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))}
			for y := y0; y < y0+h; y++ {
				for x := x0; x < x0+w; x++ {
					copy(f.Pix[(y*640+x)*3:], col[:])
				}
			}
		}
	}
	return f
}

// paste draws src (any channels, shown as RGB) into frame as a square of
// the given side centred at (cx, cy), turned by roll radians (clockwise on
// screen), bilinear.
func paste(frame, src *vision.Image, cx, cy float64, side int, roll float64) {
	rgb := src
	if src.C != 3 {
		rgb, _ = vision.ConvertChannels(nil, src, 3)
	}
	s := float64(side)
	r := s * math.Sqrt2 / 2
	cos, sin := math.Cos(roll), math.Sin(roll)
	for y := max(int(cy-r), 0); y < min(int(cy+r)+1, frame.H); y++ {
		for x := max(int(cx-r), 0); x < min(int(cx+r)+1, frame.W); x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			// Into the square's own axes (the inverse rotation).
			lx, ly := dx*cos+dy*sin, -dx*sin+dy*cos
			u, v := (lx/s+0.5)*float64(rgb.W)-0.5, (ly/s+0.5)*float64(rgb.H)-0.5
			if u < -0.5 || v < -0.5 || u > float64(rgb.W)-0.5 || v > float64(rgb.H)-0.5 {
				continue
			}
			u, v = min(max(u, 0), float64(rgb.W-1)), min(max(v, 0), float64(rgb.H-1))
			x0, y0 := int(u), int(v)
			x1, y1 := min(x0+1, rgb.W-1), min(y0+1, rgb.H-1)
			fx, fy := u-float64(x0), v-float64(y0)
			for k := 0; k < 3; k++ {
				p := func(xx, yy int) float64 { return float64(rgb.Pix[(yy*rgb.W+xx)*3+k]) }
				top := p(x0, y0) + fx*(p(x1, y0)-p(x0, y0))
				bot := p(x0, y1) + fx*(p(x1, y1)-p(x0, y1))
				frame.Pix[(y*frame.W+x)*3+k] = uint8(min(max(top+fy*(bot-top)+0.5, 0), 255))
			}
		}
	}
}

// sizes are the pasted sides, cycled so every size band is covered.
var evalSizes = []int{48, 64, 80, 100, 128, 160, 200, 250, 320, 400}

// makeFrame pastes one sample into a new background.
func makeFrame(rng *rand.Rand, src *vision.Image, side int, maxRoll float64) (*vision.Image, image.Rectangle, float64) {
	f := background(rng, rng.IntN(4))
	roll := (2*rng.Float64() - 1) * maxRoll * math.Pi / 180
	// Keep the turned square inside the frame.
	ext := float64(side) * (math.Abs(math.Cos(roll)) + math.Abs(math.Sin(roll))) / 2
	cx := ext + rng.Float64()*math.Max(640-2*ext, 0)
	cy := ext + rng.Float64()*math.Max(480-2*ext, 0)
	paste(f, src, cx, cy, side, roll)
	x0, y0 := int(math.Round(cx-float64(side)/2)), int(math.Round(cy-float64(side)/2))
	return f, image.Rect(x0, y0, x0+side, y0+side), roll
}

func rectIoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	i := float64(in.Dx() * in.Dy())
	return i / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - i)
}

// tally counts one detector's results.
type tally struct {
	frames, objects, found, big, bigFound, falseBoxes, correct, foundCorrect int
	falseEmpty, falseOnObject                                                int            // false boxes in empty frames; overlapping the object
	bySide                                                                   map[int][2]int // side -> (found, total)
	ious                                                                     []float64      // best IoU of each object
}

// sides reports recall per pasted side.
func (t *tally) sides() string {
	var keys []int
	for k := range t.bySide {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		v := t.bySide[k]
		parts = append(parts, fmt.Sprintf("%d:%d/%d", k, v[0], v[1]))
	}
	sort.Float64s(t.ious)
	med := 0.0
	if len(t.ious) > 0 {
		med = t.ious[len(t.ious)/2]
	}
	return fmt.Sprintf("found per side %s; median best IoU %.2f; false boxes: %d in empty frames, %d overlapping the object (IoU < 0.5)", strings.Join(parts, " "), med, t.falseEmpty, t.falseOnObject)
}

// faceBox is the face inside a pasted FER2013 square: 0.861 of its side,
// centred 0.086 of it lower (BlazeFace full range's median box on 200
// PublicTest faces at 240 px, no roll).
func faceBox(sq image.Rectangle) image.Rectangle {
	s := float64(sq.Dx())
	side := 0.861 * s
	cx, cy := float64(sq.Min.X+sq.Max.X)/2, float64(sq.Min.Y+sq.Max.Y)/2+0.086*s
	x0, y0 := int(math.Round(cx-side/2)), int(math.Round(cy-side/2))
	return image.Rect(x0, y0, x0+int(math.Round(side)), y0+int(math.Round(side)))
}

// add counts one frame: gt is the pasted square (empty: no object), alt
// another accepted box for it (the face box; empty: none).
func (t *tally) add(gt, alt image.Rectangle, label int, preds []serve.Prediction, classes []string) {
	t.frames++
	matched := -1
	if !gt.Empty() {
		t.objects++
		if gt.Dx() >= 64 {
			t.big++
		}
		best, top := 0.5, 0.0
		for i, p := range preds {
			v := rectIoU(gt, p.Box.Rect())
			if !alt.Empty() {
				v = max(v, rectIoU(alt, p.Box.Rect()))
			}
			top = max(top, v)
			if v >= best {
				best, matched = v, i
			}
		}
		t.ious = append(t.ious, top)
		if t.bySide == nil {
			t.bySide = map[int][2]int{}
		}
		bs := t.bySide[gt.Dx()]
		bs[1]++
		if matched >= 0 {
			bs[0]++
		}
		t.bySide[gt.Dx()] = bs
		if matched >= 0 {
			t.found++
			if gt.Dx() >= 64 {
				t.bigFound++
			}
			if preds[matched].Label == classes[label] {
				t.correct++
			}
		}
	}
	for i := range preds {
		if i != matched {
			t.falseBoxes++
			if gt.Empty() {
				t.falseEmpty++
			} else if rectIoU(gt, preds[i].Box.Rect()) > 0 || (!alt.Empty() && rectIoU(alt, preds[i].Box.Rect()) > 0) {
				t.falseOnObject++
			}
		}
	}
}

func pct(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

func runDetectEval(ctx context.Context, o detectEvalOptions, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if math.IsNaN(o.maxRoll) || o.maxRoll < 0 || o.maxRoll > 90 {
		return fmt.Errorf("detect-eval: --max-roll %g, want 0 to 90 degrees", o.maxRoll)
	}
	if o.faces > 0 && o.fer == "" || o.hands > 0 && o.digits == "" {
		return fmt.Errorf("detect-eval: --fer is needed for --faces %d and --digits for --hands %d (set a count to 0 to skip)", o.faces, o.hands)
	}
	rng := rand.New(rand.NewPCG(o.seed, 99))
	if o.faces > 0 || o.empty > 0 {
		emotion, err := loadBuiltin("emotion", 1)
		if err != nil {
			return err
		}
		if err := evalFaces(ctx, o, rng, emotion, out); err != nil {
			return err
		}
	}
	if o.hands > 0 {
		gesture, err := loadBuiltin("gesture", 1)
		if err != nil {
			return err
		}
		return evalHands(ctx, o, rng, gesture, out)
	}
	return nil
}

// pick draws n distinct indices of [0, total) (all of them when n >= total).
func pick(rng *rand.Rand, total, n int) []int {
	idx := rng.Perm(total)
	if n < total {
		idx = idx[:n]
	}
	sort.Ints(idx)
	return idx
}

func evalFaces(ctx context.Context, o detectEvalOptions, rng *rand.Rand, m *serve.Model, out io.Writer) error {
	type frameCase struct {
		frame *vision.Image
		gt    image.Rectangle
		label int
		face  *vision.Image
	}
	var cases []frameCase
	alone := 0
	if o.faces > 0 {
		paths, labels, err := listClassFiles(filepath.Join(o.fer, "publictest"), m.Classes)
		if err != nil {
			return err
		}
		for n, i := range pick(rng, len(paths), o.faces) {
			img, err := vision.LoadFile(nil, paths[i], 1, 0)
			if err != nil {
				return err
			}
			// The classifier alone on the 48x48 face.
			p, err := m.Classify(ctx, img, []image.Rectangle{image.Rect(0, 0, img.W, img.H)})
			if err != nil {
				return err
			}
			if argmax(p[0]) == labels[i] {
				alone++
			}
			f, gt, _ := makeFrame(rng, img, evalSizes[n%len(evalSizes)], o.maxRoll)
			cases = append(cases, frameCase{f, gt, labels[i], img})
		}
	}
	for range o.empty {
		cases = append(cases, frameCase{frame: background(rng, rng.IntN(4)), label: -1})
	}
	nFaces := o.faces
	if nFaces > len(cases)-o.empty {
		nFaces = len(cases) - o.empty
	}
	fmt.Fprintf(out, "face frames: %d with one FER2013 PublicTest face (sides %v px, roll up to %g°), %d empty; seed %d\n", nFaces, evalSizes, o.maxRoll, o.empty, o.seed)
	fmt.Fprintf(out, "classifier alone on the same 48x48 faces: %s\n", pct(alone, nFaces))
	fmt.Fprintf(out, "| detector | margin | recall@0.5 | recall, faces >= 64 px | false boxes/frame | emotion accuracy (end to end) |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, name := range o.detectors {
		margins := o.margins
		if name == detect.DetectorPigo {
			margins = []float64{0.1} // pigo's own default (face.Options)
		}
		for _, margin := range margins {
			det, err := detect.NewFinder(name, false, face.Options{Margin: margin}, detect.FaceOptions{Margin: margin, MinScore: float32(o.faceScore)})
			if err != nil {
				return err
			}
			var t tally
			for _, c := range cases {
				frame := &serve.Frame{Color: c.frame, Model: c.frame}
				if m.Preprocess.Channels == 1 {
					frame.Model, _ = vision.ConvertChannels(nil, c.frame, 1)
				}
				res, err := serve.Predict(ctx, m, det, frame, serve.FrameOptions{Faces: true, NoAlign: o.noAlign})
				if err != nil {
					return err
				}
				label := c.label
				if label < 0 {
					label = 0
				}
				alt := image.Rectangle{}
				if !c.gt.Empty() {
					alt = faceBox(c.gt)
				}
				t.add(c.gt, alt, label, res.Faces, m.Classes)
			}
			fmt.Fprintf(out, "| %s | %.2f | %s | %s | %.3f | %s |\n", name, margin, pct(t.found, t.objects), pct(t.bigFound, t.big),
				float64(t.falseBoxes)/float64(max(t.frames, 1)), pct(t.correct, t.objects))
			if o.verbose {
				fmt.Fprintf(out, "    %s: %s\n", name, t.sides())
			}
		}
	}
	return nil
}

func evalHands(ctx context.Context, o detectEvalOptions, rng *rand.Rand, m *serve.Model, out io.Writer) error {
	paths, labels, err := listClassFiles(o.digits, m.Classes)
	if err != nil {
		return err
	}
	hd, err := detect.NewHandDetector(detect.HandOptions{MinScore: float32(o.handScore), Tiles: o.handTiles})
	if err != nil {
		return err
	}
	var t tally
	alone, n := 0, 0
	for k, i := range pick(rng, len(paths), o.hands) {
		img, err := vision.LoadFile(nil, paths[i], 3, 0)
		if err != nil {
			return err
		}
		p, err := m.Classify(ctx, img, []image.Rectangle{image.Rect(0, 0, img.W, img.H)})
		if err != nil {
			return err
		}
		if argmax(p[0]) == labels[i] {
			alone++
		}
		side := evalSizes[2+k%(len(evalSizes)-2)] // hands from 80 px: a 48 px hand photo is a smudge
		f, gt, _ := makeFrame(rng, img, side, o.maxRoll)
		res, err := serve.Predict(ctx, m, nil, &serve.Frame{Color: f, Model: f}, serve.FrameOptions{Hands: hd})
		if err != nil {
			return err
		}
		// Compare the pasted square with the upright hand box (Crop), the
		// region MediaPipe hands to its landmark model.
		preds := make([]serve.Prediction, len(res.Hands))
		for j, h := range res.Hands {
			preds[j] = h
			preds[j].Box = h.Crop
		}
		t.add(gt, image.Rectangle{}, labels[i], preds, m.Classes)
		n++
	}
	fmt.Fprintf(out, "hand frames: %d with one sign-language-digits photo (sides %v px, roll up to %g°); seed %d\n", n, evalSizes[2:], o.maxRoll, o.seed)
	fmt.Fprintf(out, "gesture classifier alone on the same photos: %s\n", pct(alone, n))
	fmt.Fprintf(out, "| detector | recall@0.5 | false boxes/frame | gesture accuracy (end to end) |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(out, "| palm (hand box) | %s | %.3f | %s |\n", pct(t.found, t.objects), float64(t.falseBoxes)/float64(max(t.frames, 1)), pct(t.correct, t.objects))
	if o.verbose {
		fmt.Fprintf(out, "    palm: %s\n", t.sides())
	}
	return nil
}

func argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}
