package eval

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ClassificationReport returns the text of scikit-learn's
// classification_report(y_true, y_pred, labels=range(K),
// target_names=ClassNames, digits=digits), byte for byte:
//
//	              precision    recall  f1-score   support
//
//	       angry       0.68      0.70      0.69        66
//	     ...
//
//	    accuracy                           0.72       500
//	   macro avg       0.65      0.75      0.66       500
//	weighted avg       0.74      0.72      0.72       500
//
// The first column is as wide as the longest of the class names,
// "weighted avg" and digits; the other columns are 9 wide. digits is the
// number of decimals (sklearn's default is 2); a negative value is taken as 0.
//
// The accuracy line shows 2a²/(a+a) for the accuracy a, as sklearn does
// (it prints the micro-averaged F1 there); it can round differently from
// a itself in the last digit. Metrics.Accuracy holds a exactly.
//
// Like sklearn, when a class appears in neither y_true nor y_pred the
// "accuracy" line becomes a "micro avg" line whose precision, recall and
// F1 all equal the accuracy.
func (m *Metrics) ClassificationReport(digits int) string {
	if digits < 0 {
		digits = 0
	}
	const lastHeading = "weighted avg"
	width := max(utf8.RuneCountInString(lastHeading), digits)
	for _, name := range m.ClassNames {
		width = max(width, utf8.RuneCountInString(name))
	}
	num := func(v float64) string { return fmt.Sprintf(" %9s", strconv.FormatFloat(v, 'f', digits, 64)) }
	row := func(b *strings.Builder, heading string, p, r, f1 float64, support int) {
		fmt.Fprintf(b, "%*s %s%s%s %9d\n", width, heading, num(p), num(r), num(f1), support)
	}

	// sklearn's accuracy line shows the micro-averaged F1, whose precision
	// and recall are both the accuracy: 2*a*a/(a+a) can differ from a in the
	// last bit and so round differently (0.725 prints as 0.73 there).
	microF1 := f1(m.Accuracy, m.Accuracy)

	var b strings.Builder
	fmt.Fprintf(&b, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support")
	for _, c := range m.PerClass {
		row(&b, c.Name, c.Precision, c.Recall, c.F1, c.Support)
	}
	b.WriteString("\n")
	if m.accuracyIsMicroAvg() {
		fmt.Fprintf(&b, "%*s  %9s %9s%s %9d\n", width, "accuracy", "", "", num(microF1), m.NumSamples)
	} else {
		row(&b, "micro avg", m.Accuracy, m.Accuracy, microF1, m.NumSamples)
	}
	row(&b, "macro avg", m.MacroAvg.Precision, m.MacroAvg.Recall, m.MacroAvg.F1, m.MacroAvg.Support)
	row(&b, lastHeading, m.WeightedAvg.Precision, m.WeightedAvg.Recall, m.WeightedAvg.F1, m.WeightedAvg.Support)
	return b.String()
}

// accuracyIsMicroAvg reports whether every class occurs in y_true or y_pred:
// only then does sklearn label the micro average "accuracy".
func (m *Metrics) accuracyIsMicroAvg() bool {
	for _, c := range m.PerClass {
		if c.Support == 0 && c.Predicted == 0 {
			return false
		}
	}
	return true
}

// ConfusionMatrixText returns the confusion matrix as a table with the
// class names on both sides, rows = true class, columns = predicted class:
//
//	Confusion matrix (rows: true class, columns: predicted class)
//
//	true \ pred  angry  disgust  fear
//	      angry     12        0     3
//	    disgust      1        4     0
//	       fear      2        0    20
//
// With normalize set, each cell is the percentage of its row (the true
// class's samples), with one decimal.
func (m *Metrics) ConfusionMatrixText(normalize bool) string {
	const corner = `true \ pred`
	cells := make([][]string, len(m.Confusion))
	var norm [][]float64
	if normalize {
		norm = m.NormalizedConfusion()
	}
	for i, row := range m.Confusion {
		cells[i] = make([]string, len(row))
		for j, v := range row {
			if normalize {
				cells[i][j] = strconv.FormatFloat(100*norm[i][j], 'f', 1, 64)
			} else {
				cells[i][j] = strconv.Itoa(v)
			}
		}
	}

	first := utf8.RuneCountInString(corner)
	for _, name := range m.ClassNames {
		first = max(first, utf8.RuneCountInString(name))
	}
	widths := make([]int, len(m.ClassNames))
	for j, name := range m.ClassNames {
		widths[j] = utf8.RuneCountInString(name)
		for i := range cells {
			widths[j] = max(widths[j], len(cells[i][j]))
		}
	}

	var b strings.Builder
	if normalize {
		b.WriteString("Confusion matrix, % of each true class (rows: true class, columns: predicted class)\n\n")
	} else {
		b.WriteString("Confusion matrix (rows: true class, columns: predicted class)\n\n")
	}
	fmt.Fprintf(&b, "%*s", first, corner)
	for j, name := range m.ClassNames {
		fmt.Fprintf(&b, "  %*s", widths[j], name)
	}
	b.WriteString("\n")
	for i, name := range m.ClassNames {
		fmt.Fprintf(&b, "%*s", first, name)
		for j := range m.ClassNames {
			fmt.Fprintf(&b, "  %*s", widths[j], cells[i][j])
		}
		b.WriteString("\n")
	}
	return b.String()
}
