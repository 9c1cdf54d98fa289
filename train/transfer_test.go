package train

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// pretrainedFile saves a small network (4 classes, 24x24 gray, one stage
// of 4 channels) with non-trivial BN statistics and returns its path.
func pretrainedFile(t *testing.T) (string, *model.Net) {
	t.Helper()
	cfg := model.Config{Block: "basic", Layers: []int{1}, Widths: []int{4}, Input: [3]int{24, 24, 1}, Classes: 4}
	net, err := model.New(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range net.Buffers() {
		for j := range p.Value.Data {
			switch {
			case strings.HasSuffix(p.Name, "running_mean"):
				p.Value.Data[j] = 0.05 * float32((i+j)%3)
			case strings.HasSuffix(p.Name, "running_var"):
				p.Value.Data[j] = 0.8 + 0.1*float32((i+j)%3)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "pre"+model.FileExt)
	pre := vision.Preprocess{Width: 24, Height: 24, Channels: 1, Mean: []float32{0.42}, Std: []float32{0.31}}
	if err := model.Save(path, net, model.Meta{Task: "pre", Classes: []string{"a", "b", "c", "d"}, Preprocess: pre}); err != nil {
		t.Fatal(err)
	}
	return path, net
}

func fromConfig(data, from, out string) Config {
	return with(func(c *Config) {
		c.Data, c.Out, c.From, c.Epochs, c.BatchSize, c.LR, c.Warmup, c.Seed = data, out, from, 3, 16, Float(0.05), 0, 3
	})
}

// stateOf returns a copy of every tensor of a network by name.
func stateOf(ps []*nn.Param) map[string][]float32 {
	m := map[string][]float32{}
	for _, p := range ps {
		m[p.Name] = append([]float32(nil), p.Value.Data[:p.Value.Len()]...)
	}
	return m
}

// compareState counts, over the tensors whose names pass keep, those that
// equal want bit for bit and those that differ.
func compareState(ps []*nn.Param, want map[string][]float32, keep func(string) bool) (same, changed []string) {
	for _, p := range ps {
		if !keep(p.Name) {
			continue
		}
		w, eq := want[p.Name], true
		for j, v := range p.Value.Data[:p.Value.Len()] {
			if math.Float32bits(v) != math.Float32bits(w[j]) {
				eq = false
				break
			}
		}
		if eq {
			same = append(same, p.Name)
		} else {
			changed = append(changed, p.Name)
		}
	}
	return same, changed
}

func allState(n *model.Net) []*nn.Param { return n.State() }

// TestFromModelReplacesHead: the new network has the pretrained weights
// under the same names, a fresh 7-class fc, the pretrained preprocessing
// and input size; a frozen-backbone epoch changes only the head (BN
// statistics included); the model file records where it came from.
func TestFromModelReplacesHead(t *testing.T) {
	from, src := pretrainedFile(t)
	csv := synthCSV(t, 64, 32)
	cfg := fromConfig(csv, from, filepath.Join(t.TempDir(), "run"))
	cfg.Freeze, cfg.Epochs = FreezeBackbone, 1
	tr := mustTrainer(t, cfg, Options{})

	if tr.Net == nil || tr.Net.Config.Classes != 7 || tr.Net.Config.Input != [3]int{24, 24, 1} {
		t.Fatalf("network %+v, want 7 classes on 24x24x1", tr.Net.Config)
	}
	if tr.Preprocess.Mean[0] != 0.42 || tr.Preprocess.Std[0] != 0.31 || tr.Preprocess.Width != 24 {
		t.Errorf("preprocessing %+v, want the pretrained mean 0.42 / std 0.31 at 24x24", tr.Preprocess)
	}
	want := stateOf(src.State())
	for _, p := range tr.Net.State() {
		w, ok := want[p.Name]
		switch {
		case !ok:
			t.Errorf("new tensor %q not in the pretrained network", p.Name)
		case p.Name == "fc.weight":
			if s := tensor.ShapeString(p.Value.Shape); s != "(7,4)" {
				t.Errorf("fc.weight is %s, want (7,4)", s)
			}
		case p.Name == "fc.bias":
		case len(w) != p.Value.Len():
			t.Errorf("%s has %d values, pretrained %d", p.Name, p.Value.Len(), len(w))
		}
	}
	notHead := func(n string) bool { return !isHead(n) }
	if _, changed := compareState(tr.Net.State(), want, notHead); len(changed) > 0 {
		t.Errorf("backbone tensors not copied: %v", changed)
	}
	head := stateOf(tr.Net.Params())

	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, changed := compareState(tr.Net.State(), want, notHead); len(changed) > 0 {
		t.Errorf("frozen backbone changed in training: %v", changed)
	}
	if same, _ := compareState(tr.Net.Params(), head, isHead); len(same) > 0 {
		t.Errorf("head not trained: %v unchanged", same)
	}
	_, meta, err := model.Load(res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Training == nil || !strings.Contains(string(meta.Training.Config), `"from":"`+from) {
		t.Errorf("model file does not record --from %s: %+v", from, meta.Training)
	}
	if meta.Preprocess.Mean[0] != 0.42 {
		t.Errorf("saved preprocessing %+v", meta.Preprocess)
	}
}

// TestFreezeLayerName freezes through bn1: conv1 and bn1 (with its
// running statistics) stay, the block trains.
func TestFreezeLayerName(t *testing.T) {
	from, src := pretrainedFile(t)
	csv := synthCSV(t, 48, 16)
	cfg := fromConfig(csv, from, filepath.Join(t.TempDir(), "run"))
	cfg.Freeze, cfg.Epochs = "bn1", 1
	tr := mustTrainer(t, cfg, Options{})
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := stateOf(src.State())
	stem := func(n string) bool { return strings.HasPrefix(n, "conv1.") || strings.HasPrefix(n, "bn1.") }
	if _, changed := compareState(tr.Net.State(), want, stem); len(changed) > 0 {
		t.Errorf("frozen stem changed: %v", changed)
	}
	block := func(n string) bool { return strings.HasPrefix(n, "layer1.") }
	if same, _ := compareState(tr.Net.State(), want, block); len(same) > 0 {
		t.Errorf("unfrozen block tensors unchanged: %v", same)
	}

	cfg.Freeze, cfg.Out = "layer9", filepath.Join(t.TempDir(), "bad")
	tv, err := LoadData(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bad, err := New(cfg, tv, Options{Progress: "none"}); err == nil || !strings.Contains(err.Error(), `no layer "layer9"`) || !strings.Contains(err.Error(), "layer1.0") {
		if err == nil {
			bad.Close()
		}
		t.Errorf("unknown layer: %v", err)
	}
}

// TestUnfreezeAfterResume: with --unfreeze-after 1 the backbone is frozen
// in epoch 1 and trains from epoch 2; runs stopped after epoch 1 or in
// the middle of epoch 2 and resumed end bit-identical to an uninterrupted
// run.
func TestUnfreezeAfterResume(t *testing.T) {
	from, src := pretrainedFile(t)
	csv := synthCSV(t, 64, 32)
	dir := t.TempDir()
	conf := func(name string) Config {
		c := fromConfig(csv, from, filepath.Join(dir, name))
		c.Freeze, c.UnfreezeAfter, c.BackboneLRMult = FreezeBackbone, 1, 0.5
		return c
	}
	want := stateOf(src.State())
	notHead := func(n string) bool { return !isHead(n) }

	full := mustTrainer(t, conf("full"), Options{})
	if _, err := full.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if same, _ := compareState(full.Net.State(), want, notHead); len(same) > 0 {
		t.Errorf("backbone tensors unchanged after unfreezing: %v", same)
	}

	half := mustTrainer(t, conf("half"), Options{StopAfter: 1})
	if _, err := half.Run(context.Background()); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopped run: %v", err)
	}
	if _, changed := compareState(half.Net.State(), want, notHead); len(changed) > 0 {
		t.Errorf("backbone changed in the frozen first epoch: %v", changed)
	}
	half.Close()
	resumed, err := Resume(filepath.Join(dir, "half"), Options{Progress: "none"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	if !resumed.frozen {
		t.Error("checkpoint after the frozen epoch resumed unfrozen")
	}
	if _, err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameState(t, "resumed at the unfreezing boundary", full.Net, resumed.Net)

	ctx, cancel := context.WithCancel(context.Background())
	mid := mustTrainer(t, conf("mid"), Options{afterStep: func(epoch, batch int) {
		if epoch == 1 && batch == 2 {
			cancel()
		}
	}})
	if _, err := mid.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	mid.Close()
	resumed2, err := Resume(filepath.Join(dir, "mid"), Options{Progress: "none"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed2.Close()
	if resumed2.frozen {
		t.Error("checkpoint in the second epoch resumed frozen")
	}
	if _, err := resumed2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameState(t, "resumed mid-epoch after unfreezing", full.Net, resumed2.Net)
}

// TestBackboneLRMult: one step with unit gradients moves backbone
// weights by lr*mult and head weights by lr, for SGD (first momentum step
// = the gradient) and AdamW (first step = lr*sign(g)).
func TestBackboneLRMult(t *testing.T) {
	for _, opt := range []string{"sgd", "adamw"} {
		backbone := &nn.Param{Name: "conv1.weight", Value: tensor.New(3), Grad: tensor.New(3), NoDecay: true}
		fc := &nn.Param{Name: "fc.weight", Value: tensor.New(3), Grad: tensor.New(3), NoDecay: true}
		for _, p := range []*nn.Param{backbone, fc} {
			for j := range p.Grad.Data {
				p.Grad.Data[j] = 1
			}
		}
		cfg := with(func(c *Config) { c.Optimizer, c.Momentum, c.BackboneLRMult = opt, 0.9, 0.1 })
		cfg.Resolve()
		o, err := newOptimizer(&cfg, []*nn.Param{backbone, fc}, map[*nn.Param]bool{fc: true})
		if err != nil {
			t.Fatal(err)
		}
		zero := with(func(c *Config) { c.Optimizer, c.BackboneLRMult = opt, 0 })
		zero.Resolve()
		fixed := &nn.Param{Name: "conv1.weight", Value: tensor.New(3), Grad: tensor.New(3), NoDecay: true}
		fixed.Grad.Data[0] = 1
		oz, err := newOptimizer(&zero, []*nn.Param{fixed, fc}, map[*nn.Param]bool{fc: true})
		if err != nil {
			t.Fatal(err)
		}
		oz.Step(0.5)
		if fixed.Value.Data[0] != 0 {
			t.Errorf("%s: backbone-lr-mult 0 moved the backbone by %g", opt, fixed.Value.Data[0])
		}
		for j := range fc.Value.Data {
			fc.Value.Data[j] = 0
		}
		o.Step(0.5)
		if d := -backbone.Value.Data[0]; math.Abs(float64(d)-0.05) > 1e-6 {
			t.Errorf("%s: backbone step %g, want 0.5*0.1 = 0.05", opt, d)
		}
		if d := -fc.Value.Data[0]; math.Abs(float64(d)-0.5) > 1e-6 {
			t.Errorf("%s: head step %g, want 0.5", opt, d)
		}
		bufs, steps := o.State()
		if steps != 1 || len(bufs) == 0 {
			t.Errorf("%s: state %d buffers, %d steps", opt, len(bufs), steps)
		}
		if err := o.SetState(bufs, steps); err != nil {
			t.Errorf("%s: SetState of its own state: %v", opt, err)
		}
	}
}

// TestFromONNX fine-tunes the torchvision-structured ResNet-18 fixture
// (3x32x32, 10 classes) on 7 gray synthetic classes: the data is resized
// and made RGB, the head is replaced, the frozen backbone stays, and the
// best model is an ONNX file with 7 outputs that records its origin.
func TestFromONNX(t *testing.T) {
	from, err := filepath.Abs(filepath.Join("..", "onnx", "testdata", "resnet18_small.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := onnx.ImportFile(from, onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	csv := synthCSV(t, 48, 16)
	cfg := fromConfig(csv, from, filepath.Join(t.TempDir(), "run"))
	cfg.Freeze, cfg.Epochs, cfg.StepsPerEpoch = FreezeBackbone, 1, 2
	tr := mustTrainer(t, cfg, Options{})
	if tr.Graph == nil || tr.Net != nil {
		t.Fatal("an ONNX --from did not give a graph")
	}
	if tr.Config.ImageSize != 32 || tr.Config.Channels != 3 {
		t.Errorf("input %dx%d channels %d, want the fixture's 32 and 3", tr.Config.ImageSize, tr.Config.ImageSize, tr.Config.Channels)
	}
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := stateOf(slices.Concat(src.Params(), src.Buffers()))
	all := slices.Concat(tr.Graph.Params(), tr.Graph.Buffers())
	headNames := map[string]bool{}
	for p := range tr.head {
		headNames[p.Name] = true
	}
	if len(headNames) == 0 {
		t.Fatal("no head parameters")
	}
	if _, changed := compareState(all, want, func(n string) bool { return !headNames[n] }); len(changed) > 0 {
		t.Errorf("frozen ONNX backbone changed: %v", changed)
	}
	if filepath.Base(res.ModelPath) != BestONNXFile {
		t.Errorf("best model %s, want %s", res.ModelPath, BestONNXFile)
	}
	g, err := onnx.ImportFile(res.ModelPath, onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := g.Forward(tensor.New(2, 32, 32, 3), false)
	if err != nil || tensor.ShapeString(y.Shape) != "(2,7)" {
		t.Fatalf("fine-tuned ONNX output %v, %v; want (2,7)", y, err)
	}
	if classes, _ := g.Classes(); len(classes) != 7 {
		t.Errorf("classes %v", classes)
	}
	if info, ok := g.Model.Meta(MetaFrom); !ok || !strings.Contains(info, "resnet18_small.onnx") {
		t.Errorf("metadata %q = %q, want the pretrained file", MetaFrom, info)
	}

	// Freezing through a named node: the parameters of the nodes up to it
	// are frozen, the later ones are not; an unknown name lists the nodes.
	nodes := src.Nodes()
	named := fromConfig(csv, from, filepath.Join(t.TempDir(), "named"))
	named.Freeze = nodes[len(nodes)/2].Name
	tn := mustTrainer(t, named, Options{})
	if err := tn.setFrozen(true); err != nil {
		t.Fatal(err)
	}
	var frozen, free int
	for _, p := range tn.Graph.Params() {
		if p.Frozen {
			frozen++
		} else {
			free++
		}
	}
	if frozen == 0 || free == 0 {
		t.Errorf("freeze through %q: %d frozen and %d trainable parameters, want both", named.Freeze, frozen, free)
	}
	named.Freeze, named.Out = "no-such-node", filepath.Join(t.TempDir(), "bad")
	tv, err := LoadData(&named)
	if err != nil {
		t.Fatal(err)
	}
	if bad, err := New(named, tv, Options{Progress: "none"}); err == nil || !strings.Contains(err.Error(), "no-such-node") || !strings.Contains(err.Error(), nodes[0].Name) {
		if err == nil {
			bad.Close()
		}
		t.Errorf("unknown ONNX node: %v", err)
	}

	// Resume across unfreezing is exact for graphs too.
	dir := t.TempDir()
	conf := func(name string) Config {
		c := fromConfig(csv, from, filepath.Join(dir, name))
		c.Freeze, c.UnfreezeAfter, c.Epochs, c.StepsPerEpoch, c.BackboneLRMult = FreezeBackbone, 1, 2, 2, 0.1
		return c
	}
	full := mustTrainer(t, conf("full"), Options{})
	if _, err := full.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	half := mustTrainer(t, conf("half"), Options{StopAfter: 1})
	if _, err := half.Run(context.Background()); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopped run: %v", err)
	}
	half.Close()
	resumed, err := Resume(filepath.Join(dir, "half"), Options{Progress: "none"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	if _, err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := slices.Concat(full.Graph.Params(), full.Graph.Buffers()), stateOf(slices.Concat(resumed.Graph.Params(), resumed.Graph.Buffers()))
	if _, changed := compareState(a, b, func(string) bool { return true }); len(changed) > 0 {
		t.Errorf("resumed ONNX fine-tuning differs from the uninterrupted run in %v", changed)
	}
	if same, _ := compareState(a, want, func(n string) bool { return !headNames[n] }); len(same) > 0 {
		t.Errorf("ONNX backbone tensors unchanged after unfreezing: %v", same)
	}
}

// TestFromValidation: the transfer options need From, and an explicit
// input size must match the pretrained network's.
func TestFromValidation(t *testing.T) {
	c := with(func(c *Config) { c.Data, c.Freeze = "x", FreezeBackbone })
	c.Resolve()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "pretrained") {
		t.Errorf("freeze without from: %v", err)
	}
	from, _ := pretrainedFile(t)
	c = with(func(c *Config) { c.Data, c.From, c.ImageSize = synthCSV(t, 16, 8), from, 32 })
	if _, err := LoadData(&c); err == nil || !strings.Contains(err.Error(), "24x24") {
		t.Errorf("image size 32 for a 24x24 network: %v", err)
	}
	c = with(func(c *Config) { c.Data, c.From, c.UnfreezeAfter = "x", from, 2 })
	c.Resolve()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "without freeze") {
		t.Errorf("unfreeze-after without freeze: %v", err)
	}
}

// TestTrainFraction keeps about a quarter of the training set, with every
// class, and the same validation set.
func TestTrainFraction(t *testing.T) {
	csv := synthCSV(t, 160, 40)
	full := with(func(c *Config) { c.Data = csv })
	tvFull, err := LoadData(&full)
	if err != nil {
		t.Fatal(err)
	}
	part := with(func(c *Config) { c.Data, c.TrainFraction = csv, 0.25 })
	tv, err := LoadData(&part)
	if err != nil {
		t.Fatal(err)
	}
	if n := tv.Train.Len(); n < 30 || n > 50 {
		t.Errorf("%d training samples of %d for fraction 0.25", n, tvFull.Train.Len())
	}
	for k, n := range tv.Train.ClassCounts() {
		if n == 0 {
			t.Errorf("class %d missing from the subsample", k)
		}
	}
	if tv.Val.Len() != tvFull.Val.Len() || !slices.Equal(tv.Val.Pix, tvFull.Val.Pix) {
		t.Error("the validation set changed with the training fraction")
	}
	bad := with(func(c *Config) { c.Data, c.TrainFraction = csv, 1.5 })
	if _, err := LoadData(&bad); err == nil || !strings.Contains(err.Error(), "1.5") {
		t.Errorf("fraction 1.5: %v", err)
	}
}

// TestTrainFractionSessions subsamples the real sign-digits training
// sessions: whole sessions, about 10% of the samples, none of them in
// validation.
func TestTrainFractionSessions(t *testing.T) {
	dir := fixtures.Dataset(t, "gestures/sign-language-digits")
	full := with(func(c *Config) { c.Data, c.Format, c.ImageSize, c.Channels = dir, "sign-digits", 16, 1 })
	tvFull, err := LoadData(&full)
	if err != nil {
		t.Fatal(err)
	}
	part := full
	part.TrainFraction = 0.1
	tv, err := LoadData(&part)
	if err != nil {
		t.Fatal(err)
	}
	frac := float64(tv.Train.Len()) / float64(tvFull.Train.Len())
	if frac < 0.07 || frac > 0.14 {
		t.Errorf("%d of %d training samples (%.3f), want about 0.1", tv.Train.Len(), tvFull.Train.Len(), frac)
	}
	kept := map[string]bool{}
	for _, g := range tv.Train.Groups {
		kept[g] = true
	}
	for i, g := range tvFull.Train.Groups {
		if kept[g] && !slices.Contains(tv.Train.Sources, tvFull.Train.Sources[i]) {
			t.Fatalf("session %s kept only in part (%s left out)", g, tvFull.Train.Sources[i])
		}
	}
	if tv.Val.Len() != tvFull.Val.Len() {
		t.Errorf("validation %d samples, full run %d", tv.Val.Len(), tvFull.Val.Len())
	}
	t.Logf("%d sessions, %d of %d training samples", len(kept), tv.Train.Len(), tvFull.Train.Len())
}

// TestNetNetworkFrozenDropout: with the backbone frozen, the frozen layers
// run in inference mode but dropout before the classifier stays active
// in training, and evaluation is deterministic.
func TestNetNetworkFrozenDropout(t *testing.T) {
	cfg := model.Config{Block: "basic", Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 3, Dropout: 0.5}
	net, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	k, err := frozenLayers(net, FreezeBackbone)
	if err != nil {
		t.Fatal(err)
	}
	n := &NetNetwork{Net: net}
	n.freeze(k)
	x := tensor.New(2, 8, 8, 1)
	for i := range x.Data {
		x.Data[i] = float32(i%9) / 9
	}
	run := func(train bool) []float32 {
		y, err := n.Forward(x, train)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(y.Data[:y.Len()])
	}
	if a, b := run(true), run(true); slices.Equal(a, b) {
		t.Error("two training passes gave the same logits: dropout inactive with a frozen backbone")
	}
	if a, b := run(false), run(false); !slices.Equal(a, b) {
		t.Error("evaluation is not deterministic")
	}
	for _, p := range net.Params() {
		if p.Frozen == isHead(p.Name) {
			t.Errorf("%s frozen = %v", p.Name, p.Frozen)
		}
	}
}
