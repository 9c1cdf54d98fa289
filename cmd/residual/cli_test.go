package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the residual command with args and returns what it printed
// on stdout and its error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(args)
	old := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = w
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, r); close(done) }()
	root.SetOut(w)
	root.SetErr(io.Discard)
	runErr := root.Execute()
	w.Close()
	<-done
	os.Stdout = old
	return buf.String(), runErr
}

func TestSummaryCommand(t *testing.T) {
	out, err := runCLI(t, "summary", "reference")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "forward: 118.6 MFLOP per image") || !strings.Contains(out, "trainable parameters: 174775") {
		t.Errorf("summary output lacks totals:\n%s", out)
	}
	if _, err := runCLI(t, "summary", "resnet9000"); err == nil || !strings.Contains(err.Error(), "unknown preset") {
		t.Errorf("unknown preset: error %v", err)
	}
	if _, err := runCLI(t, "summary", "resnet18", "--input", "48,48"); err == nil || !strings.Contains(err.Error(), "H,W,C") {
		t.Errorf("bad --input: error %v", err)
	}
}

func TestDataCommands(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "faces.csv")
	if _, err := runCLI(t, "data", "generate", "faces", csv, "--train", "70", "--publictest", "14"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "data", "inspect", csv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "fer2013-csv") || !strings.Contains(out, "70") || !strings.Contains(out, "14") {
		t.Errorf("inspect output:\n%s", out)
	}
	folders := filepath.Join(dir, "folders")
	if _, err := runCLI(t, "data", "convert", csv, folders); err != nil {
		t.Fatal(err)
	}
	back := filepath.Join(dir, "back.csv")
	if _, err := runCLI(t, "data", "convert", folders, back); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(csv)
	b, _ := os.ReadFile(back)
	if len(a) == 0 || len(bytes.Split(a, []byte("\n"))) != len(bytes.Split(b, []byte("\n"))) {
		t.Errorf("CSV -> folders -> CSV changed the row count: %d vs %d bytes", len(a), len(b))
	}
	hands := filepath.Join(dir, "hands")
	if _, err := runCLI(t, "data", "generate", "hands", hands, "--subjects", "2", "--frames", "1", "--size", "32"); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "data", "inspect", hands); err != nil || !strings.Contains(out, "leapgestrecog") {
		t.Errorf("inspect hands: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "data", "generate", "cats", filepath.Join(dir, "x")); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := runCLI(t, "data", "inspect", filepath.Join(dir, "missing")); err == nil {
		t.Error("inspect of a missing path succeeded")
	}
}

// TestBenchJSON runs the benchmark briefly and checks that every figure is
// measured (positive); the numbers themselves are not judged here.
func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("bench takes a few seconds")
	}
	out, err := runCLI(t, "bench", "--seconds", "0.05", "--batch", "4", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	r := res["residual"]
	if r.SgemmGFLOPs <= 0 || r.TrainImagesPerS <= 0 || r.InferImagesPerS <= 0 || r.LatencyBatch1Ms <= 0 || len(r.Convs) != 3 || r.ForwardMFLOPs < 118 {
		t.Errorf("bench result has unmeasured figures: %+v", r)
	}
}

// TestDemo runs the demo on a small synthetic set: it must train a model
// far above chance and leave the report and a loadable model behind.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("demo trains for a few seconds")
	}
	dir := t.TempDir()
	out, err := runCLI(t, "demo", "--out", dir, "--epochs", "4", "--train", "1400", "--val", "140", "--progress", "none")
	if err != nil {
		t.Fatal(err)
	}
	var acc float64
	for _, line := range strings.Split(out, "\n") {
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "3/3 validation accuracy %f%%", &acc); err == nil {
			break
		}
	}
	if acc < 35 {
		t.Errorf("demo validation accuracy %.1f%%, want well above chance (14.3%%):\n%s", acc, out)
	}
	for _, f := range []string{"run/best.residual", "run/report.txt", "run/confusion.png", "run/metrics.csv", "synthetic-faces.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("demo did not write %s: %v", f, err)
		}
	}
	if _, err := runCLI(t, "demo", "--epochs", "0"); err == nil {
		t.Error("demo --epochs 0 accepted")
	}
}
