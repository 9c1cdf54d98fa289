package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// saveTestModel writes an untrained reference network (48x48x1, 7
// emotions) as a model file and returns its path.
func saveTestModel(t *testing.T, dir, name string) string {
	t.Helper()
	cfg, err := model.Preset("reference")
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	meta := model.Meta{Task: "fer2013", Classes: []string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}, Preprocess: vision.DefaultFER()}
	if err := model.Save(path, net, meta); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a bytes.Buffer safe to write from the server goroutine
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	emotion := saveTestModel(t, dir, "emo.residual")
	second := saveTestModel(t, dir, "second.residual")
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	o := serveOptions{addr: "127.0.0.1:0", models: []string{"emotion=" + emotion, second}, instances: 1, cfg: serve.Config{MaxUploadBytes: 1 << 20, MaxPixels: 1e6}, drain: serve.Drain{Grace: 5 * time.Second}}
	go func() { done <- runServe(ctx, o, &out, func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("runServe: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	resp, err := http.Get("http://" + addr + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Models []struct {
			Name    string
			Default bool
		}
	}
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if len(got.Models) != 2 || got.Models[0].Name != "emotion" || !got.Models[0].Default || got.Models[1].Name != "second" {
		t.Errorf("models %+v, want emotion (default) and second", got.Models)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runServe after cancel: %v", err)
	}
	text := out.String()
	for _, want := range []string{"serving on http://" + addr + "/", "model emotion (default): 7 classes", "server stopped"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestServeErrors(t *testing.T) {
	empty := t.TempDir()
	path := saveTestModel(t, empty, "x.residual")
	for _, spec := range []string{"=x", "name=", ""} {
		if _, _, err := parseModelSpec(spec); err == nil {
			t.Errorf("spec %q accepted", spec)
		}
	}
	if _, err := loadModels(serveOptions{models: []string{"a=" + filepath.Join(empty, "missing.residual")}}); err == nil || !strings.Contains(err.Error(), "missing.residual") {
		t.Errorf("missing file: %v", err)
	}
	err := runServe(context.Background(), serveOptions{addr: "not an address", models: []string{path}, instances: 1}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "not an address") {
		t.Errorf("bad address: %v", err)
	}
}

// TestServeBuiltinModels: without --model the built-in models are served
// (emotion, the default, then gesture); --model replaces them.
func TestServeBuiltinModels(t *testing.T) {
	ms, err := loadModels(serveOptions{instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "emotion" || ms[1].Name != "gesture" {
		t.Fatalf("built-in models: %d, want emotion and gesture", len(ms))
	}
	for _, tc := range []struct {
		m       *serve.Model
		classes int
		size    int
		source  string
	}{{ms[0], 7, 48, "built-in emotion-fer2013.residual"}, {ms[1], 10, 64, "built-in gesture-digits.residual"}} {
		if len(tc.m.Classes) != tc.classes || tc.m.Preprocess.Width != tc.size || tc.m.Source != tc.source {
			t.Errorf("%s: %d classes, %dpx input, from %q; want %d, %d, %q", tc.m.Name, len(tc.m.Classes), tc.m.Preprocess.Width, tc.m.Source, tc.classes, tc.size, tc.source)
		}
	}
	path := saveTestModel(t, t.TempDir(), "mine.residual")
	ms, err = loadModels(serveOptions{instances: 1, models: []string{path}})
	if err != nil || len(ms) != 1 || ms[0].Name != "mine" || ms[0].Source != path {
		t.Errorf("--model %s: %v, %d models", path, err, len(ms))
	}
}

// TestServeFromEmptyDir: serve started in an empty directory, with no
// flags but the address, answers /healthz and labels the face of a
// committed photo with the built-in emotion model.
func TestServeFromEmptyDir(t *testing.T) {
	photo, err := os.ReadFile(fixtures.Face(t, "grace_hopper.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	o := serveOptions{addr: "127.0.0.1:0", instances: 1, drain: serve.Drain{Grace: 5 * time.Second}}
	go func() { done <- runServe(ctx, o, io.Discard, func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("runServe: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runServe after cancel: %v", err)
		}
	}()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", resp.Status)
	}
	resp, err = http.Post("http://"+addr+"/v1/predict?model=emotion", "image/jpeg", bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Model string
		Faces []struct {
			Label string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1/predict: %s, %v", resp.Status, err)
	}
	if got.Model != "emotion" || len(got.Faces) != 1 || !slices.Contains(data.FER2013ClassNames(), got.Faces[0].Label) {
		t.Errorf("prediction %+v, want one face with an emotion label", got)
	}
	t.Logf("grace_hopper.jpg: %+v", got)
}
