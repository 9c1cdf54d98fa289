package vision

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"io"
	"os"
)

// DefaultMaxPixels is the largest image (width*height) Decode accepts when
// given maxPixels <= 0: 50 megapixels, well above camera photos (a
// 3024x3024 phone picture is 9.1 MP) and far below what would exhaust
// memory. The limit is checked from the header, before decoding.
const DefaultMaxPixels = 50_000_000

// DecodeBytes decodes a JPEG or PNG image. The header is read first with
// image.DecodeConfig and images larger than maxPixels (DefaultMaxPixels
// when <= 0) are refused before any pixel is decoded.
func DecodeBytes(b []byte, maxPixels int) (image.Image, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("vision: empty image data")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		if what := notAnImage(b); what != "" {
			return nil, fmt.Errorf("vision: not a readable JPEG or PNG image (%d bytes): it is %s", len(b), what)
		}
		return nil, fmt.Errorf("vision: not a readable JPEG or PNG image (%d bytes): %w", len(b), err)
	}
	if format != "jpeg" && format != "png" {
		return nil, fmt.Errorf("vision: unsupported image format %q, want jpeg or png", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("vision: %s image has invalid size %dx%d", format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(maxPixels) {
		return nil, fmt.Errorf("vision: %s image is %dx%d = %d pixels, more than the limit of %d", format, cfg.Width, cfg.Height, px, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("vision: decoding %dx%d %s image: %w", cfg.Width, cfg.Height, format, err)
	}
	return img, nil
}

// Decode reads all of r and decodes it with DecodeBytes. Callers reading
// untrusted input (HTTP bodies) should bound r's size themselves, e.g. with
// io.LimitReader or http.MaxBytesReader.
func Decode(r io.Reader, maxPixels int) (image.Image, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("vision: reading image: %w", err)
	}
	return DecodeBytes(b, maxPixels)
}

// DecodeFile decodes a JPEG or PNG file; errors name the file.
func DecodeFile(path string, maxPixels int) (image.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	img, err := DecodeBytes(b, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// LoadFile decodes a JPEG or PNG file and converts it to an 8-bit image
// with the given channel count (1 or 3), into dst (nil allocates).
func LoadFile(dst *Image, path string, channels, maxPixels int) (*Image, error) {
	img, err := DecodeFile(path, maxPixels)
	if err != nil {
		return nil, err
	}
	out, err := FromImage(dst, img, channels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// ProbeFile reads only the header of a JPEG or PNG file and returns its
// size and channel count: 1 for a gray image (gray color model, or a
// palette of grays only), 3 otherwise. Errors name the file.
func ProbeFile(path string) (w, h, channels int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: vision: not a readable JPEG or PNG image: %w", path, err)
	}
	if format != "jpeg" && format != "png" {
		return 0, 0, 0, fmt.Errorf("%s: vision: unsupported image format %q, want jpeg or png", path, format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, 0, fmt.Errorf("%s: vision: %s image has invalid size %dx%d", path, format, cfg.Width, cfg.Height)
	}
	return cfg.Width, cfg.Height, modelChannels(cfg.ColorModel), nil
}

// modelChannels is 1 for gray color models, 3 otherwise.
func modelChannels(m color.Model) int {
	switch m {
	case color.GrayModel, color.Gray16Model:
		return 1
	}
	if p, ok := m.(color.Palette); ok && len(p) > 0 {
		for _, c := range p {
			r, g, b, _ := c.RGBA()
			if r != g || g != b {
				return 3
			}
		}
		return 1
	}
	return 3
}

// notAnImage names, in words, a non-image file given as an image (a
// model instead of a photo, say), or returns "".
func notAnImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("RESIDUAL")):
		return "a residual model file"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return "a zip archive"
	case bytes.HasPrefix(b, []byte("\x89HDF")):
		return "an HDF5 file"
	case bytes.HasPrefix(b, []byte("GIF8")):
		return "a GIF image (only JPEG and PNG are read)"
	case bytes.HasPrefix(b, []byte("RIFF")) && len(b) >= 12 && string(b[8:12]) == "WEBP":
		return "a WebP image (only JPEG and PNG are read)"
	case len(b) > 1 && b[0] == 0x08 && b[1] < 0x20:
		return "probably an ONNX model file"
	case b[0] == '{' || b[0] == '[':
		return "a JSON file"
	}
	return ""
}
