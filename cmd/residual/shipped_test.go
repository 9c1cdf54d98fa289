package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
)

// TestShippedModelsAccuracy evaluates the shipped models on the real
// datasets (skipped when they are absent): the emotion model on FER2013's
// PublicTest split with flip TTA, the gesture model on the held-out
// sessions of the sign-digits photos. The figures are docs/RESULTS.md's.
func TestShippedModelsAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates on 4,000 real images (about 10 s)")
	}
	for _, tc := range []struct {
		name, model, data string
		args              []string
		samples           int
		minAcc            float64
	}{
		{"emotion", "emotion-fer2013.residual", "fer2013", []string{"--split", "publictest", "--tta", "flip"}, 3589, 0.68},
		{"gesture", "gesture-digits.residual", "gestures/sign-language-digits", []string{"--format", "sign-digits"}, 414, 0.97},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := fixtures.Dataset(t, tc.data)
			args := append([]string{"eval", "--model", filepath.Join("..", "..", "models", tc.model), "--data", data, "--json"}, tc.args...)
			out, err := runCLI(t, args...)
			if err != nil {
				t.Fatalf("eval: %v\n%s", err, out)
			}
			var m struct {
				NumSamples int     `json:"num_samples"`
				Accuracy   float64 `json:"accuracy"`
			}
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("eval --json: %v\n%s", err, out)
			}
			t.Logf("%s: accuracy %.4f on %d images", tc.model, m.Accuracy, m.NumSamples)
			if m.NumSamples != tc.samples || m.Accuracy < tc.minAcc {
				t.Errorf("%s: accuracy %.4f on %d images, want >= %.2f on %d", tc.model, m.Accuracy, m.NumSamples, tc.minAcc, tc.samples)
			}
		})
	}
}
