package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/eval"
	"github.com/residual-go/residual/inference"
	"github.com/residual-go/residual/train"
)

type evalOptions struct {
	model, data, format, split, tta, out string
	batch, digits                        int
	jsonOut, skipBad                     bool
	precision                            string // --precision
}

func newEvalCmd() *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval --model FILE --data PATH [flags]",
		Short: "Evaluate a trained model on a dataset split (sklearn-style report)",
		Long: `eval runs a model file over one split of a dataset and prints the
classification report (scikit-learn's layout), the top-k accuracies and the
confusion matrix. With --out it also writes report.txt, metrics.json,
confusion.png and per_class_accuracy.png there; with --json it prints the
metrics as JSON instead of text.

Splits: for FER2013 (CSV or folders) train, publictest, privatetest, all, and
val (= publictest, the default); for other layouts val (default) and train
rebuild the split the model was trained with, all is everything.
Images go through the model's own preprocessing (vision.Preprocess).`,
		Example: `  residual eval --model runs/fer-r20/best.residual --data data/fer2013 --split privatetest --tta flip
  residual eval --model best.residual --data fer2013.csv --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runEval(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model file (required)")
	f.StringVar(&o.data, "data", "", "dataset path (required)")
	f.StringVar(&o.format, "format", "auto", "data layout: "+strings.Join(train.Formats, "|"))
	f.StringVar(&o.split, "split", "val", "split to evaluate: "+strings.Join(train.SplitNames, "|"))
	f.StringVar(&o.tta, "tta", "none", "test-time augmentation: "+strings.Join(inference.TTAModes, "|"))
	f.StringVar(&o.out, "out", "", "also write the report files into this directory")
	countVar(f, &o.batch, "batch", 64, 1, "batch size")
	countVar(f, &o.digits, "digits", 4, 0, "decimals in the classification report (0-12)")
	f.BoolVar(&o.jsonOut, "json", false, "print the metrics as JSON (metrics.json layout plus loss) instead of text")
	f.BoolVar(&o.skipBad, "skip-bad", false, "skip unreadable images and bad CSV rows instead of failing")
	addPrecisionFlag(f, &o.precision)
	return cmd
}

func runEval(cmd *cobra.Command, o evalOptions) error {
	switch {
	case o.model == "":
		return fmt.Errorf("eval: --model is required")
	case o.data == "":
		return fmt.Errorf("eval: --data is required")
	case o.batch < 1:
		return fmt.Errorf("eval: --batch %d, want at least 1", o.batch)
	case o.digits > 12:
		return fmt.Errorf("eval: --digits %d, want 0 to 12", o.digits)
	case !slices.Contains(inference.TTAModes, o.tta):
		return fmt.Errorf("eval: --tta %q, want one of %s", o.tta, strings.Join(inference.TTAModes, ", "))
	case !slices.Contains(train.SplitNames, o.split):
		return fmt.Errorf("eval: --split %q, want one of %s", o.split, strings.Join(train.SplitNames, ", "))
	}
	bf16, err := useBF16("eval", o.precision, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	pred, meta, err := loadPredictor("eval", o.model, o.tta, bf16)
	if err != nil {
		return err
	}
	ds, skipped, err := train.LoadSplit(o.data, o.format, o.split, meta, o.skipBad)
	if err != nil {
		return err
	}

	loader, err := data.NewLoader(ds, data.LoaderOptions{BatchSize: o.batch, Preprocess: meta.Preprocess})
	if err != nil {
		return err
	}
	defer loader.Close()
	ev, err := inference.Evaluate(pred, loader, meta.Classes)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s %s (%s, TTA %s)", meta.Task, o.split, o.model, pred.Mode)
	rep := eval.Report{Metrics: ev.Metrics, Title: title, Digits: o.digits}
	if o.out != "" {
		if err := rep.WriteDir(o.out); err != nil {
			return err
		}
	}
	w := cmd.OutOrStdout()
	if o.jsonOut {
		out := struct {
			Model string  `json:"model"`
			Split string  `json:"split"`
			TTA   string  `json:"tta"`
			Loss  float64 `json:"loss"`
			// Skipped counts the rows or images --skip-bad skipped.
			Skipped int `json:"skipped"`
			*eval.Metrics
		}{o.model, o.split, pred.Mode, ev.Loss, skipped.Skipped, ev.Metrics}
		_, err := w.Write(mustJSON(out))
		return err
	}
	text, err := rep.Text()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n%d images, mean cross-entropy %.4f\n", text, ds.Len(), ev.Loss)
	if o.skipBad {
		fmt.Fprintf(w, "--skip-bad: skipped %d bad rows or images of %s%s\n", skipped.Skipped, o.data, reasons(skipped))
	}
	if o.out != "" {
		fmt.Fprintf(w, "\nreport files: %s\n", o.out)
	}
	return nil
}

// reasons lists a report's first skip reasons after a colon ("" when none).
func reasons(r data.Report) string {
	if len(r.Reasons) == 0 {
		return ""
	}
	more := ""
	if r.Skipped > len(r.Reasons) {
		more = fmt.Sprintf("; and %d more", r.Skipped-len(r.Reasons))
	}
	return ": " + strings.Join(r.Reasons, "; ") + more
}
