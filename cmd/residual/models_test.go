package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelsCommand: residual models lists both built-in classifiers and
// the three detectors, with the checksums of the committed files.
func TestModelsCommand(t *testing.T) {
	out, err := runCLI(t, "models")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"models/emotion-fer2013.residual", "models/gesture-digits.residual", "detect/models/palm_detection.onnx"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if !strings.Contains(out, filepath.Base(f)) || !strings.Contains(out, hex.EncodeToString(sum[:])) {
			t.Errorf("models output lacks %s with its sha256:\n%s", f, out)
		}
	}
	if !strings.Contains(out, "7: angry,disgust,fear,happy,sad,surprise,neutral") || !strings.Contains(out, "64x64x3") {
		t.Errorf("models output:\n%s", out)
	}
	out, err = runCLI(t, "models", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Name    string
		Classes []string
		Bytes   int
		SHA256  string
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 5 || list[0].Name != "emotion" || len(list[1].Classes) != 10 || list[0].Bytes == 0 || len(list[0].SHA256) != 64 || list[2].Name != "blazeface-short" {
		t.Errorf("models --json: %v\n%s", err, out)
	}
}
