package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/inference"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

type predictOptions struct {
	model, tta string
	jsonOut    bool
	batch      int
	// --faces: detect faces and classify each, writing annotated copies.
	faces bool
	// --hands: detect hands (palm detector) and classify each.
	hands       bool
	annotateDir string
	minFace     int
	detector    string
	precision   string // --precision
	bf16        bool   // --precision resolved on this CPU (useBF16)
}

// prediction is one image's result, as printed by --json.
type prediction struct {
	File        string       `json:"file"`
	Label       string       `json:"label,omitempty"`
	Probability float64      `json:"probability,omitempty"`
	Scores      []classScore `json:"scores,omitempty"`
	Error       string       `json:"error,omitempty"`
}

type classScore struct {
	Class       string  `json:"class"`
	Probability float64 `json:"probability"`
}

func newPredictCmd() *cobra.Command {
	var o predictOptions
	cmd := &cobra.Command{
		Use:   "predict --model FILE IMAGE_OR_DIR...",
		Short: "Classify images with a trained model",
		Long: `predict classifies PNG and JPEG images (folders are searched recursively)
with a model file, using the model's own preprocessing, and prints for each
image the predicted label and the probability of every class, as text or
with --json as a list of {"file", "label", "probability", "scores":
[{"class", "probability"}...]} objects. An unreadable image gets an "error"
entry; the command then fails after printing the others.

With --faces, faces are detected in each photo (BlazeFace full range on
this project's engine by default; --detector pigo for the cascade) and
each is classified through the same crop and preprocessing as the server;
an annotated copy of each photo (boxes, labels, class bars) is written to
--annotate-dir and the JSON holds every face's box and class probabilities.`,
		Example: `  residual predict --model runs/fer-r20/best.residual face.jpg photos/
  residual predict --model best.residual --tta flip --json face.png
  residual predict --model models/emotion-fer2013.residual --faces --json group-photo.jpg`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPredict(cmd, o, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model file (required)")
	f.StringVar(&o.tta, "tta", "none", "test-time augmentation: "+strings.Join(inference.TTAModes, "|"))
	f.BoolVar(&o.jsonOut, "json", false, "print JSON instead of text")
	countVar(f, &o.batch, "batch", 32, 1, "images per forward pass")
	addPrecisionFlag(f, &o.precision)
	f.BoolVar(&o.faces, "faces", false, "detect faces and classify each one; write annotated copies")
	f.BoolVar(&o.hands, "hands", false, "detect hands (palm detector) and classify each upright hand box, e.g. with the gesture model; write annotated copies")
	f.StringVar(&o.annotateDir, "annotate-dir", "annotated", "with --faces: folder for the annotated copies (<name>-faces.png)")
	f.StringVar(&o.detector, "detector", "blazeface", "with --faces: face detector, blazeface (= blazeface-full for photos), blazeface-full, blazeface-short or pigo")
	countVar(f, &o.minFace, "min-face", 48, 1, "with --faces --detector pigo: smallest face side searched, in pixels")
	return cmd
}

// imageFiles expands the arguments: files are kept as given, folders are
// searched recursively for image files (sorted).
func imageFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && data.IsImageFile(p) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("predict: no .png/.jpg/.jpeg files in %s", a)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

func runPredict(cmd *cobra.Command, o predictOptions, args []string) error {
	if o.model == "" {
		return fmt.Errorf("predict: --model is required")
	}
	if o.batch < 1 {
		return fmt.Errorf("predict: --batch %d, want at least 1", o.batch)
	}
	if !slices.Contains(inference.TTAModes, o.tta) {
		return fmt.Errorf("predict: --tta %q, want one of %s", o.tta, strings.Join(inference.TTAModes, ", "))
	}
	bf16, err := useBF16("predict", o.precision, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	o.bf16 = bf16
	files, err := imageFiles(args)
	if err != nil {
		return err
	}
	if o.faces || o.hands {
		return runPredictFaces(cmd, o, files)
	}
	pred, meta, err := loadPredictor("predict", o.model, o.tta, bf16)
	if err != nil {
		return err
	}
	pre, k := meta.Preprocess, len(meta.Classes)
	size := pre.Size()
	var (
		results []prediction
		scratch vision.Scratch
		failed  int
	)
	x := tensor.New(o.batch, pre.Height, pre.Width, pre.Channels)
	probs := make([]float32, o.batch*k)
	for start := 0; start < len(files); start += o.batch {
		// Preprocess the batch; unreadable files get an error entry.
		var batch []int // indices into results
		for _, f := range files[start:min(start+o.batch, len(files))] {
			results = append(results, prediction{File: f})
			img, err := vision.DecodeFile(f, 0)
			if err == nil {
				err = pre.FromImage(x.Data[len(batch)*size:(len(batch)+1)*size], img, &scratch)
			}
			if err != nil {
				results[len(results)-1].Error = err.Error()
				failed++
				continue
			}
			batch = append(batch, len(results)-1)
		}
		if len(batch) == 0 {
			continue
		}
		xb := tensor.FromData(x.Data[:len(batch)*size], len(batch), pre.Height, pre.Width, pre.Channels)
		if err := pred.Probs(probs, xb); err != nil {
			return err
		}
		for j, r := range batch {
			p := probs[j*k : (j+1)*k]
			best := 0
			for c := range p {
				if p[c] > p[best] {
					best = c
				}
				results[r].Scores = append(results[r].Scores, classScore{meta.Classes[c], float64(p[c])})
			}
			results[r].Label, results[r].Probability = meta.Classes[best], float64(p[best])
		}
	}

	w := cmd.OutOrStdout()
	if o.jsonOut {
		if _, err := w.Write(mustJSON(results)); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.Error != "" {
				fmt.Fprintf(w, "%s: error: %s\n", r.File, r.Error)
				continue
			}
			var sb strings.Builder
			for _, s := range r.Scores {
				fmt.Fprintf(&sb, "  %s %.1f%%", s.Class, 100*s.Probability)
			}
			fmt.Fprintf(w, "%s: %s (%.1f%%)  |%s\n", r.File, r.Label, 100*r.Probability, sb.String())
		}
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d images could not be read", failed, len(files))
	}
	return nil
}
