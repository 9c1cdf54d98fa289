package model

// The model file: one self-describing, versioned file holding everything
// needed to run a trained network (architecture, class names,
// preprocessing) and its weights.
//
// Layout (integers little-endian):
//
//	[8 bytes]  magic "RESIDUAL"
//	[4 bytes]  format version (uint32), currently 1
//	[8 bytes]  H, the JSON header length (uint64)
//	[H bytes]  JSON header: {"config": Config, "meta": Meta}
//	[8 bytes]  S, the tensor section length (uint64)
//	[S bytes]  a safetensors file with every tensor of Net.State() as F32,
//	           named as in Net.State ("layer1.0.conv1.weight", BN
//	           "running_mean" ...); its __metadata__ repeats the JSON header
//	           under "residual", so the section is useful on its own
//	[4 bytes]  CRC-32C (Castagnoli) of every byte before it
//
// Python reads the weights with
//
//	b = open(path, "rb").read()
//	h = int.from_bytes(b[12:20], "little"); o = 20 + h
//	s = int.from_bytes(b[o:o+8], "little")
//	weights = safetensors.numpy.load(b[o+8:o+8+s])

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"time"

	"github.com/residual-go/residual/internal/atomicfile"
	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// File format constants.
const (
	// FileMagic opens every model file.
	FileMagic = "RESIDUAL"
	// FileVersion is the format version this package writes and the
	// newest it reads.
	FileVersion = 1
	// FileExt is the conventional extension of model files.
	FileExt = ".residual"

	// maxHeaderLen bounds the JSON header (16 MiB: class names and
	// training notes, never weights).
	maxHeaderLen = 16 << 20
	// maxTensorLen bounds the tensor section (64 GiB).
	maxTensorLen = 64 << 30
	// maxInputSide bounds the input height and width a file may declare.
	maxInputSide = 8192
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Meta is what a model file records besides the architecture and weights.
type Meta struct {
	// Task names what the model recognises, e.g. "fer2013" or
	// "leapgestrecog".
	Task string `json:"task"`
	// Classes are the class names, indexed by output (len = Config.Classes).
	Classes []string `json:"classes"`
	// Preprocess turns an image into the network's input; its size and
	// channels equal Config.Input.
	Preprocess vision.Preprocess `json:"preprocess"`
	// Created is when the file was written (Write fills in the current
	// time when zero).
	Created time.Time `json:"created"`
	// Training describes how the weights were obtained (nil when unknown).
	Training *TrainingInfo `json:"training,omitempty"`
}

// TrainingInfo summarises the training run that produced a model.
type TrainingInfo struct {
	Dataset      string  `json:"dataset,omitempty"` // path of the training data
	Format       string  `json:"format,omitempty"`  // data layout (data.Format*)
	TrainSamples int     `json:"train_samples,omitempty"`
	ValSamples   int     `json:"val_samples,omitempty"`
	Epochs       int     `json:"epochs,omitempty"`     // epochs trained
	BestEpoch    int     `json:"best_epoch,omitempty"` // epoch of these weights
	ValAccuracy  float64 `json:"val_accuracy,omitempty"`
	ValMacroF1   float64 `json:"val_macro_f1,omitempty"`
	ValLoss      float64 `json:"val_loss,omitempty"`
	// Config is the resolved training configuration (train.Config as JSON).
	Config json.RawMessage `json:"config,omitempty"`
}

// fileHeader is the JSON header of a model file.
type fileHeader struct {
	Config Config `json:"config"`
	Meta   Meta   `json:"meta"`
}

// Save writes net and meta to path atomically (internal/atomicfile): a
// uniquely named temporary file in the same directory, synced, renamed
// over path, and the directory synced, so path holds either the old or
// the complete new file, never a partial one.
func Save(path string, net *Net, meta Meta) error {
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return Write(w, net, meta) }); err != nil {
		return fmt.Errorf("model: save %s: %w", path, err)
	}
	return nil
}

// Write writes net and meta in the model file format to w.
func Write(w io.Writer, net *Net, meta Meta) error {
	if meta.Created.IsZero() {
		meta.Created = time.Now().UTC().Truncate(time.Second)
	}
	if err := checkMeta(net.Config, meta); err != nil {
		return err
	}
	header, err := json.Marshal(fileHeader{Config: net.Config, Meta: meta})
	if err != nil {
		return fmt.Errorf("model: encode header: %w", err)
	}
	state := net.State()
	entries := make([]safetensors.Entry, len(state))
	for i, p := range state {
		entries[i] = safetensors.Float32(p.Name, p.Value)
	}
	var st bytes.Buffer
	if err := safetensors.Write(&st, entries, map[string]string{"residual": string(header)}); err != nil {
		return fmt.Errorf("model: encode tensors: %w", err)
	}

	crc := crc32.New(castagnoli)
	mw := io.MultiWriter(w, crc)
	var prefix [12]byte
	copy(prefix[:8], FileMagic)
	binary.LittleEndian.PutUint32(prefix[8:], FileVersion)
	for _, part := range [][]byte{prefix[:], u64(len(header)), header, u64(st.Len()), st.Bytes()} {
		if _, err := mw.Write(part); err != nil {
			return err
		}
	}
	_, err = w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

func u64(n int) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }

// Load reads the model file at path.
func Load(path string) (*Net, Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	return Read(bufio.NewReaderSize(f, 1<<20), path)
}

// Read reads a model file from r; name identifies it in error messages.
// Every length is checked before use and buffers only grow as data
// actually arrives, so a hostile or truncated file cannot make Read
// allocate much more than its real size. The checksum is verified before
// the network is built.
func Read(r io.Reader, name string) (*Net, Meta, error) {
	fail := func(format string, args ...any) (*Net, Meta, error) {
		return nil, Meta{}, fmt.Errorf("model file %s: %s", name, fmt.Sprintf(format, args...))
	}
	crc := crc32.New(castagnoli)
	tr := io.TeeReader(r, crc)
	var prefix [12]byte
	if n, err := io.ReadFull(tr, prefix[:]); err != nil {
		if n >= 8 && string(prefix[:8]) != FileMagic || n < 8 && !bytes.HasPrefix([]byte(FileMagic), prefix[:n]) {
			return fail("not a model file: %s", describeFormat(prefix[:n]))
		}
		return fail("truncated: %d bytes, want at least 12 (magic and version)", n)
	}
	if string(prefix[:8]) != FileMagic {
		return fail("not a model file: %s", describeFormat(prefix[:]))
	}
	switch v := binary.LittleEndian.Uint32(prefix[8:]); {
	case v > FileVersion:
		return fail("format version %d is newer than this program reads (%d); use a newer residual", v, FileVersion)
	case v == 0:
		return fail("invalid format version 0")
	}

	header, err := readSection(tr, "header", maxHeaderLen)
	if err != nil {
		return fail("%v", err)
	}
	st, err := readSection(tr, "tensor section", maxTensorLen)
	if err != nil {
		return fail("%v", err)
	}
	want := crc.Sum32()
	var sum [4]byte
	if n, err := io.ReadFull(r, sum[:]); err != nil {
		return fail("truncated: %d of 4 checksum bytes", n)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return fail("checksum mismatch (stored %08x, computed %08x): the file is corrupted", got, want)
	}
	var extra [1]byte
	if n, _ := io.ReadFull(r, extra[:]); n > 0 {
		return fail("unexpected data after the checksum")
	}

	var h fileHeader
	if err := json.Unmarshal(header, &h); err != nil {
		return fail("header: %v", err)
	}
	tf, err := safetensors.ReadBytes(st)
	if err != nil {
		return fail("tensor section: %v", err)
	}
	stored := 0
	for _, n := range tf.Names() {
		info, _ := tf.Info(n)
		stored += info.Numel()
	}
	if err := checkConfigSize(h.Config, stored); err != nil {
		return fail("%v", err)
	}
	net, err := New(h.Config, 0)
	if err != nil {
		return fail("%v", err)
	}
	if err := checkMeta(net.Config, h.Meta); err != nil {
		return fail("%v", err)
	}
	state := net.State()
	if len(state) != len(tf.Names()) {
		return fail("%d tensors stored, the architecture has %d", len(tf.Names()), len(state))
	}
	var lookupErr error
	err = net.LoadState(func(n string) (*tensor.Tensor, bool) {
		if _, ok := tf.Info(n); !ok {
			return nil, false
		}
		t, err := tf.Tensor(n)
		if err != nil {
			lookupErr = err
			return nil, false
		}
		return t, true
	})
	if lookupErr != nil {
		return fail("%v", lookupErr)
	}
	if err != nil {
		return fail("%v", err)
	}
	return net, h.Meta, nil
}

// readSection reads a uint64 length and that many bytes. The buffer grows
// with the data read, so a false length fails at the end of the data
// instead of allocating it.
func readSection(r io.Reader, what string, limit uint64) ([]byte, error) {
	var lb [8]byte
	if n, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, fmt.Errorf("truncated: %d of 8 bytes of the %s length", n, what)
	}
	n := binary.LittleEndian.Uint64(lb[:])
	if n > limit {
		return nil, fmt.Errorf("%s length %d exceeds the limit %d", what, n, limit)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, 1<<20)))
	got, err := io.CopyN(&buf, r, int64(n))
	if err != nil {
		return nil, fmt.Errorf("truncated: %s has %d of %d bytes", what, got, n)
	}
	return buf.Bytes(), nil
}

// checkMeta checks that meta agrees with the architecture.
func checkMeta(cfg Config, meta Meta) error {
	if len(meta.Classes) != cfg.Classes {
		return fmt.Errorf("%d class names for %d outputs", len(meta.Classes), cfg.Classes)
	}
	p := meta.Preprocess
	if err := p.Validate(); err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	if p.Height != cfg.Input[0] || p.Width != cfg.Input[1] || p.Channels != cfg.Input[2] {
		return fmt.Errorf("preprocess gives %dx%dx%d images (HxWxC), the network takes %dx%dx%d",
			p.Height, p.Width, p.Channels, cfg.Input[0], cfg.Input[1], cfg.Input[2])
	}
	return nil
}

// checkConfigSize refuses an architecture that would need far more memory
// than the stored tensors hold, before New allocates it: it bounds the
// number of weights from above, stage by stage, and compares the bound
// with the stored values. The bound is within a small factor of the true
// count for every real configuration.
func checkConfigSize(c Config, stored int) error {
	if c.Input[0] > maxInputSide || c.Input[1] > maxInputSide || c.Input[2] > 4 {
		return fmt.Errorf("input shape (H,W,C)=%v too large (max %dx%dx4)", c.Input, maxInputSide, maxInputSide)
	}
	mult := c.WidthMult
	if mult == 0 {
		mult = 1
	}
	if math.IsNaN(mult) || mult > 1<<20 {
		return fmt.Errorf("width multiplier %g too large", c.WidthMult)
	}
	scale := func(ch int) float64 { return math.Max(1, float64(ch)*mult) }
	exp := 1.0
	if c.Block == "bottleneck" {
		exp = Expansion
	}
	in := math.Max(1, float64(c.Input[2]))
	bound := 0.0
	if c.InputAdapter > 0 {
		bound += 9 * in * float64(c.InputAdapter)
		in = float64(c.InputAdapter)
	}
	stem := c.StemWidth
	if stem == 0 && len(c.Widths) > 0 {
		stem = c.Widths[0]
	}
	bound += 49*in*scale(stem) + 4*scale(stem)
	in = scale(stem)
	if len(c.Layers) != len(c.Widths) {
		return fmt.Errorf("%d stages of blocks but %d widths", len(c.Layers), len(c.Widths))
	}
	for s, n := range c.Layers {
		w := scale(c.Widths[s])
		out := w * exp
		// A block has at most three convolutions no larger than 3x3 from
		// max(in,out) to max(in,out) channels, plus a projection.
		m := math.Max(in, out)
		bound += float64(max(n, 0)) * (27*m*m + in*out + 16*m)
		in = out
	}
	features := in
	if c.Pool == "flatten" {
		features *= float64(c.Input[0]) * float64(c.Input[1])
	}
	for _, h := range c.Head {
		bound += (features + 1) * float64(h)
		features = float64(h)
	}
	bound += (features + 1) * float64(c.Classes)
	if bound > 64*float64(stored)+1<<20 {
		return fmt.Errorf("architecture needs up to %.3g weights but only %d are stored", bound, stored)
	}
	return nil
}

// describeFormat names, in words, the format of a file that is not a
// model file, from its first bytes: what the user probably passed
// instead.
func describeFormat(b []byte) string {
	var what string
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		what = "a JPEG image"
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		what = "a PNG image"
	case bytes.HasPrefix(b, []byte("GIF8")):
		what = "a GIF image"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		what = "a zip archive (a PyTorch .pt/.pth checkpoint is one)"
	case bytes.HasPrefix(b, []byte("\x89HDF")):
		what = "an HDF5 file (a Keras .h5 model?)"
	case bytes.HasPrefix(b, []byte("\x1f\x8b")):
		what = "a gzip file"
	case len(b) >= 9 && b[8] == '{' && binary.LittleEndian.Uint64(b[:8]) < 1<<30:
		what = "a safetensors file"
	case len(b) > 0 && b[0] == 0x08:
		what = "probably an ONNX file (use it where ONNX files are accepted: predict, eval, serve, webcam, train --from)"
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		what = "a JSON file"
	case len(b) == 0:
		return "the file is empty"
	default:
		return fmt.Sprintf("it does not start with %q (its first bytes are %x)", FileMagic, b)
	}
	return "it is " + what + ", not a residual model (which starts with " + fmt.Sprintf("%q", FileMagic) + ")"
}
