package safetensors

import (
	"bytes"
	"maps"
	"slices"
	"testing"
)

// FuzzRead checks that no input makes the reader panic or over-allocate,
// and that whatever it accepts survives a write/read round trip unchanged.
// The seed corpus is in testdata/fuzz/FuzzRead; run the fuzzer with
//
//	go test ./safetensors -run XXX -fuzz FuzzRead -fuzztime 60s
func FuzzRead(f *testing.F) {
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32bytes(1, 2)))
	f.Add(build(`{"__metadata__":{"k":"v"}}`, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ReadBytes(b)
		if err != nil {
			return
		}
		var entries []Entry
		for _, name := range file.Names() {
			in, ok := file.Info(name)
			if !ok {
				t.Fatalf("Names lists %q but Info does not know it", name)
			}
			raw, err := file.Raw(name)
			if err != nil {
				t.Fatalf("accepted file, but tensor %q unreadable: %v", name, err)
			}
			if _, err := file.Tensor(name); err != nil {
				t.Fatalf("accepted file, but Tensor(%q) fails: %v", name, err)
			}
			entries = append(entries, Entry{Name: name, DType: in.DType, Shape: in.Shape, Data: raw})
		}
		var buf bytes.Buffer
		if err := Write(&buf, entries, file.Metadata); err != nil {
			t.Fatalf("cannot write back an accepted file: %v", err)
		}
		again, err := ReadBytes(buf.Bytes())
		if err != nil {
			t.Fatalf("cannot read back a written file: %v", err)
		}
		if !slices.Equal(again.Names(), file.Names()) || !maps.Equal(again.Metadata, file.Metadata) {
			t.Fatalf("round trip changed names %v -> %v or metadata %v -> %v",
				file.Names(), again.Names(), file.Metadata, again.Metadata)
		}
		for _, e := range entries {
			raw, err := again.Raw(e.Name)
			if err != nil || !bytes.Equal(raw, e.Data) {
				t.Fatalf("round trip changed tensor %q: %v", e.Name, err)
			}
		}
	})
}
