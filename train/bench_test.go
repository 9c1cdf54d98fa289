package train

import (
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
)

// BenchmarkEpoch measures the training throughput of the Trainer's loop
// (loader with default augmentation, forward, loss, backward, Nesterov
// step) on the reference network with 48x48 synthetic faces, batch 64, to
// compare with the bare network step of `residual bench`. Validation is
// not included.
//
//	go test ./train -run XXX -bench Epoch -benchtime 3x
func BenchmarkEpoch(b *testing.B) {
	path := filepath.Join(b.TempDir(), "faces.csv")
	if err := data.GenerateFER2013CSV(path, 640, 64, 0, 1); err != nil {
		b.Fatal(err)
	}
	preset, _ := model.Preset("reference")
	cfg := Defaults()
	cfg.Data, cfg.Out, cfg.Arch, cfg.Epochs = path, filepath.Join(b.TempDir(), "run"), &preset, 1000
	tr := mustTrainer(b, cfg, Options{Progress: "none"})
	tr.st.Epoch = 0
	images := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.loader.Start(i, 0)
		for {
			batch, ok := tr.loader.Next()
			if !ok {
				break
			}
			if _, _, err := tr.step(batch.X, batch.Labels, 0.01); err != nil {
				b.Fatal(err)
			}
			images += len(batch.Labels)
			tr.loader.Release(batch)
		}
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}
