package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/models"
	"github.com/residual-go/residual/onnx"
)

// TestPredictWithONNXModel: predict (plain and --faces) takes an ONNX
// classifier exported by residual and gives the built-in model's labels
// and probabilities.
func TestPredictWithONNXModel(t *testing.T) {
	net, meta, _, err := models.Load("emotion")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "emotion.onnx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.Export(f, net, meta.Classes, meta.Preprocess); err != nil {
		t.Fatal(err)
	}
	f.Close()
	photo := fixtures.Face(t, "grace_hopper.jpg")
	type pred struct {
		Label       string  `json:"label"`
		Probability float64 `json:"probability"`
	}
	var got [2][]pred
	for i, model := range []string{path, filepath.Join(fixtures.Root(t), "models", "emotion-fer2013.residual")} {
		out, err := runCLI(t, "predict", "--model", model, "--json", photo)
		if err != nil {
			t.Fatalf("%s: %v\n%s", model, err, out)
		}
		if err := json.Unmarshal([]byte(out), &got[i]); err != nil || len(got[i]) != 1 {
			t.Fatalf("%s: %v: %s", model, err, out)
		}
	}
	if got[0][0].Label != got[1][0].Label || got[0][0].Probability-got[1][0].Probability > 1e-4 || got[1][0].Probability-got[0][0].Probability > 1e-4 {
		t.Errorf("ONNX %+v, native %+v", got[0][0], got[1][0])
	}
	out, err := runCLI(t, "predict", "--model", path, "--faces", "--annotate-dir", dir, photo)
	if err != nil {
		t.Fatalf("predict --faces with ONNX: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
