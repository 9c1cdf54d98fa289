package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions describe a load test of POST /v1/predict.
type LoadOptions struct {
	// URL is the full endpoint, e.g. "http://127.0.0.1:8080/v1/predict?faces=false".
	URL string
	// Body is the image sent with every request.
	Body []byte
	// ContentType of Body. Default "image/jpeg".
	ContentType string
	// Clients is the number of concurrent clients, each sending its next
	// request when the previous one is answered. Default 16.
	Clients int
	// Requests is the total number of requests; when 0, Duration bounds
	// the test instead.
	Requests int
	// Duration bounds the test when Requests is 0. Default 5 s.
	Duration time.Duration
	// Client sends the requests; default a client with 16+ idle
	// connections per host so clients do not reconnect.
	Client *http.Client
}

// LoadReport summarises a load test.
type LoadReport struct {
	Requests   int           // requests completed (with or without error)
	Errors     int           // transport errors and non-200 answers
	Elapsed    time.Duration // wall time of the whole test
	Throughput float64       // completed requests per second
	P50, P99   time.Duration // latency percentiles over the completed requests
	Max        time.Duration
}

func (r LoadReport) String() string {
	return fmt.Sprintf("%d requests in %.2fs: %.1f req/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors",
		r.Requests, r.Elapsed.Seconds(), r.Throughput, msf(r.P50), msf(r.P99), msf(r.Max), r.Errors)
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// LoadTest sends Body to URL from Clients concurrent clients and measures
// throughput and latency. It stops early when ctx ends.
func LoadTest(ctx context.Context, o LoadOptions) (LoadReport, error) {
	if o.URL == "" || len(o.Body) == 0 {
		return LoadReport{}, fmt.Errorf("serve: load test needs a URL and a body (got %q, %d bytes)", o.URL, len(o.Body))
	}
	if o.ContentType == "" {
		o.ContentType = "image/jpeg"
	}
	if o.Clients <= 0 {
		o.Clients = 16
	}
	if o.Requests <= 0 && o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Clients + 4
		o.Client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		defer tr.CloseIdleConnections()
	}
	if o.Duration > 0 && o.Requests <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}

	var next atomic.Int64 // requests handed out, when Requests bounds the test
	var errors atomic.Int64
	lat := make([][]time.Duration, o.Clients)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < o.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if o.Requests > 0 && next.Add(1) > int64(o.Requests) {
					return
				}
				t0 := time.Now()
				ok := send1(ctx, o)
				if ctx.Err() != nil && !ok {
					return // cut short by the deadline: not a server error
				}
				lat[c] = append(lat[c], time.Since(t0))
				if !ok {
					errors.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lat...)
	r := LoadReport{Requests: len(all), Errors: int(errors.Load()), Elapsed: time.Since(start)}
	if len(all) == 0 {
		return r, fmt.Errorf("serve: load test completed no request")
	}
	slices.Sort(all)
	r.Throughput = float64(len(all)) / r.Elapsed.Seconds()
	r.P50, r.P99, r.Max = percentile(all, 0.50), percentile(all, 0.99), all[len(all)-1]
	return r, nil
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// send1 sends one request and reports whether it was answered 200.
func send1(ctx context.Context, o LoadOptions) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(o.Body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", o.ContentType)
	resp, err := o.Client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
