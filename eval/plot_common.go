package eval

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotDPI is the resolution of every PNG: at 96 dots per inch a pixel is
// exactly 0.75 points, so the requested pixel size is the PNG's size.
const plotDPI = 96

// Colours shared by the plots.
var (
	colorTrain = color.RGBA{R: 31, G: 119, B: 180, A: 255} // blue
	colorVal   = color.RGBA{R: 255, G: 127, B: 14, A: 255} // orange
	colorBar   = color.RGBA{R: 66, G: 133, B: 200, A: 255}
	colorDark  = color.RGBA{R: 8, G: 48, B: 107, A: 255} // darkest heat-map blue
)

// pixels converts a pixel count at plotDPI to a vg length.
func pixels(n int) vg.Length { return vg.Length(n) * vg.Inch / plotDPI }

// checkSize rejects sizes too small to hold a readable plot, or absurdly large.
func checkSize(what string, widthPx, heightPx int) error {
	const minPx, maxPx = 100, 10000
	if widthPx < minPx || heightPx < minPx || widthPx > maxPx || heightPx > maxPx {
		return fmt.Errorf("eval: %s: size %dx%d pixels, want each side in [%d, %d]", what, widthPx, heightPx, minPx, maxPx)
	}
	return nil
}

// writePNG draws fn on a widthPx x heightPx white canvas and writes it to w.
func writePNG(w io.Writer, widthPx, heightPx int, fn func(dc draw.Canvas)) error {
	c := vgimg.NewWith(vgimg.UseWH(pixels(widthPx), pixels(heightPx)), vgimg.UseDPI(plotDPI))
	fn(draw.New(c))
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
		return fmt.Errorf("eval: writing PNG: %w", err)
	}
	return nil
}

// writePlotPNG draws one plot filling the whole canvas.
func writePlotPNG(w io.Writer, p *plot.Plot, widthPx, heightPx int) error {
	return writePNG(w, widthPx, heightPx, func(dc draw.Canvas) { p.Draw(padded(dc)) })
}

// padded leaves a small white margin around a plot, which gonum would
// otherwise draw right up to the image edges.
func padded(dc draw.Canvas) draw.Canvas {
	m := vg.Points(8)
	return draw.Crop(dc, m, -m, m, -m)
}

// saveFile creates path, calls write on it and closes it; on any error
// the partial file is removed and the error names the path.
func saveFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("%w (file %s)", err, path)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("eval: closing %s: %w", path, err)
	}
	return nil
}

// newPlot returns a plot with a title and slightly larger fonts than
// gonum's defaults, which are small at 96 DPI.
func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(12)
		a.Tick.Label.Font.Size = vg.Points(10)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return p
}

// nominalTicks labels the integer positions 0..len(names)-1 with names.
func nominalTicks(names []string) plot.ConstantTicks {
	ticks := make([]plot.Tick, len(names))
	for i, n := range names {
		ticks[i] = plot.Tick{Value: float64(i), Label: n}
	}
	return ticks
}

// rotateXLabelsIfCrowded tilts the X tick labels by 45 degrees when the
// widest label does not fit in the width each of n categories gets.
func rotateXLabelsIfCrowded(p *plot.Plot, names []string, plotWidth vg.Length) {
	widest := vg.Length(0)
	for _, n := range names {
		widest = max(widest, p.X.Tick.Label.Width(n))
	}
	// The data area is roughly 80% of the width; keep a small gap between labels.
	perCategory := plotWidth * 0.8 / vg.Length(len(names))
	if widest+vg.Points(6) > perCategory {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
}
