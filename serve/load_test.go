package serve

import (
	"path/filepath"
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
