package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/residual-go/residual/detect"
	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/models"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

func init() {
	register.DoFn4x1[context.Context, string, func(string), func(string), error](&classifyFn{})
	register.Emitter1[string]()
	register.Function1x1(metadataPath)
	register.Function1x1(cleanLine)
	register.Function2x1(formatCount)
}

// Options describe one batch job.
type Options struct {
	// Input is a glob of image files (local, or any filesystem Beam has
	// registered, e.g. gs://bucket/photos/*.jpg). Exactly one of Input and
	// List is set.
	Input string
	// List is a text file with one image path per line (blank lines and
	// lines starting with # are skipped).
	List string
	// Model is the model to classify with: the name of a built-in model
	// ("emotion", "gesture"), or a model file (local path, or a path on a
	// Beam filesystem: it is copied to the worker once).
	Model string
	// Faces detects faces and classifies each; otherwise the whole image
	// is classified (gesture models).
	Faces bool
	// Detector names the face detector as serve's --detector does
	// (detect.Resolve; photos: "blazeface" is BlazeFace's full range).
	Detector string
	// MinFace is, with the pigo detector, the smallest face side searched
	// in pixels (0: its default).
	MinFace int
	// MaxPixels bounds an image's width*height, checked from its header.
	MaxPixels int
	// MaxBytes bounds an image file's size.
	MaxBytes int64
	// Output receives one JSON line per image (ImageResult).
	Output string
	// Counts receives one JSON line per class: {"label":..., "count":...},
	// the number of faces (or images, without Faces) given that label.
	Counts string
}

func (o Options) validate() error {
	if (o.Input == "") == (o.List == "") {
		return fmt.Errorf("give exactly one of --input (a glob) and --list (a file of paths); got --input %q --list %q", o.Input, o.List)
	}
	if o.Model == "" {
		return fmt.Errorf("--model is empty: give a built-in model (%s) or a model file", strings.Join(models.Names(), ", "))
	}
	if o.Output == "" || o.Counts == "" {
		return fmt.Errorf("--output %q and --counts %q must both be set", o.Output, o.Counts)
	}
	if _, err := detect.Resolve(o.Detector, false); err != nil {
		return fmt.Errorf("--detector: %v", err)
	}
	if o.MinFace < 0 || o.MaxPixels <= 0 || o.MaxBytes <= 0 {
		return fmt.Errorf("--min-face %d must be >= 0, --max-pixels %d and --max-bytes %d positive", o.MinFace, o.MaxPixels, o.MaxBytes)
	}
	return nil
}

// Build adds the job to the pipeline's root scope:
//
//	paths (glob or list file) -> classify (reads, decodes, detects, classifies)
//	  -> JSON lines to Output
//	  -> labels -> count per label -> JSON lines to Counts
func Build(s beam.Scope, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	var paths beam.PCollection
	if o.Input != "" {
		paths = beam.ParDo(s, metadataPath, fileio.MatchFiles(s, o.Input, fileio.MatchEmptyDisallow()))
	} else {
		paths = beam.ParDo(s, cleanLine, textio.Read(s, o.List))
	}
	fn := &classifyFn{Model: o.Model, Faces: o.Faces, Detector: o.Detector, MinFace: o.MinFace, MaxPixels: o.MaxPixels, MaxBytes: o.MaxBytes}
	lines, labels := beam.ParDo2(s, fn, beam.Reshuffle(s, paths))
	textio.Write(s, o.Output, lines)
	textio.Write(s, o.Counts, beam.ParDo(s, formatCount, stats.Count(s, labels)))
	return nil
}

func metadataPath(m fileio.FileMetadata) string { return m.Path }

// cleanLine trims a line of the list file; blank lines and comments
// become "" and are skipped by classifyFn.
func cleanLine(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "#") {
		return ""
	}
	return line
}

// LabelCount is one line of the counts output.
type LabelCount struct {
	Label string `json:"label"`
	Count int    `json:"count"`
}

func formatCount(label string, n int) string {
	b, _ := json.Marshal(LabelCount{label, n}) // strings and ints always marshal
	return string(b)
}

// ImageResult is one line of the JSON output: the image's predictions, or
// the error that stopped it (the job goes on with the other images).
type ImageResult struct {
	Path   string             `json:"path"`
	Model  string             `json:"model,omitempty"`
	Width  int                `json:"width,omitempty"`
	Height int                `json:"height,omitempty"`
	Faces  []serve.Prediction `json:"faces"` // one per face (or the whole image without --faces)
	Error  string             `json:"error,omitempty"`
}

// classifyFn reads each image, detects faces and classifies them. The
// model and detector are loaded once per worker process (Setup through
// a process-wide cache), not per element or per bundle.
type classifyFn struct {
	Model     string
	Faces     bool
	Detector  string
	MinFace   int
	MaxPixels int
	MaxBytes  int64

	w *worker
}

func (f *classifyFn) Setup(ctx context.Context) error {
	w, err := loadWorker(ctx, f.Model, f.Detector, face.Options{MinSize: f.MinFace})
	if err != nil {
		return err
	}
	f.w = w
	return nil
}

func (f *classifyFn) ProcessElement(ctx context.Context, path string, emitLine, emitLabel func(string)) error {
	if path == "" {
		return nil
	}
	res := ImageResult{Path: path, Faces: []serve.Prediction{}}
	if r, err := f.classify(ctx, path); err != nil {
		res.Error = err.Error()
	} else {
		res.Model, res.Width, res.Height, res.Faces = r.Model, r.Width, r.Height, r.Faces
		for _, p := range r.Faces {
			emitLabel(p.Label)
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("%s: encoding the result: %v", path, err)
	}
	emitLine(string(b))
	return nil
}

func (f *classifyFn) classify(ctx context.Context, path string) (*serve.Result, error) {
	data, err := readFile(ctx, path, f.MaxBytes)
	if err != nil {
		return nil, err
	}
	img, err := vision.DecodeBytes(data, f.MaxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	frame, err := serve.NewFrame(img, f.w.model.Preprocess.Channels)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	res, err := serve.Predict(ctx, f.w.model, f.w.detector, frame, serve.FrameOptions{Faces: f.Faces})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return res, nil
}

// readFile reads a whole file from any Beam filesystem, refusing files
// larger than limit bytes.
func readFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than the %d-byte limit (--max-bytes)", path, limit)
	}
	return data, nil
}

// worker is what one worker process loads once: the model (a pool of one
// network per CPU, safe for concurrent bundles) and the face detector
// (safe for concurrent use too).
type worker struct {
	model    *serve.Model
	detector face.Finder
}

var (
	workersMu sync.Mutex
	workers   = map[string]*worker{}
	// modelLoads counts the model files loaded in this process (the test
	// checks it is one per model, whatever the number of images).
	modelLoads atomic.Int64
)

func loadWorker(ctx context.Context, modelPath, detector string, pigo face.Options) (*worker, error) {
	key := fmt.Sprintf("%s|%s|%+v", modelPath, detector, pigo)
	workersMu.Lock()
	defer workersMu.Unlock()
	if w, ok := workers[key]; ok {
		return w, nil
	}
	m, err := loadModel(ctx, modelPath)
	if err != nil {
		return nil, fmt.Errorf("--model %s: %v", modelPath, err)
	}
	d, err := detect.NewFinder(detector, false, pigo, detect.FaceOptions{})
	if err != nil {
		return nil, err
	}
	modelLoads.Add(1)
	w := &worker{model: m, detector: d}
	workers[key] = w
	return w, nil
}

// loadModel loads a built-in model by name ("emotion", "gesture": the
// worker binary carries it) or a model file, with one network per CPU.
func loadModel(ctx context.Context, spec string) (*serve.Model, error) {
	if slices.Contains(models.Names(), spec) {
		net, meta, b, err := models.Load(spec)
		if err != nil {
			return nil, err
		}
		return serve.NewModel(spec, net, meta.Classes, meta.Preprocess, "built-in "+b.File, 0)
	}
	local, cleanup, err := localCopy(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	m, err := serve.LoadModel("", local, 0)
	if err != nil {
		return nil, err
	}
	m.Source = spec
	return m, nil
}

// localCopy returns a local path for a model file: the path itself when it
// is local, else a temporary copy read through Beam's filesystem (gs://,
// s3://, ...), removed by cleanup once loaded.
func localCopy(ctx context.Context, path string) (local string, cleanup func(), err error) {
	if !strings.Contains(path, "://") {
		return path, func() {}, nil
	}
	data, err := readFile(ctx, path, 2<<30)
	if err != nil {
		return "", nil, fmt.Errorf("--model: %v", err)
	}
	dir, err := os.MkdirTemp("", "residual-batch-model-")
	if err != nil {
		return "", nil, err
	}
	local = filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(local, data, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return local, func() { os.RemoveAll(dir) }, nil
}
