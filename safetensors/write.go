package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/residual-go/residual/internal/atomicfile"
	"github.com/residual-go/residual/tensor"
)

// Entry is one tensor to write: its raw little-endian bytes with dtype and
// shape. Build it with Float32, Float32As or Int64 rather than by hand.
type Entry struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Float32 makes an F32 entry of t (its data is copied).
func Float32(name string, t *tensor.Tensor) Entry {
	e, err := Float32As(name, t, F32)
	if err != nil {
		panic(err) // F32 is always a valid target
	}
	return e
}

// Float32As makes an entry of t stored as float type d (F32, F64, F16 or
// BF16), rounding to nearest even when narrowing.
func Float32As(name string, t *tensor.Tensor, d DType) (Entry, error) {
	if !d.isFloat() {
		return Entry{}, fmt.Errorf("safetensors: tensor %q: cannot store float32 values as %q (want F32, F64, F16 or BF16)", name, d)
	}
	n := t.Len()
	b := make([]byte, n*d.Size())
	encodeFloat32(b, t.Data[:n], d)
	return Entry{Name: name, DType: d, Shape: append([]int{}, t.Shape...), Data: b}, nil
}

// Int64 makes an I64 entry of values with the given shape.
func Int64(name string, values []int64, shape ...int) Entry {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Entry{Name: name, DType: I64, Shape: append([]int{}, shape...), Data: b}
}

type jsonEntry struct {
	DType       DType   `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// Write writes entries, in the given order, and metadata (may be nil) as
// a safetensors file. The header is padded with spaces to a multiple of
// 8 bytes so that the data section is aligned.
func Write(w io.Writer, entries []Entry, metadata map[string]string) error {
	header, err := encodeHeader(entries, metadata)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: writing header length: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("safetensors: writing header: %w", err)
	}
	for _, e := range entries {
		if _, err := w.Write(e.Data); err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", e.Name, err)
		}
	}
	return nil
}

// WriteFile writes a safetensors file at path (see Write) atomically: a
// uniquely named temporary file in the same directory, synced, renamed
// over path, and the directory synced (internal/atomicfile), so a crash
// never leaves a truncated file under the final name.
func WriteFile(path string, entries []Entry, metadata map[string]string) error {
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return Write(w, entries, metadata) })
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// encodeHeader validates the entries and builds the padded JSON header.
// Keys are written in entry order, after __metadata__.
func encodeHeader(entries []Entry, metadata map[string]string) ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			sb.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		comma()
		sb.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			writeJSON(&sb, k)
			sb.WriteByte(':')
			writeJSON(&sb, metadata[k])
		}
		sb.WriteByte('}')
	}
	seen := map[string]bool{}
	offset := int64(0)
	for _, e := range entries {
		if e.Name == "" || e.Name == metadataKey {
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", e.Name)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("safetensors: tensor %q given twice", e.Name)
		}
		seen[e.Name] = true
		if !e.DType.Valid() {
			return nil, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", e.Name, e.DType)
		}
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", e.Name, e.Shape)
			}
		}
		if want := tensor.Numel(e.Shape) * e.DType.Size(); want != len(e.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, data has %d",
				e.Name, e.Shape, e.DType, want, len(e.Data))
		}
		shape := e.Shape
		if shape == nil {
			shape = []int{} // a scalar: "shape":[] rather than null
		}
		end := offset + int64(len(e.Data))
		comma()
		writeJSON(&sb, e.Name)
		sb.WriteByte(':')
		writeJSON(&sb, jsonEntry{DType: e.DType, Shape: shape, DataOffsets: []int64{offset, end}})
		offset = end
	}
	sb.WriteByte('}')
	for sb.Len()%8 != 0 {
		sb.WriteByte(' ')
	}
	return []byte(sb.String()), nil
}

// writeJSON appends the JSON encoding of v; v is always encodable here.
func writeJSON(sb *strings.Builder, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	sb.Write(b)
}
