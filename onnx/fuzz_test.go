package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// FuzzRead feeds arbitrary bytes to the reader and the compiler: they
// must return a model or an error, never panic. The seed corpus is in
// testdata/fuzz/FuzzRead (tiny exported models, whole and truncated).
func FuzzRead(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "keras_style.onnx")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeModel(b)
		if err != nil {
			return
		}
		// Re-encoding and decoding again must give the same bytes.
		enc := EncodeModel(m)
		m2, err := DecodeModel(enc)
		if err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
		if !bytes.Equal(EncodeModel(m2), enc) {
			t.Fatalf("encoding is not stable")
		}
		g, err := Compile(m, Options{})
		if err != nil {
			return
		}
		// Run small graphs once: bad shapes must give errors, not panics.
		in := g.InputShape()
		if len(in) == 3 && in[0] > 0 && in[1] > 0 && in[2] > 0 && in[0]*in[1]*in[2] <= 1<<14 {
			x := tensor.New(2, in[0], in[1], in[2])
			if y, err := g.Forward(x, true); err == nil {
				g.Backward(tensor.New(y.Shape...))
			}
		}
	})
}
