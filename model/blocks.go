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

// Block is a residual block of the original ResNet (He et al. 2015,
// "v1"): the residual branch ends in BN, the shortcut is the identity or
// a 1x1 projection with BN when the stride or channel count changes, and
// a ReLU follows the sum:
//
//	out = relu(branch(x) + shortcut(x))
//
// The branch is conv3x3-BN-ReLU-conv3x3-BN for a basic block and
// conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN for a bottleneck (4x
// expansion, stride on the 3x3 as torchvision does).
type Block struct {
	name     string
	branch   seq
	shortcut seq // nil for the identity
	join     *nn.Add
}

// newBasicBlock builds conv3x3-BN-ReLU-conv3x3-BN + shortcut, then ReLU.
func newBasicBlock(name string, in, width, stride int, rng *rand.Rand) *Block {
	b := &Block{name: name, join: nn.NewAdd(name+".add", true)}
	b.branch = seq{
		conv3x3(name+".conv1", in, width, stride, rng), bn(name+".bn1", width, true),
		conv3x3(name+".conv2", width, width, 1, rng), bn(name+".bn2", width, false),
	}
	if stride != 1 || in != width {
		b.shortcut = seq{conv1x1(name+".downsample.0", in, width, stride, rng), bn(name+".downsample.1", width, false)}
	}
	return b
}

// newBottleneck builds conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN +
// shortcut, then ReLU; the block outputs 4*width channels.
func newBottleneck(name string, in, width, stride int, rng *rand.Rand) *Block {
	out := width * Expansion
	b := &Block{name: name, join: nn.NewAdd(name+".add", true)}
	b.branch = seq{
		conv1x1(name+".conv1", in, width, 1, rng), bn(name+".bn1", width, true),
		conv3x3(name+".conv2", width, width, stride, rng), bn(name+".bn2", width, true),
		conv1x1(name+".conv3", width, out, 1, rng), bn(name+".bn3", out, false),
	}
	if stride != 1 || in != out {
		b.shortcut = seq{conv1x1(name+".downsample.0", in, out, stride, rng), bn(name+".downsample.1", out, false)}
	}
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

// PreActBlock is the pre-activation residual block of ResNet v2 (He et
// al. 2016, "Identity Mappings in Deep Residual Networks"): BN and ReLU
// come before each convolution, nothing follows the sum, and a projection
// shortcut (a bare 1x1 convolution) takes the pre-activated input:
//
//	p   = relu(bn1(x))
//	out = branch(p) + (shortcut(p) or x)
type PreActBlock struct {
	name     string
	preact   *nn.BatchNorm2D // bn1 with fused ReLU
	branch   seq
	shortcut *nn.Conv2D // nil for the identity
	join     *nn.Add
}

func newPreActBasic(name string, in, width, stride int, rng *rand.Rand) *PreActBlock {
	b := &PreActBlock{name: name, preact: bn(name+".bn1", in, true), join: nn.NewAdd(name+".add", false)}
	b.branch = seq{
		conv3x3(name+".conv1", in, width, stride, rng), bn(name+".bn2", width, true),
		conv3x3(name+".conv2", width, width, 1, rng),
	}
	if stride != 1 || in != width {
		b.shortcut = conv1x1(name+".downsample.0", in, width, stride, rng)
	}
	return b
}

func newPreActBottleneck(name string, in, width, stride int, rng *rand.Rand) *PreActBlock {
	out := width * Expansion
	b := &PreActBlock{name: name, preact: bn(name+".bn1", in, true), join: nn.NewAdd(name+".add", false)}
	b.branch = seq{
		conv1x1(name+".conv1", in, width, 1, rng), bn(name+".bn2", width, true),
		conv3x3(name+".conv2", width, width, stride, rng), bn(name+".bn3", width, true),
		conv1x1(name+".conv3", width, out, 1, rng),
	}
	if stride != 1 || in != out {
		b.shortcut = conv1x1(name+".downsample.0", in, out, stride, rng)
	}
	return b
}

// Forward implements nn.Layer.
func (b *PreActBlock) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	p := b.preact.Forward(x, train)
	out := b.branch.forward(p, train)
	identity := x
	if b.shortcut != nil {
		identity = b.shortcut.Forward(p, train)
	}
	return b.join.Forward(out, identity) // out += identity
}

// Backward implements nn.Layer.
func (b *PreActBlock) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dOut, dIdentity := b.join.Backward(dy)
	dp := b.branch.backward(dOut)
	if b.shortcut != nil {
		addInto(dp, b.shortcut.Backward(dIdentity))
		return b.preact.Backward(dp)
	}
	dx := b.preact.Backward(dp)
	addInto(dx, dIdentity)
	return dx
}

// OutShape implements nn.Layer.
func (b *PreActBlock) OutShape(in []int) ([]int, error) {
	p, err := b.preact.OutShape(in)
	if err != nil {
		return nil, err
	}
	out, err := b.branch.outShape(p)
	if err != nil {
		return nil, err
	}
	short := in
	if b.shortcut != nil {
		if short, err = b.shortcut.OutShape(p); err != nil {
			return nil, err
		}
	}
	return b.join.OutShape(out, short)
}

// Params implements nn.Layer.
func (b *PreActBlock) Params() []*nn.Param {
	ps := append(b.preact.Params(), b.branch.params()...)
	if b.shortcut != nil {
		ps = append(ps, b.shortcut.Params()...)
	}
	return ps
}

// Buffers implements nn.Layer.
func (b *PreActBlock) Buffers() []*nn.Param { return append(b.preact.Buffers(), b.branch.buffers()...) }

// Name returns the block's name.
func (b *PreActBlock) Name() string { return b.name }

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
	if b.shortcut != nil {
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
