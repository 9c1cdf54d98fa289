package onnx

import (
	"fmt"
	"math"

	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/tensor"
)

// resizeOp is Resize (opset 10 and later) on a 4-D (N,C,H,W) value,
// modes "nearest" and "linear" (bilinear), scaling H and W only. The
// output size comes from the constant sizes input, or from the constant
// scales (floor(in*scale)). Coordinates map back to the input by
// coordinate_transformation_mode (half_pixel, pytorch_half_pixel,
// align_corners, asymmetric, tf_half_pixel_for_nn); nearest rounds by
// nearest_mode (round_prefer_floor, round_prefer_ceil, floor, ceil);
// linear clamps the source coordinate to the input, as ONNX Runtime
// does. The op runs channels-last; each output row and column gets two
// source indices and a weight (the second weight is zero for nearest),
// precomputed when the input size changes.
type resizeOp struct {
	linear       bool
	coord        string
	nearest      string
	sizes        []int     // (N,C,H,W) output sizes, or nil
	scales       []float32 // (N,C,H,W) scales, or nil
	lay          layouts
	in           *value
	x            *tensor.Tensor
	out          *tensor.Tensor
	outV         value
	h, w, ho, wo int
	ys, xs       axisMap
	dx           *tensor.Tensor
	dxs          []*tensor.Tensor
}

// axisMap gives, for every output index along one axis, the two source
// indices and the weight of the second.
type axisMap struct {
	i0, i1 []int
	w      []float32
}

func buildResize(c *compiler, n *NodeProto) (op, error) {
	o := &resizeOp{
		coord:   attrString(n, "coordinate_transformation_mode", "half_pixel"),
		nearest: attrString(n, "nearest_mode", "round_prefer_floor"),
	}
	switch mode := attrString(n, "mode", "nearest"); mode {
	case "nearest":
	case "linear", "bilinear":
		o.linear = true
	default:
		return nil, fmt.Errorf("mode %q is not supported (want nearest or linear)", mode)
	}
	scalesAt, sizesAt := 2, 3
	if c.opset < 11 {
		// Resize-10: (X, scales), asymmetric coordinates, floor rounding.
		scalesAt, sizesAt = 1, -1
		o.coord, o.nearest = "asymmetric", "floor"
	}
	switch o.coord {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn":
	default:
		return nil, fmt.Errorf("coordinate_transformation_mode %q is not supported", o.coord)
	}
	switch o.nearest {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return nil, fmt.Errorf("nearest_mode %q is not supported", o.nearest)
	}
	if a := n.Attr("antialias"); a != nil && a.I != 0 {
		return nil, fmt.Errorf("antialias=1 is not supported")
	}
	if a := n.Attr("axes"); a != nil {
		return nil, fmt.Errorf("the axes attribute is not supported")
	}
	scales, err := c.optKonst(n, scalesAt, "scales")
	if err != nil {
		return nil, err
	}
	var sizes *tensor.Tensor
	if sizesAt > 0 {
		if sizes, err = c.optKonst(n, sizesAt, "sizes"); err != nil {
			return nil, err
		}
	}
	switch {
	case sizes != nil && sizes.Len() > 0:
		s, err := shapeInput(sizes, "sizes")
		if err != nil {
			return nil, err
		}
		if len(s) != 4 || s[2] < 1 || s[3] < 1 {
			return nil, fmt.Errorf("sizes %v: want 4 values (N,C,H,W) with positive H and W", s)
		}
		o.sizes = s
	case scales != nil && scales.Len() > 0:
		s := scales.Data[:scales.Len()]
		if len(s) != 4 || s[0] != 1 || s[1] != 1 || !(s[2] > 0) || !(s[3] > 0) || math.IsInf(float64(s[2]), 0) || math.IsInf(float64(s[3]), 0) {
			return nil, fmt.Errorf("scales %v: want 4 values (1,1,sH,sW) with positive finite sH and sW", s)
		}
		o.scales = append([]float32(nil), s...)
	default:
		return nil, fmt.Errorf("neither scales nor sizes is given")
	}
	return o, nil
}

func (o *resizeOp) forward(in []*value, train bool) (*value, error) {
	o.in = in[0]
	x, err := o.lay.channelsLast(in[0], "")
	if err != nil {
		return nil, err
	}
	o.x = x
	nb, h, w, ch := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if o.sizes != nil && (o.sizes[0] != nb || o.sizes[1] != ch) {
		return nil, fmt.Errorf("sizes %v change the batch or channels of input %s", o.sizes, tensor.ShapeString(in[0].logical()))
	}
	if h != o.h || w != o.w || o.out == nil {
		o.h, o.w = h, w
		var sy, sx float64
		if o.sizes != nil {
			o.ho, o.wo = o.sizes[2], o.sizes[3]
			sy, sx = float64(o.ho)/float64(h), float64(o.wo)/float64(w)
		} else {
			sy, sx = float64(o.scales[2]), float64(o.scales[3])
			o.ho, o.wo = int(math.Floor(float64(h)*sy)), int(math.Floor(float64(w)*sx))
			if o.ho < 1 || o.wo < 1 {
				return nil, fmt.Errorf("scales %v give an empty output for input %s", o.scales, tensor.ShapeString(in[0].logical()))
			}
		}
		if err := checkRunShape("the output", nb, o.ho, o.wo, ch); err != nil {
			o.out, o.h = nil, 0 // recompute next time
			return nil, err
		}
		o.ys = o.axis(h, o.ho, sy)
		o.xs = o.axis(w, o.wo, sx)
	}
	if err := checkRunShape("the output", nb, o.ho, o.wo, ch); err != nil {
		o.out, o.h = nil, 0 // recompute the axes next time
		return nil, err
	}
	o.out = tensor.Ensure(o.out, nb, o.ho, o.wo, ch)
	parallel.For(nb*o.ho, 4, o.forwardRows)
	o.outV = value{t: o.out, nhwc: true}
	return &o.outV, nil
}

// axis builds the source map of one axis of input length n, output
// length m and scale s.
func (o *resizeOp) axis(n, m int, s float64) axisMap {
	a := axisMap{i0: make([]int, m), i1: make([]int, m), w: make([]float32, m)}
	for i := range m {
		var x float64
		switch o.coord {
		case "half_pixel":
			x = (float64(i)+0.5)/s - 0.5
		case "pytorch_half_pixel":
			if m > 1 {
				x = (float64(i)+0.5)/s - 0.5
			}
		case "align_corners":
			if m > 1 {
				x = float64(i) * float64(n-1) / float64(m-1)
			}
		case "asymmetric":
			x = float64(i) / s
		case "tf_half_pixel_for_nn":
			x = (float64(i) + 0.5) / s
		}
		if !o.linear {
			var k float64
			switch o.nearest {
			case "round_prefer_floor":
				k = math.Ceil(x - 0.5)
			case "round_prefer_ceil":
				k = math.Floor(x + 0.5)
			case "floor":
				k = math.Floor(x)
			case "ceil":
				k = math.Ceil(x)
			}
			j := min(max(int(k), 0), n-1)
			a.i0[i], a.i1[i] = j, j
			continue
		}
		x = min(max(x, 0), float64(n-1))
		j := int(x)
		a.i0[i], a.i1[i] = j, min(j+1, n-1)
		a.w[i] = float32(x - float64(j))
	}
	return a
}

// forwardRows fills output rows [lo,hi) of the flattened (N*Ho) rows.
func (o *resizeOp) forwardRows(lo, hi int) {
	ch := o.x.Shape[3]
	src, dst := o.x.Data, o.out.Data
	for r := lo; r < hi; r++ {
		b, oy := r/o.ho, r%o.ho
		row0 := (b*o.h + o.ys.i0[oy]) * o.w * ch
		row1 := (b*o.h + o.ys.i1[oy]) * o.w * ch
		wy := o.ys.w[oy]
		out := dst[r*o.wo*ch : (r+1)*o.wo*ch]
		for ox := 0; ox < o.wo; ox++ {
			o00 := src[row0+o.xs.i0[ox]*ch : row0+o.xs.i0[ox]*ch+ch]
			y := out[ox*ch : ox*ch+ch]
			if !o.linear {
				copy(y, o00)
				continue
			}
			wx := o.xs.w[ox]
			o01 := src[row0+o.xs.i1[ox]*ch : row0+o.xs.i1[ox]*ch+ch]
			o10 := src[row1+o.xs.i0[ox]*ch : row1+o.xs.i0[ox]*ch+ch]
			o11 := src[row1+o.xs.i1[ox]*ch : row1+o.xs.i1[ox]*ch+ch]
			for c := range y {
				top := o00[c] + wx*(o01[c]-o00[c])
				bot := o10[c] + wx*(o11[c]-o10[c])
				y[c] = top + wy*(bot-top)
			}
		}
	}
}

// backward scatters dL/dy to the (up to four) source pixels of each
// output pixel with the forward weights.
func (o *resizeOp) backward(dy *tensor.Tensor, needs []bool) ([]*tensor.Tensor, error) {
	o.dxs = append(o.dxs[:0], make([]*tensor.Tensor, len(needs))...)
	if !needs[0] {
		return o.dxs, nil
	}
	nb, ch := o.x.Shape[0], o.x.Shape[3]
	o.dx = tensor.Ensure(o.dx, o.x.Shape...)
	o.dx.Zero()
	g, d := dy.Data, o.dx.Data
	for b := 0; b < nb; b++ {
		for oy := 0; oy < o.ho; oy++ {
			row0 := (b*o.h + o.ys.i0[oy]) * o.w * ch
			row1 := (b*o.h + o.ys.i1[oy]) * o.w * ch
			wy := o.ys.w[oy]
			for ox := 0; ox < o.wo; ox++ {
				gi := ((b*o.ho+oy)*o.wo + ox) * ch
				wx := o.xs.w[ox]
				if !o.linear {
					wx, wy = 0, 0
				}
				w := [4]float32{(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx}
				at := [4]int{row0 + o.xs.i0[ox]*ch, row0 + o.xs.i1[ox]*ch, row1 + o.xs.i0[ox]*ch, row1 + o.xs.i1[ox]*ch}
				for k := range 4 {
					if w[k] == 0 {
						continue
					}
					dk := d[at[k] : at[k]+ch]
					for c, v := range g[gi : gi+ch] {
						dk[c] += w[k] * v
					}
				}
			}
		}
	}
	o.dxs[0] = o.lay.gradFromNHWC(o.in, o.dx)
	return o.dxs, nil
}
