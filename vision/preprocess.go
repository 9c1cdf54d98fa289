package vision

import (
	"fmt"
	"image"
)

// Preprocess describes how a model turns an image into its float32 input:
// the image is converted to Channels (1 gray, 3 RGB), resized (stretched,
// aspect ratio not kept; crop first with CenterSquare to keep it) to
// Width x Height, and each value becomes
//
//	out = (pixel/255 - Mean[c]) / Std[c]
//
// laid out (H,W,C). Mean and Std hold one value per channel, or a single
// value for all channels; empty means mean 0 and std 1 (values in [0,1]).
// It is saved with a model so prediction and serving repeat exactly the
// preprocessing used in training.
type Preprocess struct {
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	Channels int       `json:"channels"`
	Mean     []float32 `json:"mean,omitempty"`
	Std      []float32 `json:"std,omitempty"`
}

// FER2013 pixel statistics, measured over the 28,709 images of the real
// FER2013 training split (pixel/255): mean 0.5077, std 0.2551.
const (
	FERMean = 0.5077
	FERStd  = 0.2551
)

// DefaultFER is the preprocessing for FER2013: 48x48 gray, normalised with
// the training set's mean and std.
func DefaultFER() Preprocess {
	return Preprocess{Width: 48, Height: 48, Channels: 1, Mean: []float32{FERMean}, Std: []float32{FERStd}}
}

// Validate checks sizes, channels and the Mean/Std lengths and values.
func (p Preprocess) Validate() error {
	if p.Width <= 0 || p.Height <= 0 {
		return fmt.Errorf("preprocess: size %dx%d must be positive", p.Width, p.Height)
	}
	if p.Channels != 1 && p.Channels != 3 {
		return fmt.Errorf("preprocess: channels must be 1 or 3, got %d", p.Channels)
	}
	for _, v := range []struct {
		name string
		s    []float32
	}{{"mean", p.Mean}, {"std", p.Std}} {
		if len(v.s) > 1 && len(v.s) != p.Channels {
			return fmt.Errorf("preprocess: %s has %d values, want 0, 1 or %d (channels)", v.name, len(v.s), p.Channels)
		}
	}
	for i, s := range p.Std {
		if !(s > 0) {
			return fmt.Errorf("preprocess: std[%d] = %v must be > 0", i, s)
		}
	}
	return nil
}

// Size is the number of float32 values of one preprocessed image, H*W*C.
func (p Preprocess) Size() int { return p.Width * p.Height * p.Channels }

// Shape is the per-image input shape (H,W,C).
func (p Preprocess) Shape() []int { return []int{p.Height, p.Width, p.Channels} }

func (p Preprocess) String() string {
	return fmt.Sprintf("%dx%dx%d mean=%v std=%v", p.Width, p.Height, p.Channels, p.Mean, p.Std)
}

// affine returns per-channel scale and bias so that
// out = in*scale[c] + bias[c] maps in (in units of unit*pixel) to the
// normalised value.
func (p Preprocess) affine(unit float32) (scale, bias [3]float32) {
	for c := 0; c < 3; c++ {
		mean, std := float32(0), float32(1)
		if len(p.Mean) == 1 {
			mean = p.Mean[0]
		} else if c < len(p.Mean) {
			mean = p.Mean[c]
		}
		if len(p.Std) == 1 {
			std = p.Std[0]
		} else if c < len(p.Std) {
			std = p.Std[c]
		}
		scale[c] = 1 / (unit * std)
		bias[c] = -mean / std
	}
	return
}

// Normalize maps an 8-bit image already of size (Height,Width,Channels)
// to normalised float32 values in dst. Both must hold at least Size()
// values. It does not allocate.
func (p Preprocess) Normalize(dst []float32, pix []uint8) {
	n := p.Size()
	scale, bias := p.affine(255)
	dst, pix = dst[:n], pix[:n]
	if p.Channels == 1 {
		s, b := scale[0], bias[0]
		for i, v := range pix {
			dst[i] = float32(v)*s + b
		}
		return
	}
	for i := 0; i+2 < n; i += 3 {
		dst[i] = float32(pix[i])*scale[0] + bias[0]
		dst[i+1] = float32(pix[i+1])*scale[1] + bias[1]
		dst[i+2] = float32(pix[i+2])*scale[2] + bias[2]
	}
}

// NormalizeUnit is Normalize for float32 pixels already scaled to [0,1]
// (pixel/255), the form augmentation works in. dst and src may alias.
func (p Preprocess) NormalizeUnit(dst, src []float32) {
	n := p.Size()
	scale, bias := p.affine(1)
	dst, src = dst[:n], src[:n]
	c := p.Channels
	for i := range src {
		k := 0
		if c == 3 {
			k = i % 3
		}
		dst[i] = src[i]*scale[k] + bias[k]
	}
}

// Denormalize is the inverse of NormalizeUnit: it maps model input back to
// [0,1] pixel units (for visualising saliency or augmented batches).
func (p Preprocess) Denormalize(dst, src []float32) {
	n := p.Size()
	scale, bias := p.affine(1)
	dst, src = dst[:n], src[:n]
	for i := range src {
		k := 0
		if p.Channels == 3 {
			k = i % 3
		}
		dst[i] = (src[i] - bias[k]) / scale[k]
	}
}

// Scratch holds the intermediate images of Preprocess, so that
// preprocessing many images allocates nothing once warmed up. Not safe for
// concurrent use; give each goroutine its own (the zero value is ready).
type Scratch struct {
	conv, sized Image
	rs          Resizer
}

// Fit converts a raw 8-bit (h,w,c) buffer (c = 1, 3 or 4) to the
// preprocessing's channel count and size, returning (Height,Width,Channels)
// pixels. The result is pix itself when nothing needs to change, else it
// lives in s and is valid until the next call with s.
func (p Preprocess) Fit(pix []uint8, h, w, c int, s *Scratch) ([]uint8, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if h <= 0 || w <= 0 || (c != 1 && c != 3 && c != 4) {
		return nil, fmt.Errorf("preprocess: bad input shape (%d,%d,%d): want positive size and 1, 3 or 4 channels", h, w, c)
	}
	if len(pix) < h*w*c {
		return nil, fmt.Errorf("preprocess: input (%d,%d,%d) needs %d bytes, have %d", h, w, c, h*w*c, len(pix))
	}
	if h == p.Height && w == p.Width && c == p.Channels {
		return pix[:h*w*c], nil
	}
	src := &Image{W: w, H: h, C: c, Pix: pix}
	if c != p.Channels {
		if _, err := ConvertChannels(&s.conv, src, p.Channels); err != nil {
			return nil, err
		}
		src = &s.conv
	}
	if w == p.Width && h == p.Height {
		return src.Pix[:src.Len()], nil
	}
	if _, err := s.rs.Resize(&s.sized, src, p.Width, p.Height); err != nil {
		return nil, err
	}
	return s.sized.Pix[:s.sized.Len()], nil
}

// FromPixels preprocesses a raw 8-bit (h,w,c) buffer (c = 1, 3 or 4) into
// dst, which must hold Size() values. With a reused Scratch it does not
// allocate.
func (p Preprocess) FromPixels(dst []float32, pix []uint8, h, w, c int, s *Scratch) error {
	if s == nil {
		s = new(Scratch)
	}
	if len(dst) < p.Size() {
		return fmt.Errorf("preprocess: output has %d values, want %d (%dx%dx%d)", len(dst), p.Size(), p.Height, p.Width, p.Channels)
	}
	fitted, err := p.Fit(pix, h, w, c, s)
	if err != nil {
		return err
	}
	p.Normalize(dst, fitted)
	return nil
}

// FromImage preprocesses a decoded image into dst (Size() values).
func (p Preprocess) FromImage(dst []float32, img image.Image, s *Scratch) error {
	if s == nil {
		s = new(Scratch)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if _, err := FromImage(&s.conv, img, p.Channels); err != nil {
		return err
	}
	// s.conv already has the right channels; Fit only resizes (it reads
	// from s.conv and writes to s.sized, which are distinct).
	conv := s.conv
	return p.FromPixels(dst, conv.Pix, conv.H, conv.W, conv.C, s)
}
