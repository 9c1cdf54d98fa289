package train

// Transfer learning: a run with Config.From starts from a pretrained
// network (a model file or an ONNX file) instead of random weights. The
// classifier is replaced by a fresh one for the new classes, the rest of
// the weights are kept, and three options shape the fine-tuning:
//
//   - Freeze "backbone" (everything before the classifier) or a layer name
//     (everything up to and including it): frozen layers get no updates
//     and their BatchNorm runs on its running statistics, which are not
//     updated either.
//   - UnfreezeAfter N: after N epochs everything trains. The phase is a
//     function of the epoch, recorded in checkpoints, so resuming across
//     the switch is exact.
//   - BackboneLRMult: the non-head parameters take their steps with
//     lr*mult (two optimizers over disjoint parameter sets; see groupOpt).

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"github.com/residual-go/residual/internal/atomicfile"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/optim"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// Network is what a Trainer trains: a model.Net (see NetNetwork) or an
// imported *onnx.Graph, which implements it as it is.
type Network interface {
	// Forward maps an (N,H,W,C) batch to (N,classes) logits; train selects
	// batch statistics in BN (except in frozen layers) and enables dropout.
	Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error)
	// Backward propagates dL/dlogits of the last training Forward into the
	// Grad of every non-frozen parameter.
	Backward(dlogits *tensor.Tensor) error
	// Params are the learnable parameters, Buffers the saved
	// non-learnable state (BN running statistics), in a fixed order.
	Params() []*nn.Param
	Buffers() []*nn.Param
}

// Freeze modes besides a layer name.
const (
	FreezeNone     = "none"
	FreezeBackbone = "backbone"
)

// NetNetwork adapts a model.Net to Network and adds freezing: the first
// Frozen top-level layers (Net.Layers) run in inference mode in training
// (BN on its running statistics; dropout stays active) and are skipped by
// Backward.
type NetNetwork struct {
	Net    *model.Net
	Frozen int // number of leading layers frozen (0: none)
}

// Forward implements Network.
func (n *NetNetwork) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	if !train || n.Frozen == 0 {
		return n.Net.Forward(x, train)
	}
	if err := n.Net.CheckInput(x); err != nil {
		return nil, err
	}
	for i, l := range n.Net.Layers() {
		// Dropout has no state to freeze: it stays active in training.
		_, drop := l.(*nn.Dropout)
		x = l.Forward(x, i >= n.Frozen || drop)
	}
	return x, nil
}

// Backward implements Network.
func (n *NetNetwork) Backward(dy *tensor.Tensor) error {
	if n.Frozen == 0 {
		n.Net.Backward(dy)
		return nil
	}
	layers := n.Net.Layers()
	for i := len(layers) - 1; i >= n.Frozen; i-- {
		dy = layers[i].Backward(dy)
	}
	return nil
}

// Params implements Network.
func (n *NetNetwork) Params() []*nn.Param { return n.Net.Params() }

// Buffers implements Network.
func (n *NetNetwork) Buffers() []*nn.Param { return n.Net.Buffers() }

// freeze freezes the first k layers (their parameters too) and unfreezes
// the rest.
func (n *NetNetwork) freeze(k int) {
	n.Frozen = k
	for i, l := range n.Net.Layers() {
		for _, p := range l.Params() {
			p.Frozen = i < k
		}
	}
}

// layerName is the name of a top-level layer: its own, or the common
// prefix of its parameters' names for blocks ("layer1.0").
func layerName(l nn.Layer) string {
	if n, ok := l.(interface{ Name() string }); ok {
		return n.Name()
	}
	for _, p := range append(l.Params(), l.Buffers()...) {
		// Block parameters are "<block>.<sub>.<param>", e.g. layer1.0.conv1.weight.
		parts := strings.Split(p.Name, ".")
		if len(parts) >= 3 {
			return strings.Join(parts[:2], ".")
		}
	}
	return ""
}

// frozenLayers returns how many leading layers of net Config.Freeze
// freezes: all but the classifier for "backbone", up to and including the
// last layer named name (or whose name starts with name+".", so "layer3"
// is the whole stage) otherwise.
func frozenLayers(net *model.Net, name string) (int, error) {
	layers := net.Layers()
	if name == FreezeBackbone {
		return len(layers) - 1, nil // the last layer is the classifier fc
	}
	k := 0
	var names []string
	for i, l := range layers {
		n := layerName(l)
		names = append(names, n)
		if n == name || strings.HasPrefix(n, name+".") {
			k = i + 1
		}
	}
	if k == 0 {
		return 0, fmt.Errorf("train: freeze: no layer %q (layers: %s)", name, strings.Join(names, ", "))
	}
	return k, nil
}

// IsONNX reports whether path names an ONNX file (by extension).
func IsONNX(path string) bool { return strings.EqualFold(filepath.Ext(path), ".onnx") }

// pretrainedInput returns the (H,W,C) input of the network in path and
// its preprocessing when the file records one.
func pretrainedInput(path string) (in [3]int, pre *vision.Preprocess, err error) {
	if IsONNX(path) {
		g, err := onnx.ImportFile(path, onnx.Options{})
		if err != nil {
			return in, nil, fmt.Errorf("train: --from: %w", err)
		}
		s := g.InputShape()
		if len(s) != 3 {
			return in, nil, fmt.Errorf("train: --from %s: input shape %v, want (H,W,C)", path, s)
		}
		in = [3]int{s[0], s[1], s[2]}
		if p, ok, err := g.Preprocess(); err != nil {
			return in, nil, fmt.Errorf("train: --from %s: %w", path, err)
		} else if ok {
			pre = &p
		}
		return in, pre, nil
	}
	net, meta, err := model.Load(path)
	if err != nil {
		return in, nil, fmt.Errorf("train: --from: %w", err)
	}
	return net.Config.Input, &meta.Preprocess, nil
}

// resolveFrom sets the input size and channels of a fine-tuning run to
// the pretrained network's, so that the data is loaded at its input size.
// An explicit different size is an error.
func (c *Config) resolveFrom() error {
	if c.From == "" {
		return nil
	}
	in, _, err := pretrainedInput(c.From)
	if err != nil {
		return err
	}
	h, w, ch := in[0], in[1], in[2]
	if h <= 0 || w <= 0 {
		if c.ImageSize == 0 {
			return fmt.Errorf("train: --from %s has a dynamic input size (%dx%d): give --image-size", c.From, h, w)
		}
		h, w = c.ImageSize, c.ImageSize
	}
	if h != w {
		return fmt.Errorf("train: --from %s takes %dx%d inputs; only square inputs are supported", c.From, h, w)
	}
	if c.ImageSize != 0 && c.ImageSize != h {
		return fmt.Errorf("train: --image-size %d, but the pretrained network %s takes %dx%d inputs", c.ImageSize, c.From, h, w)
	}
	if ch > 0 && c.Channels != 0 && c.Channels != ch {
		return fmt.Errorf("train: --channels %d, but the pretrained network %s takes %d channels", c.Channels, c.From, ch)
	}
	c.ImageSize = h
	if ch > 0 {
		c.Channels = ch
	}
	return nil
}

// pretrained is a network built from Config.From with a new head.
type pretrained struct {
	net   *model.Net  // a model file's network, or
	graph *onnx.Graph // an ONNX graph
	pre   *vision.Preprocess
	head  map[*nn.Param]bool // the new classifier's parameters
}

// loadPretrained builds the network of cfg.From for `classes` outputs:
// every weight is copied from the file except the classifier, which is
// new (initialised from cfg.Seed).
func loadPretrained(cfg *Config, classes int) (*pretrained, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x2545f4914f6cdd1d))
	p := &pretrained{head: map[*nn.Param]bool{}}
	if IsONNX(cfg.From) {
		g, err := onnx.ImportFile(cfg.From, onnx.Options{})
		if err != nil {
			return nil, fmt.Errorf("train: --from: %w", err)
		}
		if _, err := g.ReplaceHead(classes, rng); err != nil {
			return nil, fmt.Errorf("train: --from %s: %w", cfg.From, err)
		}
		// The head is what FreezeBackbone leaves trainable.
		if err := g.FreezeBackbone(); err != nil {
			return nil, fmt.Errorf("train: --from %s: %w", cfg.From, err)
		}
		for _, q := range g.Params() {
			if !q.Frozen {
				p.head[q] = true
			}
		}
		if err := g.Freeze(""); err != nil {
			return nil, err
		}
		if pre, ok, err := g.Preprocess(); err != nil {
			return nil, fmt.Errorf("train: --from %s: %w", cfg.From, err)
		} else if ok {
			p.pre = &pre
		}
		p.graph = g
		return p, nil
	}
	old, meta, err := model.Load(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("train: --from: %w", err)
	}
	arch := old.Config
	arch.Classes = classes
	if cfg.Dropout > 0 {
		arch.Dropout = cfg.Dropout
	}
	net, err := model.New(arch, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("train: --from %s: %w", cfg.From, err)
	}
	byName := map[string]*tensor.Tensor{}
	for _, q := range old.State() {
		byName[q.Name] = q.Value
	}
	for _, q := range net.State() {
		if isHead(q.Name) {
			p.head[q] = true
			continue
		}
		v, ok := byName[q.Name]
		if !ok || v.Len() != q.Value.Len() {
			return nil, fmt.Errorf("train: --from %s: no tensor %q %s to copy", cfg.From, q.Name, tensor.ShapeString(q.Value.Shape))
		}
		copy(q.Value.Data, v.Data[:v.Len()])
		q.Changed()
	}
	p.net, p.pre = net, &meta.Preprocess
	return p, nil
}

// isHead reports whether a parameter of a model.Net belongs to the
// classifier, the final "fc" layer.
func isHead(name string) bool { return strings.HasPrefix(name, "fc.") }

// frozenPhase reports whether the backbone is frozen in epoch (0-based).
func (c *Config) frozenPhase(epoch int) bool {
	return c.From != "" && c.Freeze != FreezeNone && (c.UnfreezeAfter == 0 || epoch < c.UnfreezeAfter)
}

// setFrozen freezes (Config.Freeze) or unfreezes the network.
func (t *Trainer) setFrozen(on bool) error {
	if on == t.frozen {
		return nil
	}
	switch n := t.net.(type) {
	case *NetNetwork:
		k := 0
		if on {
			var err error
			if k, err = frozenLayers(n.Net, t.Config.Freeze); err != nil {
				return err
			}
		}
		n.freeze(k)
	case *onnx.Graph:
		var err error
		switch {
		case !on:
			err = n.Freeze("")
		case t.Config.Freeze == FreezeBackbone:
			err = n.FreezeBackbone()
		default:
			err = n.Freeze(t.Config.Freeze)
		}
		if err != nil {
			var names []string
			for _, nd := range n.Nodes() {
				names = append(names, nd.Name)
			}
			return fmt.Errorf("train: %w (nodes: %s)", err, strings.Join(names, ", "))
		}
	}
	t.frozen = on
	return nil
}

// groupOpt is an optimizer over parameter groups, each with its own
// learning-rate scale: Step(lr) steps group i with lr*scale[i]. The
// groups are disjoint, so State and SetState, keyed by parameter name,
// combine without collisions.
type groupOpt struct {
	opts  []optim.Optimizer
	scale []float64
}

// Step implements optim.Optimizer.
func (g *groupOpt) Step(lr float64) {
	for i, o := range g.opts {
		o.Step(lr * g.scale[i])
	}
}

// State implements optim.Optimizer.
func (g *groupOpt) State() (map[string][]float32, int64) {
	all := map[string][]float32{}
	var steps int64
	for i, o := range g.opts {
		m, s := o.State()
		for k, v := range m {
			all[k] = v
		}
		if i == 0 {
			steps = s
		}
	}
	return all, steps
}

// SetState implements optim.Optimizer.
func (g *groupOpt) SetState(buffers map[string][]float32, steps int64) error {
	for _, o := range g.opts {
		if err := o.SetState(buffers, steps); err != nil {
			return err
		}
	}
	return nil
}

// newOptimizer builds the configured optimizer over params; with
// BackboneLRMult != 1 the parameters outside head step with lr*mult.
func newOptimizer(cfg *Config, params []*nn.Param, head map[*nn.Param]bool) (optim.Optimizer, error) {
	build := func(ps []*nn.Param) (optim.Optimizer, error) {
		if cfg.Optimizer == "adamw" {
			return optim.NewAdamW(ps, optim.AdamWConfig{WeightDecay: *cfg.WeightDecay})
		}
		return optim.NewSGD(ps, optim.SGDConfig{Momentum: cfg.Momentum, Nesterov: cfg.Optimizer == "nesterov", WeightDecay: *cfg.WeightDecay})
	}
	if cfg.BackboneLRMult == 1 || len(head) == 0 {
		return build(params)
	}
	var backbone, top []*nn.Param
	for _, p := range params {
		if head[p] {
			top = append(top, p)
		} else {
			backbone = append(backbone, p)
		}
	}
	ob, err := build(backbone)
	if err != nil {
		return nil, err
	}
	oh, err := build(top)
	if err != nil {
		return nil, err
	}
	return &groupOpt{opts: []optim.Optimizer{ob, oh}, scale: []float64{cfg.BackboneLRMult, 1}}, nil
}

// BestONNXFile is the best model of a run fine-tuning an ONNX network.
const BestONNXFile = "best.onnx"

// MetaFrom is the metadata_props key of a fine-tuned ONNX model that
// records the training (JSON model.TrainingInfo, its Config naming the
// pretrained network in "from").
const MetaFrom = "residual_training"

// saveGraph writes the graph with its classes, preprocessing and training
// information to path, atomically.
func saveGraph(path string, g *onnx.Graph, classes []string, pre vision.Preprocess, info *model.TrainingInfo) error {
	m, err := g.ModelProto(classes, &pre)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	js, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	m.Metadata = slices.DeleteFunc(slices.Clone(m.Metadata), func(p onnx.StringPair) bool { return p.Key == MetaFrom })
	m.Metadata = append(m.Metadata, onnx.StringPair{Key: MetaFrom, Value: string(js)})
	// Atomic, synced, under a unique temporary name (internal/atomicfile).
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return onnx.WriteModel(w, m) }); err != nil {
		return fmt.Errorf("train: save %s: %w", path, err)
	}
	return nil
}
