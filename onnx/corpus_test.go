package onnx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/vision"
)

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzRead when
// RESIDUAL_WRITE_CORPUS=1: a tiny exported ResNet, whole and truncated at
// a few points.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("RESIDUAL_WRITE_CORPUS") == "" {
		t.Skip("set RESIDUAL_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzRead")
	}
	net, err := model.New(model.Config{Layers: []int{1}, Widths: []int{2}, Input: [3]int{4, 4, 1}, Classes: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Export(&buf, net, []string{"a", "b"}, vision.Preprocess{Width: 4, Height: 4, Channels: 1}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for i, n := range []int{len(b), len(b) / 2, len(b) / 5, 17} {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b[:n])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
