// Package safetensors reads and writes the safetensors tensor file format.
//
// A file is laid out as
//
//	[8 bytes]  N, the header length, unsigned little-endian
//	[N bytes]  a JSON object: tensor name -> {"dtype", "shape", "data_offsets"},
//	           plus an optional "__metadata__" map of strings to strings;
//	           it may be padded with trailing spaces
//	[rest]     the data section: each tensor's raw little-endian values at
//	           [begin, end) of data_offsets, relative to the data section
//
// The reader is strict, like the reference implementation: tensors must
// tile the data section exactly (no gaps, no overlap, nothing left over),
// and every size is checked against the real file length before anything
// is allocated, so a hostile header cannot make it allocate more than the
// file holds. Errors name the tensor and the offending offsets or sizes.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/residual-go/residual/tensor"
)

// MaxHeaderSize bounds the JSON header (100 MB, as the reference reader).
const MaxHeaderSize = 100 << 20

const metadataKey = "__metadata__"

// Info describes one stored tensor.
type Info struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the byte offsets of the tensor in the data section.
	Begin, End int64
}

// Numel is the number of elements (1 for a scalar of shape []).
func (in *Info) Numel() int { return tensor.Numel(in.Shape) }

// File is a parsed safetensors file. Tensor data is read on demand from
// the underlying reader, which must stay valid while the File is used.
type File struct {
	// Metadata is the "__metadata__" map of the header (empty if absent).
	Metadata map[string]string

	r         io.ReaderAt
	dataStart int64 // offset of the data section in r
	infos     map[string]*Info
	names     []string // sorted
	source    string   // file name for errors, or "safetensors"
}

// ReadFile reads and parses the file at path; errors name the path.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ReadBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.source = path
	return f, nil
}

// ReadBytes parses a safetensors file held in memory. The File refers to b
// without copying it.
func ReadBytes(b []byte) (*File, error) {
	return Read(bytes.NewReader(b), int64(len(b)))
}

// Read parses the header of a safetensors file of the given total size
// read through r, and validates every tensor entry against it. Tensor data
// is only read by File.Tensor, File.Int64s and File.Raw.
func Read(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := readAt(r, lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after the length field (file truncated?)", n, size-8)
	}
	header := make([]byte, n)
	if err := readAt(r, header, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading %d-byte header: %w", n, err)
	}
	f := &File{r: r, dataStart: 8 + int64(n), source: "safetensors"}
	if err := f.parseHeader(header, size-f.dataStart); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// readAt fills b from r at off. io.ReaderAt may report io.EOF along with a
// complete read that ends at the end of the input: that is success.
func readAt(r io.ReaderAt, b []byte, off int64) error {
	if len(b) == 0 {
		return nil
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// rawInfo is one header entry as written in JSON; pointers detect
// missing fields.
type rawInfo struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader decodes the JSON header and checks every entry against the
// dataLen bytes of the data section.
func (f *File) parseHeader(header []byte, dataLen int64) error {
	if len(header) == 0 || header[0] != '{' {
		return errors.New("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("header is not a JSON object: %v", err)
	}
	f.infos = map[string]*Info{}
	f.Metadata = map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("header JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("header JSON: expected a tensor name, got %v", tok)
		}
		if seen[name] {
			return fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		if name == metadataKey {
			if err := dec.Decode(&f.Metadata); err != nil {
				return fmt.Errorf("%s must map strings to strings: %w", metadataKey, err)
			}
			if f.Metadata == nil { // "null"
				f.Metadata = map[string]string{}
			}
			continue
		}
		var raw rawInfo
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("tensor %q: bad header entry: %w", name, err)
		}
		info, err := checkEntry(name, &raw, dataLen)
		if err != nil {
			return err
		}
		f.infos[name] = info
		f.names = append(f.names, name)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("header JSON: %w", err)
	}
	// Only space padding may follow the object.
	rest := header[dec.InputOffset():]
	if len(bytes.TrimRight(rest, " ")) != 0 {
		return fmt.Errorf("header has %d unexpected bytes after the JSON object", len(rest))
	}
	sort.Strings(f.names)
	return f.checkLayout(dataLen)
}

// checkEntry validates one header entry on its own: known dtype, sane
// shape, offsets inside the data section that match the shape.
func checkEntry(name string, raw *rawInfo, dataLen int64) (*Info, error) {
	if raw.DType == nil || raw.Shape == nil || raw.DataOffsets == nil {
		return nil, fmt.Errorf("tensor %q: header entry needs dtype, shape and data_offsets", name)
	}
	d := DType(*raw.DType)
	if !d.Valid() {
		return nil, fmt.Errorf("tensor %q: unsupported dtype %q (want F64, F32, F16, BF16, I64 or I32)", name, *raw.DType)
	}
	offs := *raw.DataOffsets
	if len(offs) != 2 {
		return nil, fmt.Errorf("tensor %q: data_offsets %v must be [begin, end]", name, offs)
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || end < begin || end > dataLen {
		return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data section", name, begin, end, dataLen)
	}
	// Count elements with overflow checks: the count can never exceed the
	// bytes present, so stop as soon as it does.
	shape := make([]int, len(*raw.Shape))
	numel := int64(1)
	for i, dim := range *raw.Shape {
		if dim < 0 {
			return nil, fmt.Errorf("tensor %q: shape %v has a negative dimension", name, *raw.Shape)
		}
		if dim > 0 && numel > math.MaxInt64/dim {
			return nil, fmt.Errorf("tensor %q: shape %v overflows", name, *raw.Shape)
		}
		numel *= dim
		shape[i] = int(dim)
	}
	if numel > (end-begin)/int64(d.Size()) || numel*int64(d.Size()) != end-begin {
		return nil, fmt.Errorf("tensor %q: shape %v of %s needs %s bytes but data_offsets [%d, %d] hold %d",
			name, *raw.Shape, d, bytesNeeded(numel, d), begin, end, end-begin)
	}
	return &Info{Name: name, DType: d, Shape: shape, Begin: begin, End: end}, nil
}

// bytesNeeded formats numel*size without overflowing.
func bytesNeeded(numel int64, d DType) string {
	if numel > math.MaxInt64/int64(d.Size()) {
		return fmt.Sprintf("%d*%d", numel, d.Size())
	}
	return fmt.Sprint(numel * int64(d.Size()))
}

// checkLayout requires the tensors to tile [0, dataLen) exactly.
func (f *File) checkLayout(dataLen int64) error {
	infos := make([]*Info, 0, len(f.infos))
	for _, name := range f.names {
		infos = append(infos, f.infos[name])
	}
	slices.SortStableFunc(infos, func(a, b *Info) int {
		if a.Begin != b.Begin {
			return cmpInt64(a.Begin, b.Begin)
		}
		return cmpInt64(a.End, b.End)
	})
	pos := int64(0)
	for _, in := range infos {
		switch {
		case in.Begin > pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a gap at bytes [%d, %d)", in.Name, in.Begin, in.End, pos, in.Begin)
		case in.Begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor, which ends at %d", in.Name, in.Begin, in.End, pos)
		}
		pos = in.End
	}
	if pos != dataLen {
		return fmt.Errorf("tensors cover %d bytes but the data section has %d (trailing bytes or wrong header length)", pos, dataLen)
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Names lists the tensor names, sorted.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Info returns the header entry of a tensor.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.infos[name]
	if !ok {
		return Info{}, false
	}
	c := *in
	c.Shape = slices.Clone(in.Shape)
	return c, true
}

func (f *File) info(name string) (*Info, error) {
	in, ok := f.infos[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor named %q (the file has %d tensors)", f.source, name, len(f.infos))
	}
	return in, nil
}

// Raw returns a copy of the little-endian bytes of a tensor.
func (f *File) Raw(name string) ([]byte, error) {
	in, err := f.info(name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, in.End-in.Begin) // checked against the file size by Read
	if err := readAt(f.r, b, f.dataStart+in.Begin); err != nil {
		return nil, fmt.Errorf("%s: tensor %q: reading bytes [%d, %d) of the data section: %w", f.source, name, in.Begin, in.End, err)
	}
	return b, nil
}

// Tensor returns a tensor converted to float32. F64, F16 and BF16 are
// converted; I64 and I32 too (exact for magnitudes up to 2^24).
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	in, err := f.info(name)
	if err != nil {
		return nil, err
	}
	raw, err := f.Raw(name)
	if err != nil {
		return nil, err
	}
	t := tensor.New(in.Shape...)
	decodeFloat32(t.Data, raw, in.DType)
	return t, nil
}

// Int64s returns an integer tensor (I64 or I32) as int64 values with its
// shape. Float tensors are refused rather than silently truncated.
func (f *File) Int64s(name string) ([]int64, []int, error) {
	in, err := f.info(name)
	if err != nil {
		return nil, nil, err
	}
	if in.DType != I64 && in.DType != I32 {
		return nil, nil, fmt.Errorf("%s: tensor %q has dtype %s, want I64 or I32", f.source, name, in.DType)
	}
	raw, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]int64, in.Numel())
	for i := range out {
		if in.DType == I64 {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		} else {
			out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	}
	return out, slices.Clone(in.Shape), nil
}
