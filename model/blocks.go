package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
)

// conv3x3 is a 3x3 convolution with padding 1 and no bias (BN follows).
func conv3x3(name string, in, out, stride int, rng *rand.Rand) *nn.Conv2D {
	return nn.NewConv2D(name, nn.Conv2DConfig{InC: in, OutC: out, Kernel: 3, Stride: stride, Padding: 1}, rng)
}

// conv1x1 is a 1x1 convolution with no bias: bottleneck reductions and
// projection shortcuts.
func conv1x1(name string, in, out, stride int, rng *rand.Rand) *nn.Conv2D {
	return nn.NewConv2D(name, nn.Conv2DConfig{InC: in, OutC: out, Kernel: 1, Stride: stride}, rng)
}

func bn(name string, c int, relu bool) *nn.BatchNorm2D {
	return nn.NewBatchNorm2D(name, nn.BatchNorm2DConfig{C: c, ReLU: relu})
}

// seq is a chain of layers run one after the other.
type seq []nn.Layer

func (s seq) forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	for _, l := range s {
		x = l.Forward(x, train)
	}
	return x
}

func (s seq) backward(dy *tensor.Tensor) *tensor.Tensor {
	for i := len(s) - 1; i >= 0; i-- {
		dy = s[i].Backward(dy)
	}
	return dy
}

func (s seq) outShape(in []int) ([]int, error) {
	var err error
	for _, l := range s {
		if in, err = l.OutShape(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func (s seq) params() []*nn.Param {
	var ps []*nn.Param
	for _, l := range s {
		ps = append(ps, l.Params()...)
	}
	return ps
}

func (s seq) buffers() []*nn.Param {
	var ps []*nn.Param
	for _, l := range s {
		ps = append(ps, l.Buffers()...)
	}
	return ps
}

// addInto adds src to dst element-wise: the two gradients of a tensor
// used twice (the residual branch and the shortcut) meet here.
func addInto(dst, src *tensor.Tensor) {
	kernels.AddReLU(dst.Data, dst.Data, src.Data, dst.Len(), false)
}

// Projection is a projection shortcut: a 1x1 convolution with the
// block's stride, followed by BN in v1 blocks (torchvision's
// downsample.0 and downsample.1); BN is nil in pre-activation blocks.
type Projection struct {
	Conv *nn.Conv2D
	BN   *nn.BatchNorm2D // nil in v2
}

// Layers returns the projection's layers in order (none for nil).
func (p *Projection) Layers() []nn.Layer {
	if p == nil {
		return nil
	}
	if p.BN == nil {
		return []nn.Layer{p.Conv}
	}
	return []nn.Layer{p.Conv, p.BN}
}

// Block is a residual block of the original ResNet (He et al. 2015,
// "v1"): the residual branch ends in BN, the shortcut is the identity or
// a 1x1 projection with BN when the stride or channel count changes, and
// a ReLU follows the sum:
//
//	out = relu(branch(x) + shortcut(x))
//
// The branch is conv1-bn1-ReLU-conv2-bn2 (3x3, 3x3) for a basic block and
// conv1-bn1-ReLU-conv2-bn2-ReLU-conv3-bn3 (1x1, 3x3, 1x1, 4x expansion)
// for a bottleneck, with the stride on conv1 of a basic block and on the
// 3x3 conv2 of a bottleneck, as torchvision does. The fields are the
// block's structure, read by the export and transfer code; the unexported
// branch is the same layers in order.
type Block struct {
	name       string
	Conv1      *nn.Conv2D
	BN1        *nn.BatchNorm2D
	Conv2      *nn.Conv2D
	BN2        *nn.BatchNorm2D
	Conv3      *nn.Conv2D      // bottleneck only, else nil
	BN3        *nn.BatchNorm2D // bottleneck only, else nil
	Downsample *Projection     // nil for the identity shortcut
	Stride     int             // the block's stride (1 or 2)
	join       *nn.Add         // the sum, with the ReLU

	branch   seq // Conv1, BN1, Conv2, BN2[, Conv3, BN3]
	shortcut seq // Downsample's layers; nil for the identity
}

// newBasicBlock builds conv3x3-BN-ReLU-conv3x3-BN + shortcut, then ReLU.
func newBasicBlock(name string, in, width, stride int, rng *rand.Rand) *Block {
	b := &Block{name: name, Stride: stride, join: nn.NewAdd(name+".add", true),
		Conv1: conv3x3(name+".conv1", in, width, stride, rng), BN1: bn(name+".bn1", width, true),
		Conv2: conv3x3(name+".conv2", width, width, 1, rng), BN2: bn(name+".bn2", width, false),
	}
	if stride != 1 || in != width {
		b.Downsample = &Projection{Conv: conv1x1(name+".downsample.0", in, width, stride, rng), BN: bn(name+".downsample.1", width, false)}
	}
	b.branch = seq{b.Conv1, b.BN1, b.Conv2, b.BN2}
	b.shortcut = seq(b.Downsample.Layers())
	return b
}

// newBottleneck builds conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN +
// shortcut, then ReLU; the block outputs 4*width channels.
func newBottleneck(name string, in, width, stride int, rng *rand.Rand) *Block {
	out := width * Expansion
	b := &Block{name: name, Stride: stride, join: nn.NewAdd(name+".add", true),
		Conv1: conv1x1(name+".conv1", in, width, 1, rng), BN1: bn(name+".bn1", width, true),
		Conv2: conv3x3(name+".conv2", width, width, stride, rng), BN2: bn(name+".bn2", width, true),
		Conv3: conv1x1(name+".conv3", width, out, 1, rng), BN3: bn(name+".bn3", out, false),
	}
	if stride != 1 || in != out {
		b.Downsample = &Projection{Conv: conv1x1(name+".downsample.0", in, out, stride, rng), BN: bn(name+".downsample.1", out, false)}
	}
	b.branch = seq{b.Conv1, b.BN1, b.Conv2, b.BN2, b.Conv3, b.BN3}
	b.shortcut = seq(b.Downsample.Layers())
	return b
}

// Forward implements nn.Layer.
func (b *Block) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	out := b.branch.forward(x, train)
	identity := x
	if b.shortcut != nil {
		identity = b.shortcut.forward(x, train)
	}
	return b.join.Forward(out, identity) // out += identity; relu
}

// Backward implements nn.Layer.
func (b *Block) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dOut, dIdentity := b.join.Backward(dy)
	dx := b.branch.backward(dOut) // owned by the branch's first conv
	if b.shortcut != nil {
		dIdentity = b.shortcut.backward(dIdentity)
	}
	addInto(dx, dIdentity)
	return dx
}

// OutShape implements nn.Layer.
func (b *Block) OutShape(in []int) ([]int, error) {
	out, err := b.branch.outShape(in)
	if err != nil {
		return nil, err
	}
	short := in
	if b.shortcut != nil {
		if short, err = b.shortcut.outShape(in); err != nil {
			return nil, err
		}
	}
	return b.join.OutShape(out, short)
}

// Params implements nn.Layer.
func (b *Block) Params() []*nn.Param { return append(b.branch.params(), b.shortcut.params()...) }

// Buffers implements nn.Layer.
func (b *Block) Buffers() []*nn.Param { return append(b.branch.buffers(), b.shortcut.buffers()...) }

// Name returns the block's name, e.g. "layer2.0".
func (b *Block) Name() string { return b.name }

// Branch returns the residual branch's layers in order (Conv1, BN1, ...).
func (b *Block) Branch() []nn.Layer { return b.branch }

// PreActBlock is the pre-activation residual block of ResNet v2 (He et
// al. 2016, "Identity Mappings in Deep Residual Networks"): BN and ReLU
// come before each convolution, nothing follows the sum, and a projection
// shortcut (a bare 1x1 convolution) takes the pre-activated input:
//
//	p   = relu(bn1(x))
//	out = branch(p) + shortcut
//	shortcut = downsample(p), or pool(x), or x
//
// The branch is conv1-bn2-ReLU-conv2 (3x3, 3x3) for a basic block and
// conv1-bn2-ReLU-conv2-bn3-ReLU-conv3 (1x1, 3x3, 1x1) for a bottleneck,
// with the stride on conv1 (basic) or the 3x3 conv2 (bottleneck).
//
// Two layouts build it (Config.Layout). "torchvision": no biases, and a
// projection whenever the stride or channel count changes. "keras", as
// keras.applications.resnet_v2's block2: conv3 and the projection have
// biases, BN eps is 1.001e-5 (momentum 0.01, Keras' 0.99), and a strided
// block whose channels do not change keeps x through a 1x1 max-pool with
// the block's stride (MaxPooling2D(1, strides=stride): it keeps every
// stride-th pixel) instead of a projection.
type PreActBlock struct {
	name       string
	BN1        *nn.BatchNorm2D // the pre-activation, ReLU fused
	Conv1      *nn.Conv2D
	BN2        *nn.BatchNorm2D
	Conv2      *nn.Conv2D
	BN3        *nn.BatchNorm2D // bottleneck only, else nil
	Conv3      *nn.Conv2D      // bottleneck only, else nil
	Downsample *Projection     // projection of p (BN nil); nil when none
	Pool       *nn.MaxPool2D   // Keras' strided shortcut of x; nil when none
	Stride     int             // the block's stride (1 or 2)
	join       *nn.Add         // the sum, no ReLU

	branch seq // Conv1, BN2, Conv2[, BN3, Conv3]
}

// blockStyle holds what the layouts change in a pre-activation block.
type blockStyle struct {
	keras bool // Keras' biases, eps and max-pool shortcut
}

// bn returns a pre-activation block's BN for c channels, ReLU fused.
func (st blockStyle) bn(name string, c int) *nn.BatchNorm2D {
	cfg := nn.BatchNorm2DConfig{C: c, ReLU: true}
	if st.keras {
		cfg.Eps, cfg.Momentum = kerasEps, kerasMomentum
	}
	return nn.NewBatchNorm2D(name, cfg)
}

// Keras' BatchNormalization settings in keras.applications.resnet_v2:
// epsilon=1.001e-5, momentum 0.99 (0.01 in PyTorch's convention).
const (
	kerasEps      = 1.001e-5
	kerasMomentum = 0.01
)

// setShortcut sets the block's shortcut: a projection when the channel count
// changes (or, torchvision layout, the stride), Keras' max-pool when only
// the stride does, else the identity.
func (b *PreActBlock) setShortcut(st blockStyle, in, out int, rng *rand.Rand) {
	switch {
	case in != out || (b.Stride != 1 && !st.keras):
		b.Downsample = &Projection{Conv: nn.NewConv2D(b.name+".downsample.0",
			nn.Conv2DConfig{InC: in, OutC: out, Kernel: 1, Stride: b.Stride, Bias: st.keras}, rng)}
	case b.Stride != 1:
		b.Pool = nn.NewMaxPool2D(b.name+".pool", nn.Pool2DConfig{Kernel: 1, Stride: b.Stride})
	}
}

// newPreActBasic builds a basic pre-activation block (torchvision layout
// only: Keras has no basic v2 block).
func newPreActBasic(name string, in, width, stride int, rng *rand.Rand) *PreActBlock {
	var st blockStyle
	b := &PreActBlock{name: name, Stride: stride, BN1: st.bn(name+".bn1", in), join: nn.NewAdd(name+".add", false),
		Conv1: conv3x3(name+".conv1", in, width, stride, rng), BN2: st.bn(name+".bn2", width),
		Conv2: conv3x3(name+".conv2", width, width, 1, rng),
	}
	b.setShortcut(st, in, width, rng)
	b.branch = seq{b.Conv1, b.BN2, b.Conv2}
	return b
}

func newPreActBottleneck(name string, in, width, stride int, st blockStyle, rng *rand.Rand) *PreActBlock {
	out := width * Expansion
	b := &PreActBlock{name: name, Stride: stride, BN1: st.bn(name+".bn1", in), join: nn.NewAdd(name+".add", false),
		Conv1: conv1x1(name+".conv1", in, width, 1, rng), BN2: st.bn(name+".bn2", width),
		Conv2: conv3x3(name+".conv2", width, width, stride, rng), BN3: st.bn(name+".bn3", width),
		Conv3: nn.NewConv2D(name+".conv3", nn.Conv2DConfig{InC: width, OutC: out, Kernel: 1, Bias: st.keras}, rng),
	}
	b.setShortcut(st, in, out, rng)
	b.branch = seq{b.Conv1, b.BN2, b.Conv2, b.BN3, b.Conv3}
	return b
}

// Forward implements nn.Layer.
func (b *PreActBlock) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	p := b.BN1.Forward(x, train)
	out := b.branch.forward(p, train)
	identity := x
	switch {
	case b.Downsample != nil:
		identity = b.Downsample.Conv.Forward(p, train)
	case b.Pool != nil:
		identity = b.Pool.Forward(x, train)
	}
	return b.join.Forward(out, identity) // out += identity
}

// Backward implements nn.Layer.
func (b *PreActBlock) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dOut, dIdentity := b.join.Backward(dy)
	dp := b.branch.backward(dOut)
	if b.Downsample != nil {
		addInto(dp, b.Downsample.Conv.Backward(dIdentity))
		return b.BN1.Backward(dp)
	}
	if b.Pool != nil {
		dIdentity = b.Pool.Backward(dIdentity)
	}
	dx := b.BN1.Backward(dp)
	addInto(dx, dIdentity)
	return dx
}

// OutShape implements nn.Layer.
func (b *PreActBlock) OutShape(in []int) ([]int, error) {
	p, err := b.BN1.OutShape(in)
	if err != nil {
		return nil, err
	}
	out, err := b.branch.outShape(p)
	if err != nil {
		return nil, err
	}
	short := in
	switch {
	case b.Downsample != nil:
		short, err = b.Downsample.Conv.OutShape(p)
	case b.Pool != nil:
		short, err = b.Pool.OutShape(in)
	}
	if err != nil {
		return nil, err
	}
	return b.join.OutShape(out, short)
}

// Params implements nn.Layer.
func (b *PreActBlock) Params() []*nn.Param {
	ps := append(b.BN1.Params(), b.branch.params()...)
	return append(ps, seq(b.Downsample.Layers()).params()...)
}

// Buffers implements nn.Layer.
func (b *PreActBlock) Buffers() []*nn.Param { return append(b.BN1.Buffers(), b.branch.buffers()...) }

// Name returns the block's name.
func (b *PreActBlock) Name() string { return b.name }

// Branch returns the residual branch's layers in order (Conv1, BN2, ...).
func (b *PreActBlock) Branch() []nn.Layer { return b.branch }

// Expansion is the channel multiplier of a bottleneck block's output.
const Expansion = 4

func checkBlock(kind string) error {
	switch kind {
	case "basic", "bottleneck":
		return nil
	}
	return fmt.Errorf("model: unknown block %q (want basic or bottleneck)", kind)
}

// The inference plan (see Net.Forward) runs the network in evaluation
// mode with every convolution+BN pair folded into one convolution
// (nn.ConvBN), and a block's residual add and final ReLU done in the
// epilogue of its last convolution: no BN, ReLU or Add pass over memory.

// inferStep is one step of the inference plan.
type inferStep interface {
	forward(x *tensor.Tensor) *tensor.Tensor
}

// layerStep runs a layer as is, in evaluation mode.
type layerStep struct{ l nn.Layer }

func (s layerStep) forward(x *tensor.Tensor) *tensor.Tensor { return s.l.Forward(x, false) }

// convBNStep is a folded convolution + BN (+ ReLU).
type convBNStep struct{ f *nn.ConvBN }

func (s convBNStep) forward(x *tensor.Tensor) *tensor.Tensor { return s.f.Forward(x, nil) }

// fusedBlock is a v1 residual block with folded convolutions: the last
// one adds the shortcut (and applies the join's ReLU) in its epilogue.
type fusedBlock struct {
	branch   []*nn.ConvBN
	shortcut *nn.ConvBN // nil for the identity
}

func (b *fusedBlock) forward(x *tensor.Tensor) *tensor.Tensor {
	identity := x
	if b.shortcut != nil {
		identity = b.shortcut.Forward(x, nil)
	}
	h := x
	for i, f := range b.branch {
		var res *tensor.Tensor
		if i == len(b.branch)-1 {
			res = identity
		}
		h = f.Forward(h, res)
	}
	return h
}

// fuseSeq folds a chain of (conv, BN) pairs; relu applies to the last
// pair, the others keep their BN's fused ReLU. ok is false when s is not
// such a chain.
func fuseSeq(s seq, lastReLU bool) (fs []*nn.ConvBN, ok bool) {
	if len(s)%2 != 0 {
		return nil, false
	}
	for i := 0; i < len(s); i += 2 {
		conv, ok1 := s[i].(*nn.Conv2D)
		bn, ok2 := s[i+1].(*nn.BatchNorm2D)
		if !ok1 || !ok2 {
			return nil, false
		}
		relu := bn.Config().ReLU
		if i == len(s)-2 {
			if relu { // a ReLU before the residual add: cannot move it after
				return nil, false
			}
			relu = lastReLU
		}
		f, err := nn.NewConvBN(conv, bn, relu)
		if err != nil {
			return nil, false
		}
		fs = append(fs, f)
	}
	return fs, true
}

// fuseBlock returns the fused form of a v1 block, or nil.
func fuseBlock(b *Block) *fusedBlock {
	branch, ok := fuseSeq(b.branch, b.join.ReLU())
	if !ok {
		return nil
	}
	fb := &fusedBlock{branch: branch}
	if b.Downsample != nil {
		sc, ok := fuseSeq(b.shortcut, false)
		if !ok || len(sc) != 1 {
			return nil
		}
		fb.shortcut = sc[0]
	}
	return fb
}

// buildPlan returns the inference plan of a chain of layers: conv+BN
// pairs and v1 blocks fused, every other layer as is.
func buildPlan(layers seq) []inferStep {
	var steps []inferStep
	for i := 0; i < len(layers); i++ {
		if conv, ok := layers[i].(*nn.Conv2D); ok && i+1 < len(layers) {
			if bn, ok := layers[i+1].(*nn.BatchNorm2D); ok {
				if f, err := nn.NewConvBN(conv, bn, bn.Config().ReLU); err == nil {
					steps = append(steps, convBNStep{f})
					i++
					continue
				}
			}
		}
		if b, ok := layers[i].(*Block); ok {
			if fb := fuseBlock(b); fb != nil {
				steps = append(steps, fb)
				continue
			}
		}
		steps = append(steps, layerStep{layers[i]})
	}
	return steps
}
