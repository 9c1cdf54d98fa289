package data

import "math"

// Pixel is the element type of an image buffer the augmentation
// functions work on: 8-bit pixels or float32 values.
type Pixel interface{ ~uint8 | ~float32 }

// PadMode says what a geometric transform reads outside the image.
type PadMode int

const (
	// PadReflect mirrors the image at its border without repeating the
	// edge pixel (index -1 reads 1, index W reads W-2), like numpy's and
	// PyTorch's "reflect". It is the default: no artificial black bars.
	PadReflect PadMode = iota
	// PadZero reads zeros (black) outside the image.
	PadZero
	// PadEdge repeats the nearest edge pixel.
	PadEdge
)

func (m PadMode) String() string {
	switch m {
	case PadReflect:
		return "reflect"
	case PadZero:
		return "zero"
	case PadEdge:
		return "edge"
	}
	return "PadMode(?)"
}

// ParsePadMode parses "reflect", "zero" or "edge".
func ParsePadMode(s string) (PadMode, bool) {
	switch s {
	case "reflect":
		return PadReflect, true
	case "zero":
		return PadZero, true
	case "edge":
		return PadEdge, true
	}
	return 0, false
}

// resolve maps an index that may lie outside [0,n) to one inside, or -1
// for a zero read.
func (m PadMode) resolve(i, n int) int {
	if i >= 0 && i < n {
		return i
	}
	switch m {
	case PadZero:
		return -1
	case PadEdge:
		return min(max(i, 0), n-1)
	}
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1) // reflect: ... 2 1 [0 1 ... n-1] n-2 ...
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}

// FlipHorizontal writes src (h,w,c) mirrored left-right into dst.
// dst and src must not overlap unless they are the same slice.
func FlipHorizontal[T Pixel](dst, src []T, h, w, c int) {
	for y := 0; y < h; y++ {
		row := y * w * c
		for x := 0; x < (w+1)/2; x++ {
			a, b := row+x*c, row+(w-1-x)*c
			for k := 0; k < c; k++ {
				va, vb := src[a+k], src[b+k]
				dst[a+k], dst[b+k] = vb, va
			}
		}
	}
}

// Shift writes dst(y,x) = src(y+dy, x+dx) for an (h,w,c) image, reading
// outside the image according to mode. With dx, dy drawn from
// [-pad, pad] it is the classic "random crop with padding" (pad the image
// by pad pixels on each side, crop back to h x w at a random offset).
func Shift[T Pixel](dst, src []T, h, w, c, dx, dy int, mode PadMode) {
	for y := 0; y < h; y++ {
		sy := mode.resolve(y+dy, h)
		for x := 0; x < w; x++ {
			o := (y*w + x) * c
			sx := mode.resolve(x+dx, w)
			if sy < 0 || sx < 0 {
				clear(dst[o : o+c])
				continue
			}
			copy(dst[o:o+c], src[(sy*w+sx)*c:(sy*w+sx)*c+c])
		}
	}
}

// CropRect copies the ch x cw window at (y0,x0) of an (h,w,c) image into
// dst, which must hold ch*cw*c values. The window must lie inside.
func CropRect[T Pixel](dst, src []T, w, c, y0, x0, ch, cw int) {
	for y := 0; y < ch; y++ {
		s := ((y0+y)*w + x0) * c
		copy(dst[y*cw*c:(y+1)*cw*c], src[s:s+cw*c])
	}
}

// Affine maps an output pixel (x,y) to source coordinates
// (A*x + B*y + C, D*x + E*y + F), pixel centres at integer coordinates.
type Affine struct{ A, B, C, D, E, F float64 }

// Identity is the affine map that leaves every pixel in place.
var Identity = Affine{A: 1, E: 1}

// Then returns the map that applies m first, then n, to output
// coordinates: (m.Then(n))(p) = n(m(p)).
func (m Affine) Then(n Affine) Affine {
	return Affine{
		A: n.A*m.A + n.B*m.D, B: n.A*m.B + n.B*m.E, C: n.A*m.C + n.B*m.F + n.C,
		D: n.D*m.A + n.E*m.D, E: n.D*m.B + n.E*m.E, F: n.D*m.C + n.E*m.F + n.F,
	}
}

// Apply maps one point.
func (m Affine) Apply(x, y float64) (float64, float64) {
	return m.A*x + m.B*y + m.C, m.D*x + m.E*y + m.F
}

// IsIdentity reports whether m leaves every pixel in place.
func (m Affine) IsIdentity() bool { return m == Identity }

// Rotation returns the map that samples an image of size w x h rotated by
// deg degrees (counter-clockwise on screen) about its centre.
func Rotation(deg float64, w, h int) Affine {
	cx, cy := float64(w-1)/2, float64(h-1)/2
	s, c := math.Sincos(deg * math.Pi / 180)
	// source = R(-deg) (p - centre) + centre; y grows downwards.
	return Affine{A: c, B: -s, C: cx - c*cx + s*cy, D: s, E: c, F: cy - s*cx - c*cy}
}

// Translation returns the map that moves the image content by (tx,ty)
// pixels (source = output - t).
func Translation(tx, ty float64) Affine { return Affine{A: 1, C: -tx, E: 1, F: -ty} }

// CropResize returns the map that samples the source window with top-left
// corner (x0,y0) and size cw x ch onto a dst w x h output (pixel areas
// line up: output pixel i covers source [x0 + i*cw/w, x0 + (i+1)*cw/w)).
func CropResize(x0, y0, cw, ch float64, w, h int) Affine {
	sx, sy := cw/float64(w), ch/float64(h)
	return Affine{A: sx, C: x0 + 0.5*sx - 0.5, E: sy, F: y0 + 0.5*sy - 0.5}
}

// FlipMap returns the map that mirrors an image of width w left-right.
func FlipMap(w int) Affine { return Affine{A: -1, C: float64(w - 1), E: 1} }

// Warp writes dst (dh,dw,c) by sampling src (h,w,c) bilinearly at m(x,y)
// for each output pixel, reading outside src according to mode. An
// identity or integer-shift map copies pixels exactly.
func Warp[T Pixel](dst []T, dh, dw int, src []T, h, w, c int, m Affine, mode PadMode) {
	var zero T
	_, isByte := any(zero).(uint8)
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			sx, sy := m.Apply(float64(x), float64(y))
			x0f, y0f := math.Floor(sx), math.Floor(sy)
			fx, fy := float32(sx-x0f), float32(sy-y0f)
			x0, y0 := int(x0f), int(y0f)
			w00, w01, w10, w11 := (1-fx)*(1-fy), fx*(1-fy), (1-fx)*fy, fx*fy
			o := (y*dw + x) * c
			if x0 >= 0 && y0 >= 0 && x0+1 < w && y0+1 < h {
				// Fast path: all four taps inside the image.
				a := (y0*w + x0) * c
				b := a + w*c
				for k := 0; k < c; k++ {
					v := float32(src[a+k])*w00 + float32(src[a+c+k])*w01 + float32(src[b+k])*w10 + float32(src[b+c+k])*w11
					dst[o+k] = storePixel[T](v, isByte)
				}
				continue
			}
			// Border: resolve each tap; zero-weight taps are skipped so
			// exact shifts read no neighbour (and no padding).
			xa, xb := mode.resolve(x0, w), mode.resolve(x0+1, w)
			ya, yb := mode.resolve(y0, h), mode.resolve(y0+1, h)
			for k := 0; k < c; k++ {
				v := tap(src, w, c, ya, xa, k, w00) + tap(src, w, c, ya, xb, k, w01) +
					tap(src, w, c, yb, xa, k, w10) + tap(src, w, c, yb, xb, k, w11)
				dst[o+k] = storePixel[T](v, isByte)
			}
		}
	}
}

// storePixel converts v to T, rounding and clamping when T is uint8.
func storePixel[T Pixel](v float32, isByte bool) T {
	if isByte {
		if v <= 0 {
			return 0
		}
		if v >= 255 {
			return T(255)
		}
		return T(v + 0.5)
	}
	return T(v)
}

func tap[T Pixel](src []T, w, c, y, x, k int, wt float32) float32 {
	if y < 0 || x < 0 || wt == 0 {
		return 0
	}
	return float32(src[(y*w+x)*c+k]) * wt
}
