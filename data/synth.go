package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Synthetic datasets for tests and the demo. Every image is drawn from a
// random generator seeded by (seed, sample index), so datasets are
// deterministic given the seed and can be drawn in parallel.

func sampleRand(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(mix64(seed), mix64(uint64(i)^0xfacefeed)))
}

// faceExpr holds the class-dependent geometry of a synthetic face, in
// face units (face half-height 1, y down).
type faceExpr struct {
	eyeOpen            float64 // eye half-height
	browInner, browOut float64 // brow end offsets (negative = raised)
	browAsym           float64 // extra lowering of the left brow (disgust)
	mouthHW, mouthBend float64 // mouth half-width and curvature (negative = smile)
	mouthTilt          float64 // asymmetric mouth (disgust)
	mouthOpenX         float64 // open mouth ellipse radii (0 = closed line)
	mouthOpenY         float64
	noseWrinkle        bool
}

// faceExprs is indexed by FER2013 label: angry, disgust, fear, happy, sad,
// surprise, neutral.
var faceExprs = [7]faceExpr{
	{eyeOpen: 0.06, browInner: 0.10, browOut: -0.05, mouthHW: 0.22, mouthBend: 0.04},                                                      // angry: V brows, tight line
	{eyeOpen: 0.045, browInner: 0.04, browOut: 0.02, browAsym: 0.07, mouthHW: 0.25, mouthBend: 0.05, mouthTilt: -0.08, noseWrinkle: true}, // disgust
	{eyeOpen: 0.11, browInner: -0.10, browOut: -0.03, mouthHW: 0.30, mouthBend: 0.03, mouthOpenX: 0.28, mouthOpenY: 0.08},                 // fear: wide eyes, stretched open mouth
	{eyeOpen: 0.035, browInner: -0.02, browOut: -0.02, mouthHW: 0.36, mouthBend: -0.14},                                                   // happy: squint, smile
	{eyeOpen: 0.055, browInner: -0.09, browOut: 0.05, mouthHW: 0.27, mouthBend: 0.12},                                                     // sad: raised inner brows, frown
	{eyeOpen: 0.13, browInner: -0.13, browOut: -0.12, mouthHW: 0.14, mouthOpenX: 0.13, mouthOpenY: 0.19},                                  // surprise: round eyes, O mouth
	{eyeOpen: 0.065, mouthHW: 0.27}, // neutral
}

// drawFace draws one 48x48-style face of class label into pix (size x size).
func drawFace(pix []uint8, size, label int, rng *rand.Rand) {
	e := faceExprs[label]
	k := 0.6 + 0.6*rng.Float64() // expression intensity
	j := func(s float64) float64 { return s * (2*rng.Float64() - 1) }
	skin := 0.55 + 0.3*rng.Float64()
	dark := 0.08 + 0.15*rng.Float64()
	// Features: face oval, eyes with pupils, brows, nose, mouth.
	var layers []layer
	layers = append(layers, layer{ellipse{j(0.03), 0, 0.78 + j(0.06), 1, j(0.05)}, skin})
	eyeY := -0.2 + j(0.04)
	eyeDX := 0.32 + j(0.03)
	open := math.Max(0.025, e.eyeOpen*(0.8+0.4*rng.Float64()))
	browY := eyeY - 0.17 - open*0.6
	for side := -1.0; side <= 1; side += 2 {
		ex := side*eyeDX + j(0.02)
		layers = append(layers, layer{ellipse{ex, eyeY, 0.13, open, 0}, 0.95})
		layers = append(layers, layer{ellipse{ex + j(0.03), eyeY, 0.05, math.Min(0.05, open), 0}, dark})
		inner, outer := browY+k*e.browInner, browY+k*e.browOut
		if side < 0 {
			inner += k * e.browAsym
			outer += k * e.browAsym
		}
		layers = append(layers, layer{capsule{side * 0.12, inner, side * 0.48, outer, 0.04}, dark})
	}
	layers = append(layers, layer{capsule{0, -0.1, j(0.03), 0.2, 0.045}, skin * 0.8})
	if e.noseWrinkle {
		layers = append(layers, layer{capsule{-0.1, 0.05, -0.02, 0.0, 0.02}, dark + 0.1}, layer{capsule{0.1, 0.05, 0.02, 0.0, 0.02}, dark + 0.1})
	}
	mouthY := 0.5 + j(0.04)
	mouthLine := curve(j(0.03), mouthY, e.mouthHW*(0.9+0.2*rng.Float64()), k*e.mouthBend, k*e.mouthTilt, 0.06)
	layers = append(layers, layer{mouthLine, dark})
	if e.mouthOpenX > 0 {
		layers = append(layers, layer{ellipse{0, mouthY + 0.03, e.mouthOpenX * (0.85 + 0.3*rng.Float64()), e.mouthOpenY * (0.7 + 0.5*k), 0}, dark})
	}
	// Pose and background.
	s := float64(size)
	m := similarity{scale: s * (0.36 + 0.06*rng.Float64()), angle: j(0.15), tx: s/2 + j(s*0.05), ty: s*0.52 + j(s*0.05)}
	bg0, bgx, bgy := 0.15+0.35*rng.Float64(), j(0.2), j(0.2)
	bg := func(x, y int) float64 { return bg0 + bgx*float64(x)/s + bgy*float64(y)/s }
	img := make([]float64, size*size)
	render(img, size, size, m, layers, bg)
	quantize(pix, img, 0.03+0.04*rng.Float64(), rng.NormFloat64)
}

// SynthFaces returns n synthetic 48x48 gray faces with FER2013 labels
// drawn uniformly, deterministic given seed. Each class has its own
// eyes, brows and mouth (e.g. happy: squinting eyes and a smile; surprise:
// round eyes and an O mouth; angry: V-shaped brows), with random pose,
// expression strength, lighting and noise, so the task is learnable but
// not trivial.
func SynthFaces(n int, seed uint64) *Dataset {
	const size = 48
	d := NewDataset(size, size, 1, FER2013ClassNames())
	d.Pix = make([]uint8, n*size*size)
	d.Labels = make([]int, n)
	d.Sources = make([]string, n)
	parallelSamples(n, func(i int) {
		rng := sampleRand(seed, i)
		label := rng.IntN(7)
		d.Labels[i] = label
		d.Sources[i] = fmt.Sprintf("synthetic face %d", i)
		drawFace(d.Pix[i*size*size:(i+1)*size*size], size, label, rng)
	})
	return d
}

// parallelSamples calls fn(i) for i in [0,n) over all cores.
func parallelSamples(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// HandOptions configures SynthHands.
type HandOptions struct {
	Subjects         int    // number of subjects (default 10, like LeapGestRecog)
	FramesPerGesture int    // frames per subject and gesture (default 20)
	Width, Height    int    // image size (default 64x64)
	Seed             uint64 // default 0
}

func (o *HandOptions) defaults() {
	if o.Subjects == 0 {
		o.Subjects = 10
	}
	if o.FramesPerGesture == 0 {
		o.FramesPerGesture = 20
	}
	if o.Width == 0 {
		o.Width = 64
	}
	if o.Height == 0 {
		o.Height = 64
	}
}

// subjectStyle is what makes one synthetic subject's hands look alike.
type subjectStyle struct {
	scale, dx, dy, bright, finger, palmW, tilt float64
}

// finger returns a capsule leaving the palm top at angle deg from
// vertical (positive = to the right), with length l.
func finger(deg, l, r, baseY float64) capsule {
	a := deg * math.Pi / 180
	x0 := 0.45 * math.Sin(a)
	y0 := baseY - 0.1*math.Cos(a)
	return capsule{x0, y0, x0 + l*math.Sin(a), y0 - l*math.Cos(a), r}
}

// handShape draws gesture g (index into LeapGestures) in hand units
// (palm half-height 0.5, y down).
func handShape(g int, st subjectStyle, rng *rand.Rand) shape {
	f := st.finger * (0.95 + 0.1*rng.Float64())
	palm := ellipse{0, 0, 0.42 * st.palmW, 0.5, 0}
	fist := ellipse{0, 0, 0.48 * st.palmW, 0.45, 0}
	knuckles := union{fist}
	for i := 0; i < 4; i++ {
		knuckles = append(knuckles, ellipse{-0.3 + 0.2*float64(i), -0.4, 0.11, 0.1, 0})
	}
	const r = 0.105
	switch LeapGestures[g] {
	case "01_palm": // open hand, five spread fingers
		return union{palm, finger(-70, 0.55*f, r+0.01, 0.2), finger(-22, 0.85*f, r, -0.35), finger(-6, 0.95*f, r, -0.4), finger(10, 0.88*f, r, -0.38), finger(28, 0.7*f, r, -0.3)}
	case "02_l": // thumb out sideways, index up
		return union{fist, finger(-85, 0.75*f, r+0.01, 0.15), finger(-8, 1.0*f, r, -0.4)}
	case "03_fist":
		return knuckles
	case "04_fist_moved": // fist seen from the side with the thumb across
		return union{ellipse{0, 0, 0.6, 0.38, 0.3}, capsule{-0.35, 0.05, 0.3, -0.15, 0.1}}
	case "05_thumb": // fist with the thumb up
		return union{knuckles, finger(-35, 0.75*f, r+0.015, -0.25)}
	case "06_index": // fist with the index up
		return union{knuckles, finger(-5, 1.0*f, r, -0.42)}
	case "07_ok": // thumb-index ring, three fingers up
		return union{palm, ring{-0.42, -0.55, 0.22, 0.09, 0, 2 * math.Pi}, finger(2, 0.9*f, r, -0.4), finger(15, 0.85*f, r, -0.38), finger(30, 0.65*f, r, -0.3)}
	case "08_palm_moved": // flat hand, fingers together, tilted
		return rotated{union{palm, finger(-12, 0.95*f, r, -0.35), finger(-4, 1.0*f, r, -0.4), finger(4, 0.95*f, r, -0.38), finger(12, 0.8*f, r, -0.32), finger(-60, 0.5*f, r, 0.15)}, 0.7}
	case "09_c": // C shape opening to the right
		return ring{0.1, 0, 0.55, 0.26, math.Pi / 4, 2*math.Pi - math.Pi/4}
	case "10_down": // fingers pointing down
		return rotated{union{palm, finger(-20, 0.8*f, r, -0.35), finger(-6, 0.9*f, r, -0.4), finger(8, 0.85*f, r, -0.38), finger(22, 0.65*f, r, -0.3), finger(-75, 0.5*f, r, 0.2)}, math.Pi}
	}
	panic("handShape: unknown gesture " + LeapGestures[g])
}

// rotated turns a shape by angle radians about the origin.
type rotated struct {
	s     shape
	angle float64
}

func (r rotated) bounds() box {
	b := r.s.bounds()
	rad := math.Max(math.Max(math.Hypot(b.x0, b.y0), math.Hypot(b.x1, b.y0)), math.Max(math.Hypot(b.x0, b.y1), math.Hypot(b.x1, b.y1)))
	return box{-rad, -rad, rad, rad}
}

func (r rotated) contains(x, y float64) bool {
	s, c := math.Sincos(-r.angle)
	return r.s.contains(c*x-s*y, s*x+c*y)
}

// SynthHands returns synthetic near-infrared hand images in the spirit of
// LeapGestRecog: a bright hand on a dark background, 10 gestures
// (LeapGestures), several subjects, each with its own hand size, position,
// brightness and finger length, and consecutive frames that drift slowly
// (so a random split leaks near-duplicates, as in the real set). Group is
// the subject id "00", "01", ...; deterministic given the seed.
func SynthHands(opt HandOptions) *Dataset {
	opt.defaults()
	w, h := opt.Width, opt.Height
	d := NewDataset(h, w, 1, LeapGestures[:])
	n := opt.Subjects * len(LeapGestures) * opt.FramesPerGesture
	d.Pix = make([]uint8, n*w*h)
	d.Labels = make([]int, n)
	d.Sources = make([]string, n)
	d.Groups = make([]string, n)
	styles := make([]subjectStyle, opt.Subjects)
	for s := range styles {
		rng := sampleRand(opt.Seed^0x5ab1ec7, s)
		styles[s] = subjectStyle{
			scale: 0.8 + 0.4*rng.Float64(), dx: 0.3*rng.Float64() - 0.15, dy: 0.2*rng.Float64() - 0.1,
			bright: 0.6 + 0.35*rng.Float64(), finger: 0.85 + 0.3*rng.Float64(), palmW: 0.9 + 0.2*rng.Float64(),
			tilt: 0.3*rng.Float64() - 0.15,
		}
	}
	parallelSamples(n, func(i int) {
		s := i / (len(LeapGestures) * opt.FramesPerGesture)
		g := i / opt.FramesPerGesture % len(LeapGestures)
		frame := i % opt.FramesPerGesture
		st := styles[s]
		rng := sampleRand(opt.Seed, i)
		// Slow drift over consecutive frames plus a little jitter.
		phase := float64(s*7 + g)
		t := float64(frame) * 0.25
		side := float64(min(w, h))
		m := similarity{
			scale: side * 0.34 * st.scale * (1 + 0.05*math.Sin(t+phase)),
			angle: st.tilt + 0.08*math.Sin(0.7*t+phase) + 0.03*(2*rng.Float64()-1),
			tx:    float64(w)*(0.5+st.dx) + side*0.06*math.Sin(t+phase),
			ty:    float64(h)*(0.6+st.dy) + side*0.05*math.Cos(0.8*t+phase),
		}
		shape := handShape(g, st, rng)
		bright := st.bright * (0.95 + 0.1*rng.Float64())
		bg0 := 0.03 + 0.05*rng.Float64()
		img := make([]float64, w*h)
		render(img, w, h, m, []layer{{shape, bright}}, func(x, y int) float64 { return bg0 })
		quantize(d.Pix[i*w*h:(i+1)*w*h], img, 0.02+0.02*rng.Float64(), rng.NormFloat64)
		d.Labels[i] = g
		d.Groups[i] = fmt.Sprintf("%02d", s)
		d.Sources[i] = fmt.Sprintf("synthetic hand subject %02d gesture %s frame %d", s, LeapGestures[g], frame)
	})
	return d
}
