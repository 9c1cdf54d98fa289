package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/model"
)

// writeSubjectFolder writes <class>/s<k>_<n>.png, 28x28 gray: 4 subjects,
// 2 classes, 6 images per subject and class.
func writeSubjectFolder(t *testing.T, root string) {
	t.Helper()
	for c, class := range []string{"fist", "palm"} {
		for s := 1; s <= 4; s++ {
			for n := 0; n < 6; n++ {
				img := image.NewGray(image.Rect(0, 0, 28, 28))
				for i := range img.Pix {
					img.Pix[i] = uint8((i*(c+1)*7 + s*13 + n*31) % 256)
				}
				path := filepath.Join(root, class, fmt.Sprintf("s%d_%d.png", s, n))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(f, img); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
	}
}

// TestGroupSplitCLI: train --group-by holds out whole subjects of a plain
// folder and prints which; the 28x28 images stay 28x28 (no --image-size);
// last.residual sits beside best.residual; eval rebuilds the same
// group-wise validation split and --skip-bad says how many files it
// skipped.
func TestGroupSplitCLI(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "hands")
	writeSubjectFolder(t, root)
	run := filepath.Join(dir, "run")
	out, err := runCLI(t, "train", "--data", root, "--group-by", `^(s\d)_`, "--val-split", "0.25", "--model", "resnet20",
		"--width-mult", "0.25", "--epochs", "1", "--batch", "8", "--out", run, "--progress", "none")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	_, meta, err := model.Load(filepath.Join(run, "best"+model.FileExt))
	if err != nil {
		t.Fatal(err)
	}
	if p := meta.Preprocess; p.Width != 28 || p.Height != 28 || p.Channels != 1 {
		t.Errorf("model input %dx%dx%d, want the data's 28x28x1", p.Width, p.Height, p.Channels)
	}
	if meta.Training.ValSamples != 12 || meta.Training.TrainSamples != 36 {
		t.Errorf("split %d/%d, want one subject (12 images) held out", meta.Training.TrainSamples, meta.Training.ValSamples)
	}
	if _, err := os.Stat(filepath.Join(run, "last"+model.FileExt)); err != nil {
		t.Errorf("no last.residual: %v", err)
	}

	// The same through the progress output.
	run2 := filepath.Join(dir, "run2")
	out, err = runCLI(t, "train", "--data", root, "--group-by", `^(s\d)_`, "--val-split", "0.25", "--model", "resnet20",
		"--width-mult", "0.25", "--epochs", "1", "--batch", "8", "--out", run2, "--progress", "lines")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	if !strings.Contains(out, "group-wise split: training on 3 groups: s") || !strings.Contains(out, "validating on 1 group: s") || !strings.Contains(out, "input 28x28x1") {
		t.Errorf("train output does not show the groups and the data's size:\n%s", out)
	}

	// A corrupt file of subject 1: eval --skip-bad counts it.
	if err := os.WriteFile(filepath.Join(root, "palm", "s1_bad.png"), []byte("not a PNG"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "eval", "--model", filepath.Join(run, "best"+model.FileExt), "--data", root, "--split", "val", "--skip-bad")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	if !strings.Contains(out, "12 images") || !strings.Contains(out, "--skip-bad: skipped 1 bad rows or images") || !strings.Contains(out, "s1_bad.png") {
		t.Errorf("eval output lacks the 12 held-out images or the skip count:\n%s", out)
	}
	if _, err := runCLI(t, "eval", "--model", filepath.Join(run, "best"+model.FileExt), "--data", root, "--split", "val"); err == nil || !strings.Contains(err.Error(), "s1_bad.png") {
		t.Errorf("eval without --skip-bad: %v, want an error naming the corrupt file", err)
	}
	if _, err := runCLI(t, "train", "--data", root, "--group-by", `^(s\d_`, "--out", filepath.Join(dir, "bad")); err == nil || !strings.Contains(err.Error(), `^(s\d_`) {
		t.Errorf("bad --group-by: %v", err)
	}
}

// TestTimeToAccuracyCLI: the command tabulates a run's metrics.csv
// against cumulative hours, finds the targets and writes the PNG.
func TestTimeToAccuracyCLI(t *testing.T) {
	dir := t.TempDir()
	csv := "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_macro_f1,images_per_sec,seconds\n" +
		"1,0.1,1.8,0.25,1.7,0.40,0.2,27,1800\n2,0.05,1.5,0.41,1.3,0.66,0.3,28,5400\n"
	if err := os.WriteFile(filepath.Join(dir, "metrics.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "tta.png")
	out, err := runCLI(t, "time-to-accuracy", dir, "--name", "run", "--targets", "0.6,0.7", "--png", png)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"| 2 | 2.00 | 66.00% | 66.00% |", "| run | 2.00 h (epoch 2) | not reached | 66.00% (2.00 h) |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Errorf("no PNG: %v", err)
	}
	if _, err := runCLI(t, "time-to-accuracy", dir, "--targets", "70"); err == nil || !strings.Contains(err.Error(), "fractions") {
		t.Errorf("--targets 70: %v", err)
	}
}
