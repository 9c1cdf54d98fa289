package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// Fuzzing budget: a graph runs only when its input has at most
// fuzzInputElems elements and nodes x weights is at most fuzzWork, and
// every tensor an operator sizes from its attributes is capped at
// fuzzRunElems (maxRunElems): a node's work is then at most its output
// times its weights, so no input is expensive, whatever its shapes,
// pads or scales claim. Inputs above fuzzMaxBytes are not parsed.
const (
	fuzzMaxBytes   = 1 << 16
	fuzzInputElems = 1 << 12
	fuzzRunElems   = 1 << 15
	fuzzWork       = 1 << 20
)

// FuzzRead feeds arbitrary bytes to the reader and the compiler: they
// must return a model or an error, never panic; small graphs also run
// forward and backward once. The seed corpus is in testdata/fuzz/FuzzRead
// (tiny exported models, whole and truncated). Run it without input
// minimisation, which otherwise spends the time on single inputs:
//
//	go test ./onnx -run '^$' -fuzz '^FuzzRead$' -fuzztime 15s -fuzzminimizetime 0
func FuzzRead(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "keras_style.onnx")); err == nil {
		f.Add(b)
	}
	old := maxRunElems
	maxRunElems = fuzzRunElems
	f.Cleanup(func() { maxRunElems = old })
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > fuzzMaxBytes {
			return
		}
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
		weights := 1
		for _, v := range g.vals {
			if v.konst {
				weights += v.t.Len()
			}
		}
		in := g.InputShape()
		if len(g.nodes)*weights > fuzzWork || len(in) != 3 || in[0] <= 0 || in[1] <= 0 || in[2] <= 0 || in[0]*in[1]*in[2] > fuzzInputElems {
			return
		}
		x := tensor.New(1, in[0], in[1], in[2])
		if y, err := g.Forward(x, true); err == nil {
			g.Backward(tensor.New(y.Shape...))
		}
	})
}
