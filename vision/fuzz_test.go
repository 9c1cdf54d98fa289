package vision

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// fuzzMaxPixels bounds the images the fuzz target decodes: the work per
// input is then bounded whatever the header claims (DecodeBytes refuses
// larger images from the header, before decoding).
const fuzzMaxPixels = 1 << 16

// FuzzDecode feeds arbitrary bytes through the image path of predict,
// serve and the folder readers: DecodeBytes (header check, then JPEG/PNG
// decoding), conversion to 1 and 3 channels and Fit + Normalize to a
// model input. Errors are fine; panics, and images larger than the
// limit, are not.
func FuzzDecode(f *testing.F) {
	for _, m := range []image.Image{
		image.NewGray(image.Rect(0, 0, 5, 3)),
		image.NewRGBA(image.Rect(0, 0, 4, 4)),
		image.NewNRGBA64(image.Rect(0, 0, 3, 2)),
		image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black, color.White}),
	} {
		var b bytes.Buffer
		png.Encode(&b, m)
		f.Add(b.Bytes())
		b.Reset()
		jpeg.Encode(&b, m, &jpeg.Options{Quality: 50})
		f.Add(b.Bytes())
	}
	pre := Preprocess{Width: 8, Height: 8, Channels: 1, Mean: []float32{0.5}, Std: []float32{0.25}}
	var s Scratch
	dst := make([]float32, pre.Size())
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeBytes(b, fuzzMaxPixels)
		if err != nil {
			return
		}
		r := img.Bounds()
		if r.Dx()*r.Dy() > fuzzMaxPixels {
			t.Fatalf("decoded %dx%d, above the limit of %d pixels", r.Dx(), r.Dy(), fuzzMaxPixels)
		}
		for _, c := range []int{1, 3} {
			m, err := FromImage(nil, img, c)
			if err != nil {
				t.Fatalf("FromImage(%d channels) of a decoded %T: %v", c, img, err)
			}
			if m.W != r.Dx() || m.H != r.Dy() || m.C != c || len(m.Pix) != m.Len() {
				t.Fatalf("image %dx%dx%d with %d bytes from %v", m.W, m.H, m.C, len(m.Pix), r)
			}
			if c == 1 {
				pix, err := pre.Fit(m.Pix, m.H, m.W, m.C, &s)
				if err != nil {
					t.Fatalf("Fit: %v", err)
				}
				pre.Normalize(dst, pix)
			}
		}
	})
}
