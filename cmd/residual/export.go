package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
)

// Export formats of `residual export`.
var exportFormats = []string{"onnx", "safetensors"}

// Metadata keys of an exported safetensors file (all values are strings,
// as the format requires; the JSON ones hold JSON).
const (
	stMetaFormat     = "format"     // "pt": PyTorch layouts
	stMetaConfig     = "config"     // model.Config as JSON
	stMetaClasses    = "classes"    // class names as a JSON list
	stMetaPreprocess = "preprocess" // vision.Preprocess as JSON
	stMetaTask       = "task"
)

// torchLoadSnippet is the Python shown in the help of export: it reads the
// file with the standard library and torch only (scripts/load_safetensors.py).
const torchLoadSnippet = `  import json, sys, torch, torchvision
  sys.path.insert(0, "scripts")
  from load_safetensors import load_safetensors   # struct + json + torch.frombuffer
  state, meta = load_safetensors("model.safetensors")
  cfg = json.loads(meta["config"])
  # a resnet18/34/50/101/152 preset on 3 channels is torchvision's network:
  model = torchvision.models.resnet18(num_classes=cfg["classes"])
  # (other presets: the torchvision-style ResNet class of
  #  scripts/check_safetensors_torch.py, built from cfg, same names)
  model.load_state_dict(state)                    # strict: names and shapes match
  model.eval()
  pre = json.loads(meta["preprocess"])            # x = (pixel/255 - mean) / std
  logits = model(x)                               # x: (N,C,H,W) float32`

func newExportCmd() *cobra.Command {
	var modelPath, format, out string
	cmd := &cobra.Command{
		Use:   "export --model FILE --format onnx|safetensors --out OUT",
		Short: "Export a model file to ONNX or to PyTorch-style safetensors weights",
		Long: `export writes a trained model (a .residual file) in another framework's format.

  onnx         an opset-13 ONNX model (input "input" (N,C,H,W), output "logits");
               class names and preprocessing in its metadata_props.
  safetensors  every tensor of the network (parameters and BN running statistics)
               with torchvision-style names ("layer1.0.conv1.weight") in PyTorch's
               layouts: convolution weights (Out,In,KH,KW) (converted from this
               project's (Out,KH,KW,In)), linear weights (Out,In), BN
               num_batches_tracked as an int64 scalar. __metadata__ holds
               "format": "pt", "config" (the architecture), "classes",
               "preprocess" (JSON) and "task".

Loading the safetensors file into an equivalent PyTorch module:

` + torchLoadSnippet + `

residual import converts such a file back into a model file.`,
		Example: `  residual export --model runs/fer/best.residual --format onnx --out fer.onnx
  residual export --model runs/fer/best.residual --format safetensors --out fer.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if modelPath == "" || out == "" {
				return fmt.Errorf("export: --model and --out are required")
			}
			var err error
			switch format {
			case "onnx":
				err = exportONNX(modelPath, out)
			case "safetensors":
				err = exportSafetensors(modelPath, out)
			default:
				return fmt.Errorf("export: --format %q, want one of %s", format, strings.Join(exportFormats, ", "))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s)\n", out, format)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelPath, "model", "", "model file to export (.residual)")
	f.StringVar(&format, "format", "onnx", "output format: "+strings.Join(exportFormats, "|"))
	f.StringVar(&out, "out", "", "output file")
	return cmd
}

func exportONNX(modelPath, out string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("export: %w", cerr)
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	return onnx.ExportFile(f, modelPath)
}

func exportSafetensors(modelPath, out string) error {
	net, meta, err := model.Load(modelPath)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	entries, err := torchEntries(net)
	if err != nil {
		return fmt.Errorf("export: %s: %w", modelPath, err)
	}
	md := map[string]string{stMetaFormat: "pt", stMetaTask: meta.Task}
	for key, v := range map[string]any{stMetaConfig: net.Config, stMetaClasses: meta.Classes, stMetaPreprocess: meta.Preprocess} {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("export: %s metadata: %w", key, err)
		}
		md[key] = string(b)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return safetensors.WriteFile(out, entries, md)
}

// torchEntries lists every tensor of net.State() in PyTorch's layouts.
func torchEntries(net *model.Net) ([]safetensors.Entry, error) {
	var entries []safetensors.Entry
	for _, p := range net.State() {
		switch {
		case strings.HasSuffix(p.Name, ".num_batches_tracked"):
			// PyTorch keeps the count as an int64 scalar.
			entries = append(entries, safetensors.Int64(p.Name, []int64{int64(p.Value.Data[0])}))
		case len(p.Value.Shape) == 4:
			entries = append(entries, safetensors.Float32(p.Name, ohwiToOIHW(p.Value)))
		default:
			entries = append(entries, safetensors.Float32(p.Name, p.Value))
		}
	}
	return entries, nil
}

// ohwiToOIHW returns the (O,I,KH,KW) copy of a (O,KH,KW,I) convolution weight.
func ohwiToOIHW(w *tensor.Tensor) *tensor.Tensor {
	o, kh, kw, in := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	t := tensor.New(o, in, kh, kw)
	for a := 0; a < o; a++ {
		for y := 0; y < kh; y++ {
			for x := 0; x < kw; x++ {
				for c := 0; c < in; c++ {
					t.Data[((a*in+c)*kh+y)*kw+x] = w.Data[((a*kh+y)*kw+x)*in+c]
				}
			}
		}
	}
	return t
}

// oihwToOHWI returns the (O,KH,KW,I) copy of a (O,I,KH,KW) weight.
func oihwToOHWI(w *tensor.Tensor) *tensor.Tensor {
	o, in, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	t := tensor.New(o, kh, kw, in)
	for a := 0; a < o; a++ {
		for c := 0; c < in; c++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					t.Data[((a*kh+y)*kw+x)*in+c] = w.Data[((a*in+c)*kh+y)*kw+x]
				}
			}
		}
	}
	return t
}

// loadTorchWeights copies the tensors of a PyTorch-layout safetensors file
// (as exportSafetensors writes, or a torch state_dict saved with
// safetensors) into net by name. Every tensor of the network must be
// present with its shape (convolutions as (O,I,KH,KW)); the file must hold
// nothing else. Otherwise the error lists every missing, misshapen and
// unexpected tensor.
func loadTorchWeights(net *model.Net, f *safetensors.File, path string) error {
	var missing, shapes, unexpected []string
	values := map[string]*tensor.Tensor{}
	known := map[string]bool{}
	for _, p := range net.State() {
		known[p.Name] = true
		info, ok := f.Info(p.Name)
		if !ok {
			missing = append(missing, fmt.Sprintf("%s %s", p.Name, tensor.ShapeString(p.Value.Shape)))
			continue
		}
		want := p.Value.Shape
		if len(want) == 4 {
			want = []int{want[0], want[3], want[1], want[2]} // OHWI -> OIHW
		}
		if strings.HasSuffix(p.Name, ".num_batches_tracked") && info.Numel() == 1 {
			want = info.Shape // a scalar, () in PyTorch, (1) here
		}
		if !slices.Equal(info.Shape, want) {
			shapes = append(shapes, fmt.Sprintf("%s is %s, want %s", p.Name, tensor.ShapeString(info.Shape), tensor.ShapeString(want)))
			continue
		}
		t, err := f.Tensor(p.Name)
		if err != nil {
			return fmt.Errorf("import: %s: %w", path, err)
		}
		if len(p.Value.Shape) == 4 {
			t = oihwToOHWI(t)
		} else {
			t = tensor.FromData(t.Data, p.Value.Shape...)
		}
		values[p.Name] = t
	}
	for _, n := range f.Names() {
		if !known[n] {
			info, _ := f.Info(n)
			unexpected = append(unexpected, fmt.Sprintf("%s %s", n, tensor.ShapeString(info.Shape)))
		}
	}
	if len(missing)+len(shapes)+len(unexpected) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "import: %s does not match the network:", path)
		for _, l := range []struct {
			what  string
			names []string
		}{{"missing", missing}, {"wrong shape", shapes}, {"unexpected", unexpected}} {
			if len(l.names) > 0 {
				fmt.Fprintf(&b, "\n  %s (%d): %s", l.what, len(l.names), strings.Join(l.names, "; "))
			}
		}
		return fmt.Errorf("%s", b.String())
	}
	return net.LoadState(func(name string) (*tensor.Tensor, bool) {
		t, ok := values[name]
		return t, ok
	})
}
