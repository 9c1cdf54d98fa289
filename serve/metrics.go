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
//	residual_rejected_total{reason}                       counter (busy, deadline, too_large, streams, unauthorized, host)
//	residual_inflight_requests                            gauge (holding a decode + inference slot)
//	residual_queue_depth                                  gauge (waiting for a slot or for budget)
//	residual_decode_bytes                                 gauge (budget held by the images in flight)
//	residual_batch_queue_jobs{model}                      gauge (jobs waiting for a forward pass)
//	residual_connections_open                             gauge (Run only)
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
	rejected *prometheus.CounterVec
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
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "residual_rejected_total", Help: "Requests and streams refused by a limit or an access rule, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{"busy", "deadline", "too_large", "streams", "unauthorized", "host"} {
		m.rejected.WithLabelValues(r) // every reason shows, at 0 until it happens
	}
	m.reg.MustRegister(m.requests, m.latency, m.stages, m.frames, m.faces, m.dropped, m.streams, m.rejected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch registers the gauges read from the server's gate and models.
func (m *metrics) watch(s *Server) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("residual_inflight_requests", "Requests and stream frames holding a decode + inference slot.", func() float64 {
		n, _, _ := s.gate.stats()
		return float64(n)
	})
	gauge("residual_queue_depth", "Requests and stream frames waiting for a slot or for decode budget.", func() float64 {
		_, n, _ := s.gate.stats()
		return float64(n)
	})
	gauge("residual_decode_bytes", "Bytes of the decode budget held by the images in flight.", func() float64 {
		_, _, b := s.gate.stats()
		return float64(b)
	})
	for _, name := range s.names {
		md := s.models[name]
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "residual_batch_queue_jobs", Help: "Classify calls waiting for a forward pass, by model.", ConstLabels: prometheus.Labels{"model": name},
		}, func() float64 { return float64(md.queuedJobs()) }))
	}
}

// watchConns registers the open-connections gauge of Run's listener
// (once: a second Run keeps the first gauge).
func (m *metrics) watchConns(l *limitListener) {
	_ = m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "residual_connections_open", Help: "Open client connections."},
		func() float64 { return float64(l.open()) }))
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
