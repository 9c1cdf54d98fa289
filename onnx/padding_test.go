package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// oneNodeModel is a graph x -> node -> y with the given initializers;
// x is declared (N,C,H,W).
func oneNodeModel(n *NodeProto, inits []*TensorProto, c, h, w int) *ModelProto {
	n.Outputs = []string{"y"}
	n.Inputs = append([]string{"x"}, n.Inputs...)
	return &ModelProto{IRVersion: 7, Opsets: []OpsetID{{Version: 13}}, Graph: &GraphProto{
		Nodes:        []*NodeProto{n},
		Initializers: inits,
		Inputs:       []*ValueInfo{{Name: "x", ElemType: TypeFloat, Shape: []Dim{{Param: "N"}, {Value: int64(c)}, {Value: int64(h)}, {Value: int64(w)}}}},
		Outputs:      []*ValueInfo{{Name: "y", ElemType: TypeFloat}},
	}}
}

// naiveConv is a direct NCHW convolution with explicit (top, left,
// bottom, right) padding by `pad` and groups.
func naiveConv(x, w *tensor.Tensor, b []float32, stride, group int, p [4]int) *tensor.Tensor {
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	o, cg, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	ho := (h+p[0]+p[2]-kh)/stride + 1
	wo := (wd+p[1]+p[3]-kw)/stride + 1
	y := tensor.New(n, o, ho, wo)
	og := o / group
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			g := oc / og
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					var s float64
					if b != nil {
						s = float64(b[oc])
					}
					for ic := 0; ic < cg; ic++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*stride+ky-p[0], ox*stride+kx-p[1]
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x.Data[((i*c+g*cg+ic)*h+iy)*wd+ix]) * float64(w.Data[((oc*cg+ic)*kh+ky)*kw+kx])
							}
						}
					}
					y.Data[((i*o+oc)*ho+oy)*wo+ox] = float32(s)
				}
			}
		}
	}
	return y
}

// naiveMaxPool pads with -Inf.
func naiveMaxPool(x *tensor.Tensor, k, stride int, p [4]int) *tensor.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho := (h+p[0]+p[2]-k)/stride + 1
	wo := (w+p[1]+p[3]-k)/stride + 1
	y := tensor.New(n, c, ho, wo)
	for i := 0; i < n*c; i++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				m := float32(math.Inf(-1))
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						iy, ix := oy*stride+ky-p[0], ox*stride+kx-p[1]
						if iy >= 0 && iy < h && ix >= 0 && ix < w {
							m = max(m, x.Data[(i*h+iy)*w+ix])
						}
					}
				}
				y.Data[(i*ho+oy)*wo+ox] = m
			}
		}
	}
	return y
}

// runNCHW runs a compiled graph on an NCHW tensor and returns NCHW.
func runNCHW(t *testing.T, m *ModelProto, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	g, err := Compile(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := g.Forward(permute(nil, x, toNHWCPerm), false)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// TestConvAndPoolPadding checks explicit symmetric and asymmetric pads,
// auto_pad SAME_UPPER/SAME_LOWER, strides and depthwise groups against
// direct loops.
func TestConvAndPoolPadding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		autoPad       string
		pads          []int // ONNX order (top, left, bottom, right)
		stride, group int
		h, w          int
		want          [4]int // padding the reference uses (top, left, bottom, right)
	}{
		{"NOTSET", []int{1, 1, 1, 1}, 1, 1, 7, 6, [4]int{1, 1, 1, 1}},
		{"NOTSET", []int{0, 1, 2, 0}, 2, 1, 7, 6, [4]int{0, 1, 2, 0}},
		{"SAME_UPPER", nil, 2, 1, 6, 7, [4]int{0, 1, 1, 1}},
		{"SAME_LOWER", nil, 2, 1, 6, 7, [4]int{1, 1, 0, 1}},
		{"VALID", nil, 1, 1, 6, 5, [4]int{}},
		{"NOTSET", []int{1, 0, 1, 2}, 1, 4, 6, 6, [4]int{1, 0, 1, 2}}, // depthwise
		{"SAME_UPPER", nil, 2, 4, 5, 5, [4]int{1, 1, 1, 1}},           // depthwise
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("conv%d-%s", i, tc.autoPad), func(t *testing.T) {
			c, o := 4, 4
			if tc.group == 1 {
				o = 5
			}
			w := randomInput(rng, o, c/tc.group, 3, 3)
			b := randomInput(rng, o)
			n := &NodeProto{Name: "conv", OpType: "Conv", Inputs: []string{"w", "b"}, Attrs: []*AttributeProto{
				intsAttr("strides", tc.stride, tc.stride), intAttr("group", tc.group),
				{Name: "auto_pad", Type: AttrString, S: []byte(tc.autoPad)}}}
			if tc.pads != nil {
				n.Attrs = append(n.Attrs, intsAttr("pads", tc.pads...))
			}
			m := oneNodeModel(n, []*TensorProto{FloatTensor("w", w.Shape, w.Data), FloatTensor("b", b.Shape, b.Data)}, c, tc.h, tc.w)
			x := randomInput(rng, 2, c, tc.h, tc.w)
			want := naiveConv(x, w, b.Data, tc.stride, tc.group, tc.want)
			got := runNCHW(t, m, x)
			if !tensor.SameShape(got.Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
			}
			if d := relDiff(got.Data, want.Data); d > 1e-5 {
				t.Errorf("differs from direct loops by %.3g", d)
			}
		})
		if tc.group != 1 {
			continue
		}
		t.Run(fmt.Sprintf("maxpool%d-%s", i, tc.autoPad), func(t *testing.T) {
			n := &NodeProto{Name: "pool", OpType: "MaxPool", Attrs: []*AttributeProto{
				intsAttr("kernel_shape", 3, 3), intsAttr("strides", tc.stride, tc.stride),
				{Name: "auto_pad", Type: AttrString, S: []byte(tc.autoPad)}}}
			if tc.pads != nil {
				if tc.pads[0] != tc.pads[1] || tc.pads[0] != tc.pads[2] || tc.pads[0] != tc.pads[3] {
					t.Skip("asymmetric explicit pads are not supported by MaxPool")
				}
				n.Attrs = append(n.Attrs, intsAttr("pads", tc.pads...))
			}
			m := oneNodeModel(n, nil, 3, tc.h, tc.w)
			x := randomInput(rng, 2, 3, tc.h, tc.w)
			want := naiveMaxPool(x, 3, tc.stride, tc.want)
			got := runNCHW(t, m, x)
			if !tensor.SameShape(got.Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
			}
			if d := relDiff(got.Data, want.Data); d > 1e-6 {
				t.Errorf("differs from direct loops by %.3g", d)
			}
		})
	}
}

// naiveAvgPool averages each window over the taps inside the image, or
// over K² (zeros counted) when countPad.
func naiveAvgPool(x *tensor.Tensor, k, stride int, p [4]int, countPad bool) *tensor.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho := (h+p[0]+p[2]-k)/stride + 1
	wo := (w+p[1]+p[3]-k)/stride + 1
	y := tensor.New(n, c, ho, wo)
	for i := 0; i < n*c; i++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				var s float64
				cnt := 0
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						iy, ix := oy*stride+ky-p[0], ox*stride+kx-p[1]
						if iy >= 0 && iy < h && ix >= 0 && ix < w {
							s += float64(x.Data[(i*h+iy)*w+ix])
							cnt++
						}
					}
				}
				if countPad {
					cnt = k * k
				}
				y.Data[(i*ho+oy)*wo+ox] = float32(s / float64(cnt))
			}
		}
	}
	return y
}

// TestAveragePoolPadding: count_include_pad 0 and 1, with explicit and
// SAME padding, against direct loops.
func TestAveragePoolPadding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		autoPad  string
		pads     []int
		stride   int
		countPad int
		want     [4]int
	}{
		{"NOTSET", []int{1, 1, 1, 1}, 2, 0, [4]int{1, 1, 1, 1}},
		{"NOTSET", []int{1, 1, 1, 1}, 1, 1, [4]int{1, 1, 1, 1}},
		{"SAME_UPPER", nil, 2, 0, [4]int{0, 1, 1, 1}},
		{"SAME_LOWER", nil, 1, 1, [4]int{1, 1, 1, 1}},
		{"VALID", nil, 2, 0, [4]int{}},
	} {
		t.Run(fmt.Sprintf("%s-s%d-count%d", tc.autoPad, tc.stride, tc.countPad), func(t *testing.T) {
			n := &NodeProto{Name: "avg", OpType: "AveragePool", Attrs: []*AttributeProto{
				intsAttr("kernel_shape", 3, 3), intsAttr("strides", tc.stride, tc.stride), intAttr("count_include_pad", tc.countPad),
				{Name: "auto_pad", Type: AttrString, S: []byte(tc.autoPad)}}}
			if tc.pads != nil {
				n.Attrs = append(n.Attrs, intsAttr("pads", tc.pads...))
			}
			m := oneNodeModel(n, nil, 2, 6, 7)
			x := randomInput(rng, 2, 2, 6, 7)
			want := naiveAvgPool(x, 3, tc.stride, tc.want, tc.countPad == 1)
			g, err := Compile(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Forward(permute(nil, x, toNHWCPerm), true)
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.SameShape(got.Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
			}
			if d := relDiff(got.Data, want.Data); d > 1e-6 {
				t.Errorf("differs from direct loops by %.3g", d)
			}
			// The op is linear, so its backward is its adjoint:
			// <dx, x> = <r, y> for dx = backward(r).
			r := randomInput(rng, got.Shape...)
			dxs, err := g.nodes[0].op.backward(permute(nil, r, toNHWCPerm), []bool{true})
			if err != nil {
				t.Fatal(err)
			}
			xh := permute(nil, x, toNHWCPerm)
			if a, b := lossOf(dxs[0], xh), lossOf(got, r); math.Abs(a-b) > 1e-4*math.Max(1, math.Abs(b)) {
				t.Errorf("<dx,x> = %.6g, <r,y> = %.6g: backward is not the adjoint", a, b)
			}
		})
	}
}
