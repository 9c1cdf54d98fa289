package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestTorchFastest: the ratios of bench --torch are taken against the
// fastest PyTorch mode of each figure (the smallest latency).
func TestTorchFastest(t *testing.T) {
	r := torchResult{Modes: []torchMode{
		{Label: "a", TrainImagesPerS: 300, InferImagesPerS: 1500, LatencyBatch1Ms: 3},
		{Label: "b", TrainImagesPerS: 400, InferImagesPerS: 1200, LatencyBatch1Ms: 2},
		{Label: "c", TrainImagesPerS: 350, InferImagesPerS: 0, LatencyBatch1Ms: 4},
	}}
	if m := r.fastest(func(m *torchMode) float64 { return m.TrainImagesPerS }, false); m == nil || m.Label != "b" {
		t.Errorf("fastest training: %+v, want b", m)
	}
	if m := r.fastest(func(m *torchMode) float64 { return m.InferImagesPerS }, false); m == nil || m.Label != "a" {
		t.Errorf("fastest inference: %+v, want a", m)
	}
	if m := r.fastest(func(m *torchMode) float64 { return m.LatencyBatch1Ms }, true); m == nil || m.Label != "b" {
		t.Errorf("fastest batch 1: %+v, want b", m)
	}
}

// TestTorchBenchScript runs scripts/torch_bench.py briefly in its three
// modes where PyTorch is installed and checks the JSON bench --torch
// reads (skipped without python3-torch: CI does not need PyTorch).
func TestTorchBenchScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch for a few seconds")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		t.Skip("no PyTorch (/usr/bin/python3 -c 'import torch' fails): apt-get install python3-torch to run this test")
	}
	if _, err := os.Stat("../../scripts/torch_bench.py"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "../../scripts/torch_bench.py", "--json", "--threads", "1",
		"--seconds", "0.05", "--batch", "2", "--no-convs").Output()
	if err != nil {
		t.Fatalf("torch_bench.py: %v", err)
	}
	var r torchResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("torch_bench.py printed %q: %v", out, err)
	}
	if r.Threads != 1 || len(r.Modes) != 3 {
		t.Fatalf("want 1 thread and 3 modes, got %+v", r)
	}
	for i, want := range []string{"fp32", "fp32-cl", "bf16-cl"} {
		m := r.Modes[i]
		if m.Mode != want || !strings.Contains(m.Label, map[string]string{"fp32": "NCHW", "fp32-cl": "channels_last", "bf16-cl": "bf16"}[want]) ||
			m.TrainImagesPerS <= 0 || m.InferImagesPerS <= 0 || m.LatencyBatch1Ms <= 0 {
			t.Errorf("mode %d: %+v", i, m)
		}
	}
}
