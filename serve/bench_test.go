package serve

import (
	"context"
	"fmt"
	"github.com/residual-go/residual/internal/cputime"
	"image"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
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
	cpu0 := cputime.Process()
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
	cpu0 := cputime.Process()
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
// /v1/predict?faces=false; b.N is the total number of requests. The
// sub-benchmarks compare batching across requests (MaxBatch 32, the
// default) with one request per forward pass (MaxBatch 1), on the
// untrained reference network, or on the model file named by
// $RESIDUAL_BENCH_MODEL (e.g. a trained FER2013 model).
func BenchmarkPredictLoad16(b *testing.B) {
	crop := image.NewGray(image.Rect(0, 0, 48, 48))
	for i := range crop.Pix {
		crop.Pix[i] = uint8(i * 31 % 256)
	}
	body := encodeJPEG(b, crop)
	for _, maxBatch := range []int{1, DefaultMaxBatch} {
		b.Run(fmt.Sprintf("maxbatch=%d", maxBatch), func(b *testing.B) {
			m := benchModel(b)
			m.SetMaxBatch(maxBatch)
			s, err := New(Config{Logger: quietLogger()}, m)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			b.ResetTimer()
			cpu0 := cputime.Process()
			r, err := LoadTest(context.Background(), LoadOptions{URL: ts.URL + "/v1/predict?faces=false", Body: body, Clients: 16, Requests: max(b.N, 16)})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			reportCPU(b, cpu0)
			if r.Errors > 0 {
				b.Errorf("%d errors", r.Errors)
			}
			st := m.BatchStats()
			b.ReportMetric(r.Throughput, "req/s")
			b.ReportMetric(msf(r.P50), "p50-ms")
			b.ReportMetric(msf(r.P99), "p99-ms")
			b.ReportMetric(float64(st.Crops)/float64(max(st.Passes, 1)), "crops/pass")
			b.Log(r)
		})
	}
}

// benchModel is the emotion model of the load benchmarks: the model file
// $RESIDUAL_BENCH_MODEL when set, else the untrained reference network,
// with $RESIDUAL_BENCH_INSTANCES instances (default 2, as `residual bench
// serve` uses).
func benchModel(b *testing.B) *Model {
	instances := 2
	if v := os.Getenv("RESIDUAL_BENCH_INSTANCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("$RESIDUAL_BENCH_INSTANCES=%q: want a positive integer", v)
		}
		instances = n
	}
	path := os.Getenv("RESIDUAL_BENCH_MODEL")
	if path == "" {
		return newEmotionModel(b, instances)
	}
	m, err := LoadModel("emotion", path, instances)
	if err != nil {
		b.Fatalf("$RESIDUAL_BENCH_MODEL: %v", err)
	}
	return m
}

// BenchmarkPass is one forward pass of n single-crop jobs, as a free
// instance runs it under load (preprocessing, network, softmax), on the
// model of benchModel. It reports the time and CPU time per crop: what
// batching across requests saves. "crops=mixed" cycles through passes of
// 1, 2, 3, 5, 8 and 13 crops, as under real load, where the batch size
// changes from one pass to the next.
func BenchmarkPass(b *testing.B) {
	m := benchModel(b)
	frames := batchFrames(32)
	sizes := map[string][]int{"1": {1}, "2": {2}, "4": {4}, "8": {8}, "16": {16}, "32": {32}, "mixed": {1, 2, 3, 5, 8, 13}}
	for _, name := range []string{"1", "2", "4", "8", "16", "32", "mixed"} {
		b.Run("crops="+name, func(b *testing.B) {
			ctx := context.Background()
			crops := 0
			b.ResetTimer()
			cpu0 := cputime.Process()
			for i := 0; b.Loop(); i++ {
				n := sizes[name][i%len(sizes[name])]
				for _, f := range frames[:n] {
					queueJob(m, ctx, f, image.Rectangle{})
				}
				m.runPass(<-m.pool)
				crops += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(crops), "ms/crop")
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(crops), "cpu-ms/crop")
		})
	}
}
