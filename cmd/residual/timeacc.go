package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/eval"
	"github.com/residual-go/residual/train"
)

func newTimeAccCmd() *cobra.Command {
	var (
		targets []float64
		pngOut  string
		title   string
		names   []string
	)
	cmd := &cobra.Command{
		Use:   "time-to-accuracy RUN [RUN...]",
		Short: "Tabulate and plot validation accuracy against wall-clock training hours",
		Long: `time-to-accuracy reads the metrics.csv of training runs (a run directory or the
file itself) and prints, as Markdown, each run's accuracy after every epoch against
the wall-clock hours of training so far (the sum of the epochs' seconds: training
and validation, as measured on the machine that ran them), then when each run first
reached each --targets accuracy. --png draws the curves of every run in one plot.`,
		Example: `  residual time-to-accuracy runs/fer-r18s-05 --targets 0.65,0.70,0.73 --png docs/results/fer2013/time_to_accuracy.png
  residual time-to-accuracy runs/fer-8h runs/fer-1h --name "8-hour recipe" --name "1-hour recipe"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(names) != 0 && len(names) != len(args) {
				return fmt.Errorf("time-to-accuracy: %d --name for %d runs, want one per run", len(names), len(args))
			}
			for _, t := range targets {
				if !(t > 0 && t <= 1) {
					return fmt.Errorf("time-to-accuracy: --targets %g, want fractions in (0,1] (0.7 for 70%%)", t)
				}
			}
			var runs [][]eval.TimePoint
			for _, a := range args {
				path := a
				if st, err := os.Stat(a); err == nil && st.IsDir() {
					path = filepath.Join(a, train.MetricsCSVFile)
				}
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				pts, err := eval.ReadTimeAccuracy(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				runs = append(runs, pts)
				if len(names) == 0 {
					names = append(names, strings.TrimSuffix(a, string(filepath.Separator)))
				}
			}
			w := cmd.OutOrStdout()
			for i, pts := range runs {
				fmt.Fprintf(w, "%s\n\n", names[i])
				if err := eval.WriteTimeTable(w, pts); err != nil {
					return err
				}
				fmt.Fprintln(w)
			}
			if len(targets) > 0 {
				if err := eval.WriteReachTable(w, names, runs, targets); err != nil {
					return err
				}
			}
			if pngOut != "" {
				f, err := os.Create(pngOut)
				if err != nil {
					return err
				}
				if err := eval.WriteTimeToAccuracyPNG(f, names, runs, eval.TimePlotOptions{Title: title, Targets: targets}); err != nil {
					f.Close()
					os.Remove(pngOut)
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(w, "\nplot: %s\n", pngOut)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64SliceVar(&targets, "targets", nil, "accuracies (fractions) to report the first time of, e.g. 0.65,0.70,0.73")
	f.StringVar(&pngOut, "png", "", "write the accuracy-against-hours plot of every run to this PNG file")
	f.StringVar(&title, "title", "", "plot title (default \"Accuracy against training time\")")
	f.StringArrayVar(&names, "name", nil, "the name of a run for the tables and the legend, once per run in order (default: the paths)")
	return cmd
}
