package train

// A checkpoint is a safetensors file (written atomically by
// safetensors.WriteFile: temp file, fsync, rename) holding
//
//	model/<name>   every tensor of the network: Params then Buffers
//	               (weights and BN buffers; Net.State() for a model.Net)
//	optim/<key>    every optimizer buffer (momentum, Adam moments), 1-D
//	ema/<name>     the weight average of every model tensor (Config.EMA)
//
// and, in its __metadata__ under "residual.checkpoint", a JSON object
// (checkpointMeta) with the resolved Config, the preprocessing, the class
// names, the training position and history, the schedule's plateau state,
// the optimizer's step count, the dropout random streams and whether the
// backbone is frozen (fine-tuning runs, see transfer.go).

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/residual-go/residual/optim"
	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

const checkpointKey = "residual.checkpoint"

// checkpointVersion is bumped when the checkpoint layout changes.
const checkpointVersion = 1

type checkpointMeta struct {
	Version    int                 `json:"version"`
	Config     Config              `json:"config"`
	Preprocess vision.Preprocess   `json:"preprocess"`
	Classes    []string            `json:"classes"`
	Progress   progress            `json:"progress"`
	Schedule   optim.ScheduleState `json:"schedule"`
	OptSteps   int64               `json:"optimizer_steps"`
	Dropout    [][]byte            `json:"dropout,omitempty"`
	Frozen     bool                `json:"frozen,omitempty"`
}

// saveCheckpoint writes the run's checkpoint.
func (t *Trainer) saveCheckpoint() error {
	state := slices.Concat(t.net.Params(), t.net.Buffers())
	bufs, steps := t.opt.State()
	entries := make([]safetensors.Entry, 0, len(state)+len(bufs))
	for _, p := range state {
		entries = append(entries, safetensors.Float32("model/"+p.Name, p.Value))
	}
	// Optimizer buffers are keyed "<param>.<buffer>"; sorted keys keep the
	// file deterministic.
	for _, key := range slices.Sorted(maps.Keys(bufs)) {
		v := bufs[key]
		entries = append(entries, safetensors.Float32("optim/"+key, tensor.FromData(v, len(v))))
	}
	if t.ema != nil {
		for i, p := range t.ema.state {
			entries = append(entries, safetensors.Float32("ema/"+p.Name, tensor.FromData(t.ema.shadow[i], p.Value.Len())))
		}
	}
	meta := checkpointMeta{
		Version: checkpointVersion, Config: t.Config, Preprocess: t.Preprocess, Classes: t.Classes,
		Progress: t.st, Schedule: t.sched.State(), OptSteps: steps, Frozen: t.frozen,
	}
	for _, d := range t.dropouts {
		s, err := d.State()
		if err != nil {
			return fmt.Errorf("train: checkpoint: %w", err)
		}
		meta.Dropout = append(meta.Dropout, s)
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	return safetensors.WriteFile(filepath.Join(t.Config.Out, CheckpointFile), entries, map[string]string{checkpointKey: string(js)})
}

// Resume reopens the run at path (a run directory or its checkpoint file),
// reloads its data with the saved configuration and restores the exact
// training position. edit, when non-nil, may change the configuration
// before the trainer is built (e.g. more Epochs; changing anything else
// gives a different run). Run then continues training.
func Resume(path string, opts Options, edit func(*Config)) (*Trainer, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, CheckpointFile)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	meta, err := readCheckpointMeta(f)
	if err != nil {
		return nil, fmt.Errorf("train: resume: %s: %w", path, err)
	}
	cfg := meta.Config
	cfg.Out = filepath.Dir(path)
	if edit != nil {
		edit(&cfg)
	}
	tv, err := LoadData(&cfg)
	if err != nil {
		return nil, err
	}
	if strings.Join(tv.Train.Classes, "\x00") != strings.Join(meta.Classes, "\x00") {
		return nil, fmt.Errorf("train: resume: %s now has classes %v, the checkpoint %v", cfg.Data, tv.Train.Classes, meta.Classes)
	}
	t, err := newTrainer(cfg, tv, opts, &meta.Preprocess)
	if err != nil {
		return nil, err
	}
	if err := t.restore(f, meta); err != nil {
		t.Close()
		return nil, fmt.Errorf("train: resume: %s: %w", path, err)
	}
	return t, nil
}

// readCheckpointMeta decodes the training metadata of a checkpoint.
func readCheckpointMeta(f *safetensors.File) (*checkpointMeta, error) {
	raw, ok := f.Metadata[checkpointKey]
	if !ok {
		return nil, fmt.Errorf("not a training checkpoint (no %q metadata)", checkpointKey)
	}
	meta := checkpointMeta{Config: Defaults()} // fields absent from older checkpoints keep their defaults
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, err
	}
	if meta.Version != checkpointVersion {
		return nil, fmt.Errorf("checkpoint version %d, want %d", meta.Version, checkpointVersion)
	}
	return &meta, nil
}

// restore sets the trainer's weights, optimizer, schedule, dropout and
// position from a checkpoint (untrusted bytes: every mismatch is an
// error, see FuzzRestoreCheckpoint).
func (t *Trainer) restore(f *safetensors.File, meta *checkpointMeta) error {
	var lookupErr error
	err := loadState(t.net, func(name string) (*tensor.Tensor, bool) {
		v, err := f.Tensor("model/" + name)
		if err != nil {
			if _, ok := f.Info("model/" + name); ok {
				lookupErr = err
			}
			return nil, false
		}
		return v, true
	})
	if lookupErr != nil {
		return lookupErr
	}
	if err != nil {
		return err
	}
	bufs := map[string][]float32{}
	for _, n := range f.Names() {
		if key, ok := strings.CutPrefix(n, "optim/"); ok {
			v, err := f.Tensor(n)
			if err != nil {
				return err
			}
			bufs[key] = v.Data
		}
	}
	if err := t.opt.SetState(bufs, meta.OptSteps); err != nil {
		return err
	}
	if t.ema != nil {
		for i, p := range t.ema.state {
			v, err := f.Tensor("ema/" + p.Name)
			if err != nil {
				return fmt.Errorf("no weight average for %q (was the run checkpointed without EMA?): %w", p.Name, err)
			}
			if v.Len() != p.Value.Len() {
				return fmt.Errorf("weight average of %q has %d values, want %d", p.Name, v.Len(), p.Value.Len())
			}
			copy(t.ema.shadow[i], v.Data[:v.Len()])
		}
	}
	t.sched.SetState(meta.Schedule)
	if len(meta.Dropout) != len(t.dropouts) {
		return fmt.Errorf("%d dropout states for %d dropout layers", len(meta.Dropout), len(t.dropouts))
	}
	for i, d := range t.dropouts {
		if err := d.SetState(meta.Dropout[i]); err != nil {
			return err
		}
	}
	if err := t.setFrozen(meta.Frozen); err != nil {
		return err
	}
	t.st = meta.Progress
	t.resumed = true
	return nil
}

// loadState copies values into the network's parameters and buffers by
// name (model.Net.LoadState for any Network).
func loadState(n Network, lookup func(name string) (*tensor.Tensor, bool)) error {
	if nn, ok := n.(*NetNetwork); ok {
		return nn.Net.LoadState(lookup)
	}
	for _, p := range slices.Concat(n.Params(), n.Buffers()) {
		v, ok := lookup(p.Name)
		if !ok {
			return fmt.Errorf("no value for %q %s", p.Name, tensor.ShapeString(p.Value.Shape))
		}
		if v.Len() != p.Value.Len() {
			return fmt.Errorf("%q has shape %s, want %s", p.Name, tensor.ShapeString(v.Shape), tensor.ShapeString(p.Value.Shape))
		}
		copy(p.Value.Data, v.Data[:v.Len()])
		p.Changed()
	}
	return nil
}
