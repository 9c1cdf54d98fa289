package main

import (
	"context"
	"fmt"
	"github.com/residual-go/residual/detect"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// faceResult is one photo's result with --faces, as printed by --json.
type faceResult struct {
	File      string        `json:"file"`
	Annotated string        `json:"annotated,omitempty"`
	Result    *serve.Result `json:"result,omitempty"`
	Error     string        `json:"error,omitempty"`
}

// runPredictFaces detects the faces of each photo, classifies each face
// through the server's pipeline (the same crop and preprocessing as
// training) and writes an annotated copy of the photo into o.annotateDir.
func runPredictFaces(cmd *cobra.Command, o predictOptions, files []string) error {
	m, err := serve.LoadModel(strings.TrimSuffix(filepath.Base(o.model), filepath.Ext(o.model)), o.model, 1)
	if err != nil {
		return err
	}
	m.SetBF16(o.bf16)
	det, err := detect.NewFinder(o.detector, false, face.Options{MinSize: o.minFace}, detect.FaceOptions{})
	if err != nil {
		return fmt.Errorf("predict: --detector: %w", err)
	}
	fopt := serve.FrameOptions{Faces: o.faces}
	if o.hands {
		if fopt.Hands, err = detect.NewHandDetector(detect.HandOptions{Tiles: true}); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(o.annotateDir, 0o755); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	w := cmd.OutOrStdout()
	var results []faceResult
	failed := 0
	for _, file := range files {
		r := faceResult{File: file}
		r.Result, r.Annotated, err = predictFacesInFile(m, det, fopt, file, o.annotateDir)
		if err != nil {
			r.Error = err.Error()
			failed++
		}
		results = append(results, r)
		if o.jsonOut {
			continue
		}
		if r.Error != "" {
			fmt.Fprintf(w, "%s: error: %s\n", file, r.Error)
			continue
		}
		fmt.Fprintf(w, "%s: %d face(s), annotated copy %s\n", file, len(r.Result.Faces), r.Annotated)
		for i, f := range r.Result.Faces {
			fmt.Fprintf(w, "  face %d at (%d,%d) %dx%d: %s (%.1f%%)\n", i+1, f.Box.X, f.Box.Y, f.Box.W, f.Box.H, f.Label, 100*f.Confidence)
		}
		for i, f := range r.Result.Hands {
			fmt.Fprintf(w, "  hand %d at (%d,%d) %dx%d: %s (%.1f%%)\n", i+1, f.Box.X, f.Box.Y, f.Box.W, f.Box.H, f.Label, 100*f.Confidence)
		}
	}
	if o.jsonOut {
		if _, err := w.Write(mustJSON(results)); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d images could not be processed", failed, len(files))
	}
	return nil
}

func predictFacesInFile(m *serve.Model, det face.Finder, fopt serve.FrameOptions, file, outDir string) (*serve.Result, string, error) {
	img, err := vision.DecodeFile(file, vision.DefaultMaxPixels)
	if err != nil {
		return nil, "", err
	}
	frame, err := serve.NewFrame(img, m.Preprocess.Channels)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", file, err)
	}
	res, err := serve.Predict(context.Background(), m, det, frame, fopt)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", file, err)
	}
	out := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))+"-faces.png")
	f, err := os.Create(out)
	if err != nil {
		return nil, "", fmt.Errorf("predict: %w", err)
	}
	if err := png.Encode(f, serve.Annotate(img, res)); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("predict: writing %s: %w", out, err)
	}
	return res, out, f.Close()
}
