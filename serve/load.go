package serve

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/onnx"
)

// LoadModel loads a model file (model.Save's format) and serves it under
// name (the file's base name without extension when empty) with
// `instances` networks (0: runtime.GOMAXPROCS(0)).
func LoadModel(name, path string, instances int) (*Model, error) {
	if IsONNXFile(path) {
		return LoadONNXModel(name, path, instances)
	}
	net, meta, err := model.Load(path)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	m, err := NewModel(name, net, meta.Classes, meta.Preprocess, path, instances)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// IsONNXFile reports whether path names an ONNX file: by its extension,
// or for other names by its first byte (a protobuf ModelProto starts with
// field 1, ir_version, as a varint: 0x08).
func IsONNXFile(path string) bool {
	if strings.EqualFold(filepath.Ext(path), ".onnx") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [1]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && b[0] == 0x08
}

// LoadONNXModel serves an ONNX image classifier (input (N,C,H,W) or
// (N,H,W,C), output (N,classes)) imported by package onnx and run on this
// project's engine, one imported graph per instance. Its class names and
// preprocessing come from the file's metadata_props, as Export and
// `train --from x.onnx` write them ("classes", "preprocess").
func LoadONNXModel(name, path string, instances int) (*Model, error) {
	g, err := onnx.ImportFile(path, onnx.Options{})
	if err != nil {
		return nil, err // names the file
	}
	classes, err := g.Classes()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pre, ok, err := g.Preprocess()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !ok || len(classes) == 0 {
		return nil, fmt.Errorf("%s: an ONNX file without %q and %q metadata (residual export and train --from x.onnx write them): its class names and preprocessing are unknown", path, onnx.MetaClasses, onnx.MetaPreproc)
	}
	if in := g.InputShape(); in != nil && ((in[0] > 0 && in[0] != pre.Height) || (in[1] > 0 && in[1] != pre.Width) || (in[2] > 0 && in[2] != pre.Channels)) {
		return nil, fmt.Errorf("%s: input (H,W,C)=%v but the metadata's preprocessing makes %dx%dx%d (WxHxC)", path, in, pre.Width, pre.Height, pre.Channels)
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if err := pre.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if instances <= 0 {
		instances = runtime.GOMAXPROCS(0)
	}
	m := &Model{Name: name, Classes: classes, Preprocess: pre, Source: path,
		pool: make(chan *instance, instances), maxBatch: DefaultMaxBatch, maxQueue: DefaultMaxBatchQueue, batches: newBatchCounters(name)}
	m.pool <- &instance{net: g}
	for i := 1; i < instances; i++ {
		gi, err := onnx.ImportFile(path, onnx.Options{})
		if err != nil {
			return nil, err
		}
		m.pool <- &instance{net: gi}
	}
	return m, nil
}
