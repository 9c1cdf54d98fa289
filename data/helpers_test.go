package data

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
)

// TestMain prints one line when tests skipped for want of a dataset.
func TestMain(m *testing.M) { fixtures.Main(m) }

// sharedData is a real dataset (sub inside the data folder: "fer2013",
// "gestures/sign-language-digits", ...); tests that need it skip, counted,
// when it is absent.
func sharedData(t testing.TB, sub string) string {
	t.Helper()
	return fixtures.Dataset(t, sub)
}

// writeGrayPNG writes a w x h gray PNG filled with v.
func writeGrayPNG(t testing.TB, path string, w, h int, v uint8) {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = v
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, g); err != nil {
		t.Fatal(err)
	}
}

// writeRGBPNG writes a w x h colour PNG (a red-green gradient).
func writeRGBPNG(t testing.TB, path string, w, h int) {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := m.PixOffset(x, y)
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(8*x), uint8(8*y), 40, 255
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, m); err != nil {
		t.Fatal(err)
	}
}
