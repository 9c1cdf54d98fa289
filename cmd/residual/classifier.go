package main

import (
	"fmt"

	"github.com/residual-go/residual/inference"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/serve"
)

// loadPredictor loads a classifier for predict and eval: a model file, or
// an ONNX file (exported by residual or written by train --from x.onnx:
// class names and preprocessing from its metadata_props), imported and
// run on this project's engine. bf16 applies to model files only.
func loadPredictor(cmdName, path, tta string, bf16 bool) (*inference.Predictor, model.Meta, error) {
	if !serve.IsONNXFile(path) {
		net, meta, err := model.Load(path)
		if err != nil {
			return nil, meta, err
		}
		net.SetBF16(bf16)
		p, err := inference.NewPredictor(net, tta)
		return p, meta, err
	}
	g, err := onnx.ImportFile(path, onnx.Options{})
	if err != nil {
		return nil, model.Meta{}, err
	}
	classes, err := g.Classes()
	if err != nil {
		return nil, model.Meta{}, fmt.Errorf("%s: %w", path, err)
	}
	pre, ok, err := g.Preprocess()
	if err != nil {
		return nil, model.Meta{}, fmt.Errorf("%s: %w", path, err)
	}
	if !ok || len(classes) == 0 {
		return nil, model.Meta{}, fmt.Errorf("%s: %s: an ONNX file without %q and %q metadata (residual export and train --from x.onnx write them): its class names and preprocessing are unknown", cmdName, path, onnx.MetaClasses, onnx.MetaPreproc)
	}
	meta := model.Meta{Task: "onnx", Classes: classes, Preprocess: pre}
	p, err := inference.NewNetworkPredictor(g, len(classes), [3]int{pre.Height, pre.Width, pre.Channels}, tta)
	return p, meta, err
}
