package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/train"
)

// TestCLIBadInputs is the command-line half of the bad-input catalogue
// (issue 12; serve's HTTP half is in serve): every bad flag value, file or
// argument gives the documented exit code (2: bad flags or arguments,
// 1: the command failed) and an error naming the flag, field or file and
// the offending value. Nothing here trains: every case fails before the
// first step.
func TestCLIBadInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	epochs0 := write("epochs0.json", `{"data":"x.csv","epochs":0}`)
	trailing := write("trailing.json", `{"data":"x.csv"} {"epochs":3}`)
	badType := write("type.json", `{"data":"x.csv","lr":"fast"}`)
	huge := write("huge.json", `{"data":"x.csv","lr":1e999}`)
	negBatch := write("negbatch.json", `{"data":"x.csv","batch_size":-8}`)
	csv := filepath.Join(dir, "faces.csv")
	if err := data.GenerateFER2013CSV(csv, 28, 14, 0, 1); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	os.MkdirAll(locked, 0o755)
	unlock, err := train.LockRunDir(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	tr := func(args ...string) []string { return append([]string{"train", "--data", "x.csv"}, args...) }
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		// Flags rejected when parsed (exit 2), naming the flag and value.
		{tr("--epochs", "0"), 2, `invalid argument "0" for "--epochs" flag: 0, want at least 1`},
		{tr("--epochs", "-3"), 2, `invalid argument "-3" for "--epochs" flag`},
		{tr("--batch", "0"), 2, `invalid argument "0" for "--batch" flag: 0, want at least 1`},
		{tr("--lr", "Inf"), 2, `invalid argument "Inf" for "--lr" flag: +Inf is not a finite number`},
		{tr("--width-mult", "NaN"), 2, `invalid argument "NaN" for "--width-mult" flag: NaN is not a finite number`},
		{tr("--wd", "-Inf"), 2, `invalid argument "-Inf" for "--wd" flag`},
		{tr("--momentum", "0.9x"), 2, `invalid argument "0.9x" for "--momentum" flag: not a number`},
		{tr("--workers", "0"), 2, `invalid argument "0" for "--workers" flag`},
		{tr("--checkpoint-every", "-1"), 2, `invalid argument "-1" for "--checkpoint-every" flag: -1 is negative`},
		{tr("--max-per-class", "-10"), 2, `"--max-per-class" flag: -10 is negative`},
		{tr("--seed", "-1"), 2, `invalid argument "-1" for "--seed" flag`},
		{tr("--patience", "1e3"), 2, `invalid argument "1e3" for "--patience" flag: not an integer`},
		{[]string{"train", "extra-arg"}, 2, `unknown command "extra-arg"`},
		{[]string{"trian"}, 2, `unknown command "trian"`},
		// Values that parse but are out of range (exit 1), naming the field,
		// its flag and the value.
		{tr("--wd", "-1"), 1, "weight_decay (--wd) -1, want >= 0"},
		{tr("--width-mult", "0"), 1, "width_mult (--width-mult) 0, want (0,64]"},
		{tr("--momentum", "1"), 1, "momentum (--momentum) 1, want [0,1)"},
		{tr("--lr", "0"), 1, "lr (--lr) 0, want > 0"},
		{tr("--val-split", "0"), 1, "val_split (--val-split) 0, want (0,1)"},
		{tr("--warmup", "-2"), 1, "warmup (--warmup) -2, want >= 0 epochs"},
		{tr("--backbone-lr-mult", "0"), 1, "backbone-lr-mult 0 need a pretrained network"},
		{tr("--schedule", "step", "--milestones", "0,5"), 1, "milestones (--milestones) [0 5]"},
		{tr("--image-size", "5000"), 1, "image_size (--image-size) 5000"},
		{tr("--channels", "2"), 1, "channels (--channels) 2, want 1 or 3"},
		{tr("--class-weights", "inverse"), 1, `class_weights (--class-weights) "inverse"`},
		{tr("--progress", "fancy"), 1, `--progress "fancy"`},
		// The --config file: a field present with 0 is kept (and checked).
		{[]string{"train", "--config", epochs0}, 1, "epochs (--epochs) 0, want at least 1"},
		{[]string{"train", "--config", negBatch}, 1, "batch_size (--batch) -8"},
		{[]string{"train", "--config", trailing}, 1, "trailing.json: data after the configuration object"},
		{[]string{"train", "--config", badType}, 1, "type.json: json: cannot unmarshal string into Go struct field Config.lr"},
		{[]string{"train", "--config", huge}, 1, "huge.json"},
		{[]string{"train", "--config", filepath.Join(dir, "missing.json")}, 1, "missing.json"},
		{[]string{"train", "--resume", dir, "--lr", "0.5"}, 1, "--lr cannot change"},
		{[]string{"train", "--resume", filepath.Join(dir, "nothing")}, 1, "nothing"},
		// A run folder in use by another trainer.
		{[]string{"train", "--data", csv, "--model", "resnet20", "--width-mult", "0.25", "--image-size", "16", "--out", locked, "--progress", "none"}, 1,
			fmt.Sprintf("is in use by another trainer (PID %d", os.Getpid())},
		// The other commands.
		{[]string{"eval", "--batch", "0"}, 2, `invalid argument "0" for "--batch" flag`},
		{[]string{"eval", "--model", "m.residual", "--data", "x", "--digits", "50"}, 1, "eval: --digits 50, want 0 to 12"},
		{[]string{"eval", "--model", filepath.Join(dir, "none.residual"), "--data", "x"}, 1, "none.residual"},
		{[]string{"eval", "--model", "m.residual", "--data", "x", "--tta", "mirror"}, 1, `eval: --tta "mirror", want one of none, flip, ten-crop`},
		{[]string{"eval", "--model", "m.residual", "--data", "x", "--split", "test"}, 1, `eval: --split "test", want one of`},
		{[]string{"predict", "--model", "m.residual", "--tta", "five", "x.png"}, 1, `predict: --tta "five", want one of none, flip, ten-crop`},
		{[]string{"predict", "--batch", "-1", "x.png"}, 2, `invalid argument "-1" for "--batch" flag`},
		{[]string{"predict", "--min-face", "0", "x.png"}, 2, `invalid argument "0" for "--min-face" flag`},
		{[]string{"predict", "--model", "m.residual"}, 2, "requires at least 1 arg"},
		{[]string{"webcam", "--frames", "-1"}, 2, `invalid argument "-1" for "--frames" flag`},
		{[]string{"webcam", "--faces=false", "--roi", "9223372036854775807,0,9223372036854775807,10"}, 1, "9223372036854775807 is out of range [0, 1048576]"},
		{[]string{"webcam", "--faces=false", "--roi", "1,2,3"}, 1, `--roi "1,2,3": want x,y,w,h with positive w and h: 3 values, want 4`},
		{[]string{"webcam", "--faces=false", "--roi", "0,0,0,10"}, 1, "w 0 and h 10 must be at least 1"},
		{[]string{"webcam", "--roi", "0,0,10,10"}, 1, `--roi "0,0,10,10" with --faces=true`},
		{[]string{"webcam", "--size", "0x480"}, 1, `--size "0x480": want WxH, e.g. 640x480: 0 is out of range [1, 1048576]`},
		{[]string{"webcam", "--size", "640x480x3"}, 1, "3 values, want 2"},
		{[]string{"data", "generate", "faces", filepath.Join(dir, "f.csv"), "--train", "-5"}, 2, `invalid argument "-5" for "--train" flag`},
		{[]string{"data", "generate", "hands", filepath.Join(dir, "h"), "--size", "0"}, 2, `invalid argument "0" for "--size" flag: 0, want at least 8`},
		{[]string{"data", "convert", "a.csv", "b", "--size", "0"}, 2, `invalid argument "0" for "--size" flag`},
		{[]string{"data", "inspect"}, 2, "accepts 1 arg(s), received 0"},
		{[]string{"bench", "--seconds", "0"}, 2, `invalid argument "0" for "--seconds" flag: 0, want > 0`},
		{[]string{"bench", "--width-mult", "NaN"}, 2, `invalid argument "NaN" for "--width-mult" flag`},
		{[]string{"bench", "--batch", "0"}, 2, `invalid argument "0" for "--batch" flag`},
		{[]string{"summary", "reference", "--width-mult", "Inf"}, 2, `invalid argument "Inf" for "--width-mult" flag`},
		{[]string{"summary", "reference", "--width-mult", "0"}, 1, "summary: --width-mult 0, want (0,64]"},
		{[]string{"summary", "reference", "--classes", "0"}, 2, `invalid argument "0" for "--classes" flag`},
		{[]string{"demo", "--epochs", "0"}, 2, `invalid argument "0" for "--epochs" flag`},
		{[]string{"export", "--model", filepath.Join(dir, "gone.residual"), "--out", filepath.Join(dir, "x.onnx")}, 1, "gone.residual"},
		{[]string{"import", "--weights", "w.safetensors"}, 1, "--weights, --model and --out are required"},
	} {
		var stderr bytes.Buffer
		code := run(tc.args, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("residual %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, stderr.String(), tc.code, tc.want)
		}
	}
}

// TestTrainFlagZerosKept: explicit zeros on the command line and in the
// --config file are kept, never replaced by the defaults; absent fields
// take the defaults; a flag overrides the file.
func TestTrainFlagZerosKept(t *testing.T) {
	resolved := func(args ...string) map[string]any {
		t.Helper()
		out, err := runCLI(t, append([]string{"train", "--print-config"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var c map[string]any
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	want := func(c map[string]any, field string, v any) {
		t.Helper()
		if c[field] != v {
			t.Errorf("%s = %v, want %v", field, c[field], v)
		}
	}
	c := resolved("--data", "x.csv", "--from", "m.residual", "--wd", "0", "--momentum", "0", "--seed", "0",
		"--backbone-lr-mult", "0", "--warmup", "0", "--min-lr", "0", "--dropout", "0")
	for _, f := range []string{"weight_decay", "momentum", "seed", "backbone_lr_mult", "warmup", "min_lr", "dropout"} {
		want(c, f, 0.0)
	}
	want(c, "lr", 0.1)
	want(c, "epochs", 30.0)
	want(c, "batch_size", 64.0)

	// The file: zeros present are kept, absent fields take the defaults,
	// flags override it (0 included).
	cfg := filepath.Join(t.TempDir(), "run.json")
	os.WriteFile(cfg, []byte(`{"data":"x.csv","optimizer":"adamw","weight_decay":0,"momentum":0,"seed":0,"warmup":0,"epochs":7}`), 0o644)
	c = resolved("--config", cfg)
	for _, f := range []string{"weight_decay", "momentum", "seed", "warmup"} {
		want(c, f, 0.0)
	}
	want(c, "epochs", 7.0)
	want(c, "lr", 0.001) // absent: AdamW's default
	want(c, "batch_size", 64.0)
	want(c, "gamma", 0.1)
	c = resolved("--config", cfg, "--wd", "0.01", "--epochs", "2", "--lr", "0.5", "--seed", "9")
	want(c, "weight_decay", 0.01)
	want(c, "epochs", 2.0)
	want(c, "lr", 0.5)
	want(c, "seed", 9.0)
	want(c, "momentum", 0.0)
}
