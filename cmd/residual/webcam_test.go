package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// TestWebcamNoDevice: there is no camera here; the command must say so.
func TestWebcamNoDevice(t *testing.T) {
	_, err := runCLI(t, "webcam", "--device", "/dev/video-does-not-exist")
	if err == nil || !strings.Contains(err.Error(), "no video device at /dev/video-does-not-exist") {
		t.Errorf("missing device: %v", err)
	}
	// A file that exists but is not a camera.
	err = runWebcam(context.Background(), webcamOptions{device: "/dev/null", size: "640x480"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "/dev/null") {
		t.Errorf("/dev/null: %v", err)
	}
	if err := runWebcam(context.Background(), webcamOptions{device: "/dev/null", size: "big"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--size") {
		t.Errorf("bad size: %v", err)
	}
}

func TestYUYVImage(t *testing.T) {
	// 4x2 frame: Y rises along x, U=100, V=200.
	w, h := 4, 2
	b := make([]byte, w*h*2)
	for y := 0; y < h; y++ {
		for x := 0; x < w/2; x++ {
			o := (y*w + 2*x) * 2
			b[o], b[o+1], b[o+2], b[o+3] = byte(10*(2*x)+y), 100, byte(10*(2*x+1)+y), 200
		}
	}
	img, err := yuyvImage(b, w, h)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := img.YCbCrAt(x, y)
			if want := (color.YCbCr{Y: byte(10*x + y), Cb: 100, Cr: 200}); c != want {
				t.Errorf("(%d,%d) = %v, want %v", x, y, c, want)
			}
		}
	}
	if _, err := yuyvImage(b[:5], w, h); err == nil {
		t.Error("short frame accepted")
	}
	if _, err := yuyvImage(b, 3, 2); err == nil {
		t.Error("odd width accepted")
	}
}

// photoSource replays one image as camera frames.
type photoSource struct {
	img image.Image
	n   int
}

func (s *photoSource) next(ctx context.Context) (image.Image, error) {
	if s.n == 0 {
		return nil, errors.New("camera unplugged")
	}
	s.n--
	return s.img, nil
}

func (s *photoSource) Close() error { return nil }

// TestRecognise runs the camera pipeline on the astronaut photo as frames,
// with the MJPEG preview.
func TestRecognise(t *testing.T) {
	img, err := vision.DecodeFile(fixtures.Face(t, "astronaut.png"), 0)
	if err != nil {
		t.Fatal(err)
	}
	model := saveTestModel(t, t.TempDir(), "emo.residual")
	var out bytes.Buffer
	o := webcamOptions{model: "emotion=" + model, faces: true, frames: 2}
	if err := recognise(context.Background(), o, &photoSource{img: img, n: 5}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "frame 2:") || !strings.Contains(lines[0], "1 face(s)") {
		t.Errorf("output:\n%s", out.String())
	}
	// Without detection, a region of interest is classified.
	out.Reset()
	o.faces, o.roi, o.frames = false, "10,20,100,120", 1
	if err := recognise(context.Background(), o, &photoSource{img: img, n: 1}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 region; [10,20 100x120]") {
		t.Errorf("roi output: %s", out.String())
	}
	if _, err := parseROI("1,2,3"); err == nil {
		t.Error("--roi 1,2,3 accepted")
	}
	o.faces, o.roi = true, ""
	// The source failing ends the command with its error.
	o.frames = 0
	if err := recognise(context.Background(), o, &photoSource{img: img, n: 1}, io.Discard); err == nil || !strings.Contains(err.Error(), "unplugged") {
		t.Errorf("source error: %v", err)
	}
}

func TestMJPEGPreview(t *testing.T) {
	p := newMJPEGPreview()
	ts := httptest.NewServer(p)
	defer ts.Close()
	frame := serve.Annotate(image.NewGray(image.Rect(0, 0, 64, 48)), &serve.Result{Faces: []serve.Prediction{{Box: serve.Box{X: 8, Y: 8, W: 30, H: 30}, Label: "happy", Confidence: 0.5}}})
	go func() {
		for i := 0; i < 50; i++ {
			p.publish(frame)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bufio.NewReader(resp.Body), params["boundary"])
	part, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(part)
	img, err := vision.DecodeBytes(data, 0)
	if err != nil || img.Bounds().Dx() != 64 {
		t.Errorf("first preview frame: %v, %v", img, err)
	}
}

// TestWithHuffmanTables strips the Huffman tables from a JPEG, as many
// MJPEG cameras send it, and checks that the standard ones put back make
// it decode to the same pixels.
func TestWithHuffmanTables(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7 % 256)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, src, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	full := b.Bytes()
	// Remove every DHT segment.
	var stripped []byte
	for i := 0; ; {
		j := bytes.Index(full[i:], []byte{0xFF, 0xC4})
		if j < 0 || bytes.Index(full[i:], []byte{0xFF, 0xDA}) < j {
			stripped = append(stripped, full[i:]...)
			break
		}
		stripped = append(stripped, full[i:i+j]...)
		n := int(full[i+j+2])<<8 | int(full[i+j+3])
		i += j + 2 + n
	}
	if _, err := vision.DecodeBytes(stripped, 0); err == nil {
		t.Fatal("a JPEG without Huffman tables decoded: the test is not testing anything")
	}
	want, err := vision.DecodeBytes(full, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vision.DecodeBytes(withHuffmanTables(stripped), 0)
	if err != nil {
		t.Fatalf("with the standard tables: %v", err)
	}
	wy, gy := want.(*image.YCbCr), got.(*image.YCbCr)
	if !bytes.Equal(wy.Y, gy.Y) || !bytes.Equal(wy.Cb, gy.Cb) || !bytes.Equal(wy.Cr, gy.Cr) {
		t.Error("pixels differ after restoring the standard tables")
	}
	// A frame with tables, and non-JPEG data, are left alone.
	if out := withHuffmanTables(full); !bytes.Equal(out, full) {
		t.Error("a complete JPEG was changed")
	}
	if out := withHuffmanTables([]byte("junk")); string(out) != "junk" {
		t.Error("non-JPEG data was changed")
	}
}

// FuzzWithHuffmanTables: any camera bytes are handled without panic, and
// the output only ever grows by the standard tables.
func FuzzWithHuffmanTables(f *testing.F) {
	for _, s := range []string{"", "\xff\xd8", "\xff\xd8\xff\xda\x00\x02", "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xda", "\xff\xd8\xff\xff\xff\xc4\x00\x02"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := withHuffmanTables(data)
		if len(out) != len(data) && len(out) != len(data)+len(standardDHT) {
			t.Errorf("%d bytes became %d", len(data), len(out))
		}
	})
}
