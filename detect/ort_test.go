//go:build ort

// Run with ONNX Runtime installed through npm (not needed by the default
// `go test ./...`):
//
//	mkdir -p /tmp/ort && (cd /tmp/ort && npm install --no-audit --no-fund --ignore-scripts onnxruntime-node@1.30.0)
//	ORT_DIR=/tmp/ort go test -tags ort -run ONNXRuntime ./detect                            # compare
//	RESIDUAL_UPDATE_FIXTURES=1 ORT_DIR=/tmp/ort go test -tags ort -run ONNXRuntime ./detect # rewrite testdata/ort
package detect

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// TestReferenceFromONNXRuntime prepares each case's input with our
// preprocessing, runs the model file in ONNX Runtime through
// scripts/detector_reference.mjs and writes the fixture (with
// RESIDUAL_UPDATE_FIXTURES=1) that TestDetectorsMatchONNXRuntime checks;
// without it, it checks that the committed fixture still matches ORT.
func TestReferenceFromONNXRuntime(t *testing.T) {
	if os.Getenv("ORT_DIR") == "" {
		t.Fatal("set ORT_DIR to a directory where `npm install --ignore-scripts onnxruntime-node@1.30.0` was run (see the top of ort_test.go)")
	}
	files := map[string]string{
		"short": "models/face_detection_front_128x128_barracuda.onnx",
		"full":  "models/face_detection_back_256x256_barracuda.onnx",
		"palm":  "models/palm_detection.onnx",
	}
	for _, c := range refCases {
		t.Run(c.kind+"/"+c.image, func(t *testing.T) {
			img := loadShared(t, c.image)
			d := refSSD(t, c.kind)
			inst, sum, sq := prepared(t, d, img)
			x := inst.in
			if c.kind == "palm" { // the palm model takes NCHW
				x = tensor.New(1, 3, d.spec.size, d.spec.size)
				s := d.spec.size
				for i := 0; i < s*s; i++ {
					for ch := 0; ch < 3; ch++ {
						x.Data[ch*s*s+i] = inst.in.Data[i*3+ch]
					}
				}
			}
			dir := t.TempDir()
			in, _ := json.Marshal(map[string]any{"shape": x.Shape, "data": x.Data})
			ip := filepath.Join(dir, "input.json")
			if err := os.WriteFile(ip, in, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("node", "../scripts/detector_reference.mjs", c.kind, files[c.kind], ip, "8", "0.5")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("detector_reference.mjs: %v\n%s", err, stderr.String())
			}
			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			m["image"], m["input_sum"], m["input_sumsq"] = c.image, sum, sq
			b, _ := json.MarshalIndent(m, "", " ")
			if os.Getenv("RESIDUAL_UPDATE_FIXTURES") != "" {
				if err := os.MkdirAll(filepath.Dir(c.fixturePath()), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.fixturePath(), append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", c.fixturePath())
				return
			}
			var got, want fixture
			_ = json.Unmarshal(b, &got)
			want = *readFixture(t, c)
			if len(got.Top) != len(want.Top) || len(got.Detections) != len(want.Detections) {
				t.Fatalf("ORT now gives %d top anchors and %d detections, the fixture %d and %d", len(got.Top), len(got.Detections), len(want.Top), len(want.Detections))
			}
			for i := range got.Top {
				if got.Top[i].Anchor != want.Top[i].Anchor || maxAbs(got.Top[i].Raw, want.Top[i].Raw) > 1e-4 {
					t.Errorf("top anchor %d: ORT gives anchor %d, the fixture %d (or different values)", i, got.Top[i].Anchor, want.Top[i].Anchor)
				}
			}
		})
	}
}
