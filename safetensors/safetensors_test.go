package safetensors

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// build assembles a file from a header string and a data section, the way
// a hand-written fixture would be laid out on disk.
func build(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func f32bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestReadHandBuilt(t *testing.T) {
	// Two F32 tensors, an F16, a BF16, an F64, an I64 and an I32 laid out
	// in that order, with metadata and space padding after the JSON.
	data := f32bytes(1, -2.5, 3, 0.25)                    // "w" (2,2)
	data = append(data, f32bytes(7)...)                   // "s" scalar
	data = binary.LittleEndian.AppendUint16(data, 0x3C00) // F16 1
	data = binary.LittleEndian.AppendUint16(data, 0xC000) // F16 -2
	data = binary.LittleEndian.AppendUint16(data, 0x7BFF) // F16 65504
	data = binary.LittleEndian.AppendUint16(data, 0x0001) // F16 2^-24
	data = binary.LittleEndian.AppendUint16(data, 0x3F80) // BF16 1
	data = binary.LittleEndian.AppendUint16(data, 0xC0A0) // BF16 -5
	data = binary.LittleEndian.AppendUint64(data, math.Float64bits(0.1))
	data = binary.LittleEndian.AppendUint64(data, uint64(0xFFFFFFFFFFFFFFFD)) // I64 -3
	data = binary.LittleEndian.AppendUint32(data, 42)                         // I32 42
	header := `{"__metadata__":{"format":"pt"},` +
		`"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},` +
		`"s":{"dtype":"F32","shape":[],"data_offsets":[16,20]},` +
		`"h":{"dtype":"F16","shape":[4],"data_offsets":[20,28]},` +
		`"bf":{"dtype":"BF16","shape":[2,1],"data_offsets":[28,32]},` +
		`"d":{"dtype":"F64","shape":[1],"data_offsets":[32,40]},` +
		`"i":{"dtype":"I64","shape":[1],"data_offsets":[40,48]},` +
		`"j":{"dtype":"I32","shape":[1,1],"data_offsets":[48,52]}}   `
	f, err := ReadBytes(build(header, data))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !slices.Equal(got, []string{"bf", "d", "h", "i", "j", "s", "w"}) {
		t.Errorf("Names() = %v", got)
	}
	if f.Metadata["format"] != "pt" || len(f.Metadata) != 1 {
		t.Errorf("Metadata = %v", f.Metadata)
	}
	want := map[string]struct {
		shape []int
		data  []float32
	}{
		"w":  {[]int{2, 2}, []float32{1, -2.5, 3, 0.25}},
		"s":  {[]int{}, []float32{7}},
		"h":  {[]int{4}, []float32{1, -2, 65504, 1.0 / (1 << 24)}},
		"bf": {[]int{2, 1}, []float32{1, -5}},
		"d":  {[]int{1}, []float32{0.1}},
		"i":  {[]int{1}, []float32{-3}},
		"j":  {[]int{1, 1}, []float32{42}},
	}
	for name, w := range want {
		got, err := f.Tensor(name)
		if err != nil {
			t.Fatalf("Tensor(%q): %v", name, err)
		}
		if !slices.Equal(got.Shape, w.shape) || !slices.Equal(got.Data, w.data) {
			t.Errorf("Tensor(%q) = %v %v, want %v %v", name, got.Shape, got.Data, w.shape, w.data)
		}
	}
	ints, shape, err := f.Int64s("i")
	if err != nil || !slices.Equal(ints, []int64{-3}) || !slices.Equal(shape, []int{1}) {
		t.Errorf("Int64s(i) = %v %v %v", ints, shape, err)
	}
	ints, _, err = f.Int64s("j")
	if err != nil || !slices.Equal(ints, []int64{42}) {
		t.Errorf("Int64s(j) = %v %v", ints, err)
	}
	if _, _, err := f.Int64s("w"); err == nil || !strings.Contains(err.Error(), `"w" has dtype F32`) {
		t.Errorf("Int64s on a float tensor: err = %v", err)
	}
	if _, err := f.Tensor("missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Tensor(missing): err = %v", err)
	}
	in, ok := f.Info("h")
	if !ok || in.DType != F16 || in.Begin != 20 || in.End != 28 {
		t.Errorf("Info(h) = %+v, %v", in, ok)
	}
}

func TestRoundTrip(t *testing.T) {
	a := tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := tensor.FromData([]float32{-0.5}, 1)
	empty := tensor.New(0, 4)
	scalar := tensor.FromData([]float32{3.25})
	h, err := Float32As("half", a, F16)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := Float32As("bf", a, BF16)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Float32As("double", b, F64)
	if err != nil {
		t.Fatal(err)
	}
	entries := []Entry{
		Float32("layer1.0.conv1.weight", a), Float32("b", b), Float32("empty", empty),
		Float32("scalar", scalar), h, bf, d, Int64("labels", []int64{0, 6, -1}, 3),
	}
	meta := map[string]string{"torch": "1.13", "quote\"and\\": "ünïcode <&>"}
	var buf bytes.Buffer
	if err := Write(&buf, entries, meta); err != nil {
		t.Fatal(err)
	}
	// The header is padded so that the data section starts 8-aligned.
	if n := binary.LittleEndian.Uint64(buf.Bytes()); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	f, err := ReadBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Metadata) != 2 || f.Metadata["quote\"and\\"] != "ünïcode <&>" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	check := func(name string, want *tensor.Tensor) {
		t.Helper()
		got, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.Data, want.Data[:want.Len()]) {
			t.Errorf("%s: got %v %v, want %v %v", name, got.Shape, got.Data, want.Shape, want.Data)
		}
	}
	check("layer1.0.conv1.weight", a)
	check("b", b)
	check("empty", empty)
	check("scalar", scalar)
	check("half", a) // small integers are exact in F16 and BF16
	check("bf", a)
	check("double", b)
	labels, _, err := f.Int64s("labels")
	if err != nil || !slices.Equal(labels, []int64{0, 6, -1}) {
		t.Errorf("labels = %v, %v", labels, err)
	}

	// Through a real file too.
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteFile(path, entries, nil); err != nil {
		t.Fatal(err)
	}
	f2, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f2.Names()) != len(entries) || len(f2.Metadata) != 0 {
		t.Errorf("file round trip: names %v, metadata %v", f2.Names(), f2.Metadata)
	}
	if _, err := f2.Tensor("nope"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error should name the file %s: %v", path, err)
	}
	// A failed write leaves neither a partial file nor a temporary one.
	bad := filepath.Join(filepath.Dir(path), "bad.safetensors")
	if err := WriteFile(bad, []Entry{{Name: "x", DType: F32, Shape: []int{2}}}, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("WriteFile of a bad entry: err = %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "bad*")); len(left) != 0 {
		t.Errorf("failed WriteFile left %v", left)
	}
	if err := WriteFile(filepath.Join(path, "sub", "x"), entries, nil); err == nil {
		t.Error("WriteFile into a missing directory should fail")
	}
}

func TestWriteErrors(t *testing.T) {
	a := tensor.FromData([]float32{1, 2}, 2)
	cases := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"duplicate", []Entry{Float32("a", a), Float32("a", a)}, `"a" given twice`},
		{"empty name", []Entry{Float32("", a)}, `invalid tensor name ""`},
		{"metadata name", []Entry{Float32("__metadata__", a)}, `invalid tensor name`},
		{"size mismatch", []Entry{{Name: "x", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}}, `"x": shape [3] of F32 needs 12 bytes, data has 8`},
		{"bad dtype", []Entry{{Name: "x", DType: "U7", Shape: []int{1}, Data: make([]byte, 1)}}, `unsupported dtype "U7"`},
		{"negative dim", []Entry{{Name: "x", DType: F32, Shape: []int{-1}}}, `negative dimension`},
	}
	for _, c := range cases {
		err := Write(&bytes.Buffer{}, c.entries, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := Float32As("x", a, I64); err == nil {
		t.Error("Float32As to I64 should fail")
	}
}

// TestCorrupt feeds malformed files and checks each error says what is
// wrong, with the offending values.
func TestCorrupt(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	data8 := f32bytes(1, 2)
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "file is 0 bytes"},
		{"short length", []byte{1, 2, 3}, "file is 3 bytes"},
		{"huge header length", append(huge, "{}"...), "exceeds the 104857600-byte limit"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "header length 100 exceeds the 2 bytes"},
		{"not json", build("nope", nil), "does not start with '{'"},
		{"not an object", build("[1]", nil), "does not start with '{'"},
		{"broken json", build(`{"a":{"dtype":`, nil), `tensor "a": bad header entry`},
		{"trailing garbage", build(`{}x`, nil), "1 unexpected bytes after the JSON object"},
		{"duplicate", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, nil), `names "a" twice`},
		{"missing field", build(`{"a":{"dtype":"F32","shape":[2]}}`, data8), `"a": header entry needs dtype, shape and data_offsets`},
		{"bad dtype", build(`{"a":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}}`, data8), `"a": unsupported dtype "F8"`},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, data8), `"a": shape [-2] has a negative dimension`},
		{"float dim", build(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, data8), `tensor "a": bad header entry`},
		{"three offsets", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, data8), `data_offsets [0 4 8] must be [begin, end]`},
		{"end before begin", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, data8), `"a": data_offsets [8, 0] outside the 8-byte data section`},
		{"end past data", build(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, data8), `"a": data_offsets [0, 16] outside the 8-byte data section`},
		{"shape vs offsets", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, data8), `"a": shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8`},
		{"overflowing shape", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}`, data8), `"a": shape [4294967296 4294967296 4] overflows`},
		{"huge shape", build(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, data8), `needs 4611686018427387904*8 bytes`},
		{"gap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8), `"a": data_offsets [4, 8] leave a gap at bytes [0, 4)`},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8), `"b": data_offsets [4, 8] overlap`},
		{"trailing data", build(ok, append(data8, 0, 0)), "tensors cover 8 bytes but the data section has 10"},
		{"metadata not strings", build(`{"__metadata__":{"a":1}}`, nil), "__metadata__ must map strings to strings"},
	}
	for _, c := range cases {
		_, err := ReadBytes(c.file)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %q, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := ReadBytes(build(ok, data8)); err != nil {
		t.Errorf("the valid base case fails: %v", err)
	}
}

// TestTruncated cuts a valid file at every length: each prefix must be
// rejected with an error, never a panic.
func TestTruncated(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, []Entry{
		Float32("a", tensor.FromData([]float32{1, 2, 3}, 3)),
		Int64("b", []int64{4, 5}, 2),
	}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for n := 0; n < len(full); n++ {
		if _, err := ReadBytes(full[:n]); err == nil {
			t.Errorf("prefix of %d of %d bytes: no error", n, len(full))
		}
	}
	if _, err := ReadBytes(full); err != nil {
		t.Fatal(err)
	}
}

// TestHalfExhaustive checks every binary16 value survives
// half -> float32 -> half, and that float32 values half-way between two
// adjacent halves round to the even one.
func TestHalfExhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		u := uint16(h)
		f := HalfToFloat32(u)
		if f != f {
			if g := Float32ToHalf(f); HalfToFloat32(g) == HalfToFloat32(g) {
				t.Fatalf("NaN %#04x came back as %#04x", u, g)
			}
			continue
		}
		if g := Float32ToHalf(f); g != u {
			t.Fatalf("half %#04x -> %g -> %#04x", u, f, g)
		}
		// Midpoint to the next half of larger magnitude (below Inf).
		if u&0x7FFF < 0x7BFF {
			next := HalfToFloat32(u + 1)
			mid := float32((float64(f) + float64(next)) / 2)
			want := u
			if u&1 == 1 {
				want = u + 1
			}
			if g := Float32ToHalf(mid); g != want {
				t.Fatalf("midpoint %g of %#04x and %#04x -> %#04x, want %#04x", mid, u, u+1, g, want)
			}
		}
	}
	if Float32ToHalf(1e6) != 0x7C00 || Float32ToHalf(-1e6) != 0xFC00 {
		t.Error("overflow should give ±Inf")
	}
	if Float32ToHalf(1e-9) != 0 {
		t.Error("1e-9 should round to +0 in F16")
	}
}

func TestBFloat16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		u := uint16(h)
		f := BFloat16ToFloat32(u)
		if f != f {
			continue
		}
		if g := Float32ToBFloat16(f); g != u {
			t.Fatalf("bf16 %#04x -> %g -> %#04x", u, f, g)
		}
	}
	// 1 + 2^-8 is half-way between 1 and 1+2^-7: ties to even (1).
	if g := Float32ToBFloat16(1 + 1.0/256); g != 0x3F80 {
		t.Errorf("tie rounded to %#04x", g)
	}
	if g := Float32ToBFloat16(float32(math.NaN())); BFloat16ToFloat32(g) == BFloat16ToFloat32(g) {
		t.Errorf("NaN became %#04x", g)
	}
}

// eofReaderAt returns io.EOF with a complete read that reaches the end, as
// io.ReaderAt allows; shortBy makes it pretend the file is shorter.
type eofReaderAt struct {
	b       []byte
	shortBy int
}

func (r eofReaderAt) ReadAt(p []byte, off int64) (int, error) {
	end := int64(len(r.b) - r.shortBy)
	if off >= end {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:end])
	if off+int64(n) == end {
		return n, io.EOF
	}
	return n, nil
}

func TestReaderAtEOF(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, []Entry{Float32("a", tensor.FromData([]float32{1, 2}, 2))}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Read(eofReaderAt{b: buf.Bytes()}, int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.Tensor("a"); err != nil || !slices.Equal(a.Data, []float32{1, 2}) {
		t.Fatalf("Tensor(a) = %v, %v", a, err)
	}
	// A reader shorter than the size it was announced with: a clear error
	// when the data is read, not a panic or garbage.
	f, err = Read(eofReaderAt{b: buf.Bytes(), shortBy: 4}, int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensor("a"); err == nil || !strings.Contains(err.Error(), `tensor "a": reading bytes [0, 8)`) {
		t.Fatalf("short reader: err = %v", err)
	}
}
