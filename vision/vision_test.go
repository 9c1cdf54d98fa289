package vision

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodePNGAndJPEG(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 5, 4))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 10)
	}
	img, err := DecodeBytes(encodePNG(t, g), 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromImage(nil, img, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 5 || m.H != 4 || !bytes.Equal(m.Pix, g.Pix) {
		t.Fatalf("png round trip: got %dx%d %v", m.W, m.H, m.Pix)
	}

	rgb := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < 256; i++ {
		rgb.Set(i%16, i/16, color.RGBA{200, 40, 90, 255})
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, rgb, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	img, err = DecodeBytes(buf.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	m3, _ := FromImage(nil, img, 3)
	m1, _ := FromImage(nil, img, 1)
	r, gg, b := m3.Pix[0], m3.Pix[1], m3.Pix[2]
	if absDiff(r, 200) > 6 || absDiff(gg, 40) > 6 || absDiff(b, 90) > 6 {
		t.Fatalf("jpeg colour: got %d,%d,%d want about 200,40,90", r, gg, b)
	}
	if want := Luma(200, 40, 90); absDiff(m1.Pix[0], want) > 4 {
		t.Fatalf("jpeg gray: got %d want about %d", m1.Pix[0], want)
	}
}

func absDiff(a, b uint8) int {
	return int(math.Abs(float64(a) - float64(b)))
}

func TestDecodeErrors(t *testing.T) {
	big := image.NewGray(image.Rect(0, 0, 100, 100))
	_, err := DecodeBytes(encodePNG(t, big), 5000)
	if err == nil || !strings.Contains(err.Error(), "100x100 = 10000 pixels") || !strings.Contains(err.Error(), "5000") {
		t.Fatalf("pixel limit: got %v", err)
	}
	if _, err := DecodeBytes(nil, 0); err == nil {
		t.Fatal("empty data: no error")
	}
	if _, err := DecodeBytes([]byte("not an image at all"), 0); err == nil {
		t.Fatal("garbage: no error")
	}
	// A truncated PNG has a valid header but fails while decoding.
	data := encodePNG(t, big)
	if _, err := DecodeBytes(data[:len(data)/2], 0); err == nil {
		t.Fatal("truncated png: no error")
	}
	path := filepath.Join(t.TempDir(), "bad.png")
	os.WriteFile(path, []byte("junk"), 0o644)
	if _, err := DecodeFile(path, 0); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("DecodeFile error should name the file: %v", err)
	}
}

func TestConvertChannels(t *testing.T) {
	src := &Image{W: 2, H: 1, C: 3, Pix: []uint8{255, 0, 0, 10, 20, 30}}
	g, err := ConvertChannels(nil, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	if g.Pix[0] != Luma(255, 0, 0) || g.Pix[1] != Luma(10, 20, 30) {
		t.Fatalf("gray: %v", g.Pix)
	}
	back, _ := ConvertChannels(nil, g, 3)
	if !bytes.Equal(back.Pix, []uint8{76, 76, 76, g.Pix[1], g.Pix[1], g.Pix[1]}) {
		t.Fatalf("gray->rgb: %v", back.Pix)
	}
	rgba := &Image{W: 1, H: 1, C: 4, Pix: []uint8{1, 2, 3, 0}}
	c3, _ := ConvertChannels(nil, rgba, 3)
	if !bytes.Equal(c3.Pix, []uint8{1, 2, 3}) {
		t.Fatalf("rgba->rgb: %v", c3.Pix)
	}
	if _, err := ConvertChannels(nil, src, 2); err == nil {
		t.Fatal("2 channels accepted")
	}
}

func TestResizeConstantAndBorders(t *testing.T) {
	// A constant image stays constant under every filter and size,
	// including at the borders.
	src := NewImage(13, 7, 3)
	for i := range src.Pix {
		src.Pix[i] = 77
	}
	for _, f := range []Filter{FilterAuto, FilterBilinear, FilterArea} {
		r := Resizer{Filter: f}
		for _, sz := range [][2]int{{5, 3}, {26, 14}, {13, 7}, {1, 1}, {40, 2}} {
			out, err := r.Resize(nil, src, sz[0], sz[1])
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range out.Pix {
				if v != 77 {
					t.Fatalf("%v %v: pixel %d = %d, want 77", f, sz, i, v)
				}
			}
		}
	}
}

func TestResizeAreaAverages(t *testing.T) {
	// 4x4 -> 2x2 with the area filter is the mean of each 2x2 block.
	src := &Image{W: 4, H: 4, C: 1, Pix: []uint8{
		0, 10, 100, 100,
		20, 30, 100, 100,
		1, 1, 200, 0,
		1, 1, 0, 200,
	}}
	out, err := Resize(src, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{15, 100, 1, 100}
	if !bytes.Equal(out.Pix, want) {
		t.Fatalf("area 4x4->2x2: got %v want %v", out.Pix, want)
	}
	// 3 -> 2 (non-integer ratio): output 0 covers source [0,1.5).
	src = &Image{W: 3, H: 1, C: 1, Pix: []uint8{0, 90, 240}}
	out, _ = Resize(src, 2, 1)
	if out.Pix[0] != 30 || out.Pix[1] != 190 { // (0+0.5*90)/1.5, (0.5*90+240)/1.5
		t.Fatalf("area 3->2: got %v want [30 190]", out.Pix)
	}
}

func TestResizeBilinearUpscale(t *testing.T) {
	src := &Image{W: 2, H: 1, C: 1, Pix: []uint8{0, 200}}
	out, _ := Resize(src, 4, 1)
	// Centres of the 4 outputs sit at -0.25, 0.25, 0.75, 1.25 -> clamped.
	want := []uint8{0, 50, 150, 200}
	if !bytes.Equal(out.Pix, want) {
		t.Fatalf("bilinear 2->4: got %v want %v", out.Pix, want)
	}
}

func TestResizeNoAllocWhenWarm(t *testing.T) {
	src := NewImage(100, 80, 3)
	dst := NewImage(48, 48, 3)
	var r Resizer
	r.Resize(dst, src, 48, 48)
	allocs := testing.AllocsPerRun(10, func() { r.Resize(dst, src, 48, 48) })
	if allocs != 0 {
		t.Fatalf("warm resize allocates %v times", allocs)
	}
}

func TestCrop(t *testing.T) {
	src := &Image{W: 3, H: 3, C: 1, Pix: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	out, err := Crop(nil, src, image.Rect(1, 1, 3, 3))
	if err != nil || !bytes.Equal(out.Pix, []uint8{5, 6, 8, 9}) {
		t.Fatalf("crop: %v %v", out, err)
	}
	if _, err := Crop(nil, src, image.Rect(2, 2, 4, 4)); err == nil {
		t.Fatal("out-of-bounds crop accepted")
	}
	c, _ := CenterCrop(nil, src, 1, 1)
	if c.Pix[0] != 5 {
		t.Fatalf("center crop: %v", c.Pix)
	}
	if r := CenterSquare(10, 4); r != image.Rect(3, 0, 7, 4) {
		t.Fatalf("CenterSquare: %v", r)
	}
}

func TestPreprocess(t *testing.T) {
	p := Preprocess{Width: 2, Height: 2, Channels: 1, Mean: []float32{0.5}, Std: []float32{0.25}}
	dst := make([]float32, p.Size())
	if err := p.FromPixels(dst, []uint8{0, 255, 51, 102}, 2, 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	want := []float32{-2, 2, -1.2, -0.4}
	for i := range want {
		if math.Abs(float64(dst[i]-want[i])) > 1e-5 {
			t.Fatalf("normalize: got %v want %v", dst, want)
		}
	}
	// RGB input, gray 2x2 output via resize from 4x4.
	rgb := NewImage(4, 4, 3)
	for i := range rgb.Pix {
		rgb.Pix[i] = 255
	}
	if err := p.FromPixels(dst, rgb.Pix, 4, 4, 3, nil); err != nil {
		t.Fatal(err)
	}
	for _, v := range dst {
		if math.Abs(float64(v-2)) > 1e-5 {
			t.Fatalf("rgb->gray resized: %v", dst)
		}
	}
	// Per-channel mean/std and NormalizeUnit/Denormalize round trip.
	p3 := Preprocess{Width: 1, Height: 1, Channels: 3, Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{1, 2, 4}}
	u := []float32{0.5, 0.5, 0.5}
	out := make([]float32, 3)
	p3.NormalizeUnit(out, u)
	if math.Abs(float64(out[0]-0.4)) > 1e-6 || math.Abs(float64(out[1]-0.15)) > 1e-6 || math.Abs(float64(out[2]-0.05)) > 1e-6 {
		t.Fatalf("NormalizeUnit: %v", out)
	}
	p3.Denormalize(out, out)
	for i := range out {
		if math.Abs(float64(out[i]-0.5)) > 1e-6 {
			t.Fatalf("Denormalize: %v", out)
		}
	}
	// FromImage from an image.Image.
	g := image.NewGray(image.Rect(0, 0, 2, 2))
	g.Pix = []uint8{0, 255, 51, 102}
	if err := p.FromImage(dst, g, nil); err != nil || math.Abs(float64(dst[2]+1.2)) > 1e-5 {
		t.Fatalf("FromImage: %v %v", dst, err)
	}
}

func TestPreprocessValidate(t *testing.T) {
	bad := []Preprocess{
		{Width: 0, Height: 2, Channels: 1},
		{Width: 2, Height: 2, Channels: 2},
		{Width: 2, Height: 2, Channels: 3, Mean: []float32{1, 2}},
		{Width: 2, Height: 2, Channels: 1, Std: []float32{0}},
	}
	for _, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%v: no error", p)
		}
	}
	if err := DefaultFER().Validate(); err != nil {
		t.Fatal(err)
	}
	p := DefaultFER()
	dst := make([]float32, p.Size())
	if err := p.FromPixels(dst, make([]uint8, 10), 48, 48, 1, nil); err == nil {
		t.Fatal("short pixel buffer accepted")
	}
	if err := p.FromPixels(dst[:5], make([]uint8, 48*48), 48, 48, 1, nil); err == nil {
		t.Fatal("short output accepted")
	}
}

func TestPreprocessNoAllocWhenWarm(t *testing.T) {
	p := DefaultFER()
	src := NewImage(100, 100, 3)
	dst := make([]float32, p.Size())
	var s Scratch
	p.FromPixels(dst, src.Pix, 100, 100, 3, &s)
	allocs := testing.AllocsPerRun(10, func() { p.FromPixels(dst, src.Pix, 100, 100, 3, &s) })
	if allocs != 0 {
		t.Fatalf("warm preprocess allocates %v times", allocs)
	}
}

// TestRealImages preprocesses the committed face photos (testdata/faces).
func TestRealImages(t *testing.T) {
	for _, name := range []string{"grace_hopper.jpg", "astronaut.png"} {
		img, err := DecodeFile(fixtures.Face(t, name), 0)
		if err != nil {
			t.Fatal(err)
		}
		p := DefaultFER()
		dst := make([]float32, p.Size())
		if err := p.FromImage(dst, img, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var lo, hi float32 = 1e9, -1e9
		for _, v := range dst {
			lo, hi = min(lo, v), max(hi, v)
		}
		// A real photo spans a good part of the [-2, 1.93] range.
		if hi-lo < 1 {
			t.Fatalf("%s: preprocessed range [%v,%v] too narrow", name, lo, hi)
		}
	}
}

func BenchmarkPreprocessFER(b *testing.B) {
	p := DefaultFER()
	src := NewImage(48, 48, 1)
	dst := make([]float32, p.Size())
	var s Scratch
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.FromPixels(dst, src.Pix, 48, 48, 1, &s)
	}
}

func BenchmarkResize100to48RGB(b *testing.B) {
	src := NewImage(100, 100, 3)
	dst := NewImage(48, 48, 3)
	var r Resizer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Resize(dst, src, 48, 48)
	}
}

func TestPreprocessJSON(t *testing.T) {
	b, err := json.Marshal(DefaultFER())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"width":48,"height":48,"channels":1,"mean":[0.5077],"std":[0.2551]}` {
		t.Fatalf("json %s", b)
	}
	var p Preprocess
	if err := json.Unmarshal(b, &p); err != nil || p.String() != DefaultFER().String() {
		t.Fatalf("round trip %v %v", p, err)
	}
}

func TestFromImageNoAllocWhenWarm(t *testing.T) {
	p := DefaultFER()
	dst := make([]float32, p.Size())
	var s Scratch
	for _, img := range []image.Image{
		image.NewGray(image.Rect(0, 0, 64, 64)),
		image.NewYCbCr(image.Rect(0, 0, 64, 64), image.YCbCrSubsampleRatio420),
		image.NewRGBA(image.Rect(0, 0, 64, 64)),
	} {
		p.FromImage(dst, img, &s)
		if a := testing.AllocsPerRun(5, func() { p.FromImage(dst, img, &s) }); a != 0 {
			t.Fatalf("%T: %v allocations", img, a)
		}
	}
}
