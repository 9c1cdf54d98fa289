package vision

import (
	"fmt"
	"math"
)

// RotatedCrop samples a square region of src into dst (out x out pixels,
// src's channels; reused when large enough, nil allocates): the square of
// the given side centred at (cx, cy), turned by angle radians. In image
// coordinates (x right, y down) the crop's x axis is (cos, sin) of the
// angle and its y axis (-sin, cos), as MediaPipe's rotated rects: angle
// 0 is an ordinary crop, and a face whose eye line has roll r comes out
// level with angle r. Samples are bilinear; points outside src take the
// nearest edge pixel.
func RotatedCrop(dst, src *Image, cx, cy, side, angle float64, out int) (*Image, error) {
	if out < 1 || !(side > 0) || math.IsInf(side, 0) || math.IsNaN(cx+cy+angle) || math.IsInf(cx+cy+angle, 0) {
		return nil, fmt.Errorf("vision: rotated crop of side %g at (%g,%g), angle %g, into %d px: want a positive side and size and finite values", side, cx, cy, angle, out)
	}
	if src.W <= 0 || src.H <= 0 || src.C <= 0 || len(src.Pix) < src.Len() {
		return nil, fmt.Errorf("vision: cannot crop a %dx%dx%d image with %d bytes", src.W, src.H, src.C, len(src.Pix))
	}
	c := src.C
	dst = dst.Ensure(out, out, c)
	cos, sin := math.Cos(angle), math.Sin(angle)
	step := side / float64(out)
	maxX, maxY := float64(src.W-1), float64(src.H-1)
	for v := 0; v < out; v++ {
		ly := (float64(v)+0.5)*step - side/2
		for u := 0; u < out; u++ {
			lx := (float64(u)+0.5)*step - side/2
			// Pixel centres are at integer+0.5 in continuous coordinates.
			x := min(max(cx+lx*cos-ly*sin-0.5, 0), maxX)
			y := min(max(cy+lx*sin+ly*cos-0.5, 0), maxY)
			x0, y0 := int(x), int(y)
			x1, y1 := min(x0+1, src.W-1), min(y0+1, src.H-1)
			fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
			p00 := src.Pix[(y0*src.W+x0)*c:]
			p01 := src.Pix[(y0*src.W+x1)*c:]
			p10 := src.Pix[(y1*src.W+x0)*c:]
			p11 := src.Pix[(y1*src.W+x1)*c:]
			o := dst.Pix[(v*out+u)*c:]
			for k := 0; k < c; k++ {
				top := float32(p00[k]) + fx*(float32(p01[k])-float32(p00[k]))
				bot := float32(p10[k]) + fx*(float32(p11[k])-float32(p10[k]))
				o[k] = clampU8(top + fy*(bot-top))
			}
		}
	}
	return dst, nil
}
