package detect

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/vision"
)

// TestMain prints one line when tests skipped for want of a dataset.
func TestMain(m *testing.M) { fixtures.Main(m) }

// refCase is one (model, photo) pair checked against ONNX Runtime.
type refCase struct {
	kind  string // short, full or palm
	image string // faces/NAME (committed, testdata/faces) or a dataset path (gestures/...)
}

var refCases = []refCase{
	{"short", "faces/astronaut.png"},
	{"short", "faces/grace_hopper.jpg"},
	{"full", "faces/astronaut.png"},
	{"full", "faces/grace_hopper.jpg"},
	{"palm", "gestures/sign-language-digits/5/IMG_1123.JPG"},
	{"palm", "gestures/sign-language-digits/2/IMG_1130.JPG"},
	{"palm", "faces/grace_hopper.jpg"},
}

// fixture is what scripts/detector_reference.mjs prints, plus the
// input's checksums (so a change of preprocessing is reported as such).
type fixture struct {
	Kind     string  `json:"kind"`
	Image    string  `json:"image"`
	InputSum float64 `json:"input_sum"`
	InputSq  float64 `json:"input_sumsq"`
	Anchors  int     `json:"anchors"`
	Top      []struct {
		Anchor int       `json:"anchor"`
		Score  float32   `json:"score"`
		Raw    []float32 `json:"raw"`
	} `json:"top"`
	Detections []struct {
		Anchor    int          `json:"anchor"`
		Score     float32      `json:"score"`
		Box       [4]float32   `json:"box"`
		Keypoints [][2]float32 `json:"keypoints"`
	} `json:"detections"`
}

func (c refCase) fixturePath() string {
	name := fmt.Sprintf("%s_%s.json", c.kind, filepath.Base(c.image))
	return filepath.Join("testdata", "ort", name)
}

// refSSD builds the detector of a kind with one worker.
func refSSD(t testing.TB, kind string) *ssd {
	t.Helper()
	var s spec
	var err error
	switch kind {
	case "palm":
		s = palmSpec()
	default:
		s, err = blazeFaceSpec(Range(kind))
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := newSSD(s, 1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// loadShared loads an RGB photo: faces/NAME from the committed
// testdata/faces, anything else from the datasets (skipped, counted, when
// they are absent).
func loadShared(t testing.TB, rel string) *vision.Image {
	t.Helper()
	const digits = "gestures/sign-language-digits"
	var p string
	if name, ok := strings.CutPrefix(rel, "faces/"); ok {
		p = fixtures.Face(t, name)
	} else if file, ok := strings.CutPrefix(rel, digits+"/"); ok {
		p = filepath.Join(fixtures.Dataset(t, digits), filepath.FromSlash(file))
	} else {
		t.Fatalf("photo %s: neither a committed face nor in a known dataset", rel)
	}
	img, err := vision.LoadFile(nil, p, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// prepared runs the letterbox preprocessing of case c and returns the
// instance holding the input and the input's checksums.
func prepared(t testing.TB, d *ssd, img *vision.Image) (*instance, float64, float64) {
	t.Helper()
	inst, err := d.get()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.prepare(inst, img); err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	for _, v := range inst.in.Data {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	return inst, sum, sq
}

func readFixture(t testing.TB, c refCase) *fixture {
	t.Helper()
	b, err := os.ReadFile(c.fixturePath())
	if err != nil {
		t.Fatalf("fixture %s missing (regenerate with RESIDUAL_UPDATE_FIXTURES=1 ORT_DIR=... go test -tags ort -run ONNXRuntime ./detect): %v", c.fixturePath(), err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", c.fixturePath(), err)
	}
	return &f
}

func maxAbs(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}
