package onnx

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// fullDir is where `scripts/onnx_reference.py --full DIR` wrote the
// full-size torchvision models: $RESIDUAL_ONNX_FULL, else testdata/cache.
func fullDir() string {
	if d := os.Getenv("RESIDUAL_ONNX_FULL"); d != "" {
		return d
	}
	return filepath.Join("testdata", "cache")
}

// benchGraph imports a model and times Forward (inference) at batch 1
// and 64, and a training step (Forward + Backward) at batch 64, on
// random (N,H,W,C) inputs of the file's input size.
func benchGraph(b *testing.B, path string) {
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%v (run `/usr/bin/python3 scripts/onnx_reference.py --full onnx/testdata/cache`)", err)
	}
	g, err := ImportFile(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	in := g.InputShape()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, batch := range []int{1, 64} {
		x := randomInput(rng, batch, in[0], in[1], in[2])
		b.Run(fmt.Sprintf("infer/batch=%d", batch), func(b *testing.B) {
			if _, err := g.Forward(x, false); err != nil { // warm-up: buffers
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := g.Forward(x, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
	x := randomInput(rng, 64, in[0], in[1], in[2])
	b.Run("train/batch=64", func(b *testing.B) {
		y, err := g.Forward(x, true)
		if err != nil {
			b.Fatal(err)
		}
		dy := randomInput(rng, y.Shape...)
		b.ResetTimer()
		for range b.N {
			if _, err := g.Forward(x, true); err != nil {
				b.Fatal(err)
			}
			if err := g.Backward(dy); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
	})
}

// BenchmarkImportedResNet18 runs torchvision's full-size ResNet-18
// (random weights) exported by PyTorch at 3x64x64 (224x224 at batch 64
// would take minutes per iteration on 2 cores). Compare with
// `/usr/bin/python3 scripts/onnx_reference.py --bench resnet18`.
func BenchmarkImportedResNet18(b *testing.B) {
	benchGraph(b, filepath.Join(fullDir(), "resnet18.onnx"))
}

// BenchmarkImportedResNet18Small runs the committed ResNet-18-structured
// fixture (widths 4..32, 3x32x32), available without the cache.
func BenchmarkImportedResNet18Small(b *testing.B) {
	benchGraph(b, filepath.Join("testdata", "resnet18_small.onnx"))
}
