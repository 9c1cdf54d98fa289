package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// sklearnCase is one case of testdata/sklearn_reference.json, written by
// scripts/sklearn_reference.py with scikit-learn (CI only reads it).
type sklearnCase struct {
	Name            string             `json:"name"`
	ClassNames      []string           `json:"class_names"`
	YTrue           []int              `json:"y_true"`
	YPred           []int              `json:"y_pred"`
	Scores          [][]float32        `json:"scores"` // nil when the case has none
	Reports         map[string]string  `json:"reports"`
	Accuracy        float64            `json:"accuracy"`
	MacroF1         float64            `json:"macro_f1"`
	PerClass        []Average          `json:"per_class"`
	MacroAvg        Average            `json:"macro_avg"`
	WeightedAvg     Average            `json:"weighted_avg"`
	MicroAvgHeading string             `json:"micro_avg_heading"`
	Confusion       [][]int            `json:"confusion_matrix"`
	TopKAccuracy    map[string]float64 `json:"top_k_accuracy"`
}

func loadSklearnCases(t *testing.T) []sklearnCase {
	t.Helper()
	path := filepath.Join("testdata", "sklearn_reference.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	var fixture struct {
		SklearnVersion string        `json:"sklearn_version"`
		Cases          []sklearnCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	// The cases the brief asks for must all be there, so a regenerated
	// fixture cannot silently drop one.
	have := map[string]bool{}
	for _, c := range fixture.Cases {
		have[c.Name] = true
	}
	for _, name := range []string{"random_labels", "imbalanced", "class_never_predicted", "class_absent_from_true",
		"class_in_neither", "fer7", "gestures10", "long_class_name", "binary", "unicode_names", "perfect"} {
		if !have[name] {
			t.Fatalf("%s (sklearn %s) has no case %q", path, fixture.SklearnVersion, name)
		}
	}
	return fixture.Cases
}

func flatten(rows [][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

const tol = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tol }

func checkAverage(t *testing.T, what string, got, want Average) {
	t.Helper()
	if !near(got.Precision, want.Precision) || !near(got.Recall, want.Recall) || !near(got.F1, want.F1) || got.Support != want.Support {
		t.Errorf("%s = %+v, sklearn %+v", what, got, want)
	}
}

func TestMatchesSklearn(t *testing.T) {
	for _, c := range loadSklearnCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			m, err := Compute(c.YTrue, c.YPred, c.ClassNames)
			if err != nil {
				t.Fatal(err)
			}
			if !near(m.Accuracy, c.Accuracy) {
				t.Errorf("accuracy = %.17g, sklearn %.17g", m.Accuracy, c.Accuracy)
			}
			if !near(m.MacroF1, c.MacroF1) {
				t.Errorf("macro F1 = %.17g, sklearn %.17g", m.MacroF1, c.MacroF1)
			}
			for i, want := range c.PerClass {
				p := m.PerClass[i]
				checkAverage(t, "class "+p.Name, Average{p.Precision, p.Recall, p.F1, p.Support}, want)
			}
			checkAverage(t, "macro avg", m.MacroAvg, c.MacroAvg)
			checkAverage(t, "weighted avg", m.WeightedAvg, c.WeightedAvg)
			for i, row := range c.Confusion {
				for j, want := range row {
					if m.Confusion[i][j] != want {
						t.Errorf("confusion[%d][%d] = %d, sklearn %d", i, j, m.Confusion[i][j], want)
					}
				}
			}
			if got := m.accuracyIsMicroAvg(); got != (c.MicroAvgHeading == "accuracy") {
				t.Errorf("accuracy line heading: accuracyIsMicroAvg = %v, sklearn prints %q", got, c.MicroAvgHeading)
			}
			for _, digits := range []int{0, 2, 4} {
				want := c.Reports[strconv.Itoa(digits)]
				if want == "" {
					t.Fatalf("fixture has no report for digits=%d", digits)
				}
				if got := m.ClassificationReport(digits); got != want {
					t.Errorf("report digits=%d differs from sklearn.\n got:\n%s\nwant:\n%s", digits, got, want)
				}
			}

			if c.Scores == nil {
				return
			}
			scores := flatten(c.Scores)
			for ks, want := range c.TopKAccuracy {
				k, _ := strconv.Atoi(ks)
				got, err := TopKAccuracy(c.YTrue, scores, len(c.ClassNames), k)
				if err != nil {
					t.Fatal(err)
				}
				if !near(got, want) {
					t.Errorf("top-%d accuracy = %.17g, sklearn %.17g", k, got, want)
				}
			}
		})
	}
}

// The fer7 case predicts the arg-max of its scores, so ComputeFromScores
// must reproduce both sklearn's metrics and its top-k accuracies.
func TestComputeFromScoresMatchesSklearn(t *testing.T) {
	for _, c := range loadSklearnCases(t) {
		if c.Name != "fer7" {
			continue
		}
		m, err := ComputeFromScores(c.YTrue, flatten(c.Scores), c.ClassNames, 1, 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.ClassificationReport(2), c.Reports["2"]; got != want {
			t.Errorf("report differs from sklearn.\n got:\n%s\nwant:\n%s", got, want)
		}
		if len(m.TopK) != 3 {
			t.Fatalf("TopK = %+v, want 3 entries", m.TopK)
		}
		for _, tk := range m.TopK {
			if want := c.TopKAccuracy[strconv.Itoa(tk.K)]; !near(tk.Accuracy, want) {
				t.Errorf("top-%d = %.17g, sklearn %.17g", tk.K, tk.Accuracy, want)
			}
		}
		return
	}
	t.Fatal("fixture has no fer7 case")
}
