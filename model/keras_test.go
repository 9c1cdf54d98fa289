package model

import (
	"fmt"
	"strings"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// TestKerasV2AgainstPyTorch: one training step of a toy Keras-layout
// ResNet v2 (projection, identity and max-pool shortcuts, the biases, the
// zero-padded stem max-pool, Keras' BN eps and momentum) against the
// PyTorch transcription of keras.applications.resnet_v2 in
// scripts/torch_reference.py.
func TestKerasV2AgainstPyTorch(t *testing.T) {
	torchStep(t, "testdata/torch_keras_v2.safetensors", Config{Version: 2, Layout: LayoutKeras, Block: "bottleneck",
		Layers: []int{3, 2}, Widths: []int{4, 8}, Stem: "imagenet", Classes: 3})
}

// TestKerasV2ParamCounts: Keras' ResNet50V2, ResNet101V2 and ResNet152V2
// without top (weights=None, 224x224x3) have these total and trainable
// counts (model.summary()); the totals include BN moving statistics.
func TestKerasV2ParamCounts(t *testing.T) {
	for _, tc := range []struct {
		preset           string
		total, trainable int
	}{
		{"resnet50v2", 23_564_800, 23_519_360},
		{"resnet101v2", 42_626_560, 42_528_896},
		{"resnet152v2", 58_331_648, 58_187_904},
	} {
		c, err := Preset(tc.preset)
		if err != nil {
			t.Fatal(err)
		}
		c.Input, c.Classes = [3]int{224, 224, 3}, 1000
		net, err := New(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, _, trainable, total := net.ParamCounts()
		t.Logf("%s without top: %d parameters (%d trainable)", tc.preset, total, trainable)
		if total != tc.total || trainable != tc.trainable {
			t.Errorf("%s without top: %d parameters (%d trainable), Keras has %d (%d)", tc.preset, total, trainable, tc.total, tc.trainable)
		}
	}
}

// TestKerasV2Stages checks resnet152v2 block by block at 224x224x3
// against Keras' ResNet152V2: the stride sits on the last block of stages
// 1-3 with a 1x1 max-pool shortcut, the first block of each stage has a
// projection with a bias, every block's conv3 has a bias, and the stage
// outputs are conv2_block3_out (28,28,256), conv3_block8_out (14,14,512),
// conv4_block36_out (7,7,1024) and conv5_block3_out (7,7,2048).
func TestKerasV2Stages(t *testing.T) {
	c, err := Preset("resnet152v2")
	if err != nil {
		t.Fatal(err)
	}
	c.Input, c.Classes = [3]int{224, 224, 3}, 1000
	net, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{
		"conv1":     {1, 112, 112, 64},
		"maxpool":   {1, 56, 56, 64},
		"layer1.2":  {1, 28, 28, 256},
		"layer2.7":  {1, 14, 14, 512},
		"layer3.35": {1, 7, 7, 1024},
		"layer4.2":  {1, 7, 7, 2048},
		"post_bn":   {1, 7, 7, 2048},
		"layer1.0":  {1, 56, 56, 256}, // the stride comes last
		"layer3.34": {1, 14, 14, 1024},
		"layer4.0":  {1, 7, 7, 2048},
		"layer2.0":  {1, 28, 28, 512},
		"layer3.0":  {1, 14, 14, 1024},
		"layer1.1":  {1, 56, 56, 256},
		"layer2.6":  {1, 28, 28, 512},
		"layer4.1":  {1, 7, 7, 2048},
		"layer3.1":  {1, 14, 14, 1024},
	}
	shape := net.InputShape(1)
	blocks := 0
	seen := map[string]bool{}
	for _, l := range net.Layers() {
		if shape, err = l.OutShape(shape); err != nil {
			t.Fatal(err)
		}
		name := layerName(l)
		if w, ok := want[name]; ok {
			seen[name] = true
			if !tensor.SameShape(shape, w) {
				t.Errorf("%s output %v, Keras has %v", name, shape, w)
			}
		}
		b, ok := l.(*PreActBlock)
		if !ok {
			continue
		}
		blocks++
		var stage, j int
		fmt.Sscanf(name, "layer%d.%d", &stage, &j)
		last := j == c.Layers[stage-1]-1
		wantStride := 1
		if last && stage < 4 {
			wantStride = 2
		}
		if b.Stride != wantStride || b.Conv2.Config().Stride != wantStride {
			t.Errorf("%s: stride %d (conv2 %d), want %d", name, b.Stride, b.Conv2.Config().Stride, wantStride)
		}
		if (j == 0) != (b.Downsample != nil) || (b.Downsample != nil && !b.Downsample.Conv.Config().Bias) {
			t.Errorf("%s: projection %v, want one with a bias on the first block only", name, b.Downsample)
		}
		if (wantStride == 2) != (b.Pool != nil) {
			t.Errorf("%s: max-pool shortcut %v, want one on the strided blocks", name, b.Pool)
		}
		if !b.Conv3.Config().Bias || b.Conv1.Config().Bias || b.Conv2.Config().Bias {
			t.Errorf("%s: biases conv1 %v conv2 %v conv3 %v, want conv3 only", name, b.Conv1.Config().Bias, b.Conv2.Config().Bias, b.Conv3.Config().Bias)
		}
		if eps := b.BN1.Config().Eps; eps != kerasEps {
			t.Errorf("%s: BN eps %g, want Keras' 1.001e-5", name, eps)
		}
	}
	if blocks != 3+8+36+3 {
		t.Errorf("%d blocks, want 50", blocks)
	}
	if len(seen) != len(want) {
		t.Errorf("found %d of the %d layers checked: %v", len(seen), len(want), seen)
	}
}

// TestPaperGestureOutline: the paper-gesture preset prints the shapes of
// the paper's Figure 4 (Keras' summary of its gesture network): input
// (32,32,1), conv2d_1 (32,32,3), resnet152v2 (1,1,2048), flatten (2048),
// dense 1024, 1024, 256, 128, 64, 10; and Keras' ResNet152V2 count for
// the backbone row.
func TestPaperGestureOutline(t *testing.T) {
	c, err := Preset("paper-gesture")
	if err != nil {
		t.Fatal(err)
	}
	net, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"(1,32,32,1)", "(1,32,32,3)", "(1,1,1,2048)", "(1,2048)", "(1,1024)", "(1,1024)", "(1,256)", "(1,128)", "(1,64)", "(1,10)"}
	rows := net.Outline()
	var got []string
	for _, r := range rows {
		got = append(got, tensor.ShapeString(r.Output))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("outline shapes %v, Figure 4 has %v", got, want)
	}
	if len(rows) > 2 && (rows[2].Kind != "ResNet" || rows[2].Params != 58_331_648) {
		t.Errorf("backbone row %+v, want the ResNet with 58,331,648 parameters", rows[2])
	}
	var sb strings.Builder
	if err := net.WriteSummary(&sb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "ResNet backbone without the top: 58,331,648 parameters (58,187,904 trainable)") {
		t.Errorf("summary lacks Keras' ResNet152V2 count:\n%s", sb.String()[max(0, sb.Len()-600):])
	}
}

// TestKerasLayoutErrors: the keras layout is Keras' ResNet v2 only, and an
// unknown layout names itself.
func TestKerasLayoutErrors(t *testing.T) {
	for _, c := range []Config{
		{Layout: LayoutKeras, Version: 1, Block: "bottleneck", Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3},
		{Layout: LayoutKeras, Version: 2, Block: "basic", Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3},
		{Layout: "caffe", Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3},
	} {
		_, err := New(c, 1)
		if err == nil || !strings.Contains(err.Error(), "layout") {
			t.Errorf("config %+v: error %v, want one about the layout", c, err)
		}
	}
}
