package eval

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

var abc = []string{"a", "b", "c"}

// A hand-checked example: y_true = a a a b b c, y_pred = a a b b c c.
func TestComputeByHand(t *testing.T) {
	m, err := Compute([]int{0, 0, 0, 1, 1, 2}, []int{0, 0, 1, 1, 2, 2}, abc)
	if err != nil {
		t.Fatal(err)
	}
	wantConfusion := [][]int{{2, 1, 0}, {0, 1, 1}, {0, 0, 1}}
	if !reflect.DeepEqual(m.Confusion, wantConfusion) {
		t.Errorf("confusion = %v, want %v", m.Confusion, wantConfusion)
	}
	if !near(m.Accuracy, 4.0/6) {
		t.Errorf("accuracy = %v, want 4/6", m.Accuracy)
	}
	// a: P = 2/2, R = 2/3; b: P = 1/2, R = 1/2; c: P = 1/2, R = 1/1.
	want := []ClassMetrics{
		{Name: "a", Precision: 1, Recall: 2.0 / 3, F1: 0.8, Support: 3, Predicted: 2},
		{Name: "b", Precision: 0.5, Recall: 0.5, F1: 0.5, Support: 2, Predicted: 2},
		{Name: "c", Precision: 0.5, Recall: 1, F1: 2.0 / 3, Support: 1, Predicted: 2},
	}
	for i, w := range want {
		g := m.PerClass[i]
		if g.Name != w.Name || !near(g.Precision, w.Precision) || !near(g.Recall, w.Recall) || !near(g.F1, w.F1) ||
			g.Support != w.Support || g.Predicted != w.Predicted {
			t.Errorf("class %d = %+v, want %+v", i, g, w)
		}
	}
	if !near(m.MacroAvg.Recall, (2.0/3+0.5+1)/3) {
		t.Errorf("macro recall = %v", m.MacroAvg.Recall)
	}
	if !near(m.WeightedAvg.Recall, m.Accuracy) { // weighted recall is always the accuracy
		t.Errorf("weighted recall = %v, want accuracy %v", m.WeightedAvg.Recall, m.Accuracy)
	}
	if got := m.PerClassAccuracy(); !near(got[0], 2.0/3) || !near(got[2], 1) {
		t.Errorf("per-class accuracy = %v", got)
	}
	norm := m.NormalizedConfusion()
	if !near(norm[0][0], 2.0/3) || !near(norm[0][1], 1.0/3) || !near(norm[1][2], 0.5) {
		t.Errorf("normalized confusion = %v", norm)
	}
}

// Zero division gives 0, with no panic and no NaN anywhere.
func TestZeroDivisionIsZero(t *testing.T) {
	// class b: never in y_true, never predicted; class c: predicted, never true.
	m, err := Compute([]int{0, 0, 0}, []int{0, 2, 0}, abc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.PerClass[1:] {
		if c.Precision != 0 || c.Recall != 0 || c.F1 != 0 || c.Support != 0 {
			t.Errorf("class %s = %+v, want all zero", c.Name, c)
		}
	}
	norm := m.NormalizedConfusion()
	if norm[1][1] != 0 {
		t.Errorf("normalized row of an empty class = %v, want zeros", norm[1])
	}
	if !strings.Contains(m.ClassificationReport(2), "micro avg") {
		t.Errorf("class b is in neither y_true nor y_pred: sklearn prints a micro avg line\n%s", m.ClassificationReport(2))
	}
}

func TestComputeErrors(t *testing.T) {
	cases := []struct {
		name         string
		yTrue, yPred []int
		names        []string
		want         string
	}{
		{"no classes", []int{0}, []int{0}, nil, "no class names"},
		{"empty", nil, nil, abc, "y_true is empty"},
		{"lengths", []int{0, 1}, []int{0}, abc, "y_true has 2 labels but y_pred has 1"},
		{"true out of range", []int{0, 3}, []int{0, 1}, abc, "y_true[1] = 3 is out of range [0, 3)"},
		{"pred negative", []int{0, 1}, []int{0, -1}, abc, "y_pred[1] = -1 is out of range [0, 3)"},
	}
	for _, c := range cases {
		_, err := Compute(c.yTrue, c.yPred, c.names)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestTopKAndArgmax(t *testing.T) {
	// Two samples, three classes.
	scores := []float32{
		0.1, 0.7, 0.2, // true 2: ranks second
		0.5, 0.5, 0.0, // true 0: tied with class 1, which ranks higher (larger index)
	}
	yTrue := []int{2, 0}
	for k, want := range map[int]float64{1: 0, 2: 1, 3: 1, 10: 1} {
		got, err := TopKAccuracy(yTrue, scores, 3, k)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("top-%d = %v, want %v", k, got, want)
		}
	}
	pred, err := Argmax(scores, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pred, []int{1, 0}) { // first maximum on ties
		t.Errorf("argmax = %v, want [1 0]", pred)
	}

	m, err := ComputeFromScores(yTrue, scores, abc)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.TopK) != len(DefaultTopK) || m.TopK[1].K != 2 || m.TopK[1].Accuracy != 1 {
		t.Errorf("default TopK = %+v", m.TopK)
	}
	if m.Accuracy != 0.5 {
		t.Errorf("accuracy from arg-max = %v, want 0.5", m.Accuracy)
	}
}

func TestTopKErrors(t *testing.T) {
	good := []float32{0.1, 0.9, 0.5, 0.5}
	nan := float32(0)
	nan = nan / nan
	cases := []struct {
		name   string
		yTrue  []int
		scores []float32
		k      int
		want   string
	}{
		{"k zero", []int{0, 1}, good, 0, "k = 0"},
		{"empty", nil, nil, 1, "y_true is empty"},
		{"short scores", []int{0, 1}, good[:3], 1, "scores has 3 values, want 2 samples x 2 classes = 4"},
		{"label", []int{0, 2}, good, 1, "y_true[1] = 2 is out of range [0, 2)"},
		{"nan", []int{0, 1}, []float32{0.1, 0.9, nan, 0.5}, 1, "scores[2] (sample 1, class 0) is NaN"},
	}
	for _, c := range cases {
		_, err := TopKAccuracy(c.yTrue, c.scores, 2, c.k)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := ComputeFromScores([]int{0, 1}, good[:3], []string{"x", "y"}); err == nil {
		t.Error("ComputeFromScores accepted 3 scores for 2x2")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	m, err := ComputeFromScores([]int{2, 0, 1}, []float32{0.1, 0.2, 0.7, 0.3, 0.3, 0.4, 0.2, 0.5, 0.3}, abc, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"class_names"`, `"num_samples": 3`, `"accuracy"`, `"macro_f1"`, `"per_class"`,
		`"precision"`, `"recall"`, `"f1"`, `"support"`, `"predicted"`, `"macro_avg"`, `"weighted_avg"`,
		`"confusion_matrix"`, `"top_k_accuracy"`, `"k": 2`} {
		if !strings.Contains(buf.String(), field) {
			t.Errorf("JSON lacks %s:\n%s", field, buf.String())
		}
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip changed the metrics:\n got %+v\nwant %+v", back, m)
	}

	for _, bad := range []string{
		`{"class_names": []}`,
		`{"class_names": ["a"], "per_class": []}`,
		`{"class_names": ["a"], "per_class": [{}], "confusion_matrix": [[1, 2]]}`,
		`{"class_names": ["a"], "unknown": 1}`,
		`not json`,
	} {
		if _, err := ReadJSON(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadJSON(%s) gave no error", bad)
		}
	}
}

func TestConfusionMatrixText(t *testing.T) {
	m, err := Compute([]int{0, 0, 0, 1, 1, 2}, []int{0, 0, 1, 1, 2, 2}, []string{"angry", "b", "surprise"})
	if err != nil {
		t.Fatal(err)
	}
	want := "Confusion matrix (rows: true class, columns: predicted class)\n\n" +
		`true \ pred  angry  b  surprise` + "\n" +
		"      angry      2  1         0\n" +
		"          b      0  1         1\n" +
		"   surprise      0  0         1\n"
	if got := m.ConfusionMatrixText(false); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	norm := m.ConfusionMatrixText(true)
	for _, s := range []string{"% of each true class", "66.7", "33.3", "100.0", " 50.0"} {
		if !strings.Contains(norm, s) {
			t.Errorf("normalized text lacks %q:\n%s", s, norm)
		}
	}
}

func TestReportNegativeDigits(t *testing.T) {
	m, err := Compute([]int{0, 1}, []int{0, 1}, []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	if m.ClassificationReport(-3) != m.ClassificationReport(0) {
		t.Error("negative digits should behave as 0")
	}
}
