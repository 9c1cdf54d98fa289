package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/safetensors"
)

// FuzzParseConfig feeds arbitrary bytes to the --config reader: a
// configuration or an error, never a panic; a valid configuration
// survives the round trip through its saved JSON (config.json and
// checkpoints hold it) unchanged, zeros included.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"data":"x.csv","epochs":5,"optimizer":"adamw"}`))
	f.Add([]byte(`{"data":"x.csv","weight_decay":0,"momentum":0,"seed":0,"warmup":0,"lr":0.5}`))
	f.Add([]byte(`{"data":"d","arch":{"block":"basic","layers":[1],"widths":[4]},"schedule":"step","milestones":[]}`))
	if b, err := os.ReadFile(filepath.Join("testdata", "fer_resnet20.json")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		c.Resolve()
		if c.Validate() != nil {
			return
		}
		saved := c.json()
		c2, err := ParseConfig(saved)
		if err != nil {
			t.Fatalf("saved configuration does not parse: %v\n%s", err, saved)
		}
		c2.Resolve()
		if err := c2.Validate(); err != nil {
			t.Fatalf("saved configuration no longer valid: %v\n%s", err, saved)
		}
		if again := c2.json(); !bytes.Equal(again, saved) {
			t.Fatalf("configuration changed in the round trip:\n%s\nbecame\n%s", saved, again)
		}
	})
}

// FuzzRestoreCheckpoint feeds arbitrary bytes to checkpoint restore (the
// safetensors reader, the metadata and every restore step: weights by
// name and shape, optimizer buffers, schedule, dropout streams, position)
// on a tiny trainer: an error or a restored trainer, never a panic. The
// work is bounded by the trainer's size, not by what the file claims.
func FuzzRestoreCheckpoint(f *testing.F) {
	out := filepath.Join(f.TempDir(), "run")
	cfg := tinyConfig(synthCSV(f, 32, 16), out)
	cfg.Epochs, cfg.StepsPerEpoch = 1, 1
	tr := mustTrainer(f, cfg, Options{StopAfter: 1})
	if _, err := tr.Run(context.Background()); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(out, CheckpointFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:64])
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := safetensors.ReadBytes(b)
		if err != nil {
			return
		}
		meta, err := readCheckpointMeta(file)
		if err != nil {
			return
		}
		tr.restore(file, meta)
	})
}
