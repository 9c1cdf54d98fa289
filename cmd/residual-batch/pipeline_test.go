package main

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/residual-go/residual/detect"
	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// The pipelines run on Beam's in-process Prism runner (loopback workers:
// the DoFns run in this process, so the test sees modelLoads).
func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// The public-domain face photos: testdata/ of the repository, else the
// shared data folder beside it.
var photoDirs = []string{filepath.Join("..", "..", "testdata", "faces"), filepath.Join("..", "..", "..", "shared", "data", "faces")}

const (
	emotionModel = "../../models/emotion-fer2013.residual"
	gestureModel = "../../models/gesture-digits.residual"
)

// photos copies the face photos into dir (plus a file that is not an
// image) and returns their paths.
func photos(t *testing.T, dir string) (good []string, bad string) {
	t.Helper()
	for _, src := range photoDirs {
		for _, name := range []string{"grace_hopper.jpg", "astronaut.png"} {
			b, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				continue
			}
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			good = append(good, p)
		}
		if len(good) > 0 {
			break
		}
	}
	if len(good) != 2 {
		t.Fatalf("the two face photos (grace_hopper.jpg, astronaut.png) are in none of %v", photoDirs)
	}
	bad = filepath.Join(dir, "notes.jpg")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	return good, bad
}

func readLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t *testing.T, o Options) ([]ImageResult, map[string]int) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, o); err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("pipeline on prism: %v", err)
	}
	results := readLines[ImageResult](t, o.Output)
	counts := map[string]int{}
	for _, c := range readLines[LabelCount](t, o.Counts) {
		if _, dup := counts[c.Label]; dup {
			t.Errorf("label %q counted twice", c.Label)
		}
		counts[c.Label] = c.Count
	}
	slices.SortFunc(results, func(a, b ImageResult) int { return strings.Compare(a.Path, b.Path) })
	return results, counts
}

// direct is the reference: the same model and detector called without Beam.
func direct(t *testing.T, modelPath, detector, path string, faces bool) *serve.Result {
	t.Helper()
	m, err := serve.LoadModel("", modelPath, 1)
	if err != nil {
		t.Fatal(err)
	}
	det, err := detect.NewFinder(detector, false, face.Options{}, detect.FaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := vision.DecodeFile(path, 40_000_000)
	if err != nil {
		t.Fatal(err)
	}
	f, err := serve.NewFrame(img, m.Preprocess.Channels)
	if err != nil {
		t.Fatal(err)
	}
	res, err := serve.Predict(context.Background(), m, det, f, serve.FrameOptions{Faces: faces})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// check compares the pipeline's lines with the direct computation and the
// counts with the labels of the lines.
func check(t *testing.T, modelPath, detector string, faces bool, good []string, bad string, results []ImageResult, counts map[string]int) {
	t.Helper()
	if len(results) != len(good)+1 {
		t.Fatalf("%d result lines, want %d (one per image): %+v", len(results), len(good)+1, results)
	}
	want := map[string]int{}
	for _, r := range results {
		if r.Path == bad {
			if r.Error == "" || !strings.Contains(r.Error, bad) || len(r.Faces) != 0 {
				t.Errorf("line for the file that is no image: %+v, want an error naming it", r)
			}
			continue
		}
		if r.Error != "" {
			t.Errorf("%s: %s", r.Path, r.Error)
			continue
		}
		ref := direct(t, modelPath, detector, r.Path, faces)
		if r.Width != ref.Width || r.Height != ref.Height || len(r.Faces) != len(ref.Faces) {
			t.Errorf("%s: %dx%d with %d faces, direct call %dx%d with %d", r.Path, r.Width, r.Height, len(r.Faces), ref.Width, ref.Height, len(ref.Faces))
			continue
		}
		for i, p := range r.Faces {
			q := ref.Faces[i]
			var sum, maxDiff float64
			for k := range p.Probs {
				sum += float64(p.Probs[k].P)
				maxDiff = max(maxDiff, math.Abs(float64(p.Probs[k].P-q.Probs[k].P)))
			}
			t.Logf("%s face %d: %s %.3f at %+v (max prob diff vs direct %.2g)", filepath.Base(r.Path), i, p.Label, p.Confidence, p.Box, maxDiff)
			if p.Box != q.Box || p.Label != q.Label || maxDiff > 1e-5 || math.Abs(sum-1) > 1e-4 {
				t.Errorf("%s face %d: %+v, direct call %+v (prob sum %v)", r.Path, i, p, q, sum)
			}
			want[p.Label]++
		}
	}
	if len(want) == 0 {
		t.Error("no face or image was classified")
	}
	if !maps(counts, want) {
		t.Errorf("counts %v, want %v (the labels of the lines)", counts, want)
	}
	if n := modelLoads.Load(); n != 1 {
		t.Errorf("model loaded %d times in this worker, want once", n)
	}
}

func maps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestBatchEmotionGlob: a glob over the face photos, faces detected (by
// BlazeFace, then by pigo) and classified by the built-in emotion model
// (checked against its file).
func TestBatchEmotionGlob(t *testing.T) {
	for _, detector := range []string{detect.DetectorAuto, detect.DetectorPigo} {
		t.Run(detector, func(t *testing.T) {
			resetWorkers()
			dir := t.TempDir()
			good, bad := photos(t, dir)
			o := Options{Input: filepath.Join(dir, "*.*"), Model: "emotion", Faces: true, Detector: detector, MaxPixels: 40_000_000, MaxBytes: 64 << 20,
				Output: filepath.Join(dir, "out", "labels.jsonl"), Counts: filepath.Join(dir, "out", "counts.jsonl")}
			results, counts := run(t, o)
			check(t, emotionModel, detector, true, good, bad, results, counts)
			for _, r := range results {
				if r.Path != bad && len(r.Faces) != 1 {
					t.Errorf("%s: %d faces found in a portrait of one", r.Path, len(r.Faces))
				}
			}
		})
	}
}

// TestBatchGestureList: a list file (with a comment and a blank line),
// whole images classified by the gesture model's file.
func TestBatchGestureList(t *testing.T) {
	resetWorkers()
	dir := t.TempDir()
	good, bad := photos(t, dir)
	list := filepath.Join(dir, "list.txt")
	text := "# the photos\n" + strings.Join(good, "\n") + "\n\n" + bad + "\n"
	if err := os.WriteFile(list, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{List: list, Model: gestureModel, Faces: false, MaxPixels: 40_000_000, MaxBytes: 64 << 20,
		Output: filepath.Join(dir, "labels.jsonl"), Counts: filepath.Join(dir, "counts.jsonl")}
	results, counts := run(t, o)
	check(t, gestureModel, "", false, good, bad, results, counts)
}

func TestBatchOptions(t *testing.T) {
	ok := Options{Input: "*.jpg", Model: "m.residual", MaxPixels: 1, MaxBytes: 1, Output: "o", Counts: "c"}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"both inputs", func(o *Options) { o.List = "l.txt" }, "exactly one"},
		{"no input", func(o *Options) { o.Input = "" }, "exactly one"},
		{"no model", func(o *Options) { o.Model = "" }, "--model"},
		{"no counts", func(o *Options) { o.Counts = "" }, "--counts"},
		{"zero max-pixels", func(o *Options) { o.MaxPixels = 0 }, "--max-pixels 0"},
		{"negative min-face", func(o *Options) { o.MinFace = -1 }, "--min-face -1"},
		{"unknown detector", func(o *Options) { o.Detector = "haar" }, `"haar"`},
	} {
		o := ok
		tc.edit(&o)
		err := o.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if err := ok.validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

// resetWorkers forgets the loaded models so that each test counts its own
// loads.
func resetWorkers() {
	workersMu.Lock()
	defer workersMu.Unlock()
	clear(workers)
	modelLoads.Store(0)
}
