package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Augment configures random training-time augmentation of one image.
// The zero value does nothing; DefaultAugment gives the settings used for
// FER2013. Geometric steps (flip, padded crop, resized crop, rotation,
// translation) are composed into a single bilinear resampling, so an image
// is interpolated at most once; photometric steps (brightness, contrast)
// and random erasing follow. Images are float32 (H,W,C) in [0,1] pixel
// units (pixel/255), before normalisation.
type Augment struct {
	// FlipProb is the probability of a horizontal flip (default 0.5).
	FlipProb float64
	// Pad enables "random crop with padding": the image is padded by Pad
	// pixels on each side (filled per PadMode) and cropped back to its
	// size at a random integer offset (default 4, about 8% of 48 px).
	Pad int
	// PadMode is what geometric steps read outside the image: PadReflect
	// (the default: mirror without repeating the edge), PadZero or PadEdge.
	PadMode PadMode
	// ResizedCropProb is the probability of a random resized crop
	// (default 0: off): a window with area fraction in [ScaleMin,ScaleMax]
	// of the image and aspect ratio w/h in [RatioMin,RatioMax] (log-
	// uniform) is stretched back to the full size. Zero ranges take
	// [0.7,1] and [3/4,4/3].
	ResizedCropProb    float64
	ScaleMin, ScaleMax float64
	RatioMin, RatioMax float64
	// RotateDeg is the largest rotation in degrees, drawn uniformly in
	// [-RotateDeg, RotateDeg] (default 10).
	RotateDeg float64
	// Translate is the largest shift as a fraction of width/height, drawn
	// uniformly per axis (default 0: Pad already shifts).
	Translate float64
	// Brightness multiplies pixels by a factor in [1-b, 1+b] (default 0.2).
	Brightness float64
	// Contrast scales deviations from the image mean by a factor in
	// [1-c, 1+c] (default 0.2). Results are clamped to [0,1].
	Contrast float64
	// EraseProb is the probability of random erasing (default 0.25): a
	// rectangle with area fraction in [EraseScaleMin,EraseScaleMax] and
	// aspect ratio in [EraseRatioMin,EraseRatioMax] is filled with
	// uniform noise in [0,1]. Zero ranges take [0.02,0.2] and [0.3,3.3].
	EraseProb                    float64
	EraseScaleMin, EraseScaleMax float64
	EraseRatioMin, EraseRatioMax float64
}

// DefaultAugment returns the augmentation used for FER2013 training:
// flip 0.5, pad-crop 4 px (reflect), rotation ±10°, brightness and
// contrast ±20%, random erasing with probability 0.25.
func DefaultAugment() Augment {
	return Augment{FlipProb: 0.5, Pad: 4, PadMode: PadReflect, RotateDeg: 10, Brightness: 0.2, Contrast: 0.2, EraseProb: 0.25}
}

// withDefaults fills zero ranges with their documented defaults.
func (a Augment) withDefaults() Augment {
	if a.ScaleMin == 0 && a.ScaleMax == 0 {
		a.ScaleMin, a.ScaleMax = 0.7, 1
	}
	if a.RatioMin == 0 && a.RatioMax == 0 {
		a.RatioMin, a.RatioMax = 3.0/4, 4.0/3
	}
	if a.EraseScaleMin == 0 && a.EraseScaleMax == 0 {
		a.EraseScaleMin, a.EraseScaleMax = 0.02, 0.2
	}
	if a.EraseRatioMin == 0 && a.EraseRatioMax == 0 {
		a.EraseRatioMin, a.EraseRatioMax = 0.3, 3.3
	}
	return a
}

// Validate checks probabilities and ranges.
func (a Augment) Validate() error {
	a = a.withDefaults()
	for _, p := range []struct {
		name string
		v    float64
	}{{"flip probability", a.FlipProb}, {"resized-crop probability", a.ResizedCropProb}, {"erase probability", a.EraseProb}} {
		if p.v < 0 || p.v > 1 || math.IsNaN(p.v) {
			return fmt.Errorf("augment: %s %v outside [0,1]", p.name, p.v)
		}
	}
	if a.Pad < 0 || a.RotateDeg < 0 || a.RotateDeg > 180 || a.Translate < 0 || a.Translate > 1 {
		return fmt.Errorf("augment: pad %d, rotation %v° or translation %v out of range (pad >= 0, rotation 0..180, translation 0..1)", a.Pad, a.RotateDeg, a.Translate)
	}
	if a.Brightness < 0 || a.Brightness > 1 || a.Contrast < 0 || a.Contrast > 1 {
		return fmt.Errorf("augment: brightness %v and contrast %v must be in [0,1]", a.Brightness, a.Contrast)
	}
	for _, r := range []struct {
		name   string
		lo, hi float64
		max    float64
	}{{"scale", a.ScaleMin, a.ScaleMax, 1}, {"ratio", a.RatioMin, a.RatioMax, 100}, {"erase scale", a.EraseScaleMin, a.EraseScaleMax, 1}, {"erase ratio", a.EraseRatioMin, a.EraseRatioMax, 100}} {
		if !(r.lo > 0 && r.lo <= r.hi && r.hi <= r.max) {
			return fmt.Errorf("augment: %s range [%v,%v] must satisfy 0 < min <= max <= %v", r.name, r.lo, r.hi, r.max)
		}
	}
	if a.PadMode < PadReflect || a.PadMode > PadEdge {
		return fmt.Errorf("augment: unknown pad mode %d", int(a.PadMode))
	}
	return nil
}

// Augmenter applies an Augment to (H,W,C) float32 images of one size,
// with its own scratch buffer: it allocates nothing per image. It is not
// safe for concurrent use; give each goroutine its own.
type Augmenter struct {
	cfg     Augment
	H, W, C int
	tmp     []float32
}

// NewAugmenter checks cfg and prepares an augmenter for (h,w,c) images.
func NewAugmenter(cfg Augment, h, w, c int) (*Augmenter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h <= 0 || w <= 0 || c <= 0 {
		return nil, fmt.Errorf("augment: bad image shape (%d,%d,%d)", h, w, c)
	}
	return &Augmenter{cfg: cfg.withDefaults(), H: h, W: w, C: c, tmp: make([]float32, h*w*c)}, nil
}

// Config returns the augmenter's settings (with defaults filled in).
func (a *Augmenter) Config() Augment { return a.cfg }

// uniform draws from [lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// Transform draws the random geometric transform for one image: the map
// from output pixels to source coordinates, or Identity.
func (a *Augmenter) Transform(rng *rand.Rand) Affine {
	cfg, w, h := &a.cfg, a.W, a.H
	m := Identity
	if cfg.FlipProb > 0 && rng.Float64() < cfg.FlipProb {
		m = m.Then(FlipMap(w))
	}
	if cfg.RotateDeg > 0 || cfg.Translate > 0 {
		var tx, ty float64
		if cfg.Translate > 0 {
			tx = uniform(rng, -cfg.Translate, cfg.Translate) * float64(w)
			ty = uniform(rng, -cfg.Translate, cfg.Translate) * float64(h)
		}
		m = m.Then(Translation(tx, ty))
		if cfg.RotateDeg > 0 {
			m = m.Then(Rotation(uniform(rng, -cfg.RotateDeg, cfg.RotateDeg), w, h))
		}
	}
	if cfg.ResizedCropProb > 0 && rng.Float64() < cfg.ResizedCropProb {
		x0, y0, cw, ch := a.resizedCropWindow(rng)
		m = m.Then(CropResize(x0, y0, cw, ch, w, h))
	}
	if cfg.Pad > 0 {
		dx := rng.IntN(2*cfg.Pad+1) - cfg.Pad
		dy := rng.IntN(2*cfg.Pad+1) - cfg.Pad
		m = m.Then(Translation(float64(-dx), float64(-dy)))
	}
	return m
}

// resizedCropWindow draws a window as torchvision's RandomResizedCrop
// does: up to 10 tries for a window that fits, else the whole image.
func (a *Augmenter) resizedCropWindow(rng *rand.Rand) (x0, y0, cw, ch float64) {
	w, h := float64(a.W), float64(a.H)
	lr0, lr1 := math.Log(a.cfg.RatioMin), math.Log(a.cfg.RatioMax)
	for try := 0; try < 10; try++ {
		area := w * h * uniform(rng, a.cfg.ScaleMin, a.cfg.ScaleMax)
		ratio := math.Exp(uniform(rng, lr0, lr1))
		cw, ch = math.Sqrt(area*ratio), math.Sqrt(area/ratio)
		if cw <= w && ch <= h {
			return uniform(rng, 0, w-cw), uniform(rng, 0, h-ch), cw, ch
		}
	}
	return 0, 0, w, h
}

// Apply augments img, an (H,W,C) float32 image in [0,1] pixel units, in
// place. All randomness comes from rng, so a seeded rng reproduces the
// same augmentation.
func (a *Augmenter) Apply(rng *rand.Rand, img []float32) {
	n := a.H * a.W * a.C
	img = img[:n]
	if m := a.Transform(rng); !m.IsIdentity() {
		copy(a.tmp, img)
		Warp(img, a.H, a.W, a.tmp, a.H, a.W, a.C, m, a.cfg.PadMode)
	}
	a.photometric(rng, img)
	if a.cfg.EraseProb > 0 && rng.Float64() < a.cfg.EraseProb {
		a.erase(rng, img)
	}
}

// ApplyUint8 converts an 8-bit (H,W,C) image to [0,1] floats in dst and
// augments it.
func (a *Augmenter) ApplyUint8(rng *rand.Rand, dst []float32, src []uint8) {
	n := a.H * a.W * a.C
	dst, src = dst[:n], src[:n]
	for i, v := range src {
		dst[i] = float32(v) * (1.0 / 255)
	}
	a.Apply(rng, dst)
}

// photometric applies brightness then contrast jitter, clamping to [0,1].
func (a *Augmenter) photometric(rng *rand.Rand, img []float32) {
	if a.cfg.Brightness == 0 && a.cfg.Contrast == 0 {
		return
	}
	bf := float32(1)
	if a.cfg.Brightness > 0 {
		bf = float32(uniform(rng, 1-a.cfg.Brightness, 1+a.cfg.Brightness))
	}
	cf := float32(1)
	var mean float32
	if a.cfg.Contrast > 0 {
		cf = float32(uniform(rng, 1-a.cfg.Contrast, 1+a.cfg.Contrast))
		var sum float64
		for _, v := range img {
			sum += float64(v)
		}
		mean = float32(sum/float64(len(img))) * bf
	}
	for i, v := range img {
		v = (v*bf-mean)*cf + mean
		img[i] = min(max(v, 0), 1)
	}
}

// erase fills a random rectangle with uniform noise.
func (a *Augmenter) erase(rng *rand.Rand, img []float32) {
	w, h := float64(a.W), float64(a.H)
	lr0, lr1 := math.Log(a.cfg.EraseRatioMin), math.Log(a.cfg.EraseRatioMax)
	for try := 0; try < 10; try++ {
		area := w * h * uniform(rng, a.cfg.EraseScaleMin, a.cfg.EraseScaleMax)
		ratio := math.Exp(uniform(rng, lr0, lr1))
		ew, eh := int(math.Round(math.Sqrt(area*ratio))), int(math.Round(math.Sqrt(area/ratio)))
		if ew < 1 || eh < 1 || ew > a.W || eh > a.H {
			continue
		}
		x0, y0 := rng.IntN(a.W-ew+1), rng.IntN(a.H-eh+1)
		for y := y0; y < y0+eh; y++ {
			row := img[(y*a.W+x0)*a.C : (y*a.W+x0+ew)*a.C]
			for i := range row {
				row[i] = rng.Float32()
			}
		}
		return
	}
}

// TTA describes test-time augmentation: the set of views of an image
// whose predictions are averaged. The zero value is the image alone.
type TTA struct {
	// Flip adds the horizontally mirrored view of every view.
	Flip bool
	// CropH, CropW > 0 selects five crops of that size (four corners and
	// the centre; ten with Flip, the classic "ten-crop") instead of the
	// whole image. The model then takes CropH x CropW input.
	CropH, CropW int
}

// Views is the number of views Write produces.
func (t TTA) Views() int {
	n := 1
	if t.CropH > 0 && t.CropW > 0 {
		n = 5
	}
	if t.Flip {
		n *= 2
	}
	return n
}

// ViewShape is the (H,W,C) of one view of an (h,w,c) image.
func (t TTA) ViewShape(h, w, c int) (int, int, int) {
	if t.CropH > 0 && t.CropW > 0 {
		return t.CropH, t.CropW, c
	}
	return h, w, c
}

// Write writes the Views() views of img (h,w,c) back to back into dst,
// which must hold Views()*vh*vw*c values, as a batch (V,vh,vw,c) to run
// through the model. Order: crops top-left, top-right, bottom-left,
// bottom-right, centre (or the whole image), then the same views flipped.
// Flips and crops commute with per-channel normalisation, so img may be
// already normalised model input.
func (t TTA) Write(dst, img []float32, h, w, c int) error {
	vh, vw, _ := t.ViewShape(h, w, c)
	if vh > h || vw > w {
		return fmt.Errorf("tta: crop %dx%d larger than the %dx%d image", vw, vh, w, h)
	}
	size := vh * vw * c
	if len(dst) < t.Views()*size || len(img) < h*w*c {
		return fmt.Errorf("tta: buffers too small: dst %d values for %d views of %d, image %d for (%d,%d,%d)", len(dst), t.Views(), size, len(img), h, w, c)
	}
	v := 0
	if t.CropH > 0 && t.CropW > 0 {
		origins := [5][2]int{{0, 0}, {0, w - vw}, {h - vh, 0}, {h - vh, w - vw}, {(h - vh) / 2, (w - vw) / 2}}
		for _, o := range origins {
			CropRect(dst[v*size:(v+1)*size], img, w, c, o[0], o[1], vh, vw)
			v++
		}
	} else {
		copy(dst[:size], img[:size])
		v = 1
	}
	if t.Flip {
		for i := 0; i < v; i++ {
			FlipHorizontal(dst[(v+i)*size:(v+i+1)*size], dst[i*size:(i+1)*size], vh, vw, c)
		}
	}
	return nil
}

// AverageViews averages per-view scores (V, classes), e.g. softmax
// probabilities of the views Write produced, into dst (classes).
func AverageViews(dst, scores []float32, views, classes int) {
	clear(dst[:classes])
	for v := 0; v < views; v++ {
		for k := 0; k < classes; k++ {
			dst[k] += scores[v*classes+k]
		}
	}
	for k := 0; k < classes; k++ {
		dst[k] /= float32(views)
	}
}
