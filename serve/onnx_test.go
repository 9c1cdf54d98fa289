package serve

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/vision"
)

// TestServeONNXModel: an ONNX classifier exported by residual is served
// like a model file (class names and preprocessing from its metadata,
// run on our engine) and gives the same probabilities as the network it
// came from; an ONNX file without metadata is refused naming the file
// and what is missing.
func TestServeONNXModel(t *testing.T) {
	net := newEmotionNet(t, 1)
	native, err := NewModel("native", newEmotionNet(t, 1), emotionClasses, vision.DefaultFER(), "the same weights (seed 1)", 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "emotion.onnx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.Export(f, net, emotionClasses, native.Preprocess); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m, err := LoadModel("", path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "emotion" || len(m.Classes) != 7 || m.Preprocess.Width != 48 {
		t.Fatalf("model %q classes %v preprocessing %+v", m.Name, m.Classes, m.Preprocess)
	}
	s, err := New(Config{Logger: quietLogger()}, m, native)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	frame := encodeJPEG(t, oneFaceFrame(t))
	probs := map[string][]ClassProb{}
	for _, name := range []string{"emotion", "native"} {
		code, b := post(t, ts.URL+"/v1/predict?model="+name, "image/jpeg", frame)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", name, code, b)
		}
		var res Result
		if err := json.Unmarshal(b, &res); err != nil || len(res.Faces) != 1 {
			t.Fatalf("%s: %v %s", name, err, b)
		}
		probs[name] = res.Faces[0].Probs
	}
	worst := 0.0
	for k, p := range probs["emotion"] {
		worst = math.Max(worst, math.Abs(float64(p.P-probs["native"][k].P)))
	}
	t.Logf("ONNX vs native probabilities: max |diff| %.2e", worst)
	if worst > 1e-4 {
		t.Errorf("the ONNX model's probabilities differ from the native network's by %g", worst)
	}

	// No metadata: refused with the file's name.
	mp, err := onnx.ExportModel(net, nil, native.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	mp.Metadata = nil
	bare := filepath.Join(dir, "bare.onnx")
	if err := os.WriteFile(bare, onnx.EncodeModel(mp), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadModel("", bare, 1); err == nil || !strings.Contains(err.Error(), "bare.onnx") || !strings.Contains(err.Error(), "an ONNX file without") {
		t.Errorf("bare ONNX file: %v", err)
	}
}
