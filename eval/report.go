package eval

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File names that Report.WriteDir writes.
const (
	ReportTextFile        = "report.txt"             // classification report + confusion matrix
	MetricsJSONFile       = "metrics.json"           // Metrics.WriteJSON
	ConfusionPNGFile      = "confusion.png"          // WriteConfusionPNG
	PerClassPNGFile       = "per_class_accuracy.png" // WritePerClassAccuracyPNG
	TrainingCurvesPNGFile = "training_curves.png"    // WriteTrainingCurvesPNG, only with Curves
)

// Report bundles the metrics of one evaluation with how to present them.
type Report struct {
	Metrics *Metrics
	// Title names the evaluation (e.g. "FER2013 PublicTest"); it heads
	// report.txt and the plot titles. Default: none.
	Title string
	// Digits is the number of decimals of the classification report;
	// default (0) is 2, sklearn's default.
	Digits int
	// NormalizeConfusion shows row percentages instead of counts in the
	// confusion heat map (report.txt always has both). Default false.
	NormalizeConfusion bool
	// Curves is the training history; when not empty WriteDir also writes
	// training_curves.png. Default: none.
	Curves []EpochRecord
}

func (r *Report) digits() int {
	if r.Digits == 0 {
		return 2
	}
	return r.Digits
}

func (r *Report) title(what string) string {
	if r.Title == "" {
		return what
	}
	return r.Title + ": " + what
}

// Text is the content of report.txt: the classification report, the top-k
// accuracies when known, and the confusion matrix as counts and as row
// percentages.
func (r *Report) Text() (string, error) {
	if r.Metrics == nil {
		return "", fmt.Errorf("eval: report has no metrics")
	}
	m := r.Metrics
	var b strings.Builder
	b.WriteString(r.title("classification report") + "\n\n")
	b.WriteString(m.ClassificationReport(r.digits()))
	if len(m.TopK) > 0 {
		b.WriteString("\nTop-k accuracy:")
		for i, t := range m.TopK {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " top-%d %s", t.K, strconv.FormatFloat(t.Accuracy, 'f', max(r.digits(), 4), 64))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n" + m.ConfusionMatrixText(false))
	b.WriteString("\n" + m.ConfusionMatrixText(true))
	return b.String(), nil
}

// WriteDir creates dir if needed and writes report.txt, metrics.json,
// confusion.png, per_class_accuracy.png and, when r.Curves is not empty,
// training_curves.png into it. It stops at the first error, which names
// the file.
func (r *Report) WriteDir(dir string) error {
	text, err := r.Text()
	if err != nil {
		return err
	}
	m := r.Metrics
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	steps := []struct {
		name  string
		write func(io.Writer) error
	}{
		{ReportTextFile, func(w io.Writer) error {
			_, err := io.WriteString(w, text)
			return err
		}},
		{MetricsJSONFile, m.WriteJSON},
		{ConfusionPNGFile, func(w io.Writer) error {
			opts := ConfusionPlotOptions{Normalize: r.NormalizeConfusion}
			opts.Title = r.title(opts.withDefaults().Title)
			return WriteConfusionPNG(w, m.Confusion, m.ClassNames, opts)
		}},
		{PerClassPNGFile, func(w io.Writer) error {
			return WritePerClassAccuracyPNG(w, m.ClassNames, m.PerClassAccuracy(), BarPlotOptions{
				Title: r.title("per-class accuracy"), ShowOverall: true, Overall: m.Accuracy})
		}},
	}
	if len(r.Curves) > 0 {
		steps = append(steps, struct {
			name  string
			write func(io.Writer) error
		}{TrainingCurvesPNGFile, func(w io.Writer) error {
			title := r.Title
			if title == "" {
				title = "Training"
			}
			return WriteTrainingCurvesPNG(w, r.Curves, CurvePlotOptions{Title: title})
		}})
	}
	for _, s := range steps {
		if err := saveFile(filepath.Join(dir, s.name), s.write); err != nil {
			return err
		}
	}
	return nil
}
