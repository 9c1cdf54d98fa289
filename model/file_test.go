package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// tinyNet is a small two-stage network with BN buffers and dropout whose
// weights and running statistics are all distinct random values.
func tinyNet(t testing.TB) (*Net, Meta) {
	t.Helper()
	cfg := Config{Block: "basic", Layers: []int{1, 1}, Widths: []int{4, 8}, Dropout: 0.1, Head: []int{5}, Input: [3]int{8, 8, 1}, Classes: 3}
	net, err := New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range net.State() {
		for i := range p.Value.Data {
			p.Value.Data[i] = rng.Float32() + 0.01
		}
	}
	meta := Meta{
		Task:       "test",
		Classes:    []string{"a", "b", "c"},
		Preprocess: vision.Preprocess{Width: 8, Height: 8, Channels: 1, Mean: []float32{0.5}, Std: []float32{0.25}},
		Created:    time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		Training:   &TrainingInfo{Dataset: "synthetic", Epochs: 3, BestEpoch: 2, ValAccuracy: 0.75, Config: json.RawMessage(`{"lr":0.1}`)},
	}
	return net, meta
}

func encode(t testing.TB, net *Net, meta Meta) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, net, meta); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFileRoundTrip(t *testing.T) {
	net, meta := tinyNet(t)
	path := filepath.Join(t.TempDir(), "m"+FileExt)
	if err := Save(path, net, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Config, net.Config) {
		t.Errorf("config %+v, want %+v", got.Config, net.Config)
	}
	if !gotMeta.Created.Equal(meta.Created) {
		t.Errorf("created %v, want %v", gotMeta.Created, meta.Created)
	}
	gotMeta.Created = meta.Created
	if !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("meta %+v, want %+v", gotMeta, meta)
	}
	want := net.State()
	for i, p := range got.State() {
		if p.Name != want[i].Name || !reflect.DeepEqual(p.Value.Shape, want[i].Value.Shape) {
			t.Fatalf("tensor %d is %s %v, want %s %v", i, p.Name, p.Value.Shape, want[i].Name, want[i].Value.Shape)
		}
		for j, v := range p.Value.Data {
			if v != want[i].Value.Data[j] {
				t.Fatalf("%s[%d] = %g, want %g", p.Name, j, v, want[i].Value.Data[j])
			}
		}
	}
	// Same weights give the same output.
	x := randInput(net, 2)
	a, _ := net.Forward(x, false)
	b, _ := got.Forward(x, false)
	if relDiff(a.Data, b.Data) != 0 {
		t.Error("loaded network computes different logits")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("saved file mode %v (%v), want 0644", fi.Mode(), err)
	}
	// No temporary file is left next to it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the model", len(entries))
	}
}

func randInput(net *Net, n int) *tensor.Tensor {
	x := tensor.New(net.InputShape(n)...)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

// TestTensorSectionIsSafetensors checks that the documented offsets find a
// standalone safetensors file with every weight, as Python would read it.
func TestTensorSectionIsSafetensors(t *testing.T) {
	net, meta := tinyNet(t)
	b := encode(t, net, meta)
	h := binary.LittleEndian.Uint64(b[12:20])
	o := 20 + h
	s := binary.LittleEndian.Uint64(b[o : o+8])
	f, err := safetensors.ReadBytes(b[o+8 : o+8+s])
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Names()) != len(net.State()) {
		t.Fatalf("%d tensors, want %d", len(f.Names()), len(net.State()))
	}
	w, err := f.Tensor("fc.weight")
	if err != nil || w.Data[0] != net.Params()[len(net.Params())-2].Value.Data[0] {
		t.Errorf("fc.weight: %v", err)
	}
	if !strings.Contains(f.Metadata["residual"], `"classes":["a","b","c"]`) {
		t.Errorf("metadata lacks the header: %q", f.Metadata["residual"])
	}
}

func TestReadErrors(t *testing.T) {
	net, meta := tinyNet(t)
	good := encode(t, net, meta)
	// reseal recomputes the checksum after an edit, so that the error
	// under test is not the checksum's.
	reseal := func(b []byte) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		return b
	}
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 0x40
	future := bytes.Clone(good)
	binary.LittleEndian.PutUint32(future[8:], FileVersion+1)
	hugeHeader := bytes.Clone(good[:20])
	binary.LittleEndian.PutUint64(hugeHeader[12:], 1<<62)
	lyingHeader := bytes.Clone(good[:20])
	binary.LittleEndian.PutUint64(lyingHeader[12:], 10<<20)
	hl := binary.LittleEndian.Uint64(good[12:20])
	badJSON := bytes.Clone(good)
	badJSON[20] = '['
	wrongClasses := bytes.Replace(good, []byte(`"classes":["a","b","c"]`), []byte(`"classes":["a","b","x","y"]`), 1)
	binary.LittleEndian.PutUint64(wrongClasses[12:], hl+4)
	hugeNet := bytes.Replace(good, []byte(`"widths":[4,8]`), []byte(`"widths":[4,99999]`), 1)
	binary.LittleEndian.PutUint64(hugeNet[12:], hl+4)

	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated: 0 bytes"},
		{"wrong magic", []byte("PK\x03\x04 this is a zip file"), "not a model file: it is a zip archive"},
		{"safetensors", good[20+hl+8:], "not a model file"},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"), "not a model file: it is a JPEG image"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), "not a model file: it is a PNG image"},
		{"onnx", []byte("\x08\x07\x12\x08residual"), "probably an ONNX file"},
		{"short magic", []byte("RESI"), "truncated: 4 bytes"},
		{"future version", reseal(future), "format version 2 is newer"},
		{"truncated header", good[:40], "truncated: header has"},
		{"truncated weights", good[:len(good)-100], "truncated: tensor section has"},
		{"no checksum", good[:len(good)-2], "2 of 4 checksum bytes"},
		{"bit flip", flip, "checksum mismatch"},
		{"trailing data", append(bytes.Clone(good), 0), "unexpected data after the checksum"},
		{"huge header length", hugeHeader, "exceeds the limit"},
		{"lying header length", lyingHeader, "truncated: header has 0 of 10485760 bytes"},
		{"bad json", reseal(badJSON), "header:"},
		{"class count", reseal(wrongClasses), "4 class names for 3 outputs"},
		{"oversized architecture", reseal(hugeNet), "architecture needs up to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Read(bytes.NewReader(tc.b), "x.residual")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.residual") {
				t.Errorf("error %q, want the file name and %q", err, tc.want)
			}
		})
	}
	// Every truncation is an error, never a panic.
	for n := 0; n < len(good); n += 1 + n/7 {
		if _, _, err := Read(bytes.NewReader(good[:n]), "x"); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
}

// TestSaveIsAtomic checks that a failed save leaves neither a partial file
// nor a temporary one, and keeps the previous file intact.
func TestSaveIsAtomic(t *testing.T) {
	net, meta := tinyNet(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "best"+FileExt)
	if err := Save(path, net, meta); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := meta
	bad.Classes = []string{"only one"}
	err := Save(path, net, bad)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed save changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d entries in the directory after a failed save, want 1", len(entries))
	}
	if err := Save(filepath.Join(dir, "missing", "m"+FileExt), net, meta); err == nil {
		t.Error("save into a missing directory: no error")
	}
}

func TestWriteErrorPropagates(t *testing.T) {
	net, meta := tinyNet(t)
	if err := Write(failWriter{}, net, meta); !errors.Is(err, errDiskFull) {
		t.Errorf("error %v, want %v", err, errDiskFull)
	}
}

var errDiskFull = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// FuzzRead checks that no input panics Read or makes it over-allocate, and
// that what it accepts writes back to a file that reads the same. Seeds are
// in testdata/fuzz/FuzzRead; run with
//
//	go test ./model -run XXX -fuzz FuzzRead -fuzztime 60s
func FuzzRead(f *testing.F) {
	net, meta := tinyNet(f)
	good := encode(f, net, meta)
	f.Add(good)
	f.Add(good[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		net, meta, err := Read(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		again := encode(t, net, meta)
		net2, meta2, err := Read(bytes.NewReader(again), "again")
		if err != nil {
			t.Fatalf("re-read of an accepted file: %v", err)
		}
		if !reflect.DeepEqual(net2.Config, net.Config) || len(meta2.Classes) != len(meta.Classes) {
			t.Fatal("round trip changed the file")
		}
	})
}
