package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"math"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

func decodeResult(t *testing.T, body []byte) *Result {
	t.Helper()
	var r Result
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	return &r
}

// checkPrediction checks one prediction's probabilities and top label.
func checkPrediction(t *testing.T, p Prediction, classes []string) {
	t.Helper()
	if len(p.Probs) != len(classes) {
		t.Fatalf("%d probabilities, want %d", len(p.Probs), len(classes))
	}
	sum, best := 0.0, 0
	for k, c := range p.Probs {
		if c.Label != classes[k] || c.P < 0 || c.P > 1 {
			t.Errorf("class %d: %+v, want label %q and p in [0,1]", k, c, classes[k])
		}
		sum += float64(c.P)
		if c.P > p.Probs[best].P {
			best = k
		}
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Errorf("probabilities sum to %v, want 1", sum)
	}
	if p.Label != classes[best] || p.Confidence != p.Probs[best].P {
		t.Errorf("label %q (%v), want the top class %q (%v)", p.Label, p.Confidence, classes[best], p.Probs[best].P)
	}
}

func TestPredictFacesRaw(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	status, body := post(t, ts.URL+"/v1/predict", "image/png", readPhoto(t, "astronaut.png"))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	r := decodeResult(t, body)
	if r.Model != "emotion" || r.Width != 512 || r.Height != 512 {
		t.Errorf("model %q frame %dx%d, want emotion 512x512", r.Model, r.Width, r.Height)
	}
	if len(r.Faces) != 1 {
		t.Fatalf("%d faces, want 1: %s", len(r.Faces), body)
	}
	f := r.Faces[0]
	if cx, cy := f.Box.X+f.Box.W/2, f.Box.Y+f.Box.H/2; math.Abs(float64(cx-222)) > 20 || math.Abs(float64(cy-112)) > 20 {
		t.Errorf("face box %+v centred at (%d,%d), want near (222,112)", f.Box, cx, cy)
	}
	if !f.Box.Rect().In(f.Crop.Rect()) || f.Score <= 0 {
		t.Errorf("crop %+v must hold box %+v; score %v must be positive", f.Crop, f.Box, f.Score)
	}
	checkPrediction(t, f, emotionClasses)
	tm := r.Timings
	if tm.Decode <= 0 || tm.Detect <= 0 || tm.Classify <= 0 || tm.Total < tm.Decode+tm.Detect+tm.Classify-0.01 {
		t.Errorf("timings %+v: want positive stages and total >= their sum", tm)
	}
}

func TestPredictMultipart(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("note", "fields before the file are skipped")
	fw, err := mw.CreateFormFile("file", "grace_hopper.jpg")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(readPhoto(t, "grace_hopper.jpg"))
	mw.Close()
	status, resp := post(t, ts.URL+"/v1/predict", mw.FormDataContentType(), body.Bytes())
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, resp)
	}
	r := decodeResult(t, resp)
	if len(r.Faces) != 1 {
		t.Fatalf("%d faces, want 1: %s", len(r.Faces), resp)
	}
	checkPrediction(t, r.Faces[0], emotionClasses)
}

// TestPredictWholeImageMatchesNetwork checks faces=false against the
// network run directly on vision.Preprocess's output: the server adds
// nothing to the training path.
func TestPredictWholeImageMatchesNetwork(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	img := image.NewGray(image.Rect(0, 0, 60, 50))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13 % 256)
	}
	status, body := post(t, ts.URL+"/v1/predict?faces=false", "image/png", encodePNG(t, img))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	r := decodeResult(t, body)
	if len(r.Faces) != 1 || r.Faces[0].Box != (Box{0, 0, 60, 50}) || r.Timings.Detect != 0 {
		t.Fatalf("want one whole-image prediction without detection, got %s", body)
	}

	pre := vision.DefaultFER()
	x := tensor.New(1, 48, 48, 1)
	if err := pre.FromImage(x.Data, img, nil); err != nil {
		t.Fatal(err)
	}
	net := newEmotionNet(t, 1) // the same seed as the served model
	logits, err := net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	probs := nnSoftmax(logits)
	for k, c := range r.Faces[0].Probs {
		if math.Abs(float64(c.P-probs[k])) > 1e-5 {
			t.Errorf("class %d: served %v, direct %v", k, c.P, probs[k])
		}
	}

	// A region of interest is classified like the cropped image.
	status, body = post(t, ts.URL+"/v1/predict?faces=false&roi=10,5,30,30", "image/png", encodePNG(t, img))
	if status != http.StatusOK {
		t.Fatalf("roi: status %d: %s", status, body)
	}
	if r := decodeResult(t, body); r.Faces[0].Box != (Box{10, 5, 30, 30}) {
		t.Errorf("roi box %+v, want {10 5 30 30}", r.Faces[0].Box)
	}
}

func nnSoftmax(logits *tensor.Tensor) []float32 {
	out := make([]float32, logits.Len())
	m := math.Inf(-1)
	for _, v := range logits.Data[:logits.Len()] {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range logits.Data[:logits.Len()] {
		s += math.Exp(float64(v) - m)
	}
	for i, v := range logits.Data[:logits.Len()] {
		out[i] = float32(math.Exp(float64(v)-m) / s)
	}
	return out
}

func TestPredictChoosesModel(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	img := image.NewRGBA(image.Rect(0, 0, 40, 40))
	status, body := post(t, ts.URL+"/v1/predict?model=gesture&faces=false", "image/jpeg", encodeJPEG(t, img))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	r := decodeResult(t, body)
	if r.Model != "gesture" || len(r.Faces) != 1 {
		t.Fatalf("got %s", body)
	}
	checkPrediction(t, r.Faces[0], []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"})
}

func TestModelsAndHealth(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var got struct{ Models []ModelInfo }
	getJSON(t, ts.URL+"/v1/models", http.StatusOK, &got)
	if len(got.Models) != 2 {
		t.Fatalf("%d models, want 2", len(got.Models))
	}
	e, g := got.Models[0], got.Models[1]
	if e.Name != "emotion" || !e.Default || len(e.Classes) != 7 || e.Input != (InputSize{48, 48, 1}) || e.Source == "" || e.Instances != 2 {
		t.Errorf("emotion: %+v", e)
	}
	if g.Name != "gesture" || g.Default || len(g.Classes) != 10 || g.Input != (InputSize{32, 32, 3}) {
		t.Errorf("gesture: %+v", g)
	}
	var h map[string]any
	getJSON(t, ts.URL+"/healthz", http.StatusOK, &h)
	if h["status"] != "ok" {
		t.Errorf("healthz: %v", h)
	}
}

func getJSON(t *testing.T, url string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: status %d (%s), want %d JSON", url, resp.StatusCode, resp.Header.Get("Content-Type"), wantStatus)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// hugePNG is a valid PNG signature and IHDR for a w x h image, with no
// pixel data: enough for image.DecodeConfig, not for decoding.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// hugeJPEG is a small real JPEG whose frame header claims w x h.
func hugeJPEG(t *testing.T, w, h uint16) []byte {
	b := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 16, 16)))
	i := bytes.Index(b, []byte{0xFF, 0xC0}) // baseline SOF0
	if i < 0 {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// TestBadInput sends every kind of bad request: each gets a 4xx JSON
// error naming the problem, and the server keeps serving.
func TestBadInput(t *testing.T) {
	_, ts := newTestServer(t, Config{MaxUploadBytes: 200_000})
	good := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	noFile := func() (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("image", "not here")
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}
	mpType, mpBody := noFile()
	big := make([]byte, 300_000)
	copy(big, good)
	noisy := image.NewGray(image.Rect(0, 0, 128, 128))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(i * 7919 % 256)
	}
	truncated := encodeJPEG(t, noisy)
	truncated = truncated[:len(truncated)/2]

	for _, tc := range []struct {
		name        string
		method      string
		query       string
		contentType string
		body        []byte
		status      int
		msg         string // part of the error message
	}{
		{"empty body", "POST", "", "image/jpeg", nil, 400, "empty image"},
		{"wrong content type", "POST", "", "text/plain", good, 415, "text/plain"},
		{"json content type", "POST", "", "application/json", []byte(`{"image":1}`), 415, "application/json"},
		{"truncated JPEG", "POST", "", "image/jpeg", truncated, 400, "decoding"},
		{"not an image", "POST", "", "application/octet-stream", []byte("hello, this is not an image at all"), 400, "not a JPEG or PNG"},
		{"20000x20000 PNG", "POST", "", "image/png", hugePNG(20000, 20000), 413, "20000x20000"},
		{"20000x20000 JPEG", "POST", "", "image/jpeg", hugeJPEG(t, 20000, 20000), 413, "20000x20000"},
		{"over the upload limit", "POST", "", "image/jpeg", big, 413, "limit of 200000 bytes"},
		{"over the limit in multipart", "POST", "", "", nil, 413, "limit"},
		{"multipart without file", "POST", "", mpType, mpBody, 400, `no "file" field`},
		{"unknown model", "POST", "?model=nope", "image/jpeg", good, 404, `unknown model "nope"`},
		{"bad faces flag", "POST", "?faces=maybe", "image/jpeg", good, 400, "faces="},
		{"bad roi", "POST", "?faces=false&roi=1,2,3", "image/jpeg", good, 400, "roi="},
		{"roi outside the image", "POST", "?faces=false&roi=500,500,10,10", "image/jpeg", good, 400, "outside"},
		{"GET predict", "GET", "", "", nil, 405, "method not allowed"},
		{"unknown path", "GET", "/../nowhere", "", nil, 404, "no such page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := tc.body, tc.contentType
			if tc.name == "over the limit in multipart" {
				var b bytes.Buffer
				mw := multipart.NewWriter(&b)
				fw, _ := mw.CreateFormFile("file", "big.jpg")
				fw.Write(big)
				mw.Close()
				body, ct = b.Bytes(), mw.FormDataContentType()
			}
			url := ts.URL + "/v1/predict" + tc.query
			if tc.name == "unknown path" {
				url = ts.URL + "/nowhere"
			}
			req, err := http.NewRequest(tc.method, url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("status %d: body is not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("status %d error %q, want %d with %q", resp.StatusCode, e.Error, tc.status, tc.msg)
			}
			// The server still serves.
			if status, b := post(t, ts.URL+"/v1/predict?faces=false", "image/jpeg", good); status != 200 {
				t.Fatalf("after the bad request: status %d: %s", status, b)
			}
		})
	}
}

// TestConcurrentPredict runs many requests at once on a model with fewer
// instances than clients: every answer must equal the sequential one.
func TestConcurrentPredict(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	img := image.NewGray(image.Rect(0, 0, 48, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 251)
	}
	body := encodePNG(t, img)
	status, first := post(t, ts.URL+"/v1/predict?faces=false", "image/png", body)
	if status != 200 {
		t.Fatalf("status %d: %s", status, first)
	}
	want := decodeResult(t, first).Faces[0].Probs

	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 6; i++ {
				resp, err := http.Post(ts.URL+"/v1/predict?faces=false", "image/png", bytes.NewReader(body))
				if err != nil {
					errs <- err.Error()
					return
				}
				var r Result
				err = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(r.Faces) != 1 {
					errs <- "bad response"
					return
				}
				// Concurrent requests share forward passes; a batch's
				// matrix products may round differently from a lone
				// image's (float32, ~1e-7).
				for k, p := range r.Faces[0].Probs {
					if math.Abs(float64(p.P-want[k].P)) > 1e-5 || p.Label != want[k].Label {
						errs <- fmt.Sprintf("class %d: %+v concurrently, %+v alone", k, p, want[k])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestMetrics(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	good := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	post(t, ts.URL+"/v1/predict?faces=false", "image/jpeg", good)
	post(t, ts.URL+"/v1/predict", "text/plain", good)
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	text := b.String()
	for _, want := range []string{
		`residual_http_requests_total{code="200",endpoint="predict"} 1`,
		`residual_http_requests_total{code="415",endpoint="predict"} 1`,
		`residual_http_request_duration_seconds_bucket{endpoint="predict",le=`,
		`residual_frames_total{model="emotion",source="predict"} 1`,
		`residual_faces_total{model="emotion"} 1`,
		`residual_stage_duration_seconds_count{stage="classify"} 1`,
		`residual_streams_active 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPage(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	for path, want := range map[string]string{"/": `<script src="app.js">`, "/app.js": "getUserMedia", "/style.css": ".face-box"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s: status %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("a server without models was built")
	}
	if _, err := New(Config{}, newEmotionModel(t, 1), newEmotionModel(t, 1)); err == nil || !strings.Contains(err.Error(), `two models named "emotion"`) {
		t.Errorf("duplicate names: %v", err)
	}
	net := newEmotionNet(t, 1)
	if _, err := NewModel("x", net, emotionClasses[:3], vision.DefaultFER(), "test", 1); err == nil {
		t.Error("3 class names for 7 outputs accepted")
	}
	if _, err := NewModel("x", net, emotionClasses, vision.Preprocess{Width: 32, Height: 32, Channels: 1}, "test", 1); err == nil {
		t.Error("32x32 preprocessing for a 48x48 network accepted")
	}
}

func TestClassifyContextCancelled(t *testing.T) {
	m := newEmotionModel(t, 1)
	frame := vision.NewImage(48, 48, 1)
	<-m.pool // hold the only instance
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Classify(ctx, frame, []image.Rectangle{{}}); err == nil {
		t.Error("Classify with every instance busy and a cancelled context succeeded")
	}
}

func TestAnnotate(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 100, 100))
	res := &Result{Faces: []Prediction{{Box: Box{10, 30, 50, 50}, Label: "happy", Confidence: 0.9}}}
	out := Annotate(img, res)
	if out.RGBAAt(10, 50) == (color.RGBA{}) {
		t.Error("no box drawn at the left edge")
	}
}
