package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/vision"
)

func TestLoadModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emotion-test.residual")
	net := newEmotionNet(t, 3)
	if err := model.Save(path, net, model.Meta{Task: "fer2013", Classes: emotionClasses, Preprocess: vision.DefaultFER()}); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel("", path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "emotion-test" || m.Source != path || len(m.Classes) != 7 || m.Instances() != 2 || m.Preprocess.Width != 48 {
		t.Errorf("loaded %+v", m.Info())
	}
	if _, err := LoadModel("x", filepath.Join(t.TempDir(), "missing.residual"), 1); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestFindShipped(t *testing.T) {
	empty, root := t.TempDir(), t.TempDir()
	if _, err := FindShipped(empty); err == nil || !strings.Contains(err.Error(), ShippedEmotion) {
		t.Errorf("no model: error %v, want one naming %s", err, ShippedEmotion)
	}
	os.MkdirAll(filepath.Join(root, "models"), 0o755)
	for _, f := range []string{"emotion-fer2013.json", "emotion-fer2013.residual"} {
		os.WriteFile(filepath.Join(root, "models", f), []byte("x"), 0o644)
	}
	got, err := FindShipped(empty, root)
	if err != nil || got != filepath.Join(root, "models", "emotion-fer2013.residual") {
		t.Errorf("FindShipped = %q, %v; want the .residual file", got, err)
	}
}
