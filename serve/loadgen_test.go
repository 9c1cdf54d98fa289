package serve

import (
	"context"
	"image"
	"testing"
	"time"
)

func TestLoadTest(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	body := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 48, 48)))
	r, err := LoadTest(context.Background(), LoadOptions{URL: ts.URL + "/v1/predict?faces=false", Body: body, Clients: 4, Requests: 40})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 40 || r.Errors != 0 || r.Throughput <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
		t.Errorf("report %+v", r)
	}
	// Errors are counted: an unknown model answers 404 every time.
	r, err = LoadTest(context.Background(), LoadOptions{URL: ts.URL + "/v1/predict?model=nope", Body: body, Clients: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || r.Errors != r.Requests {
		t.Errorf("404s: %d errors of %d requests, want all", r.Errors, r.Requests)
	}
	if _, err := LoadTest(context.Background(), LoadOptions{}); err == nil {
		t.Error("a load test without URL ran")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 0.5); p != 50 {
		t.Errorf("p50 = %d, want 50", p)
	}
	if p := percentile(d, 0.99); p != 99 {
		t.Errorf("p99 = %d, want 99", p)
	}
	if p := percentile(d[:1], 0.99); p != 1 {
		t.Errorf("p99 of one = %d", p)
	}
}
