package detect

import (
	"fmt"
	"math"
)

// AnchorOptions are the fields of MediaPipe's SsdAnchorsCalculatorOptions
// that BlazeFace and the palm detector use (ssd_anchors_calculator.proto).
type AnchorOptions struct {
	InputW, InputH     int       // model input size in pixels
	MinScale, MaxScale float64   // anchor scales of the first and last layer
	Strides            []int     // one per layer; equal strides share a feature map
	AspectRatios       []float64 // per layer and cell
	// InterpolatedScaleAspectRatio adds one more anchor per layer with
	// the geometric mean of this and the next layer's scale (0: none).
	InterpolatedScaleAspectRatio float64
	OffsetX, OffsetY             float64 // anchor centre within its cell (0.5: middle)
	// FixedAnchorSize gives every anchor width and height 1, so that the
	// regressed sizes are in input pixels / input size.
	FixedAnchorSize bool
}

// Anchor is one SSD anchor in normalised input coordinates.
type Anchor struct {
	X, Y, W, H float32 // centre and size
}

// layerScale is MediaPipe's CalculateScale: scales spread linearly from
// min to max over the layers.
func layerScale(minS, maxS float64, i, n int) float64 {
	if n == 1 {
		return (minS + maxS) / 2
	}
	return minS + (maxS-minS)*float64(i)/float64(n-1)
}

// Anchors generates the anchors as MediaPipe's SsdAnchorsCalculator does:
// consecutive layers with the same stride form one feature map of
// ceil(input/stride) cells; each cell gets, for every layer of the group,
// one anchor per aspect ratio plus the interpolated one; cells run row by
// row, the anchors of a cell back to back.
func Anchors(o AnchorOptions) ([]Anchor, error) {
	if o.InputW < 1 || o.InputH < 1 || len(o.Strides) == 0 {
		return nil, fmt.Errorf("detect: anchors for a %dx%d input with strides %v", o.InputW, o.InputH, o.Strides)
	}
	var out []Anchor
	n := len(o.Strides)
	for layer := 0; layer < n; {
		var ws, hs []float64
		last := layer
		for ; last < n && o.Strides[last] == o.Strides[layer]; last++ {
			scale := layerScale(o.MinScale, o.MaxScale, last, n)
			for _, ar := range o.AspectRatios {
				r := math.Sqrt(ar)
				ws, hs = append(ws, scale*r), append(hs, scale/r)
			}
			if o.InterpolatedScaleAspectRatio > 0 {
				next := 1.0
				if last < n-1 {
					next = layerScale(o.MinScale, o.MaxScale, last+1, n)
				}
				s := math.Sqrt(scale * next)
				r := math.Sqrt(o.InterpolatedScaleAspectRatio)
				ws, hs = append(ws, s*r), append(hs, s/r)
			}
		}
		stride := o.Strides[layer]
		if stride < 1 {
			return nil, fmt.Errorf("detect: stride %d, want positive", stride)
		}
		fh, fw := (o.InputH+stride-1)/stride, (o.InputW+stride-1)/stride
		for y := 0; y < fh; y++ {
			for x := 0; x < fw; x++ {
				for k := range ws {
					a := Anchor{X: float32((float64(x) + o.OffsetX) / float64(fw)), Y: float32((float64(y) + o.OffsetY) / float64(fh)), W: 1, H: 1}
					if !o.FixedAnchorSize {
						a.W, a.H = float32(ws[k]), float32(hs[k])
					}
					out = append(out, a)
				}
			}
		}
		layer = last
	}
	return out, nil
}
