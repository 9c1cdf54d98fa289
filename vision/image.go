// Package vision is the single image-preprocessing path shared by training,
// prediction and the server: decode JPEG/PNG with a pixel-count limit,
// convert to gray or RGB, resize (bilinear, or area averaging when
// shrinking), crop, and normalise into float32 (H,W,C) model input as
// described by a Preprocess.
//
// Images are 8-bit, row-major and channels-last: the C values of pixel
// (y,x) are Pix[(y*W+x)*C : (y*W+x)*C+C]. C is 1 (gray) or 3 (RGB).
package vision

import (
	"fmt"
	"image"
	"image/color"
)

// Image is an 8-bit (H,W,C) image. C is 1 (gray) or 3 (RGB); raw buffers
// with C == 4 (RGBA, alpha ignored) are accepted as conversion input.
type Image struct {
	W, H, C int
	Pix     []uint8 // len >= H*W*C; only the first H*W*C bytes belong to the image
}

// NewImage returns a zeroed w x h image with c channels.
func NewImage(w, h, c int) *Image {
	return &Image{W: w, H: h, C: c, Pix: make([]uint8, w*h*c)}
}

// Ensure makes m a w x h x c image, reusing its buffer when it is large
// enough (contents are not cleared). A nil m is allocated.
func (m *Image) Ensure(w, h, c int) *Image {
	if m == nil {
		return NewImage(w, h, c)
	}
	n := w * h * c
	if cap(m.Pix) < n {
		m.Pix = make([]uint8, n)
	}
	m.Pix = m.Pix[:n]
	m.W, m.H, m.C = w, h, c
	return m
}

// Len is H*W*C.
func (m *Image) Len() int { return m.W * m.H * m.C }

// Clone returns a deep copy.
func (m *Image) Clone() *Image {
	c := NewImage(m.W, m.H, m.C)
	copy(c.Pix, m.Pix[:m.Len()])
	return c
}

// Luma is the ITU-R 601 luma of an 8-bit RGB triple, rounded; it matches
// image/color's GrayModel.
func Luma(r, g, b uint8) uint8 {
	y := (19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16
	return uint8(y)
}

func checkChannels(c int) error {
	if c != 1 && c != 3 {
		return fmt.Errorf("vision: channels must be 1 (gray) or 3 (RGB), got %d", c)
	}
	return nil
}

// FromImage converts src to an 8-bit image with the given number of
// channels (1 gray, 3 RGB), written into dst (reused when large enough;
// nil allocates). Gray from color uses ITU-R 601 luma; for JPEG (YCbCr)
// sources gray is the decoded Y plane. Transparent pixels are composited
// over black.
func FromImage(dst *Image, src image.Image, channels int) (*Image, error) {
	if err := checkChannels(channels); err != nil {
		return nil, err
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("vision: empty image %dx%d", w, h)
	}
	dst = dst.Ensure(w, h, channels)
	switch s := src.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := s.Pix[(y+b.Min.Y-s.Rect.Min.Y)*s.Stride+(b.Min.X-s.Rect.Min.X):]
			if channels == 1 {
				copy(dst.Pix[y*w:(y+1)*w], row[:w])
				continue
			}
			out := dst.Pix[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				v := row[x]
				out[3*x], out[3*x+1], out[3*x+2] = v, v, v
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				px, py := x+b.Min.X, y+b.Min.Y
				yy := s.Y[s.YOffset(px, py)]
				if channels == 1 {
					dst.Pix[y*w+x] = yy
					continue
				}
				ci := s.COffset(px, py)
				r, g, bb := color.YCbCrToRGB(yy, s.Cb[ci], s.Cr[ci])
				o := (y*w + x) * 3
				dst.Pix[o], dst.Pix[o+1], dst.Pix[o+2] = r, g, bb
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := s.Pix[(y+b.Min.Y-s.Rect.Min.Y)*s.Stride+(b.Min.X-s.Rect.Min.X)*4:]
			for x := 0; x < w; x++ {
				r, g, bb := row[4*x], row[4*x+1], row[4*x+2] // premultiplied = over black
				putRGB(dst, y*w+x, r, g, bb)
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, bb, _ := src.At(x+b.Min.X, y+b.Min.Y).RGBA() // premultiplied 16-bit
				putRGB(dst, y*w+x, uint8(r>>8), uint8(g>>8), uint8(bb>>8))
			}
		}
	}
	return dst, nil
}

func putRGB(dst *Image, i int, r, g, b uint8) {
	if dst.C == 1 {
		dst.Pix[i] = Luma(r, g, b)
		return
	}
	dst.Pix[3*i], dst.Pix[3*i+1], dst.Pix[3*i+2] = r, g, b
}

// ConvertChannels converts src (C = 1, 3 or 4; 4 is RGBA with alpha
// ignored) to the given channel count (1 or 3), into dst. When the channel
// counts already match the pixels are copied.
func ConvertChannels(dst *Image, src *Image, channels int) (*Image, error) {
	if err := checkChannels(channels); err != nil {
		return nil, err
	}
	if src.C != 1 && src.C != 3 && src.C != 4 {
		return nil, fmt.Errorf("vision: source has %d channels, want 1, 3 or 4", src.C)
	}
	if len(src.Pix) < src.Len() {
		return nil, fmt.Errorf("vision: %dx%dx%d image has %d bytes, want %d", src.W, src.H, src.C, len(src.Pix), src.Len())
	}
	n := src.W * src.H
	dst = dst.Ensure(src.W, src.H, channels)
	switch {
	case src.C == channels:
		copy(dst.Pix, src.Pix[:n*channels])
	case channels == 1:
		for i := 0; i < n; i++ {
			o := i * src.C
			dst.Pix[i] = Luma(src.Pix[o], src.Pix[o+1], src.Pix[o+2])
		}
	default: // to RGB from gray or RGBA
		for i := 0; i < n; i++ {
			if src.C == 1 {
				v := src.Pix[i]
				dst.Pix[3*i], dst.Pix[3*i+1], dst.Pix[3*i+2] = v, v, v
			} else {
				copy(dst.Pix[3*i:3*i+3], src.Pix[4*i:4*i+3])
			}
		}
	}
	return dst, nil
}

// ToImage copies m into an *image.Gray (C == 1) or an opaque *image.NRGBA
// (C == 3), for encoding with image/png or image/jpeg.
func (m *Image) ToImage() image.Image {
	if m.C == 1 {
		g := image.NewGray(image.Rect(0, 0, m.W, m.H))
		copy(g.Pix, m.Pix[:m.Len()])
		return g
	}
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	for i := 0; i < m.W*m.H; i++ {
		copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 255
	}
	return out
}
