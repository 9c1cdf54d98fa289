// Package model builds ResNets from the layers of package nn: the original
// (v1) and pre-activation (v2) residual networks with basic or bottleneck
// blocks, the ImageNet and small-input stems, the CIFAR family, and the
// presets used by this project. Parameter names follow torchvision's
// state_dict ("layer1.0.conv1.weight"), so weights map one to one.
package model

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// Config describes a residual network. Presets (Preset, Presets) fill it
// in; zero fields take the documented defaults in New.
type Config struct {
	// Version is 1 for the original ResNet (post-activation) or 2 for the
	// pre-activation ResNet v2. Default 1.
	Version int `json:"version"`
	// Layout is how a v2 network is laid out: "torchvision" (default; a
	// stage's stride on its first block, no convolution biases) or
	// "keras", keras.applications.resnet_v2 layer for layer (stack2 and
	// block2): the stride on the last block of every stage but the last,
	// whose shortcut is a 1x1 max-pool with that stride; biases on the
	// stem convolution, on each block's last 1x1 and on each projection;
	// the stem max-pool pads with zeros (ZeroPadding2D); every BN has
	// Keras' epsilon 1.001e-5 and momentum 0.99 (0.01 in PyTorch's
	// convention). "keras" needs Version 2 and bottleneck blocks. Files
	// saved before the field existed load as "torchvision".
	Layout string `json:"layout,omitempty"`
	// Block is "basic" (two 3x3 convolutions) or "bottleneck" (1x1, 3x3,
	// 1x1 with 4x expansion). Default "basic".
	Block string `json:"block"`
	// Layers is the number of blocks in each stage, e.g. [2,2,2,2].
	Layers []int `json:"layers"`
	// Widths are the base channel counts of the stages, e.g.
	// [64,128,256,512]; each stage after the first halves H and W.
	Widths []int `json:"widths"`
	// Stem is "small" (3x3 stride 1, no max-pool: for 32x32 to 64x64
	// inputs) or "imagenet" (7x7 stride 2 + 3x3/2 max-pool). Default "small".
	Stem string `json:"stem"`
	// StemWidth is the stem's output channels; default Widths[0].
	StemWidth int `json:"stem_width,omitempty"`
	// WidthMult scales every channel count (default 1).
	WidthMult float64 `json:"width_mult,omitempty"`
	// InputAdapter, when > 0, puts a 3x3 convolution (with bias) from the
	// input channels to this many channels before the stem, as the paper's
	// gesture network maps 1 gray channel to 3.
	InputAdapter int `json:"input_adapter,omitempty"`
	// Pool is "avg" (global average pooling, default) or "flatten" (keep
	// every position, as the paper's Keras network does).
	Pool string `json:"pool,omitempty"`
	// Head lists the hidden fully connected layers (each followed by ReLU)
	// between the pooled features and the classifier.
	Head []int `json:"head,omitempty"`
	// Dropout before the classifier (0 = none).
	Dropout float64 `json:"dropout,omitempty"`
	// Input is the (H,W,C) input shape.
	Input [3]int `json:"input"`
	// Classes is the number of outputs.
	Classes int `json:"classes"`
}

// Net is a ResNet: a chain of layers from an (N,H,W,C) batch to (N,Classes)
// logits. It is not safe for concurrent use: layers own their buffers.
type Net struct {
	Config Config
	layers seq
	plan   []inferStep // built by the first evaluation Forward
	bf16   bool        // see SetBF16
}

// SetBF16 makes evaluation Forward compute the folded convolutions in
// bfloat16 where the CPU has AVX512_BF16 (see HasBF16): about twice the
// float32 throughput, with the inputs of each product rounded to 8
// significant bits, so logits differ from float32 by about 1e-2
// relative (predictions rarely change). Convolutions that run Winograd
// stay float32 (nn.ConvBN.BF16). Training is always float32.
// Default off.
func (m *Net) SetBF16(on bool) {
	m.bf16 = on
	m.setPlanPrecision()
}

// BF16 reports the last SetBF16 setting.
func (m *Net) BF16() bool { return m.bf16 }

// HasBF16 reports whether SetBF16(true) has an effect on this machine.
func HasBF16() bool { return kernels.HasConvBF16() }

// setPlanPrecision applies m.bf16 to the folded convolutions of the plan.
func (m *Net) setPlanPrecision() {
	for _, s := range m.plan {
		switch s := s.(type) {
		case convBNStep:
			s.f.BF16 = m.bf16
		case *fusedBlock:
			for _, f := range s.branch {
				f.BF16 = m.bf16
			}
			if s.shortcut != nil {
				s.shortcut.BF16 = m.bf16
			}
		}
	}
}

// New builds a network with weights initialised from seed. Every layer's
// shape is checked now: an incompatible configuration fails here with the
// layer's name and both shapes.
func New(cfg Config, seed uint64) (*Net, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	scale := func(c int) int { return max(1, int(float64(c)*cfg.WidthMult+0.5)) }

	var layers seq
	in := cfg.Input[2]
	if cfg.InputAdapter > 0 {
		layers = append(layers, nn.NewConv2D("adapter", nn.Conv2DConfig{InC: in, OutC: cfg.InputAdapter, Kernel: 3, Padding: 1, Bias: true}, rng))
		in = cfg.InputAdapter
	}
	stem := scale(cfg.StemWidth)
	keras := cfg.Layout == LayoutKeras
	// In v2 the stem has no BN-ReLU: the first block pre-activates.
	switch cfg.Stem {
	case "small":
		layers = append(layers, nn.NewConv2D("conv1", nn.Conv2DConfig{InC: in, OutC: stem, Kernel: 3, Padding: 1, Bias: keras, NoInputGrad: cfg.InputAdapter == 0}, rng))
	case "imagenet":
		layers = append(layers, nn.NewConv2D("conv1", nn.Conv2DConfig{InC: in, OutC: stem, Kernel: 7, Stride: 2, Padding: 3, Bias: keras, NoInputGrad: cfg.InputAdapter == 0}, rng))
	}
	if cfg.Version == 1 {
		layers = append(layers, bn("bn1", stem, true))
	}
	if cfg.Stem == "imagenet" {
		layers = append(layers, nn.NewMaxPool2D("maxpool", nn.Pool2DConfig{Kernel: 3, Stride: 2, Padding: 1, ZeroPad: keras}))
	}
	style := blockStyle{keras: keras}

	in = stem
	for s, n := range cfg.Layers {
		width := scale(cfg.Widths[s])
		for j := 0; j < n; j++ {
			stride := 1
			switch {
			case keras && j == n-1 && s < len(cfg.Layers)-1:
				stride = 2 // Keras: the last block of stages 1-3
			case !keras && s > 0 && j == 0:
				stride = 2 // torchvision: the first block of stages 2-4
			}
			name := fmt.Sprintf("layer%d.%d", s+1, j)
			var blk nn.Layer
			switch {
			case cfg.Version == 1 && cfg.Block == "basic":
				blk = newBasicBlock(name, in, width, stride, rng)
			case cfg.Version == 1:
				blk = newBottleneck(name, in, width, stride, rng)
			case cfg.Block == "basic":
				blk = newPreActBasic(name, in, width, stride, rng)
			default:
				blk = newPreActBottleneck(name, in, width, stride, style, rng)
			}
			layers = append(layers, blk)
			in = width
			if cfg.Block == "bottleneck" {
				in = width * Expansion
			}
		}
	}
	if cfg.Version == 2 {
		layers = append(layers, style.bn("post_bn", in))
	}

	if cfg.Pool == "flatten" {
		layers = append(layers, nn.NewFlatten("flatten"))
	} else {
		layers = append(layers, nn.NewGlobalAvgPool("avgpool"))
	}
	// The pooled feature size depends on the spatial size left: infer it.
	shape, err := layers.outShape([]int{1, cfg.Input[0], cfg.Input[1], cfg.Input[2]})
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	features := shape[1]
	for i, h := range cfg.Head {
		layers = append(layers,
			nn.NewLinear(fmt.Sprintf("head.%d", i), nn.LinearConfig{In: features, Out: h}, rng),
			nn.NewReLU(fmt.Sprintf("head.%d.relu", i)))
		features = h
	}
	if cfg.Dropout > 0 {
		layers = append(layers, nn.NewDropout("dropout", float32(cfg.Dropout), seed+1))
	}
	layers = append(layers, nn.NewLinear("fc", nn.LinearConfig{In: features, Out: cfg.Classes}, rng))
	if _, err := layers.outShape([]int{1, cfg.Input[0], cfg.Input[1], cfg.Input[2]}); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return &Net{Config: cfg, layers: layers}, nil
}

// The layouts of Config.Layout.
const (
	LayoutTorchvision = "torchvision"
	LayoutKeras       = "keras"
)

func (c Config) withDefaults() Config {
	if c.Version == 0 {
		c.Version = 1
	}
	if c.Block == "" {
		c.Block = "basic"
	}
	if c.Layout == "" {
		c.Layout = LayoutTorchvision
	}
	if c.Stem == "" {
		c.Stem = "small"
	}
	if c.StemWidth == 0 && len(c.Widths) > 0 {
		c.StemWidth = c.Widths[0]
	}
	if c.WidthMult == 0 {
		c.WidthMult = 1
	}
	if c.Pool == "" {
		c.Pool = "avg"
	}
	c.Layers = slices.Clone(c.Layers)
	c.Widths = slices.Clone(c.Widths)
	c.Head = slices.Clone(c.Head)
	return c
}

func (c Config) validate() error {
	switch {
	case c.Version != 1 && c.Version != 2:
		return fmt.Errorf("model: version %d, want 1 or 2", c.Version)
	case checkBlock(c.Block) != nil:
		return checkBlock(c.Block)
	case c.Layout != LayoutTorchvision && c.Layout != LayoutKeras:
		return fmt.Errorf("model: layout %q, want %s or %s", c.Layout, LayoutTorchvision, LayoutKeras)
	case c.Layout == LayoutKeras && (c.Version != 2 || c.Block != "bottleneck"):
		return fmt.Errorf("model: layout keras is Keras' ResNet v2 (version 2, bottleneck blocks), not version %d with %s blocks", c.Version, c.Block)
	case c.Stem != "small" && c.Stem != "imagenet":
		return fmt.Errorf("model: stem %q, want small or imagenet", c.Stem)
	case c.Pool != "avg" && c.Pool != "flatten":
		return fmt.Errorf("model: pool %q, want avg or flatten", c.Pool)
	case len(c.Layers) == 0 || len(c.Layers) != len(c.Widths):
		return fmt.Errorf("model: %d stages of blocks %v but %d widths %v: want one width per stage", len(c.Layers), c.Layers, len(c.Widths), c.Widths)
	case c.Input[0] <= 0 || c.Input[1] <= 0 || c.Input[2] <= 0:
		return fmt.Errorf("model: input shape (H,W,C)=%v must be positive", c.Input)
	case c.Classes < 1:
		return fmt.Errorf("model: %d classes, want at least 1", c.Classes)
	case c.WidthMult <= 0:
		return fmt.Errorf("model: width multiplier %g must be > 0", c.WidthMult)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("model: dropout %g must be in [0,1)", c.Dropout)
	}
	for i, n := range c.Layers {
		if n < 1 || c.Widths[i] < 1 {
			return fmt.Errorf("model: stage %d has %d blocks of width %d, want at least 1 of each", i+1, n, c.Widths[i])
		}
	}
	for i, h := range c.Head {
		if h < 1 {
			return fmt.Errorf("model: head layer %d has %d units, want at least 1", i, h)
		}
	}
	return nil
}

// InputShape returns the (N,H,W,C) shape the network takes for batch n.
func (m *Net) InputShape(n int) []int {
	return []int{n, m.Config.Input[0], m.Config.Input[1], m.Config.Input[2]}
}

// CheckInput returns an error unless x is a non-empty (N,H,W,C) batch of
// the network's input size.
func (m *Net) CheckInput(x *tensor.Tensor) error {
	if x == nil || len(x.Shape) != 4 || x.Shape[0] < 1 || !tensor.SameShape(x.Shape[1:], m.InputShape(1)[1:]) {
		var got []int
		if x != nil {
			got = x.Shape
		}
		return fmt.Errorf("model: input shape %s, want (N,%d,%d,%d)", tensor.ShapeString(got), m.Config.Input[0], m.Config.Input[1], m.Config.Input[2])
	}
	if len(x.Data) < x.Len() {
		return fmt.Errorf("model: input of shape %s holds %d values, want %d", tensor.ShapeString(x.Shape), len(x.Data), x.Len())
	}
	return nil
}

// Forward computes the (N,Classes) logits of a batch. train selects batch
// statistics in BN (and updates the running ones) and enables dropout.
// The result is owned by the network and valid until the next Forward.
//
// In evaluation (train == false) Forward runs an inference plan, built on
// first use: each convolution+BN pair is folded into one convolution with
// a bias, and a block's residual add and ReLU run in its last
// convolution's epilogue (see nn.ConvBN). The folded weights follow the
// parameters: each folded convolution compares its sources with a
// snapshot and folds again when training, LoadState or any other write
// changed them, so no call is needed to keep the plan current. It gives
// the layer-by-layer results up to float32 rounding (~1e-6 relative).
// Backward needs a training Forward first, as always.
func (m *Net) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	if err := m.CheckInput(x); err != nil {
		return nil, err
	}
	if train {
		return m.layers.forward(x, true), nil
	}
	if m.plan == nil {
		m.plan = buildPlan(m.layers)
		m.setPlanPrecision()
	}
	for _, s := range m.plan {
		x = s.forward(x)
	}
	return x, nil
}

// Backward propagates dL/dlogits of the last training Forward and leaves
// every parameter's gradient in its Grad.
func (m *Net) Backward(dlogits *tensor.Tensor) {
	m.layers.backward(dlogits)
}

// Params returns the learnable parameters in a fixed order.
func (m *Net) Params() []*nn.Param { return m.layers.params() }

// Buffers returns the non-learnable state (BN running statistics).
func (m *Net) Buffers() []*nn.Param { return m.layers.buffers() }

// Layers returns the top-level layers (stem layers, blocks, pooling, head).
func (m *Net) Layers() []nn.Layer { return m.layers }

// NumParams counts learnable values.
func (m *Net) NumParams() int {
	n := 0
	for _, p := range m.Params() {
		n += p.Value.Len()
	}
	return n
}
