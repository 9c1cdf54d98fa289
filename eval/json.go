package eval

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes m as indented JSON. The field names are stable:
//
//	{
//	  "class_names": ["angry", ...],
//	  "num_samples": 500,
//	  "accuracy": 0.716,
//	  "macro_f1": 0.66,
//	  "per_class": [{"name": "angry", "precision": ..., "recall": ..., "f1": ...,
//	                 "support": 66, "predicted": 68}, ...],
//	  "macro_avg": {"precision": ..., "recall": ..., "f1": ..., "support": 500},
//	  "weighted_avg": {...same fields...},
//	  "confusion_matrix": [[46, 0, 5, ...], ...],   // [true][predicted]
//	  "top_k_accuracy": [{"k": 1, "accuracy": ...}, ...]   // only with scores
//	}
//
// Numbers are written with full float64 precision, so ReadJSON gives back
// exactly the same values.
func (m *Metrics) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("eval: writing metrics JSON: %w", err)
	}
	return nil
}

// ReadJSON reads metrics written by WriteJSON and checks that they are
// consistent (one row per class, a K x K confusion matrix).
func ReadJSON(r io.Reader) (*Metrics, error) {
	var m Metrics
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("eval: reading metrics JSON: %w", err)
	}
	k := len(m.ClassNames)
	if k == 0 {
		return nil, fmt.Errorf("eval: metrics JSON: class_names is empty")
	}
	if len(m.PerClass) != k {
		return nil, fmt.Errorf("eval: metrics JSON: per_class has %d rows but there are %d class_names", len(m.PerClass), k)
	}
	if len(m.Confusion) != k {
		return nil, fmt.Errorf("eval: metrics JSON: confusion_matrix has %d rows, want %d", len(m.Confusion), k)
	}
	for i, row := range m.Confusion {
		if len(row) != k {
			return nil, fmt.Errorf("eval: metrics JSON: confusion_matrix row %d has %d columns, want %d", i, len(row), k)
		}
	}
	return &m, nil
}
