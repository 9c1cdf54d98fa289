package onnx

import (
	"fmt"

	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// depthwiseConv is a depthwise 2-D convolution (ONNX Conv with group =
// channels and one filter per channel, as in MobileNets) over NHWC:
//
//	y[n,oy,ox,c] = b[c] + sum_{ky,kx} x[n,oy*S+ky-P, ox*S+kx-P, c] * w[ky,kx,c]
//
// The weight is stored (KH,KW,C) so the inner loop over channels is
// contiguous. It implements nn.Layer.
type depthwiseConv struct {
	name                 string
	c, kh, kw, stride, p int
	Weight, Bias         *nn.Param

	x, out, dx   *tensor.Tensor
	dy           *tensor.Tensor
	n, h, w      int
	ho, wo       int
	fwdFn, bwdFn func(lo, hi int)
	partW, partB [][]float32 // per-image dW, db (summed after the loop)
}

func newDepthwise(name string, c, kh, kw, stride, pad int, bias bool) *depthwiseConv {
	d := &depthwiseConv{name: name, c: c, kh: kh, kw: kw, stride: stride, p: pad}
	d.Weight = &nn.Param{Name: name + ".weight", Value: tensor.New(kh, kw, c), Grad: tensor.New(kh, kw, c)}
	if bias {
		d.Bias = &nn.Param{Name: name + ".bias", Value: tensor.New(c), Grad: tensor.New(c), NoDecay: true}
	}
	d.fwdFn = d.forwardRows
	d.bwdFn = d.backwardImages
	return d
}

func (d *depthwiseConv) Params() []*nn.Param {
	if d.Bias != nil {
		return []*nn.Param{d.Weight, d.Bias}
	}
	return []*nn.Param{d.Weight}
}

func (d *depthwiseConv) Buffers() []*nn.Param { return nil }

func (d *depthwiseConv) OutShape(in []int) ([]int, error) {
	if len(in) != 4 || in[3] != d.c {
		return nil, fmt.Errorf("%s: input shape %s, want (N,H,W,%d)", d.name, tensor.ShapeString(in), d.c)
	}
	ho := (in[1]+2*d.p-d.kh)/d.stride + 1
	wo := (in[2]+2*d.p-d.kw)/d.stride + 1
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("%s: input %s is smaller than the %dx%d kernel", d.name, tensor.ShapeString(in), d.kh, d.kw)
	}
	return []int{in[0], ho, wo, d.c}, nil
}

func (d *depthwiseConv) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	d.x = x
	d.n, d.h, d.w = x.Shape[0], x.Shape[1], x.Shape[2]
	d.ho = (d.h+2*d.p-d.kh)/d.stride + 1
	d.wo = (d.w+2*d.p-d.kw)/d.stride + 1
	d.out = tensor.Ensure(d.out, d.n, d.ho, d.wo, d.c)
	// Rows of all images are shared out (a batch of one still uses every
	// core): about 4K multiply-adds per row piece at least.
	grain := max(1, 4096/max(1, d.wo*d.c*d.kh*d.kw))
	parallel.For(d.n*d.ho, grain, d.fwdFn)
	return d.out
}

// forwardRows computes output rows [lo,hi) of the flattened (N*Ho) rows.
func (d *depthwiseConv) forwardRows(lo, hi int) {
	c, w := d.c, d.Weight.Value.Data
	for r := lo; r < hi; r++ {
		i, oy := r/d.ho, r%d.ho
		for ox := 0; ox < d.wo; ox++ {
			y := d.out.Data[((i*d.ho+oy)*d.wo+ox)*c:][:c]
			if d.Bias != nil {
				copy(y, d.Bias.Value.Data)
			} else {
				clear(y)
			}
			for ky := 0; ky < d.kh; ky++ {
				iy := oy*d.stride + ky - d.p
				if iy < 0 || iy >= d.h {
					continue
				}
				for kx := 0; kx < d.kw; kx++ {
					ix := ox*d.stride + kx - d.p
					if ix < 0 || ix >= d.w {
						continue
					}
					xs := d.x.Data[((i*d.h+iy)*d.w+ix)*c:][:c]
					ws := w[(ky*d.kw+kx)*c:][:c]
					for j := range y {
						y[j] += xs[j] * ws[j]
					}
				}
			}
		}
	}
}

// Backward computes dW, db (summed over images) and dx.
func (d *depthwiseConv) Backward(dy *tensor.Tensor) *tensor.Tensor {
	d.dy = dy
	d.dx = tensor.Ensure(d.dx, d.n, d.h, d.w, d.c)
	d.dx.Zero()
	for len(d.partW) < d.n {
		d.partW = append(d.partW, make([]float32, d.kh*d.kw*d.c))
		d.partB = append(d.partB, make([]float32, d.c))
	}
	parallel.For(d.n, 1, d.bwdFn)
	gw := d.Weight.Grad.Data
	if !d.Weight.Frozen {
		clear(gw)
		for i := 0; i < d.n; i++ {
			for j, v := range d.partW[i] {
				gw[j] += v
			}
		}
	}
	if d.Bias != nil && !d.Bias.Frozen {
		gb := d.Bias.Grad.Data
		clear(gb)
		for i := 0; i < d.n; i++ {
			for j, v := range d.partB[i] {
				gb[j] += v
			}
		}
	}
	return d.dx
}

func (d *depthwiseConv) backwardImages(lo, hi int) {
	c, w := d.c, d.Weight.Value.Data
	for i := lo; i < hi; i++ {
		pw, pb := d.partW[i], d.partB[i]
		clear(pw)
		clear(pb)
		for oy := 0; oy < d.ho; oy++ {
			for ox := 0; ox < d.wo; ox++ {
				g := d.dy.Data[((i*d.ho+oy)*d.wo+ox)*c:][:c]
				for j, v := range g {
					pb[j] += v
				}
				for ky := 0; ky < d.kh; ky++ {
					iy := oy*d.stride + ky - d.p
					if iy < 0 || iy >= d.h {
						continue
					}
					for kx := 0; kx < d.kw; kx++ {
						ix := ox*d.stride + kx - d.p
						if ix < 0 || ix >= d.w {
							continue
						}
						off := ((i*d.h+iy)*d.w + ix) * c
						xs, dxs := d.x.Data[off:][:c], d.dx.Data[off:][:c]
						ws, dws := w[(ky*d.kw+kx)*c:][:c], pw[(ky*d.kw+kx)*c:][:c]
						for j, v := range g {
							dws[j] += v * xs[j]
							dxs[j] += v * ws[j]
						}
					}
				}
			}
		}
	}
}
