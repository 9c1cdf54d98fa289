package serve

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/vision"
)

var emotionClasses = []string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

// newEmotionNet is an untrained "reference" network (48x48x1, 7 classes).
func newEmotionNet(t testing.TB, seed uint64) *model.Net {
	t.Helper()
	cfg, err := model.Preset("reference")
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// newEmotionModel serves an untrained reference network as "emotion".
func newEmotionModel(t testing.TB, instances int) *Model {
	t.Helper()
	m, err := NewModel("emotion", newEmotionNet(t, 1), emotionClasses, vision.DefaultFER(), "untrained reference net", instances)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newGestureModel serves a small untrained RGB network (32x32x3, 10
// classes) as "gesture": a second model with other channels and classes.
func newGestureModel(t testing.TB) *Model {
	t.Helper()
	net, err := model.New(model.Config{Layers: []int{1, 1}, Widths: []int{4, 8}, Input: [3]int{32, 32, 3}, Classes: 10}, 2)
	if err != nil {
		t.Fatal(err)
	}
	classes := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	pre := vision.Preprocess{Width: 32, Height: 32, Channels: 3}
	m, err := NewModel("gesture", net, classes, pre, "untrained test net", 2)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestServer serves both test models; it quiets the request log.
func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := New(cfg, newEmotionModel(t, 2), newGestureModel(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// readPhoto returns the bytes of a committed face photo (testdata/faces).
func readPhoto(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures.Face(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodePhoto decodes a committed face photo.
func decodePhoto(t testing.TB, name string) image.Image {
	t.Helper()
	img, err := vision.DecodeBytes(readPhoto(t, name), 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// oneFaceFrame is a 640x480 RGB frame with the astronaut photo scaled to
// 480x480 in its middle (one face), on gray.
func oneFaceFrame(t testing.TB) *image.RGBA {
	t.Helper()
	src, err := vision.FromImage(nil, decodePhoto(t, "astronaut.png"), 3)
	if err != nil {
		t.Fatal(err)
	}
	sq, err := vision.Resize(src, 480, 480)
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range out.Pix {
		out.Pix[i] = 128
	}
	for y := 0; y < 480; y++ {
		for x := 0; x < 480; x++ {
			o, s := out.PixOffset(x+80, y), (y*480+x)*3
			copy(out.Pix[o:o+3], sq.Pix[s:s+3])
		}
	}
	return out
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// post sends body to url with the content type and returns the status and
// response body.
func post(t testing.TB, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
