package vision

import (
	"fmt"
	"image"
	"math"
)

// Filter selects how Resize computes an output pixel.
type Filter int

const (
	// FilterAuto (the default) averages the covered source area on an axis
	// that shrinks and interpolates bilinearly on an axis that grows.
	FilterAuto Filter = iota
	// FilterBilinear samples the source bilinearly at each output pixel
	// centre (aliases when shrinking by more than 2x).
	FilterBilinear
	// FilterArea averages the source pixels an output pixel covers,
	// weighted by overlap (a box filter; the best choice for shrinking).
	FilterArea
)

func (f Filter) String() string {
	switch f {
	case FilterAuto:
		return "auto"
	case FilterBilinear:
		return "bilinear"
	case FilterArea:
		return "area"
	}
	return fmt.Sprintf("Filter(%d)", int(f))
}

// axisWeights says, for each output index along one axis, which source
// indices contribute and with which weights (summing to 1).
type axisWeights struct {
	src, dst int
	filter   Filter
	start    []int     // first source index of output i
	count    []int     // number of source indices of output i
	offset   []int     // where output i's weights start in w
	w        []float32 // all weights, back to back
}

// build computes the weights mapping src samples to dst samples. Pixel i
// covers [i, i+1) in its own grid; both grids span the same extent, so the
// image borders line up exactly (no half-pixel shift).
func (a *axisWeights) build(src, dst int, f Filter) {
	if a.src == src && a.dst == dst && a.filter == f && a.start != nil {
		return
	}
	a.src, a.dst, a.filter = src, dst, f
	a.start = resizeInts(a.start, dst)
	a.count = resizeInts(a.count, dst)
	a.offset = resizeInts(a.offset, dst)
	a.w = a.w[:0]
	scale := float64(src) / float64(dst) // source pixels per output pixel
	area := f == FilterArea || (f == FilterAuto && dst < src)
	for i := 0; i < dst; i++ {
		a.offset[i] = len(a.w)
		if area {
			lo, hi := float64(i)*scale, float64(i+1)*scale
			j0 := int(math.Floor(lo))
			j1 := min(int(math.Ceil(hi)), src) // exclusive
			a.start[i], a.count[i] = j0, j1-j0
			for j := j0; j < j1; j++ {
				overlap := math.Min(hi, float64(j+1)) - math.Max(lo, float64(j))
				a.w = append(a.w, float32(overlap/scale))
			}
			continue
		}
		// Bilinear: the centre of output pixel i sits at source coordinate
		// (i+0.5)*scale - 0.5; clamp so border pixels repeat the edge.
		c := (float64(i)+0.5)*scale - 0.5
		c = math.Max(0, math.Min(c, float64(src-1)))
		j0 := int(math.Floor(c))
		t := c - float64(j0)
		if j0 >= src-1 || t == 0 {
			a.start[i], a.count[i] = j0, 1
			a.w = append(a.w, 1)
			continue
		}
		a.start[i], a.count[i] = j0, 2
		a.w = append(a.w, float32(1-t), float32(t))
	}
}

func resizeInts(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// Resizer resizes images with reusable weight tables and scratch
// buffers, so repeated resizes of the same sizes allocate nothing.
// A Resizer is not safe for concurrent use; give each goroutine its own.
type Resizer struct {
	Filter Filter // FilterAuto when zero
	xw, yw axisWeights
	tmp    []float32 // (srcH, dstW, C) after the horizontal pass
	acc    []float32 // one output row, (dstW, C)
}

// Resize writes src resized to w x h (same channel count) into dst
// (reused when large enough, nil allocates) and returns it. It runs a
// horizontal then a vertical pass with the Resizer's filter.
func (r *Resizer) Resize(dst, src *Image, w, h int) (*Image, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("vision: resize target %dx%d must be positive", w, h)
	}
	if src.W <= 0 || src.H <= 0 || src.C <= 0 || len(src.Pix) < src.Len() {
		return nil, fmt.Errorf("vision: cannot resize a %dx%dx%d image with %d bytes", src.W, src.H, src.C, len(src.Pix))
	}
	c := src.C
	dst = dst.Ensure(w, h, c)
	if w == src.W && h == src.H {
		copy(dst.Pix, src.Pix[:src.Len()])
		return dst, nil
	}
	r.xw.build(src.W, w, r.Filter)
	r.yw.build(src.H, h, r.Filter)

	// Horizontal pass: tmp is (src.H, w, c).
	if cap(r.tmp) < src.H*w*c {
		r.tmp = make([]float32, src.H*w*c)
	}
	tmp := r.tmp[:src.H*w*c]
	for y := 0; y < src.H; y++ {
		row := src.Pix[y*src.W*c : (y+1)*src.W*c]
		out := tmp[y*w*c : (y+1)*w*c]
		for x := 0; x < w; x++ {
			s0, n, off := r.xw.start[x], r.xw.count[x], r.xw.offset[x]
			for k := 0; k < c; k++ {
				var sum float32
				for j := 0; j < n; j++ {
					sum += r.xw.w[off+j] * float32(row[(s0+j)*c+k])
				}
				out[x*c+k] = sum
			}
		}
	}
	// Vertical pass: each output row is a weighted sum of tmp rows.
	if cap(r.acc) < w*c {
		r.acc = make([]float32, w*c)
	}
	acc := r.acc[:w*c]
	for y := 0; y < h; y++ {
		clear(acc)
		s0, n, off := r.yw.start[y], r.yw.count[y], r.yw.offset[y]
		for j := 0; j < n; j++ {
			wt := r.yw.w[off+j]
			trow := tmp[(s0+j)*w*c : (s0+j+1)*w*c]
			for i, v := range trow {
				acc[i] += wt * v
			}
		}
		out := dst.Pix[y*w*c : (y+1)*w*c]
		for i, v := range acc {
			out[i] = clampU8(v)
		}
	}
	return dst, nil
}

// clampU8 rounds v to the nearest integer in [0,255].
func clampU8(v float32) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}

// Resize is a convenience for a one-off resize with FilterAuto.
func Resize(src *Image, w, h int) (*Image, error) {
	var r Resizer
	return r.Resize(nil, src, w, h)
}

// Crop copies the rectangle r of src into dst (nil allocates). r must lie
// inside the image.
func Crop(dst, src *Image, r image.Rectangle) (*Image, error) {
	if r.Empty() || r.Min.X < 0 || r.Min.Y < 0 || r.Max.X > src.W || r.Max.Y > src.H {
		return nil, fmt.Errorf("vision: crop %v is empty or outside the %dx%d image", r, src.W, src.H)
	}
	c := src.C
	w, h := r.Dx(), r.Dy()
	dst = dst.Ensure(w, h, c)
	for y := 0; y < h; y++ {
		s := ((r.Min.Y+y)*src.W + r.Min.X) * c
		copy(dst.Pix[y*w*c:(y+1)*w*c], src.Pix[s:s+w*c])
	}
	return dst, nil
}

// CenterCrop copies the centred w x h region of src into dst.
func CenterCrop(dst, src *Image, w, h int) (*Image, error) {
	x0, y0 := (src.W-w)/2, (src.H-h)/2
	return Crop(dst, src, image.Rect(x0, y0, x0+w, y0+h))
}

// CenterSquare is the largest centred square of a w x h image, the crop
// to take before resizing when the aspect ratio should be kept.
func CenterSquare(w, h int) image.Rectangle {
	s := min(w, h)
	x0, y0 := (w-s)/2, (h-s)/2
	return image.Rect(x0, y0, x0+s, y0+s)
}
