package serve

import (
	"context"
	"image"
	"slices"
	"testing"
	"time"
)

// BenchmarkFrame640x480 is one 640x480 frame holding one face, already
// decoded: colour conversion, detection, crop, preprocessing and the
// untrained reference network (48x48x1). It reports the median.
func BenchmarkFrame640x480(b *testing.B) {
	img := oneFaceFrame(b)
	s, _ := newTestServer(b, Config{})
	m, _ := s.Model("emotion")
	ctx := context.Background()
	var times []time.Duration
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		t0 := time.Now()
		f, err := NewFrame(img, m.Preprocess.Channels)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Predict(ctx, m, s.Detector(), f, FrameOptions{Faces: true})
		if err != nil || len(res.Faces) != 1 {
			b.Fatalf("faces %v, err %v; want one face", res, err)
		}
		times = append(times, time.Since(t0))
	}
	reportCPU(b, cpu0)
	reportMedian(b, times)
}

// BenchmarkFrame640x480JPEG is the same frame sent as a JPEG through the
// server's path (header check, decode, conversion, detection,
// classification), without HTTP.
func BenchmarkFrame640x480JPEG(b *testing.B) {
	data := encodeJPEG(b, oneFaceFrame(b))
	s, _ := newTestServer(b, Config{})
	m, _ := s.Model("emotion")
	ctx := context.Background()
	var times []time.Duration
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		t0 := time.Now()
		res, err := s.predictBytes(ctx, m, data, FrameOptions{Faces: true})
		if err != nil || len(res.Faces) != 1 {
			b.Fatalf("faces %v, err %v; want one face", res, err)
		}
		times = append(times, time.Since(t0))
	}
	reportCPU(b, cpu0)
	reportMedian(b, times)
}

func reportMedian(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}

// BenchmarkPredictLoad16 runs the load generator against an in-process
// server: 16 concurrent clients POST a 48x48 gray JPEG crop to
// /v1/predict?faces=false; b.N is the total number of requests.
func BenchmarkPredictLoad16(b *testing.B) {
	_, ts := newTestServer(b, Config{})
	crop := image.NewGray(image.Rect(0, 0, 48, 48))
	for i := range crop.Pix {
		crop.Pix[i] = uint8(i * 31 % 256)
	}
	body := encodeJPEG(b, crop)
	b.ResetTimer()
	r, err := LoadTest(context.Background(), LoadOptions{URL: ts.URL + "/v1/predict?faces=false", Body: body, Clients: 16, Requests: max(b.N, 16)})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if r.Errors > 0 {
		b.Errorf("%d errors", r.Errors)
	}
	b.ReportMetric(r.Throughput, "req/s")
	b.ReportMetric(msf(r.P50), "p50-ms")
	b.ReportMetric(msf(r.P99), "p99-ms")
	b.Log(r)
}
