package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// TimePoint is one epoch of a training run on the wall clock.
type TimePoint struct {
	Epoch  int
	Hours  float64 // wall-clock hours from the start of training to the end of this epoch
	ValAcc float64 // validation accuracy after this epoch, a fraction
}

// ReadTimeAccuracy reads a run's metrics.csv (a header naming at least
// the columns epoch, val_acc and seconds, the per-epoch wall time of
// training and validation; other columns are ignored) and returns one
// point per epoch, with the hours summed over the epochs. Errors name the
// line and the column.
func ReadTimeAccuracy(r io.Reader) ([]TimePoint, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("eval: metrics: reading the header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, want := range []string{"epoch", "val_acc", "seconds"} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("eval: metrics: header %q lacks the column %s", strings.Join(header, ","), want)
		}
	}
	var points []TimePoint
	var secs float64
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("eval: metrics: %w", err)
		}
		line, _ := cr.FieldPos(0)
		field := func(name string) (float64, error) {
			i := col[name]
			if i >= len(rec) {
				return 0, fmt.Errorf("eval: metrics line %d: no %s field (%d fields)", line, name, len(rec))
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("eval: metrics line %d: %s %q is not a finite number", line, name, rec[i])
			}
			return v, nil
		}
		e, err := field("epoch")
		if err != nil {
			return nil, err
		}
		acc, err := field("val_acc")
		if err != nil {
			return nil, err
		}
		s, err := field("seconds")
		if err != nil {
			return nil, err
		}
		switch {
		case e != math.Trunc(e) || (len(points) > 0 && int(e) <= points[len(points)-1].Epoch):
			return nil, fmt.Errorf("eval: metrics line %d: epoch %v after epoch %d; epochs must be increasing integers", line, e, points[max(len(points)-1, 0)].Epoch)
		case acc < 0 || acc > 1:
			return nil, fmt.Errorf("eval: metrics line %d: val_acc %v, want a fraction in [0, 1]", line, acc)
		case s < 0:
			return nil, fmt.Errorf("eval: metrics line %d: seconds %v is negative", line, s)
		}
		secs += s
		points = append(points, TimePoint{Epoch: int(e), Hours: secs / 3600, ValAcc: acc})
	}
	if len(points) == 0 {
		return nil, fmt.Errorf("eval: metrics: no epochs")
	}
	return points, nil
}

// FirstReach returns the first point whose accuracy is at least target,
// or false when the run never reached it.
func FirstReach(points []TimePoint, target float64) (TimePoint, bool) {
	for _, p := range points {
		if p.ValAcc >= target {
			return p, true
		}
	}
	return TimePoint{}, false
}

// WriteTimeTable writes the points as a Markdown table: epoch, hours,
// validation accuracy and the best accuracy so far.
func WriteTimeTable(w io.Writer, points []TimePoint) error {
	var b strings.Builder
	b.WriteString("| epoch | hours | val acc | best so far |\n| --- | --- | --- | --- |\n")
	best := 0.0
	for _, p := range points {
		best = math.Max(best, p.ValAcc)
		fmt.Fprintf(&b, "| %d | %.2f | %.2f%% | %.2f%% |\n", p.Epoch, p.Hours, 100*p.ValAcc, 100*best)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteReachTable writes, for each target accuracy, when each run first
// reached it (hours and epoch) as a Markdown table; "not reached" when it
// did not.
func WriteReachTable(w io.Writer, names []string, runs [][]TimePoint, targets []float64) error {
	if len(names) != len(runs) {
		return fmt.Errorf("eval: %d names for %d runs", len(names), len(runs))
	}
	var b strings.Builder
	b.WriteString("| run |")
	for _, t := range targets {
		fmt.Fprintf(&b, " %.1f%% |", 100*t)
	}
	b.WriteString(" best (hours) |\n| --- |")
	for range targets {
		b.WriteString(" --- |")
	}
	b.WriteString(" --- |\n")
	for i, pts := range runs {
		fmt.Fprintf(&b, "| %s |", names[i])
		for _, t := range targets {
			if p, ok := FirstReach(pts, t); ok {
				fmt.Fprintf(&b, " %.2f h (epoch %d) |", p.Hours, p.Epoch)
			} else {
				b.WriteString(" not reached |")
			}
		}
		best := pts[0]
		for _, p := range pts {
			if p.ValAcc > best.ValAcc {
				best = p
			}
		}
		fmt.Fprintf(&b, " %.2f%% (%.2f h) |\n", 100*best.ValAcc, best.Hours)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TimePlotOptions configure WriteTimeToAccuracyPNG; the zero value gives
// the defaults noted on each field.
type TimePlotOptions struct {
	// Title; default "Accuracy against training time".
	Title string
	// Targets draws a dotted horizontal line at each accuracy (fractions).
	Targets []float64
	// WidthPx and HeightPx are the PNG size; default 900 x 500.
	WidthPx, HeightPx int
}

// runColors are the line colours of successive runs.
var runColors = []color.RGBA{colorTrain, colorVal, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}}

// WriteTimeToAccuracyPNG plots validation accuracy (percent) against
// wall-clock training hours, one line per run (starting at 0 h), as PNG.
func WriteTimeToAccuracyPNG(w io.Writer, names []string, runs [][]TimePoint, opts TimePlotOptions) error {
	if opts.Title == "" {
		opts.Title = "Accuracy against training time"
	}
	if opts.WidthPx == 0 {
		opts.WidthPx = 900
	}
	if opts.HeightPx == 0 {
		opts.HeightPx = 500
	}
	if err := checkSize("time-to-accuracy plot", opts.WidthPx, opts.HeightPx); err != nil {
		return err
	}
	if len(runs) == 0 || len(names) != len(runs) {
		return fmt.Errorf("eval: time-to-accuracy plot: %d runs with %d names, want at least one run and a name each", len(runs), len(names))
	}
	p := newPlot(opts.Title)
	p.X.Label.Text = "Training time (hours, 2 cores)"
	p.Y.Label.Text = "Validation accuracy (%)"
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	lo, hi, maxH := 100.0, 0.0, 0.0
	for i, pts := range runs {
		if len(pts) == 0 {
			return fmt.Errorf("eval: time-to-accuracy plot: run %q has no epochs", names[i])
		}
		xys := plotter.XYs{}
		for _, pt := range pts {
			xys = append(xys, plotter.XY{X: pt.Hours, Y: 100 * pt.ValAcc})
			lo, hi, maxH = math.Min(lo, 100*pt.ValAcc), math.Max(hi, 100*pt.ValAcc), math.Max(maxH, pt.Hours)
		}
		if err := addCurve(p, xys, names[i], runColors[i%len(runColors)], i%2 == 1); err != nil {
			return err
		}
	}
	for _, t := range opts.Targets {
		line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 100 * t}, {X: maxH, Y: 100 * t}})
		if err != nil {
			return fmt.Errorf("eval: time-to-accuracy plot: %w", err)
		}
		line.Color = color.Gray{Y: 120}
		line.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
		p.Add(line)
		lo, hi = math.Min(lo, 100*t), math.Max(hi, 100*t)
	}
	p.X.Min = 0
	p.Y.Min, p.Y.Max = math.Max(0, math.Floor(lo/5)*5), math.Min(100, math.Ceil(hi/5)*5+1)
	return writePlotPNG(w, p, opts.WidthPx, opts.HeightPx)
}
