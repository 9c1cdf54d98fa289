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
