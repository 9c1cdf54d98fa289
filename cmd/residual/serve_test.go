package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	// No --model and no shipped model: a clear message.
	_, err := loadModels(serveOptions{}, []string{empty})
	if err == nil || !strings.Contains(err.Error(), "no shipped emotion model") || !strings.Contains(err.Error(), "--model") {
		t.Errorf("no model: %v", err)
	}
	// The shipped model is used when present.
	path := saveTestModel(t, empty, "x.residual")
	if err := mkShipped(empty, path); err != nil {
		t.Fatal(err)
	}
	ms, err := loadModels(serveOptions{instances: 1}, []string{empty})
	if err != nil || len(ms) != 1 || ms[0].Name != "emotion" {
		t.Errorf("shipped model: %v, %v", ms, err)
	}
	for _, spec := range []string{"=x", "name=", ""} {
		if _, _, err := parseModelSpec(spec); err == nil {
			t.Errorf("spec %q accepted", spec)
		}
	}
	if _, err := loadModels(serveOptions{models: []string{"a=" + filepath.Join(empty, "missing.residual")}}, nil); err == nil || !strings.Contains(err.Error(), "missing.residual") {
		t.Errorf("missing file: %v", err)
	}
	err = runServe(context.Background(), serveOptions{addr: "not an address", models: []string{path}, instances: 1}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "not an address") {
		t.Errorf("bad address: %v", err)
	}
}

// TestServeLoadsShippedGestureModel: without --model, the shipped emotion
// model is served, and the shipped gesture model beside it when present.
func TestServeLoadsShippedGestureModel(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	saveTestModel(t, filepath.Join(root, "models"), "emotion-fer2013.residual")
	models, err := loadModels(serveOptions{instances: 1}, []string{root})
	if err != nil || len(models) != 1 || models[0].Name != "emotion" {
		t.Fatalf("emotion only: %v, %d models", err, len(models))
	}
	saveTestModel(t, filepath.Join(root, "models"), "gesture-digits.residual")
	models, err = loadModels(serveOptions{instances: 1}, []string{root})
	if err != nil || len(models) != 2 || models[0].Name != "emotion" || models[1].Name != "gesture" {
		t.Fatalf("emotion and gesture: %v, %d models", err, len(models))
	}
}
