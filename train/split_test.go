package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
)

// TestLoadSplitRebuildsValidation trains on a grouped layout (synthetic
// LeapGestRecog) and checks that LoadSplit rebuilds, from the model file
// alone, exactly the validation and training parts the run used.
func TestLoadSplitRebuildsValidation(t *testing.T) {
	root := filepath.Join(t.TempDir(), "leap")
	if err := data.GenerateLeapGestRecog(root, data.HandOptions{Subjects: 4, FramesPerGesture: 2, Width: 16, Height: 16, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	cfg := with(func(c *Config) {
		c.Data, c.Out, c.Arch, c.ImageSize, c.Epochs, c.BatchSize, c.ValSplit, c.Seed = root, filepath.Join(t.TempDir(), "run"), tinyArch(), 16, 1, 8, 0.25, 4
	})
	tr := mustTrainer(t, cfg, Options{Progress: "none"})
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := model.Load(res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	for split, want := range map[string]*data.Dataset{"val": tr.Data.Val, "train": tr.Data.Train} {
		got, _, err := LoadSplit(root, "auto", split, meta, false)
		if err != nil {
			t.Fatal(err)
		}
		if got.Len() != want.Len() || strings.Join(got.Sources, ",") != strings.Join(want.Sources, ",") {
			t.Errorf("%s: %d samples %v..., want %d %v...", split, got.Len(), got.Sources[:2], want.Len(), want.Sources[:2])
		}
	}
	if d, _, err := LoadSplit(root, "", "all", meta, false); err != nil || d.Len() != 80 {
		t.Errorf("all: %v", err)
	}
	if _, _, err := LoadSplit(root, "auto", "privatetest", meta, false); err == nil || !strings.Contains(err.Error(), "only for FER2013") {
		t.Errorf("privatetest on LeapGestRecog: %v", err)
	}
	if _, _, err := LoadSplit(root, "auto", "test", meta, false); err == nil || !strings.Contains(err.Error(), `split "test"`) {
		t.Errorf("unknown split: %v", err)
	}
	if _, _, err := LoadSplit(root, "fer-csv", "val", meta, false); err == nil || !strings.Contains(err.Error(), "holds the leapgestrecog layout") {
		t.Errorf("wrong forced format: %v", err)
	}
}
