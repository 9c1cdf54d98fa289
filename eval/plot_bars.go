package eval

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarPlotOptions configure WritePerClassAccuracyPNG. The zero value gives
// the defaults noted on each field.
type BarPlotOptions struct {
	// Title of the plot; default "Per-class accuracy".
	Title string
	// ShowOverall draws Overall (a fraction in [0, 1], e.g.
	// Metrics.Accuracy) as a dashed horizontal line with a legend.
	// Default false: no line.
	ShowOverall bool
	Overall     float64
	// WidthPx and HeightPx are the PNG size in pixels; default 800 x 500.
	WidthPx, HeightPx int
}

func (o BarPlotOptions) withDefaults() BarPlotOptions {
	if o.Title == "" {
		o.Title = "Per-class accuracy"
	}
	if o.WidthPx == 0 {
		o.WidthPx = 800
	}
	if o.HeightPx == 0 {
		o.HeightPx = 500
	}
	return o
}

// WritePerClassAccuracyPNG draws one bar per class with its accuracy
// (recall, a fraction in [0, 1], shown in percent and written at the top
// of the bar) and writes the chart as PNG to w. accuracy[i] belongs to
// classNames[i]; Metrics.PerClassAccuracy gives it.
func WritePerClassAccuracyPNG(w io.Writer, classNames []string, accuracy []float64, opts BarPlotOptions) error {
	opts = opts.withDefaults()
	if err := checkSize("per-class accuracy plot", opts.WidthPx, opts.HeightPx); err != nil {
		return err
	}
	k := len(classNames)
	if k == 0 {
		return fmt.Errorf("eval: per-class accuracy plot: no class names given")
	}
	if len(accuracy) != k {
		return fmt.Errorf("eval: per-class accuracy plot: %d accuracies for %d class names", len(accuracy), k)
	}
	for i, a := range accuracy {
		if math.IsNaN(a) || a < 0 || a > 1 {
			return fmt.Errorf("eval: per-class accuracy plot: accuracy of class %d (%s) is %v, want a fraction in [0, 1]", i, classNames[i], a)
		}
	}
	if opts.ShowOverall && (math.IsNaN(opts.Overall) || opts.Overall < 0 || opts.Overall > 1) {
		return fmt.Errorf("eval: per-class accuracy plot: overall accuracy is %v, want a fraction in [0, 1]", opts.Overall)
	}

	p := newPlot(opts.Title)
	p.Y.Label.Text = "Accuracy (%)"
	p.X.Label.Text = "Class"

	grid := plotter.NewGrid() // first, so that it is drawn under everything
	grid.Vertical.Color = nil // horizontal lines only
	p.Add(grid)

	percent := make(plotter.Values, k)
	for i, a := range accuracy {
		percent[i] = 100 * a
	}
	if opts.ShowOverall {
		y := 100 * opts.Overall
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: y}, {X: float64(k) - 0.5, Y: y}})
		if err != nil {
			return fmt.Errorf("eval: per-class accuracy plot: %w", err)
		}
		line.Color = color.RGBA{R: 200, G: 30, B: 30, A: 255}
		line.Width = vg.Points(1.5)
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(line) // before the bars, which hide it: it never crosses a value label
		p.Legend.Add("overall accuracy "+strconv.FormatFloat(y, 'f', 1, 64)+"%", line)
		p.Legend.Top = true
	}

	// Bars take 60% of each category's width.
	barWidth := pixels(opts.WidthPx) * 0.8 / vg.Length(k) * 0.6
	bars, err := plotter.NewBarChart(percent, barWidth)
	if err != nil {
		return fmt.Errorf("eval: per-class accuracy plot: %w", err)
	}
	bars.Color = colorBar
	bars.LineStyle.Width = 0
	p.Add(bars)

	// The value of each bar, in white inside its top end, or in black just
	// above a bar too short to hold it.
	xys := make(plotter.XYs, k)
	labels := make([]string, k)
	for i, v := range percent {
		xys[i] = plotter.XY{X: float64(i), Y: v}
		labels[i] = strconv.FormatFloat(v, 'f', 1, 64)
	}
	values, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return fmt.Errorf("eval: per-class accuracy plot labels: %w", err)
	}
	// 10 points, smaller when the widest value is wider than a bar.
	fontSize := vg.Points(10)
	widest := vg.Length(0)
	for i, l := range labels {
		values.TextStyle[i].Font.Size = fontSize
		widest = max(widest, values.TextStyle[i].Width(l))
	}
	if fit := barWidth * 0.8; widest > fit {
		fontSize = max(vg.Points(6), fontSize*fit/widest)
	}
	for i := range values.TextStyle {
		st := &values.TextStyle[i]
		st.XAlign = draw.XCenter
		st.Font.Size = fontSize
		if percent[i] >= 12 {
			st.YAlign = draw.YTop
			st.Color = color.White
			values.XYs[i].Y -= 1.5 // a little below the bar's top (in percent)
		} else {
			st.YAlign = draw.YBottom
			values.XYs[i].Y += 1.5
		}
	}
	p.Add(values)

	p.X.Tick.Marker = nominalTicks(classNames)
	p.X.Min, p.X.Max = -0.5, float64(k)-0.5
	// Room above 100% for the value labels and the legend.
	p.Y.Min, p.Y.Max = 0, 115
	p.Y.Tick.Marker = percentTicks{}
	rotateXLabelsIfCrowded(p, classNames, pixels(opts.WidthPx))

	return writePlotPNG(w, p, opts.WidthPx, opts.HeightPx)
}

// SavePerClassAccuracyPNG is WritePerClassAccuracyPNG to a file at path.
func SavePerClassAccuracyPNG(path string, classNames []string, accuracy []float64, opts BarPlotOptions) error {
	return saveFile(path, func(w io.Writer) error { return WritePerClassAccuracyPNG(w, classNames, accuracy, opts) })
}

// percentTicks labels 0, 20, ..., 100 on a percentage axis whose range
// goes a little past 100 to leave room for labels.
type percentTicks struct{}

func (percentTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for v := 0.0; v <= 100; v += 20 {
		if v >= min && v <= max {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
	}
	return ticks
}
