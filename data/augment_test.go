package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func ramp(h, w, c int) []float32 {
	img := make([]float32, h*w*c)
	for i := range img {
		img[i] = float32(i) / float32(len(img))
	}
	return img
}

func TestPadModeResolve(t *testing.T) {
	cases := []struct {
		m       PadMode
		i, n    int
		want    int
		comment string
	}{
		{PadReflect, -1, 5, 1, "reflect does not repeat the edge"},
		{PadReflect, -2, 5, 2, ""},
		{PadReflect, 5, 5, 3, ""},
		{PadReflect, 6, 5, 2, ""},
		{PadReflect, 9, 5, 1, "reflects repeatedly"},
		{PadReflect, -3, 1, 0, "1-pixel image"},
		{PadEdge, -3, 5, 0, ""},
		{PadEdge, 7, 5, 4, ""},
		{PadZero, -1, 5, -1, ""},
		{PadZero, 2, 5, 2, ""},
	}
	for _, c := range cases {
		if got := c.m.resolve(c.i, c.n); got != c.want {
			t.Errorf("%v resolve(%d,%d) = %d want %d %s", c.m, c.i, c.n, got, c.want, c.comment)
		}
	}
}

func TestFlipAndShift(t *testing.T) {
	src := []uint8{1, 2, 3, 4, 5, 6} // 2x3 gray
	dst := make([]uint8, 6)
	FlipHorizontal(dst, src, 2, 3, 1)
	if !slices.Equal(dst, []uint8{3, 2, 1, 6, 5, 4}) {
		t.Fatalf("flip: %v", dst)
	}
	in := slices.Clone(src)
	FlipHorizontal(in, in, 2, 3, 1)
	if !slices.Equal(in, dst) {
		t.Fatalf("in-place flip: %v", in)
	}
	rgb := []float32{1, 2, 3, 4, 5, 6} // 1x2 RGB
	out := make([]float32, 6)
	FlipHorizontal(out, rgb, 1, 2, 3)
	if !slices.Equal(out, []float32{4, 5, 6, 1, 2, 3}) {
		t.Fatalf("rgb flip keeps channel order: %v", out)
	}
	Shift(dst, src, 2, 3, 1, 1, 0, PadZero) // dst(x) = src(x+1)
	if !slices.Equal(dst, []uint8{2, 3, 0, 5, 6, 0}) {
		t.Fatalf("shift zero: %v", dst)
	}
	Shift(dst, src, 2, 3, 1, -1, 1, PadReflect)
	if !slices.Equal(dst, []uint8{5, 4, 5, 2, 1, 2}) { // rows 1 then reflect(2)=0
		t.Fatalf("shift reflect: %v", dst)
	}
}

func TestWarpExactAndRotation(t *testing.T) {
	h, w := 5, 7
	src := ramp(h, w, 1)
	dst := make([]float32, h*w)
	// Identity and integer shifts copy exactly.
	Warp(dst, h, w, src, h, w, 1, Identity, PadZero)
	if !slices.Equal(dst, src) {
		t.Fatal("identity warp changed the image")
	}
	want := make([]float32, h*w)
	Shift(want, src, h, w, 1, 2, -1, PadReflect)
	Warp(dst, h, w, src, h, w, 1, Translation(-2, 1), PadReflect)
	if !slices.Equal(dst, want) {
		t.Fatalf("translation warp != shift:\n%v\n%v", dst, want)
	}
	// Flip as a warp equals FlipHorizontal.
	FlipHorizontal(want, src, h, w, 1)
	Warp(dst, h, w, src, h, w, 1, FlipMap(w), PadZero)
	if !slices.Equal(dst, want) {
		t.Fatal("flip warp != FlipHorizontal")
	}
	// Rotating by 90° moves a pixel right of the centre to above it
	// (counter-clockwise on screen).
	sq := make([]float32, 5*5)
	sq[2*5+3] = 1 // (x=3,y=2), right of centre (2,2)
	Warp(dst[:25], 5, 5, sq, 5, 5, 1, Rotation(90, 5, 5), PadZero)
	if math.Abs(float64(dst[1*5+2]-1)) > 1e-6 {
		t.Fatalf("rotation 90: %v", dst[:25])
	}
	// Rotation 90 then -90 composes to the identity map.
	m := Rotation(90, 7, 5).Then(Rotation(-90, 7, 5))
	x, y := m.Apply(1.5, 3)
	if math.Abs(x-1.5) > 1e-9 || math.Abs(y-3) > 1e-9 {
		t.Fatalf("rotation round trip: %v %v", x, y)
	}
	// A half-pixel shift averages neighbours (bilinear).
	Warp(dst, h, w, src, h, w, 1, Translation(-0.5, 0), PadEdge)
	if got, want := dst[0], (src[0]+src[1])/2; math.Abs(float64(got-want)) > 1e-6 {
		t.Fatalf("bilinear: %v want %v", got, want)
	}
	// uint8 warp rounds.
	u := []uint8{0, 101}
	ud := make([]uint8, 2)
	Warp(ud, 1, 2, u, 1, 2, 1, Translation(-0.5, 0), PadEdge)
	if ud[0] != 51 || ud[1] != 101 {
		t.Fatalf("uint8 warp: %v", ud)
	}
}

func TestCropResizeWholeImageIsIdentity(t *testing.T) {
	m := CropResize(0, 0, 7, 5, 7, 5)
	x, y := m.Apply(3, 2)
	if math.Abs(x-3) > 1e-12 || math.Abs(y-2) > 1e-12 {
		t.Fatalf("CropResize of the whole image moves pixels: %v %v", x, y)
	}
	// Halving: output pixel 0 of a 2-wide view of a 4-wide window covers
	// source [0,2), centre 0.5.
	m = CropResize(0, 0, 4, 4, 2, 2)
	if x, _ := m.Apply(0, 0); math.Abs(x-0.5) > 1e-12 {
		t.Fatalf("CropResize centre: %v", x)
	}
}

func TestAugmenterDeterministicAndBounded(t *testing.T) {
	cfg := DefaultAugment()
	cfg.ResizedCropProb = 0.5
	cfg.Translate = 0.1
	a, err := NewAugmenter(cfg, 48, 48, 1)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]uint8, 48*48)
	for i := range src {
		src[i] = uint8(i * 7)
	}
	x1 := make([]float32, len(src))
	x2 := make([]float32, len(src))
	changed := 0
	for seed := uint64(0); seed < 20; seed++ {
		a.ApplyUint8(rand.New(rand.NewPCG(seed, 1)), x1, src)
		a.ApplyUint8(rand.New(rand.NewPCG(seed, 1)), x2, src)
		if !slices.Equal(x1, x2) {
			t.Fatalf("seed %d: same seed gives different images", seed)
		}
		for _, v := range x1 {
			if v < 0 || v > 1 || math.IsNaN(float64(v)) {
				t.Fatalf("value %v outside [0,1]", v)
			}
		}
		for i, v := range x1 {
			if math.Abs(float64(v)-float64(src[i])/255) > 1e-3 {
				changed++
				break
			}
		}
	}
	if changed < 18 {
		t.Fatalf("only %d of 20 augmented images differ from the source", changed)
	}
	allocs := testing.AllocsPerRun(20, func() { a.ApplyUint8(rand.New(rand.NewPCG(1, 2)), x1, src) })
	if allocs > 2 { // the two rand values created in the closure
		t.Fatalf("Apply allocates %v times", allocs)
	}
}

func TestAugmenterZeroConfigIsIdentity(t *testing.T) {
	a, err := NewAugmenter(Augment{}, 4, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	img := ramp(4, 4, 3)
	orig := slices.Clone(img)
	a.Apply(rand.New(rand.NewPCG(1, 1)), img)
	if !slices.Equal(img, orig) {
		t.Fatal("zero Augment changed the image")
	}
}

func TestAugmentPhotometricAndErase(t *testing.T) {
	a, _ := NewAugmenter(Augment{Brightness: 0.5}, 2, 2, 1)
	img := []float32{0.1, 0.2, 0.3, 0.4}
	a.Apply(rand.New(rand.NewPCG(3, 3)), img)
	ratio := img[0] / 0.1
	for i, v := range img {
		if math.Abs(float64(v/(float32(i+1)*0.1)-ratio)) > 1e-4 {
			t.Fatalf("brightness is not one factor: %v", img)
		}
	}
	if ratio < 0.5 || ratio > 1.5 || ratio == 1 {
		t.Fatalf("brightness factor %v", ratio)
	}
	e, _ := NewAugmenter(Augment{EraseProb: 1, EraseScaleMin: 0.25, EraseScaleMax: 0.25, EraseRatioMin: 1, EraseRatioMax: 1}, 8, 8, 1)
	img = make([]float32, 64)
	for i := range img {
		img[i] = 2 // outside [0,1] so erased pixels are recognisable
	}
	e.Apply(rand.New(rand.NewPCG(4, 4)), img)
	erased := 0
	for _, v := range img {
		if v != 2 {
			erased++
		}
	}
	if erased != 16 {
		t.Fatalf("erased %d pixels, want a 4x4 square", erased)
	}
}

func TestAugmentValidate(t *testing.T) {
	bad := []Augment{
		{FlipProb: 1.5},
		{Pad: -1},
		{RotateDeg: 200},
		{Brightness: 2},
		{ScaleMin: 0.9, ScaleMax: 0.5},
		{EraseRatioMin: -1, EraseRatioMax: 1},
		{PadMode: 9},
	}
	for _, a := range bad {
		if err := a.Validate(); err == nil {
			t.Errorf("%+v: no error", a)
		}
	}
	if err := DefaultAugment().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTTA(t *testing.T) {
	h, w := 4, 5
	img := ramp(h, w, 1)
	flip := TTA{Flip: true}
	if flip.Views() != 2 {
		t.Fatal(flip.Views())
	}
	dst := make([]float32, 2*h*w)
	if err := flip.Write(dst, img, h, w, 1); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, h*w)
	FlipHorizontal(want, img, h, w, 1)
	if !slices.Equal(dst[:h*w], img) || !slices.Equal(dst[h*w:], want) {
		t.Fatal("flip TTA views")
	}
	ten := TTA{Flip: true, CropH: 3, CropW: 3}
	if ten.Views() != 10 {
		t.Fatal(ten.Views())
	}
	dst = make([]float32, 10*9)
	if err := ten.Write(dst, img, h, w, 1); err != nil {
		t.Fatal(err)
	}
	// View 1 is the top-right crop, view 4 the centre, view 6 the flipped top-right.
	if dst[9] != img[2] || dst[4*9] != img[0*w+1] || dst[6*9+2] != img[2] {
		t.Fatalf("ten-crop views wrong: %v", dst)
	}
	if err := (TTA{CropH: 9, CropW: 3}).Write(dst, img, h, w, 1); err == nil {
		t.Fatal("oversized crop accepted")
	}
	avg := make([]float32, 2)
	AverageViews(avg, []float32{0.2, 0.8, 0.4, 0.6}, 2, 2)
	if math.Abs(float64(avg[0]-0.3)) > 1e-6 || math.Abs(float64(avg[1]-0.7)) > 1e-6 {
		t.Fatalf("AverageViews %v", avg)
	}
}

func BenchmarkAugmentFER(b *testing.B) {
	cfg := DefaultAugment()
	a, _ := NewAugmenter(cfg, 48, 48, 1)
	src := make([]uint8, 48*48)
	dst := make([]float32, 48*48)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.ApplyUint8(rng, dst, src)
	}
}
