package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
)

// TestPredictPrecision: predict --precision bf16 gives the fp32
// probabilities of the shipped emotion model to within 0.05 (bf16
// rounding of each product's inputs; Winograd layers stay fp32), and an
// unknown precision is refused with its value.
func TestPredictPrecision(t *testing.T) {
	modelPath := filepath.Join("..", "..", "models", "emotion-fer2013"+model.FileExt)
	imgs := filepath.Join(t.TempDir(), "imgs")
	if err := data.WriteImageFolder(data.SynthFaces(3, 9), imgs, "face"); err != nil {
		t.Fatal(err)
	}
	run := func(precision string) []prediction {
		out, err := runCLI(t, "predict", "--model", modelPath, "--json", "--precision", precision, imgs)
		if err != nil {
			t.Fatalf("predict --precision %s: %v\n%s", precision, err, out)
		}
		var preds []prediction
		if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &preds); err != nil || len(preds) != 3 {
			t.Fatalf("predict --json --precision %s: %v\n%s", precision, err, out)
		}
		return preds
	}
	fp32, bf16 := run("fp32"), run("bf16")
	maxDiff := 0.0
	for i, p := range fp32 {
		for j, s := range p.Scores {
			maxDiff = math.Max(maxDiff, math.Abs(s.Probability-bf16[i].Scores[j].Probability))
		}
	}
	t.Logf("max |p_bf16 - p_fp32| = %.4f (bf16 available: %v)", maxDiff, model.HasBF16())
	if maxDiff > 0.05 {
		t.Errorf("bf16 probabilities differ from fp32 by up to %g, want <= 0.05", maxDiff)
	}
	for _, cmd := range [][]string{
		{"predict", "--model", modelPath, "--precision", "fp16", imgs},
		{"eval", "--model", modelPath, "--data", imgs, "--precision", "fp16"},
		{"bench", "--precision", "fp16"},
	} {
		if _, err := runCLI(t, cmd...); err == nil || !strings.Contains(err.Error(), `--precision "fp16"`) {
			t.Errorf("%s --precision fp16: %v, want an error naming the value", cmd[0], err)
		}
	}
}
