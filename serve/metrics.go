package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, on a registry of its own
// (so that several servers, e.g. in tests, do not collide):
//
//	residual_http_requests_total{endpoint,code}           counter
//	residual_http_request_duration_seconds{endpoint}      histogram
//	residual_stage_duration_seconds{stage}                histogram (decode, detect, classify)
//	residual_frames_total{model,source}                   counter (source: predict, stream)
//	residual_faces_total{model}                           counter
//	residual_stream_frames_dropped_total                  counter (replaced by a newer frame)
//	residual_streams_active                               gauge
//	residual_batch_size{model}                            histogram (crops per forward pass)
//
// plus the Go runtime and process collectors.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	stages   *prometheus.HistogramVec
	frames   *prometheus.CounterVec
	faces    *prometheus.CounterVec
	dropped  prometheus.Counter
	streams  prometheus.Gauge
}

func newMetrics() *metrics {
	// 0.5 ms to ~4 s: a 48x48 crop takes about a millisecond, a large
	// upload with many faces a good part of a second.
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 14)
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "residual_http_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "residual_http_request_duration_seconds", Help: "HTTP request latency by endpoint (for /v1/stream: the connection's lifetime).", Buckets: buckets,
		}, []string{"endpoint"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "residual_stage_duration_seconds", Help: "Time per frame in each pipeline stage.", Buckets: buckets,
		}, []string{"stage"}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "residual_frames_total", Help: "Frames classified, by model and source (predict, stream).",
		}, []string{"model", "source"}),
		faces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "residual_faces_total", Help: "Regions classified (faces found, or one per frame without detection), by model.",
		}, []string{"model"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "residual_stream_frames_dropped_total", Help: "Stream frames replaced by a newer one before they were processed.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "residual_streams_active", Help: "Open WebSocket streams.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.stages, m.frames, m.faces, m.dropped, m.streams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observeRequest(endpoint string, status int, d time.Duration) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(endpoint).Observe(d.Seconds())
}

func (m *metrics) observeFrame(model, source string, r *Result) {
	m.frames.WithLabelValues(model, source).Inc()
	m.faces.WithLabelValues(model).Add(float64(len(r.Faces)))
	m.stages.WithLabelValues("decode").Observe(r.Timings.Decode / 1000)
	m.stages.WithLabelValues("detect").Observe(r.Timings.Detect / 1000)
	m.stages.WithLabelValues("classify").Observe(r.Timings.Classify / 1000)
}
