package eval

import (
	"fmt"
	"image/color"
	"io"
	"strconv"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ConfusionPlotOptions configure WriteConfusionPNG. The zero value gives the
// defaults noted on each field.
type ConfusionPlotOptions struct {
	// Title of the plot; default "Confusion matrix" (with " (% of true class)"
	// appended when Normalize is set).
	Title string
	// Normalize colours and labels each cell with the percentage of its row
	// (the true class's samples) instead of the count. Default false.
	Normalize bool
	// WidthPx and HeightPx are the PNG size in pixels; default 800 x 720.
	WidthPx, HeightPx int
}

func (o ConfusionPlotOptions) withDefaults() ConfusionPlotOptions {
	if o.Title == "" {
		o.Title = "Confusion matrix"
		if o.Normalize {
			o.Title += " (% of true class)"
		}
	}
	if o.WidthPx == 0 {
		o.WidthPx = 800
	}
	if o.HeightPx == 0 {
		o.HeightPx = 720
	}
	return o
}

// WriteConfusionPNG draws the confusion matrix as a heat map and writes it
// as PNG to w. confusion[i][j] counts the samples of true class i predicted
// as class j; it must be K x K with K = len(classNames) and no negative
// count. True classes run down the Y axis (first class at the top),
// predicted classes along the X axis, and every cell shows its count (or
// row percentage with opts.Normalize).
func WriteConfusionPNG(w io.Writer, confusion [][]int, classNames []string, opts ConfusionPlotOptions) error {
	opts = opts.withDefaults()
	if err := checkSize("confusion plot", opts.WidthPx, opts.HeightPx); err != nil {
		return err
	}
	if err := checkConfusion(confusion, classNames); err != nil {
		return err
	}
	k := len(classNames)

	// values[i][j] is what cell (true i, predicted j) shows and is coloured by.
	values := make([][]float64, k)
	labels := make([]string, 0, k*k)
	for i, row := range confusion {
		sum := 0
		for _, v := range row {
			sum += v
		}
		values[i] = make([]float64, k)
		for j, v := range row {
			if opts.Normalize {
				values[i][j] = 100 * ratio(v, sum)
			} else {
				values[i][j] = float64(v)
			}
		}
	}
	maxValue := 0.0
	for _, row := range values {
		for _, v := range row {
			maxValue = max(maxValue, v)
		}
	}
	if maxValue == 0 {
		maxValue = 1 // an all-zero matrix: keep the colour range valid
	}

	p := newPlot(opts.Title)
	p.X.Label.Text = "Predicted class"
	p.Y.Label.Text = "True class"

	grid := confusionGrid{values: values}
	heat := plotter.NewHeatMap(grid, bluesPalette(64))
	heat.Min, heat.Max = 0, maxValue
	p.Add(heat)

	// Cell labels, centred, white on dark cells and black on light ones.
	xys := make(plotter.XYs, 0, k*k)
	for i := range k {
		for j := range k {
			xys = append(xys, plotter.XY{X: float64(j), Y: float64(k - 1 - i)})
			if opts.Normalize {
				labels = append(labels, strconv.FormatFloat(values[i][j], 'f', 1, 64))
			} else {
				labels = append(labels, strconv.Itoa(confusion[i][j]))
			}
		}
	}
	cellText, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return fmt.Errorf("eval: confusion plot labels: %w", err)
	}
	fontSize := vg.Points(11)
	if k > 10 {
		fontSize = vg.Points(8)
	}
	for n := range cellText.TextStyle {
		i, j := n/k, n%k
		st := &cellText.TextStyle[n]
		st.Font.Size = fontSize
		st.XAlign = draw.XCenter
		st.YAlign = draw.YCenter
		st.Color = color.Black
		if values[i][j] > 0.5*maxValue {
			st.Color = color.White
		}
	}
	p.Add(cellText)

	// Class names on both axes; Y is flipped so the first class is on top.
	reversed := make([]string, k)
	for i, n := range classNames {
		reversed[k-1-i] = n
	}
	p.X.Tick.Marker = nominalTicks(classNames)
	p.Y.Tick.Marker = nominalTicks(reversed)
	p.X.Min, p.X.Max = -0.5, float64(k)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(k)-0.5
	rotateXLabelsIfCrowded(p, classNames, pixels(opts.WidthPx))

	return writePlotPNG(w, p, opts.WidthPx, opts.HeightPx)
}

// SaveConfusionPNG is WriteConfusionPNG to a file at path.
func SaveConfusionPNG(path string, confusion [][]int, classNames []string, opts ConfusionPlotOptions) error {
	return saveFile(path, func(w io.Writer) error { return WriteConfusionPNG(w, confusion, classNames, opts) })
}

func checkConfusion(confusion [][]int, classNames []string) error {
	k := len(classNames)
	if k == 0 {
		return fmt.Errorf("eval: confusion plot: no class names given")
	}
	if len(confusion) != k {
		return fmt.Errorf("eval: confusion plot: matrix has %d rows but there are %d class names", len(confusion), k)
	}
	for i, row := range confusion {
		if len(row) != k {
			return fmt.Errorf("eval: confusion plot: row %d (%s) has %d columns, want %d", i, classNames[i], len(row), k)
		}
		for j, v := range row {
			if v < 0 {
				return fmt.Errorf("eval: confusion plot: cell [%d][%d] (true %s, predicted %s) is %d, want >= 0",
					i, j, classNames[i], classNames[j], v)
			}
		}
	}
	return nil
}

// confusionGrid adapts a K x K matrix (row 0 = first true class) to
// plotter.GridXYZ, whose row 0 is at the bottom: grid row r shows matrix
// row K-1-r.
type confusionGrid struct{ values [][]float64 }

func (g confusionGrid) Dims() (c, r int)   { return len(g.values), len(g.values) }
func (g confusionGrid) Z(c, r int) float64 { return g.values[len(g.values)-1-r][c] }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

// bluesPalette runs from white to dark blue in n steps, like matplotlib's
// "Blues" that sklearn's ConfusionMatrixDisplay uses.
type bluesPalette int

func (n bluesPalette) Colors() []color.Color {
	out := make([]color.Color, n)
	for i := range out {
		t := float64(i) / float64(n-1)
		lerp := func(a, b uint8) uint8 { return uint8(float64(a) + t*(float64(b)-float64(a)) + 0.5) }
		out[i] = color.RGBA{R: lerp(247, colorDark.R), G: lerp(251, colorDark.G), B: lerp(255, colorDark.B), A: 255}
	}
	return out
}
