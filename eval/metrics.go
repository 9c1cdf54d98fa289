// Package eval computes classification metrics and writes them as text,
// JSON and PNG plots.
//
// The numbers and the text report follow scikit-learn exactly (checked
// against a fixture that scripts/sklearn_reference.py generates):
//
//   - Compute gives accuracy, per-class precision/recall/F1/support, the
//     macro and weighted averages and the confusion matrix;
//   - ComputeFromScores does the same from per-class scores (probabilities
//     or logits), predicting the first arg-max, and adds top-k accuracies;
//   - Metrics.ClassificationReport is sklearn's classification_report text;
//   - Metrics.WriteJSON writes every metric with stable field names;
//   - the Write*PNG / Save*PNG functions draw the confusion matrix, the
//     per-class accuracy bars and the training curves;
//   - Report bundles them and writes a whole directory.
//
// Zero division: a ratio whose denominator is 0 is 0, which is what
// scikit-learn's default (zero_division="warn") returns. Unlike
// scikit-learn we do not warn. Concretely, precision of a class that is
// never predicted, recall of a class with no true sample, and F1 of a class
// whose precision and recall are both 0 are all 0, and these zeros count in
// the macro and weighted averages.
//
// Reference version: the fixture comes from scikit-learn 1.2.1 (Debian 12's
// python3-sklearn). That version computes F1 as 2PR/(P+R), and so do we;
// scikit-learn >= 1.3 computes it from counts, which can differ in the last
// bit and, rarely, flip a rounded digit of the report.
package eval

import (
	"fmt"
	"math"
	"strings"
)

// ClassMetrics are the one-vs-rest metrics of one class.
type ClassMetrics struct {
	Name      string  `json:"name"`
	Precision float64 `json:"precision"` // TP / (TP + FP); 0 when the class is never predicted
	Recall    float64 `json:"recall"`    // TP / (TP + FN), the per-class accuracy; 0 when Support is 0
	F1        float64 `json:"f1"`        // harmonic mean of Precision and Recall; 0 when both are 0
	Support   int     `json:"support"`   // samples whose true class is this one (TP + FN)
	Predicted int     `json:"predicted"` // samples predicted as this class (TP + FP)
}

// Average is a macro or weighted average over the classes.
type Average struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // total number of samples
}

// TopK is the fraction of samples whose true class is among the K
// highest-scoring classes.
type TopK struct {
	K        int     `json:"k"`
	Accuracy float64 `json:"accuracy"`
}

// Metrics holds every metric of one evaluation. Its JSON field names
// (see WriteJSON) are stable.
type Metrics struct {
	ClassNames  []string       `json:"class_names"`
	NumSamples  int            `json:"num_samples"`
	Accuracy    float64        `json:"accuracy"` // fraction of samples predicted correctly
	MacroF1     float64        `json:"macro_f1"` // same as MacroAvg.F1
	PerClass    []ClassMetrics `json:"per_class"`
	MacroAvg    Average        `json:"macro_avg"`    // unweighted mean over classes
	WeightedAvg Average        `json:"weighted_avg"` // mean over classes weighted by Support
	// Confusion[i][j] counts the samples of true class i predicted as class j.
	Confusion [][]int `json:"confusion_matrix"`
	// TopK is set by ComputeFromScores (and AddTopK); empty otherwise.
	TopK []TopK `json:"top_k_accuracy,omitempty"`
}

// Compute returns the metrics of predictions yPred against labels yTrue.
// Labels are class indices in [0, len(classNames)). Classes that appear in
// neither slice still get a row (with zeros), as with sklearn's labels=
// argument set to every class.
func Compute(yTrue, yPred []int, classNames []string) (*Metrics, error) {
	k := len(classNames)
	if k == 0 {
		return nil, fmt.Errorf("eval: no class names given")
	}
	if len(yTrue) == 0 {
		return nil, fmt.Errorf("eval: y_true is empty: nothing to evaluate")
	}
	if len(yTrue) != len(yPred) {
		return nil, fmt.Errorf("eval: y_true has %d labels but y_pred has %d", len(yTrue), len(yPred))
	}
	if err := checkLabels("y_true", yTrue, classNames); err != nil {
		return nil, err
	}
	if err := checkLabels("y_pred", yPred, classNames); err != nil {
		return nil, err
	}

	// confusion is (K, K): row = true class, column = predicted class.
	confusion := make([][]int, k)
	for i := range confusion {
		confusion[i] = make([]int, k)
	}
	correct := 0
	for i, t := range yTrue {
		p := yPred[i]
		confusion[t][p]++
		if t == p {
			correct++
		}
	}
	n := len(yTrue)

	m := &Metrics{
		ClassNames: append([]string(nil), classNames...),
		NumSamples: n,
		Accuracy:   float64(correct) / float64(n),
		PerClass:   make([]ClassMetrics, k),
		Confusion:  confusion,
	}
	for c := 0; c < k; c++ {
		tp := confusion[c][c]
		support, predicted := 0, 0
		for j := 0; j < k; j++ {
			support += confusion[c][j]
			predicted += confusion[j][c]
		}
		m.PerClass[c] = ClassMetrics{
			Name:      classNames[c],
			Precision: ratio(tp, predicted),
			Recall:    ratio(tp, support),
			F1:        f1(ratio(tp, predicted), ratio(tp, support)),
			Support:   support,
			Predicted: predicted,
		}
	}

	var macro, weighted Average
	for _, c := range m.PerClass {
		macro.Precision += c.Precision
		macro.Recall += c.Recall
		macro.F1 += c.F1
		w := float64(c.Support)
		weighted.Precision += c.Precision * w
		weighted.Recall += c.Recall * w
		weighted.F1 += c.F1 * w
	}
	macro.Precision /= float64(k)
	macro.Recall /= float64(k)
	macro.F1 /= float64(k)
	// The supports add up to n > 0, so the weighted mean is defined.
	weighted.Precision /= float64(n)
	weighted.Recall /= float64(n)
	weighted.F1 /= float64(n)
	macro.Support, weighted.Support = n, n
	m.MacroAvg, m.WeightedAvg = macro, weighted
	m.MacroF1 = macro.F1
	return m, nil
}

// ComputeFromScores predicts, for each sample, the class with the highest
// score (the first one on ties, like numpy's argmax), computes the metrics
// as Compute does, and adds the top-k accuracy for each k in ks (default
// DefaultTopK; values of k >= number of classes give 1).
//
// scores is (N, K) row-major: scores[i*K+c] is the score of class c for
// sample i, with N = len(yTrue) and K = len(classNames). Probabilities and
// logits give the same results.
func ComputeFromScores(yTrue []int, scores []float32, classNames []string, ks ...int) (*Metrics, error) {
	yPred, err := Argmax(scores, len(yTrue), len(classNames))
	if err != nil {
		return nil, err
	}
	m, err := Compute(yTrue, yPred, classNames)
	if err != nil {
		return nil, err
	}
	if err := m.AddTopK(yTrue, scores, ks...); err != nil {
		return nil, err
	}
	return m, nil
}

// DefaultTopK are the k values ComputeFromScores and AddTopK use when none
// is given.
var DefaultTopK = []int{1, 2, 3}

// AddTopK computes the top-k accuracy for each k in ks (default
// DefaultTopK) and stores them in m.TopK, replacing earlier values.
// yTrue and scores are as in ComputeFromScores and must match m.
func (m *Metrics) AddTopK(yTrue []int, scores []float32, ks ...int) error {
	if len(yTrue) != m.NumSamples {
		return fmt.Errorf("eval: top-k: y_true has %d labels but the metrics were computed on %d samples", len(yTrue), m.NumSamples)
	}
	if len(ks) == 0 {
		ks = DefaultTopK
	}
	out := make([]TopK, 0, len(ks))
	for _, k := range ks {
		acc, err := TopKAccuracy(yTrue, scores, len(m.ClassNames), k)
		if err != nil {
			return err
		}
		out = append(out, TopK{K: k, Accuracy: acc})
	}
	m.TopK = out
	return nil
}

// TopKAccuracy is the fraction of samples whose true class is among the k
// highest scores. scores is (N, numClasses) row-major with N = len(yTrue).
//
// Ties are broken as scikit-learn's top_k_accuracy_score does: among equal
// scores the class with the larger index ranks higher. So the true class t
// of a sample is a hit when fewer than k classes j have
// score[j] > score[t], or score[j] == score[t] and j > t.
func TopKAccuracy(yTrue []int, scores []float32, numClasses, k int) (float64, error) {
	if numClasses <= 0 {
		return 0, fmt.Errorf("eval: top-k: number of classes is %d, want > 0", numClasses)
	}
	if k < 1 {
		return 0, fmt.Errorf("eval: top-k: k = %d, want >= 1", k)
	}
	if len(yTrue) == 0 {
		return 0, fmt.Errorf("eval: top-k: y_true is empty: nothing to evaluate")
	}
	if err := checkScores(scores, len(yTrue), numClasses); err != nil {
		return 0, err
	}
	hits := 0
	for i, t := range yTrue {
		if t < 0 || t >= numClasses {
			return 0, fmt.Errorf("eval: top-k: y_true[%d] = %d is out of range [0, %d)", i, t, numClasses)
		}
		row := scores[i*numClasses : (i+1)*numClasses]
		st := row[t]
		above := 0 // classes ranked above the true class
		for j, s := range row {
			if s > st || (s == st && j > t) {
				above++
			}
		}
		if above < k {
			hits++
		}
	}
	return float64(hits) / float64(len(yTrue)), nil
}

// Argmax returns, for each of the n rows of the (n, numClasses) row-major
// scores, the index of its largest value (the first one on ties).
func Argmax(scores []float32, n, numClasses int) ([]int, error) {
	if numClasses <= 0 {
		return nil, fmt.Errorf("eval: argmax: number of classes is %d, want > 0", numClasses)
	}
	if err := checkScores(scores, n, numClasses); err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i := range out {
		row := scores[i*numClasses : (i+1)*numClasses]
		best := 0
		for j, s := range row {
			if s > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out, nil
}

// PerClassAccuracy returns each class's recall: the fraction of its samples
// that were predicted correctly (0 for a class with no sample).
func (m *Metrics) PerClassAccuracy() []float64 {
	out := make([]float64, len(m.PerClass))
	for i, c := range m.PerClass {
		out[i] = c.Recall
	}
	return out
}

// NormalizedConfusion returns the confusion matrix with each row divided by
// its sum (the class's support), so row i gives how the samples of true
// class i were predicted. A row with no sample is all zeros (as sklearn's
// confusion_matrix(normalize="true") returns).
func (m *Metrics) NormalizedConfusion() [][]float64 {
	out := make([][]float64, len(m.Confusion))
	for i, row := range m.Confusion {
		out[i] = make([]float64, len(row))
		sum := 0
		for _, v := range row {
			sum += v
		}
		for j, v := range row {
			out[i][j] = ratio(v, sum)
		}
	}
	return out
}

// f1 is the harmonic mean 2PR/(P+R), evaluated in the same order as
// scikit-learn 1.2 ((2*P)*R/(P+R)), and 0 when P+R is 0. Computing it
// from counts, 2TP/(2TP+FP+FN), is equal in exact arithmetic but can differ
// in the last bit, which is enough to flip a rounded digit in the report.
func f1(precision, recall float64) float64 {
	den := precision + recall
	if den == 0 {
		return 0
	}
	return 2 * precision * recall / den
}

// ratio is num/den, or 0 when den is 0 (sklearn's zero_division default).
func ratio(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

func checkLabels(field string, labels []int, classNames []string) error {
	for i, v := range labels {
		if v < 0 || v >= len(classNames) {
			return fmt.Errorf("eval: %s[%d] = %d is out of range [0, %d) (classes: %s)",
				field, i, v, len(classNames), strings.Join(classNames, ", "))
		}
	}
	return nil
}

func checkScores(scores []float32, n, numClasses int) error {
	if len(scores) != n*numClasses {
		return fmt.Errorf("eval: scores has %d values, want %d samples x %d classes = %d",
			len(scores), n, numClasses, n*numClasses)
	}
	for i, s := range scores {
		if math.IsNaN(float64(s)) {
			return fmt.Errorf("eval: scores[%d] (sample %d, class %d) is NaN", i, i/numClasses, i%numClasses)
		}
	}
	return nil
}
