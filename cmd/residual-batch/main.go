// Command residual-batch labels a large image collection with a residual
// model on Apache Beam: it reads image paths (a glob or a list file),
// detects the faces of each image and classifies them, and writes one JSON
// line per image plus the number of faces per class.
//
//	residual-batch --input 'photos/*.jpg' --output labels.jsonl --counts counts.jsonl
//	residual-batch --list paths.txt --model gesture --faces=false
//	residual-batch --input 'photos/*.jpg' --model my-model.residual --detector pigo
//
// It runs on Beam's in-process Prism runner by default; Beam's --runner
// flag sends the same pipeline to Flink, Spark or Dataflow (see
// docs/DEPLOY.md). It is a module of its own so that Beam's dependencies
// stay out of the residual binary and of the root module.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/residual-go/residual/detect"
)

func main() {
	var o Options
	flag.StringVar(&o.Input, "input", "", "glob of the images to label (local or a Beam filesystem such as gs://); or use --list")
	flag.StringVar(&o.List, "list", "", "text file with one image path per line (# comments and blank lines skipped); or use --input")
	flag.StringVar(&o.Model, "model", "emotion", "model to classify with: a built-in one (emotion, gesture; see residual models) or a model file (local, or on a Beam filesystem such as gs:// for remote runners)")
	flag.BoolVar(&o.Faces, "faces", true, "detect faces and classify each (false: classify the whole image, e.g. for gesture models)")
	flag.StringVar(&o.Detector, "detector", detect.DetectorAuto, "face detector: blazeface (BlazeFace full range), blazeface-short or pigo")
	flag.IntVar(&o.MinFace, "min-face", 0, "with --detector pigo: smallest face side searched, in pixels (0: its default)")
	flag.IntVar(&o.MaxPixels, "max-pixels", 40_000_000, "largest image (width*height) decoded; larger ones get an error line")
	flag.Int64Var(&o.MaxBytes, "max-bytes", 64<<20, "largest image file read, in bytes; larger ones get an error line")
	flag.StringVar(&o.Output, "output", "labels.jsonl", "JSON lines, one per image: path, size, faces with box, label, confidence and probabilities, or error")
	flag.StringVar(&o.Counts, "counts", "counts.jsonl", `JSON lines, one per class: {"label":...,"count":...}`)
	flag.Parse()
	beam.Init() // on distributed runners, the workers start here

	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, o); err != nil {
		fmt.Fprintln(os.Stderr, "residual-batch:", err)
		os.Exit(2)
	}
	if err := beamx.Run(context.Background(), p); err != nil {
		fmt.Fprintln(os.Stderr, "residual-batch:", err)
		os.Exit(1)
	}
}
