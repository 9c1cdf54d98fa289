package eval

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keepDir returns $EVAL_PLOT_DIR (created) when set, so the PNGs the tests
// draw can be looked at:  EVAL_PLOT_DIR=/tmp/evalpng go test ./eval -run Plot
// Otherwise it returns a temporary directory.
func keepDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("EVAL_PLOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// checkPNG decodes data fully and checks its size.
func checkPNG(t *testing.T, what string, data []byte, wantW, wantH int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: not a valid PNG: %v", what, err)
	}
	if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
		t.Errorf("%s: PNG is %dx%d, want %dx%d", what, b.Dx(), b.Dy(), wantW, wantH)
	}
}

func fixtureMetrics(t *testing.T, name string) *Metrics {
	t.Helper()
	for _, c := range loadSklearnCases(t) {
		if c.Name == name {
			m, err := Compute(c.YTrue, c.YPred, c.ClassNames)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("fixture has no case %q", name)
	return nil
}

func sampleCurves() []EpochRecord {
	var rs []EpochRecord
	for e := 1; e <= 30; e++ {
		x := float64(e)
		rs = append(rs, EpochRecord{
			Epoch:     e,
			TrainLoss: 1.8*math.Exp(-x/8) + 0.3,
			TrainAcc:  0.95 - 0.7*math.Exp(-x/7),
			ValLoss:   1.7*math.Exp(-x/7) + 0.75 + 0.01*x,
			ValAcc:    0.68 - 0.45*math.Exp(-x/5),
		})
	}
	rs[3].ValLoss, rs[3].ValAcc = math.NaN(), math.NaN() // an epoch without validation
	return rs
}

func TestPlotsAreValidPNGs(t *testing.T) {
	dir := keepDir(t)
	fer := fixtureMetrics(t, "fer7")
	gest := fixtureMetrics(t, "gestures10")
	long := fixtureMetrics(t, "long_class_name")

	cases := []struct {
		name         string
		wantW, wantH int
		draw         func(path string) error
	}{
		{"confusion_fer.png", 800, 720, func(p string) error {
			return SaveConfusionPNG(p, fer.Confusion, fer.ClassNames, ConfusionPlotOptions{Title: "FER2013 confusion matrix"})
		}},
		{"confusion_fer_normalized.png", 800, 720, func(p string) error {
			return SaveConfusionPNG(p, fer.Confusion, fer.ClassNames, ConfusionPlotOptions{Normalize: true})
		}},
		{"confusion_gestures.png", 640, 600, func(p string) error {
			return SaveConfusionPNG(p, gest.Confusion, gest.ClassNames, ConfusionPlotOptions{WidthPx: 640, HeightPx: 600})
		}},
		{"confusion_long_names.png", 800, 720, func(p string) error {
			return SaveConfusionPNG(p, long.Confusion, long.ClassNames, ConfusionPlotOptions{})
		}},
		{"per_class_fer.png", 800, 500, func(p string) error {
			return SavePerClassAccuracyPNG(p, fer.ClassNames, fer.PerClassAccuracy(), BarPlotOptions{ShowOverall: true, Overall: fer.Accuracy})
		}},
		{"per_class_gestures.png", 500, 400, func(p string) error {
			return SavePerClassAccuracyPNG(p, gest.ClassNames, gest.PerClassAccuracy(), BarPlotOptions{WidthPx: 500, HeightPx: 400})
		}},
		{"curves.png", 1100, 450, func(p string) error {
			return SaveTrainingCurvesPNG(p, sampleCurves(), CurvePlotOptions{Title: "ResNet-18 FER2013"})
		}},
		{"curves_one_epoch.png", 600, 300, func(p string) error {
			return SaveTrainingCurvesPNG(p, []EpochRecord{{Epoch: 1, TrainLoss: 1.2, TrainAcc: 0.4, ValLoss: math.NaN(), ValAcc: math.NaN()}},
				CurvePlotOptions{WidthPx: 600, HeightPx: 300})
		}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		if err := c.draw(path); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checkPNG(t, c.name, data, c.wantW, c.wantH)
	}
}

func TestPlotWriterVariants(t *testing.T) {
	m := fixtureMetrics(t, "random_labels")
	var buf bytes.Buffer
	if err := WriteConfusionPNG(&buf, m.Confusion, m.ClassNames, ConfusionPlotOptions{WidthPx: 300, HeightPx: 200}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "confusion", buf.Bytes(), 300, 200)
	buf.Reset()
	if err := WritePerClassAccuracyPNG(&buf, m.ClassNames, m.PerClassAccuracy(), BarPlotOptions{}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "bars", buf.Bytes(), 800, 500)
	buf.Reset()
	if err := WriteTrainingCurvesPNG(&buf, sampleCurves(), CurvePlotOptions{}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "curves", buf.Bytes(), 1100, 450)
}

func TestPlotErrors(t *testing.T) {
	names := []string{"a", "b"}
	good := [][]int{{1, 0}, {0, 1}}
	var sink bytes.Buffer
	nan := math.NaN()
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"confusion no names", WriteConfusionPNG(&sink, nil, nil, ConfusionPlotOptions{}), "no class names"},
		{"confusion rows", WriteConfusionPNG(&sink, good[:1], names, ConfusionPlotOptions{}), "matrix has 1 rows but there are 2 class names"},
		{"confusion cols", WriteConfusionPNG(&sink, [][]int{{1, 0}, {0}}, names, ConfusionPlotOptions{}), "row 1 (b) has 1 columns, want 2"},
		{"confusion negative", WriteConfusionPNG(&sink, [][]int{{1, -2}, {0, 1}}, names, ConfusionPlotOptions{}), "cell [0][1] (true a, predicted b) is -2"},
		{"confusion size", WriteConfusionPNG(&sink, good, names, ConfusionPlotOptions{WidthPx: 10}), "size 10x720 pixels"},
		{"bars empty", WritePerClassAccuracyPNG(&sink, nil, nil, BarPlotOptions{}), "no class names"},
		{"bars lengths", WritePerClassAccuracyPNG(&sink, names, []float64{0.5}, BarPlotOptions{}), "1 accuracies for 2 class names"},
		{"bars range", WritePerClassAccuracyPNG(&sink, names, []float64{0.5, 1.5}, BarPlotOptions{}), "class 1 (b) is 1.5"},
		{"bars nan", WritePerClassAccuracyPNG(&sink, names, []float64{nan, 0.5}, BarPlotOptions{}), "class 0 (a) is NaN"},
		{"bars overall", WritePerClassAccuracyPNG(&sink, names, []float64{0.5, 0.5}, BarPlotOptions{ShowOverall: true, Overall: 2}), "overall accuracy is 2"},
		{"curves empty", WriteTrainingCurvesPNG(&sink, nil, CurvePlotOptions{}), "no epoch records"},
		{"curves order", WriteTrainingCurvesPNG(&sink, []EpochRecord{{Epoch: 2}, {Epoch: 2}}, CurvePlotOptions{}), "record 1 has epoch 2 after epoch 2"},
		{"curves inf", WriteTrainingCurvesPNG(&sink, []EpochRecord{{Epoch: 1, TrainLoss: math.Inf(1)}}, CurvePlotOptions{}), "epoch 1: train_loss is +Inf"},
		{"curves acc", WriteTrainingCurvesPNG(&sink, []EpochRecord{{Epoch: 1, ValAcc: 70}}, CurvePlotOptions{}), "epoch 1: val_acc is 70"},
		{"curves all nan", WriteTrainingCurvesPNG(&sink, []EpochRecord{{Epoch: 1, TrainLoss: nan, TrainAcc: nan, ValLoss: nan, ValAcc: nan}}, CurvePlotOptions{}), "nothing to draw"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, c.err, c.want)
		}
	}

	// A failed Save leaves no partial file behind and names the path.
	path := filepath.Join(t.TempDir(), "bad.png")
	err := SaveConfusionPNG(path, good[:1], names, ConfusionPlotOptions{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want it to name %s", err, path)
	}
	if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
		t.Errorf("%s exists after a failed save", path)
	}
}

func TestReportWriteDir(t *testing.T) {
	var c sklearnCase
	for _, cc := range loadSklearnCases(t) {
		if cc.Name == "fer7" {
			c = cc
		}
	}
	m, err := ComputeFromScores(c.YTrue, flatten(c.Scores), c.ClassNames)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(keepDir(t), "report")
	r := &Report{Metrics: m, Title: "FER2013 PublicTest", Curves: sampleCurves()}
	if err := r.WriteDir(dir); err != nil {
		t.Fatal(err)
	}

	text, err := os.ReadFile(filepath.Join(dir, ReportTextFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FER2013 PublicTest: classification report", c.Reports["2"], "Top-k accuracy: top-1 0.7160, top-2 0.9040, top-3 0.9520",
		"Confusion matrix (rows", "Confusion matrix, % of each true class"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("report.txt lacks %q:\n%s", want, text)
		}
	}

	f, err := os.Open(filepath.Join(dir, MetricsJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.Accuracy != m.Accuracy || back.MacroF1 != m.MacroF1 || len(back.TopK) != 3 {
		t.Errorf("metrics.json = %+v, want %+v", back, m)
	}

	for name, size := range map[string][2]int{ConfusionPNGFile: {800, 720}, PerClassPNGFile: {800, 500}, TrainingCurvesPNGFile: {1100, 450}} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		checkPNG(t, name, data, size[0], size[1])
	}

	if err := (&Report{}).WriteDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no metrics") {
		t.Errorf("empty report: err = %v", err)
	}
	// Without curves there is no training_curves.png.
	dir2 := t.TempDir()
	if err := (&Report{Metrics: m}).WriteDir(dir2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, TrainingCurvesPNGFile)); !os.IsNotExist(err) {
		t.Errorf("training_curves.png written without curves (stat err %v)", err)
	}
}
