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

// EpochRecord is what training measured after one epoch. A value that was
// not measured (for instance no validation set) is NaN: its point is left
// out of the curves. Note that encoding/json refuses NaN, so a JSON log of
// these records needs its own way to mark a missing value.
type EpochRecord struct {
	Epoch     int     `json:"epoch"`      // epoch number; strictly increasing along a run
	TrainLoss float64 `json:"train_loss"` // mean training loss
	TrainAcc  float64 `json:"train_acc"`  // training accuracy, a fraction in [0, 1]
	ValLoss   float64 `json:"val_loss"`   // validation loss
	ValAcc    float64 `json:"val_acc"`    // validation accuracy, a fraction in [0, 1]
}

// CurvePlotOptions configure WriteTrainingCurvesPNG. The zero value gives
// the defaults noted on each field.
type CurvePlotOptions struct {
	// Title is put above both panels as "<Title>: loss" and
	// "<Title>: accuracy"; default "Training".
	Title string
	// WidthPx and HeightPx are the PNG size in pixels; default 1100 x 450.
	WidthPx, HeightPx int
}

func (o CurvePlotOptions) withDefaults() CurvePlotOptions {
	if o.Title == "" {
		o.Title = "Training"
	}
	if o.WidthPx == 0 {
		o.WidthPx = 1100
	}
	if o.HeightPx == 0 {
		o.HeightPx = 450
	}
	return o
}

// WriteTrainingCurvesPNG draws two panels side by side, loss per epoch
// (left) and accuracy per epoch in percent (right), each with a train and
// a validation curve, and writes them as PNG to w.
//
// Errors: no records, epochs not strictly increasing, an infinite value,
// an accuracy outside [0, 1], or no measured value at all.
func WriteTrainingCurvesPNG(w io.Writer, records []EpochRecord, opts CurvePlotOptions) error {
	opts = opts.withDefaults()
	if err := checkSize("training curves plot", opts.WidthPx, opts.HeightPx); err != nil {
		return err
	}
	if len(records) == 0 {
		return fmt.Errorf("eval: training curves plot: no epoch records")
	}
	for i, r := range records {
		if i > 0 && r.Epoch <= records[i-1].Epoch {
			return fmt.Errorf("eval: training curves plot: record %d has epoch %d after epoch %d; epochs must increase",
				i, r.Epoch, records[i-1].Epoch)
		}
		for _, f := range []struct {
			name  string
			v     float64
			isAcc bool
		}{{"train_loss", r.TrainLoss, false}, {"train_acc", r.TrainAcc, true}, {"val_loss", r.ValLoss, false}, {"val_acc", r.ValAcc, true}} {
			if math.IsInf(f.v, 0) {
				return fmt.Errorf("eval: training curves plot: epoch %d: %s is %v", r.Epoch, f.name, f.v)
			}
			if f.isAcc && (f.v < 0 || f.v > 1) {
				return fmt.Errorf("eval: training curves plot: epoch %d: %s is %v, want a fraction in [0, 1]", r.Epoch, f.name, f.v)
			}
		}
	}

	// points keeps the measured (non-NaN) values of one field, scaled.
	points := func(field func(EpochRecord) float64, scale float64) plotter.XYs {
		var xys plotter.XYs
		for _, r := range records {
			if v := field(r); !math.IsNaN(v) {
				xys = append(xys, plotter.XY{X: float64(r.Epoch), Y: scale * v})
			}
		}
		return xys
	}
	trainLoss := points(func(r EpochRecord) float64 { return r.TrainLoss }, 1)
	valLoss := points(func(r EpochRecord) float64 { return r.ValLoss }, 1)
	trainAcc := points(func(r EpochRecord) float64 { return r.TrainAcc }, 100)
	valAcc := points(func(r EpochRecord) float64 { return r.ValAcc }, 100)
	if len(trainLoss)+len(valLoss)+len(trainAcc)+len(valAcc) == 0 {
		return fmt.Errorf("eval: training curves plot: all %d records are NaN: nothing to draw", len(records))
	}

	lossPlot := newPlot(opts.Title + ": loss")
	lossPlot.Y.Label.Text = "Loss"
	accPlot := newPlot(opts.Title + ": accuracy")
	accPlot.Y.Label.Text = "Accuracy (%)"
	for _, p := range []*plot.Plot{lossPlot, accPlot} {
		p.X.Label.Text = "Epoch"
		p.X.Tick.Marker = integerTicks{}
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
	}
	accPlot.Legend.Top = false // accuracy usually rises: the legend goes bottom right
	if err := addCurve(lossPlot, trainLoss, "train", colorTrain, false); err != nil {
		return err
	}
	if err := addCurve(lossPlot, valLoss, "validation", colorVal, true); err != nil {
		return err
	}
	if err := addCurve(accPlot, trainAcc, "train", colorTrain, false); err != nil {
		return err
	}
	if err := addCurve(accPlot, valAcc, "validation", colorVal, true); err != nil {
		return err
	}
	lossPlot.Y.Min = 0
	accPlot.Y.Min, accPlot.Y.Max = 0, 100
	accPlot.Y.Tick.Marker = percentTicks{}

	return writePNG(w, opts.WidthPx, opts.HeightPx, func(dc draw.Canvas) {
		tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(24), PadTop: vg.Points(4), PadBottom: vg.Points(4),
			PadLeft: vg.Points(4), PadRight: vg.Points(8)}
		plots := [][]*plot.Plot{{lossPlot, accPlot}}
		canvases := plot.Align(plots, tiles, padded(dc))
		lossPlot.Draw(canvases[0][0])
		accPlot.Draw(canvases[0][1])
	})
}

// SaveTrainingCurvesPNG is WriteTrainingCurvesPNG to a file at path.
func SaveTrainingCurvesPNG(path string, records []EpochRecord, opts CurvePlotOptions) error {
	return saveFile(path, func(w io.Writer) error { return WriteTrainingCurvesPNG(w, records, opts) })
}

// addCurve adds a line with point markers (so a single epoch still shows)
// and its legend entry; an empty series is skipped.
func addCurve(p *plot.Plot, xys plotter.XYs, name string, c color.Color, dashed bool) error {
	if len(xys) == 0 {
		return nil
	}
	line, scatter, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("eval: training curves plot, %s: %w", name, err)
	}
	line.Color = c
	line.Width = vg.Points(2)
	if dashed {
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	}
	scatter.Color = c
	scatter.Radius = vg.Points(2.5)
	p.Add(line, scatter)
	p.Legend.Add(name, line, scatter)
	return nil
}

// integerTicks labels whole epochs at a round step (1, 2, 5, 10, 20, ...)
// chosen so that there are at most 10 labels, so a short run does not get
// ticks at 1.5, 2.5, ...
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	lo, hi := math.Ceil(min), math.Floor(max)
	step := 1.0
	for (hi-lo)/step > 10 {
		switch d := step / math.Pow(10, math.Floor(math.Log10(step))); d {
		case 1:
			step *= 2
		case 2:
			step *= 2.5
		default:
			step *= 2
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return ticks
}
