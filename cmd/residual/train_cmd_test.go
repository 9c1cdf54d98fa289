package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/model"
)

// TestTrainEvalPredict trains for two epochs on a small generated FER2013
// CSV through the CLI, then evaluates and predicts with the result.
func TestTrainEvalPredict(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "faces.csv")
	if err := data.GenerateFER2013CSV(csv, 140, 70, 70, 1); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	out, err := runCLI(t, "train", "--data", csv, "--image-size", "16", "--epochs", "1", "--batch", "32",
		"--out", run, "--progress", "lines", "--log-every", "2", "--label-smoothing", "0.1", "--class-weights", "auto")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	for _, want := range []string{"training reference", "epoch 1/1 step 2/4", "epoch 1/1  train loss", "macro avg", "done: 1 epochs"} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}
	// Resume the finished run for one more epoch.
	out, err = runCLI(t, "train", "--resume", run, "--epochs", "2", "--progress", "none")
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	// A new run does not silently replace it.
	if _, err := runCLI(t, "train", "--data", csv, "--out", run, "--epochs", "1"); err == nil || !strings.Contains(err.Error(), "already holds a training run") {
		t.Errorf("new run over an old one: %v", err)
	}
	csvRows, _ := os.ReadFile(filepath.Join(run, "metrics.csv"))
	if n := strings.Count(string(csvRows), "\n"); n != 3 {
		t.Errorf("metrics.csv after resuming has %d lines, want header + 2:\n%s", n, csvRows)
	}
	modelPath := filepath.Join(run, "best"+model.FileExt)
	if _, meta, err := model.Load(modelPath); err != nil || meta.Preprocess.Width != 16 {
		t.Fatalf("model: %v %+v", err, meta.Preprocess)
	}

	// eval, text with report files
	evalDir := filepath.Join(dir, "eval")
	out, err = runCLI(t, "eval", "--model", modelPath, "--data", csv, "--split", "privatetest", "--tta", "flip", "--out", evalDir)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	for _, want := range []string{"precision    recall  f1-score   support", "weighted avg", "Confusion matrix", "70 images"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"report.txt", "metrics.json", "confusion.png", "per_class_accuracy.png"} {
		if _, err := os.Stat(filepath.Join(evalDir, f)); err != nil {
			t.Errorf("eval --out: %v", err)
		}
	}
	// eval --json
	out, err = runCLI(t, "eval", "--model", modelPath, "--data", csv, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Split      string  `json:"split"`
		NumSamples int     `json:"num_samples"`
		Accuracy   float64 `json:"accuracy"`
		Loss       float64 `json:"loss"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Split != "val" || m.NumSamples != 70 || m.Loss <= 0 {
		t.Errorf("eval --json: %v %+v\n%s", err, m, out)
	}

	// predict on a folder of PNGs
	imgs := filepath.Join(dir, "imgs")
	if err := data.WriteImageFolder(data.SynthFaces(3, 9), imgs, "face"); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "predict", "--model", modelPath, imgs)
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "angry ") || !strings.Contains(lines[0], "neutral ") {
		t.Errorf("predict output:\n%s", out)
	}
	out, err = runCLI(t, "predict", "--model", modelPath, "--json", "--tta", "flip", imgs)
	if err != nil {
		t.Fatal(err)
	}
	var preds []prediction
	if err := json.Unmarshal([]byte(out), &preds); err != nil || len(preds) != 3 {
		t.Fatalf("predict --json: %v\n%s", err, out)
	}
	for _, p := range preds {
		sum, best := 0.0, 0.0
		for _, s := range p.Scores {
			sum += s.Probability
			best = math.Max(best, s.Probability)
		}
		if len(p.Scores) != 7 || math.Abs(sum-1) > 1e-4 || p.Probability != best || p.Label == "" {
			t.Errorf("prediction %+v", p)
		}
	}
	// An unreadable file is reported by name and fails the command.
	out, err = runCLI(t, "predict", "--model", modelPath, csv)
	if err == nil || !strings.Contains(out, "faces.csv: error:") {
		t.Errorf("predict on a CSV: %v\n%s", err, out)
	}
}

func TestTrainCommandErrors(t *testing.T) {
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.json")
	os.WriteFile(badCfg, []byte(`{"data":"x.csv","learning_rate":0.1}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train"}, "no data path"},
		{[]string{"train", "--data", "x.csv", "--optimizer", "rmsprop"}, `optimizer "rmsprop"`},
		{[]string{"train", "--data", "x.csv", "--schedule", "linear"}, `schedule "linear"`},
		{[]string{"train", "--data", "x.csv", "--model", "resnet7"}, `unknown model "resnet7"`},
		{[]string{"train", "--data", "x.csv", "--class-weights", "inverse"}, `class_weights (--class-weights) "inverse"`},
		{[]string{"train", "--data", "x.csv", "--epochs", "abc"}, `invalid argument "abc"`},
		{[]string{"train", "--data", filepath.Join(dir, "missing.csv")}, "missing.csv"},
		{[]string{"train", "--config", badCfg}, `unknown field "learning_rate"`},
		{[]string{"train", "--resume", dir, "--lr", "0.5"}, "--lr cannot change"},
		{[]string{"train", "--resume", dir}, "checkpoint.safetensors"},
		{[]string{"train", "--data", "x.csv", "--progress", "fancy"}, `--progress "fancy"`},
		{[]string{"eval", "--data", "x.csv"}, "--model is required"},
		{[]string{"eval", "--model", filepath.Join(dir, "none.residual"), "--data", "x.csv"}, "none.residual"},
		{[]string{"predict", "--model", "m.residual"}, "requires at least 1 arg"},
		{[]string{"predict", "x.png"}, "--model is required"},
	} {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestTrainPrintConfig(t *testing.T) {
	out, err := runCLI(t, "train", "--data", "x.csv", "--optimizer", "adamw", "--warmup", "0", "--print-config")
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if c["lr"] != 0.001 || c["warmup"] != 0.0 || c["optimizer"] != "adamw" || c["model"] != "reference" {
		t.Errorf("resolved config %v", c)
	}
}

// TestTrainRealFER trains one short epoch on a few real FER2013 images per
// class (the JPEG folder layout), then evaluates the model on them.
func TestTrainRealFER(t *testing.T) {
	root := fixtures.Dataset(t, "fer2013")
	run := filepath.Join(t.TempDir(), "run")
	out, err := runCLI(t, "train", "--data", root, "--max-per-class", "12", "--image-size", "24", "--epochs", "1",
		"--batch", "16", "--out", run, "--progress", "lines")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	if !strings.Contains(out, "on 84 images, validating on 84; 7 classes") {
		t.Errorf("train output:\n%s", out)
	}
	out, err = runCLI(t, "eval", "--model", filepath.Join(run, "best"+model.FileExt), "--data", root, "--json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	var m struct {
		NumSamples int `json:"num_samples"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.NumSamples != 3589 {
		t.Errorf("eval on the real PublicTest split: %v, %d samples", err, m.NumSamples)
	}
}
