package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/vision"
)

// systemPython is the interpreter Debian's python3-torch installs into.
const systemPython = "/usr/bin/python3"

// stripes writes n 16x16 gray PNGs per class into dir/<class>/: horizontal
// stripes, vertical stripes and a checkerboard, each with random phase and
// noise, an easy task a few steps of fine-tuning make progress on.
func stripes(t *testing.T, dir string, classes []string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for k, class := range classes {
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			img := image.NewGray(image.Rect(0, 0, 16, 16))
			phase := rng.IntN(4)
			for y := range 16 {
				for x := range 16 {
					var on bool
					switch k {
					case 0:
						on = (y+phase)/2%2 == 0
					case 1:
						on = (x+phase)/2%2 == 0
					default:
						on = ((x+phase)/2+(y+phase)/2)%2 == 0
					}
					v := 40 + rng.IntN(40)
					if on {
						v = 180 + rng.IntN(60)
					}
					img.Pix[y*16+x] = uint8(v)
				}
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, class, fmt.Sprintf("%02d.png", i)), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDDPFinetuneRoundTrip: residual export -> a 2-process PyTorch
// DistributedDataParallel fine-tune (gloo, CPU; scripts/ddp_finetune.py)
// -> residual import -> residual eval. The loss must go down, the imported
// weights must be exactly the ones PyTorch saved and differ from the
// originals, and residual eval must agree with PyTorch's accuracy.
func TestDDPFinetuneRoundTrip(t *testing.T) {
	if err := exec.Command(systemPython, "-c", "import torch, PIL, numpy").Run(); err != nil {
		t.Skipf("%s cannot import torch, PIL and numpy (%v): apt-get install python3-torch python3-torchvision to run the DDP round trip; CI does not install PyTorch, so this test skips there", systemPython, err)
	}
	dir := t.TempDir()
	classes := []string{"horizontal", "vertical", "checker"}
	data := filepath.Join(dir, "data")
	stripes(t, data, classes, 12)

	cfg := model.Config{Layers: []int{1, 1}, Widths: []int{4, 8}, Input: [3]int{16, 16, 1}, Classes: len(classes)}
	net, err := model.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.residual")
	meta := model.Meta{Task: "stripes", Classes: classes, Preprocess: vision.Preprocess{Width: 16, Height: 16, Channels: 1, Mean: []float32{0.5}, Std: []float32{0.25}}}
	if err := model.Save(base, net, meta); err != nil {
		t.Fatal(err)
	}
	baseST := filepath.Join(dir, "base.safetensors")
	if _, err := runCLI(t, "export", "--model", base, "--format", "safetensors", "--out", baseST); err != nil {
		t.Fatal(err)
	}

	tunedST := filepath.Join(dir, "tuned.safetensors")
	cmd := exec.Command(systemPython, filepath.Join("..", "..", "scripts", "ddp_finetune.py"),
		"--weights", baseST, "--data", data, "--out", tunedST, "--nproc", "2", "--steps", "30", "--batch", "8", "--lr", "0.05")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ddp_finetune.py: %v\n%s\n%s", err, out, stderr.String())
	}
	var summary struct {
		FirstLoss     float64 `json:"first_loss"`
		LastLoss      float64 `json:"last_loss"`
		Processes     int     `json:"processes"`
		Images        int     `json:"images"`
		TrainAccuracy float64 `json:"train_accuracy"`
	}
	var steps int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, `{"step"`):
			steps++
		case strings.HasPrefix(line, `{"first_loss"`):
			if err := json.Unmarshal([]byte(line), &summary); err != nil {
				t.Fatalf("summary %q: %v", line, err)
			}
		}
	}
	t.Logf("DDP: %d processes, %d steps, loss %.4f -> %.4f, PyTorch train accuracy %.3f on %d images", summary.Processes, steps, summary.FirstLoss, summary.LastLoss, summary.TrainAccuracy, summary.Images)
	if summary.Processes != 2 || steps != 30 || summary.Images != 36 {
		t.Fatalf("DDP run: %d processes, %d steps, %d images; want 2, 30, 36\n%s", summary.Processes, steps, summary.Images, out)
	}
	if !(summary.LastLoss < summary.FirstLoss) {
		t.Errorf("loss did not decrease: %.4f -> %.4f", summary.FirstLoss, summary.LastLoss)
	}

	tuned := filepath.Join(dir, "tuned.residual")
	if _, err := runCLI(t, "import", "--weights", tunedST, "--model", base, "--out", tuned); err != nil {
		t.Fatal(err)
	}
	// The imported weights are exactly PyTorch's: exported again, every
	// tensor has the bytes PyTorch wrote; and they differ from the base.
	againST := filepath.Join(dir, "again.safetensors")
	if _, err := runCLI(t, "export", "--model", tuned, "--format", "safetensors", "--out", againST); err != nil {
		t.Fatal(err)
	}
	torchF, againF, baseF := readST(t, tunedST), readST(t, againST), readST(t, baseST)
	if len(torchF.Names()) != len(againF.Names()) {
		t.Fatalf("PyTorch wrote %d tensors, the imported model exports %d", len(torchF.Names()), len(againF.Names()))
	}
	changed := 0
	for _, name := range againF.Names() {
		want, err := torchF.Raw(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := againF.Raw(name)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: imported tensor differs from the one PyTorch saved", name)
		}
		orig, _ := baseF.Raw(name)
		if !bytes.Equal(orig, want) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("fine-tuning changed no tensor")
	}
	if w, err := maxAbsDiff(baseF, torchF, "fc.weight"); err != nil || w == 0 {
		t.Errorf("fc.weight: max change %v (%v), want > 0", w, err)
	}
	t.Logf("%d of %d tensors changed by fine-tuning; all match PyTorch's bytes after import", changed, len(againF.Names()))

	evalOut, err := runCLI(t, "eval", "--model", tuned, "--data", data, "--format", "folders", "--split", "all", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var metrics struct {
		Accuracy float64 `json:"accuracy"`
	}
	if err := json.Unmarshal([]byte(evalOut), &metrics); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, evalOut)
	}
	t.Logf("residual eval accuracy %.3f, PyTorch %.3f", metrics.Accuracy, summary.TrainAccuracy)
	// Same images, preprocessing and weights: at most one prediction may
	// flip on a near-tie between the two implementations.
	if math.Abs(metrics.Accuracy-summary.TrainAccuracy) > 1.0/36+1e-9 {
		t.Errorf("residual eval accuracy %.4f, PyTorch's %.4f on the same images", metrics.Accuracy, summary.TrainAccuracy)
	}
}

func readST(t *testing.T, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func maxAbsDiff(a, b *safetensors.File, name string) (float64, error) {
	x, err := a.Tensor(name)
	if err != nil {
		return 0, err
	}
	y, err := b.Tensor(name)
	if err != nil {
		return 0, err
	}
	var m float64
	for i, v := range x.Data {
		m = max(m, math.Abs(float64(v-y.Data[i])))
	}
	return m, nil
}
