package data

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// sharedData is ../shared/data relative to the repository root; tests
// that need the real data skip when it is absent.
func sharedData(t testing.TB, sub string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "shared", "data", sub)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("real data not available at %s (the shared data folder next to the repo is absent)", path)
	}
	return path
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
