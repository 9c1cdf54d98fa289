package serve

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// Model is one served classifier: its class names, its preprocessing and
// a pool of network instances. A model.Net is not safe for concurrent use
// (its layers own their buffers), so each instance runs one forward pass
// at a time. All faces of one frame go through the network in one pass,
// and concurrent requests share passes: a free instance takes the queued
// requests (up to MaxBatch crops) into one batch, and while a pass runs,
// further instances start a pass only for a full batch (see batch.go).
// Model is safe for concurrent use.
type Model struct {
	Name       string
	Classes    []string
	Preprocess vision.Preprocess
	Source     string // the file it was loaded from, or a description

	pool     chan *instance // the free network instances
	maxBatch int            // crops per forward pass at most
	maxQueue int            // jobs waiting at most
	batches  *batchCounters

	mu      sync.Mutex
	queue   []*job      // Classify calls waiting for a pass, oldest first
	queued  int         // their crops
	running int         // passes in progress
	parked  []*instance // free instances held back while a pass runs (see begin)
}

// instance is one network with its reusable buffers.
type instance struct {
	net     network
	x       *tensor.Tensor // (N,H,W,C) input batch
	probs   *tensor.Tensor // (N,Classes)
	scratch face.Scratch
	jobs    []*job // the jobs of the current pass (reused)
	live    []*job // those of them in the batch (reused)
}

// network is what an instance runs: a model.Net or an imported ONNX
// graph (onnx.Graph), each used by one pass at a time.
type network interface {
	Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error)
}

// NewModel serves net under name with the given class names and
// preprocessing, as `instances` networks (0 means runtime.GOMAXPROCS(0)):
// net itself and instances-1 clones (same Config, State copied). net must
// not be used elsewhere afterwards. Requests are batched across callers
// up to DefaultMaxBatch crops per pass (see SetMaxBatch).
func NewModel(name string, net *model.Net, classes []string, pre vision.Preprocess, source string, instances int) (*Model, error) {
	if name == "" {
		return nil, fmt.Errorf("serve: model from %s has no name", source)
	}
	if net == nil {
		return nil, fmt.Errorf("serve: model %q: nil network", name)
	}
	if err := pre.Validate(); err != nil {
		return nil, fmt.Errorf("serve: model %q: %w", name, err)
	}
	in := net.Config.Input // (H,W,C)
	if in != [3]int{pre.Height, pre.Width, pre.Channels} {
		return nil, fmt.Errorf("serve: model %q: network input (H,W,C)=%v but preprocessing makes %dx%dx%d (WxHxC)", name, in, pre.Width, pre.Height, pre.Channels)
	}
	if len(classes) != net.Config.Classes {
		return nil, fmt.Errorf("serve: model %q: %d class names %v for a network with %d outputs", name, len(classes), classes, net.Config.Classes)
	}
	if instances <= 0 {
		instances = runtime.GOMAXPROCS(0)
	}
	m := &Model{Name: name, Classes: classes, Preprocess: pre, Source: source,
		pool: make(chan *instance, instances), maxBatch: DefaultMaxBatch, maxQueue: DefaultMaxBatchQueue, batches: newBatchCounters(name)}
	m.pool <- &instance{net: net}
	for i := 1; i < instances; i++ {
		c, err := cloneNet(net)
		if err != nil {
			return nil, fmt.Errorf("serve: model %q: %w", name, err)
		}
		m.pool <- &instance{net: c}
	}
	return m, nil
}

// SetBF16 sets the precision of every network instance of the model
// (model.Net.SetBF16: bfloat16 products on CPUs with AVX512-BF16). Call it
// before the model serves requests: it takes every instance from the pool.
func (m *Model) SetBF16(on bool) {
	all := make([]*instance, 0, cap(m.pool))
	for range cap(m.pool) {
		in := <-m.pool
		if n, ok := in.net.(*model.Net); ok {
			n.SetBF16(on) // imported ONNX graphs run in float32
		}
		all = append(all, in)
	}
	for _, in := range all {
		m.pool <- in
	}
}

// Warm runs every instance once on a zero batch of the largest size one
// pass can hold (SetMaxBatch), so that the networks' reusable buffers
// (grown, never shrunk: tensor.Ensure) reach their final size before the
// first request. The server's memory is then flat from the start instead
// of creeping up as ever larger cross-request batches appear, and no
// request pays for growing them. Call it before the model serves requests:
// it takes every instance from the pool.
func (m *Model) Warm() error {
	p := m.Preprocess
	all := make([]*instance, 0, cap(m.pool))
	defer func() {
		for _, in := range all {
			m.pool <- in
		}
	}()
	for range cap(m.pool) {
		in := <-m.pool
		all = append(all, in)
		in.x = tensor.Ensure(in.x, m.maxBatch, p.Height, p.Width, p.Channels) // (N,H,W,C)
		in.x.Zero()
		logits, err := in.net.Forward(in.x, false) // (N,Classes)
		if err != nil {
			return fmt.Errorf("serve: model %q: warming up at batch %d: %w", m.Name, m.maxBatch, err)
		}
		in.probs = nn.Softmax(logits, in.probs)
	}
	return nil
}

// cloneNet builds a network with net's configuration and copies every
// parameter and buffer (BN running statistics) into it.
func cloneNet(net *model.Net) (*model.Net, error) {
	c, err := model.New(net.Config, 0)
	if err != nil {
		return nil, err
	}
	src := map[string]*nn.Param{}
	for _, p := range net.State() {
		src[p.Name] = p
	}
	err = c.LoadState(func(name string) (*tensor.Tensor, bool) {
		p, ok := src[name]
		if !ok {
			return nil, false
		}
		return p.Value, true
	})
	return c, err
}

// Instances is the number of networks in the pool.
func (m *Model) Instances() int { return cap(m.pool) }

// ModelInfo is a model's description in GET /v1/models.
type ModelInfo struct {
	Name       string            `json:"name"`
	Classes    []string          `json:"classes"`
	Input      InputSize         `json:"input"`
	Preprocess vision.Preprocess `json:"preprocess"`
	Source     string            `json:"source"` // the file's base name, or a description: never a machine path
	Instances  int               `json:"instances"`
	MaxBatch   int               `json:"max_batch"` // crops per forward pass at most
	Default    bool              `json:"default"`
}

// InputSize is the model's input image size.
type InputSize struct {
	Width    int `json:"width"`
	Height   int `json:"height"`
	Channels int `json:"channels"`
}

// Info describes the model.
func (m *Model) Info() ModelInfo {
	p := m.Preprocess
	return ModelInfo{
		Name: m.Name, Classes: m.Classes, Source: filepath.Base(m.Source), Preprocess: p, Instances: m.Instances(), MaxBatch: m.maxBatch,
		Input: InputSize{Width: p.Width, Height: p.Height, Channels: p.Channels},
	}
}
