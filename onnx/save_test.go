package onnx

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/vision"
)

// TestSaveAfterFineTuning: a graph whose head was replaced and whose
// weights moved saves to a file that imports to the same function, with
// the new metadata.
func TestSaveAfterFineTuning(t *testing.T) {
	for _, name := range []string{"resnet18_small", "keras_style", "ferplus_like"} {
		t.Run(name, func(t *testing.T) {
			ref, x := loadReference(t, filepath.Join("testdata", name+".json"))
			g, err := ImportFile(filepath.Join("testdata", name+".onnx"), Options{InputLayout: ref.InputLayout})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 10))
			if _, err := g.ReplaceHead(4, rng); err != nil {
				t.Fatal(err)
			}
			// One SGD step on every parameter (BN statistics move too).
			y, err := g.Forward(x, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Backward(randomInput(rng, y.Shape...)); err != nil {
				t.Fatal(err)
			}
			for _, p := range g.Params() {
				for i, gr := range p.Grad.Data {
					p.Value.Data[i] -= 0.01 * gr
				}
			}
			want, err := g.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			want = want.Clone()

			var buf bytes.Buffer
			classes := []string{"w", "x", "y", "z"}
			pre := vision.Preprocess{Width: 9, Height: 9, Channels: 1}
			if err := g.Save(&buf, classes, &pre); err != nil {
				t.Fatal(err)
			}
			g2, err := Import(&buf, Options{InputLayout: ref.InputLayout})
			if err != nil {
				t.Fatal(err)
			}
			got, err := g2.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			if d := relDiff(got.Data, want.Data); d > 1e-6 {
				t.Errorf("saved model differs from the graph by %.3g", d)
			}
			if c, _ := g2.Classes(); len(c) != 4 || c[3] != "z" {
				t.Errorf("classes %v, want %v", c, classes)
			}
			if p, ok, _ := g2.Preprocess(); !ok || p.Width != 9 {
				t.Errorf("preprocess %+v, want %+v", p, pre)
			}
			if d := g2.Model.Graph.Outputs[0].Shape; len(d) > 0 && d[len(d)-1].Value != 4 {
				t.Errorf("declared output shape %v, want 4 classes", d)
			}
		})
	}
}
