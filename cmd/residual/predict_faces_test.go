package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/vision"
)

// TestPredictFaces runs predict --faces on the real face photos with an
// untrained emotion network: each photo must yield exactly one face with
// seven class probabilities, and an annotated PNG of the photo's size.
func TestPredictFaces(t *testing.T) {
	photos := fixtures.FacesDir(t)
	dir := t.TempDir()
	cfg, err := model.Preset("reference")
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	modelPath := filepath.Join(dir, "emotion.residual")
	if err := model.Save(modelPath, net, model.Meta{Task: "fer2013", Classes: data.FER2013ClassNames(), Preprocess: vision.DefaultFER()}); err != nil {
		t.Fatal(err)
	}
	ann := filepath.Join(dir, "annotated")
	out, err := runCLI(t, "predict", "--model", modelPath, "--faces", "--json", "--annotate-dir", ann, photos)
	if err != nil {
		t.Fatal(err)
	}
	var results []faceResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("predict --faces --json printed %q: %v", out, err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results for the 2 photos", len(results))
	}
	for _, r := range results {
		if r.Error != "" || r.Result == nil || len(r.Result.Faces) != 1 {
			t.Errorf("%s: want exactly one face, got %+v", r.File, r)
			continue
		}
		if f := r.Result.Faces[0]; len(f.Probs) != 7 || f.Label == "" {
			t.Errorf("%s: face without 7 class probabilities: %+v", r.File, f)
		}
		fh, err := os.Open(r.Annotated)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(fh)
		fh.Close()
		if err != nil || cfg.Width != r.Result.Width || cfg.Height != r.Result.Height {
			t.Errorf("annotated copy %s: %v, %dx%d, want %dx%d", r.Annotated, err, cfg.Width, cfg.Height, r.Result.Width, r.Result.Height)
		}
	}
	// A corrupt file is reported by name and makes the command fail.
	bad := filepath.Join(dir, "corrupt.jpg")
	os.WriteFile(bad, []byte("\xff\xd8\xff\xe0 not really a jpeg"), 0o644)
	if _, err := runCLI(t, "predict", "--model", modelPath, "--faces", "--annotate-dir", ann, bad); err == nil {
		t.Error("a corrupt photo did not make predict --faces fail")
	}
}

// TestBenchServe runs the pipeline benchmark briefly: the frame made from
// a real photo must have its face found, and the load test must finish
// without errors.
func TestBenchServe(t *testing.T) {
	photo := fixtures.Face(t, "grace_hopper.jpg")
	modelPath := saveTestModel(t, t.TempDir(), "emotion.residual")
	out, err := runCLI(t, "bench", "serve", "--model", modelPath, "--photo", photo, "--duration", "300ms", "--frames", "3", "--clients", "4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "1 face(s)") || !strings.Contains(out, " 0 errors") {
		t.Errorf("bench serve output:\n%s", out)
	}
	if _, err := runCLI(t, "bench", "serve", "--model", modelPath, "--photo", photo, "--clients", "0"); err == nil {
		t.Error("--clients 0 accepted")
	}
}
