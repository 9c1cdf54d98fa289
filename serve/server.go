// Package serve is residual's HTTP server for real-time recognition:
//
//	POST /v1/predict   classify the faces (or the whole image) of a JPEG/PNG
//	GET  /v1/models    the loaded models
//	GET  /v1/stream    WebSocket: frames in, results out, latest frame only
//	GET  /healthz      liveness (200 while the process serves, draining included)
//	GET  /readyz       readiness (503 from the start of a graceful drain)
//	GET  /metrics      Prometheus metrics
//	GET  /             the webcam page (embedded, no build step)
//
// Several models are served at once (e.g. emotion and gesture), chosen
// per request by name. Every error is a 4xx/5xx JSON {"error": "..."}.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/residual-go/residual/face"
)

// Config holds the server's limits. Zero fields take the documented
// defaults.
type Config struct {
	// MaxUploadBytes bounds a request body (413 above). Default 10 MiB.
	MaxUploadBytes int64
	// MaxPixels bounds an image's width*height, checked from its header
	// before decoding (413 above). Default 40 megapixels.
	MaxPixels int
	// Detect are the face detector's options (face.Options defaults).
	Detect face.Options
	// Logger receives one line per failed request and stream; default
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 10 << 20
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = 40_000_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server serves models over HTTP. Build it with New, then use Handler or
// Run.
type Server struct {
	cfg      Config
	models   map[string]*Model
	names    []string // in registration order; names[0] is the default
	detector *face.Detector
	metrics  *metrics
	mux      *http.ServeMux

	draining atomic.Bool    // set when a graceful drain starts: /readyz answers 503
	streams  sync.WaitGroup // open WebSocket streams, waited for on shutdown
}

// New builds a server for the given models; the first is the default
// when a request names none. Names must be unique.
func New(cfg Config, models ...*Model) (*Server, error) {
	cfg = cfg.withDefaults()
	if len(models) == 0 {
		return nil, errors.New("serve: no model to serve")
	}
	det, err := face.NewDetector(cfg.Detect)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, models: map[string]*Model{}, detector: det, metrics: newMetrics()}
	for _, m := range models {
		if _, dup := s.models[m.Name]; dup {
			return nil, fmt.Errorf("serve: two models named %q (%s and %s)", m.Name, s.models[m.Name].Source, m.Source)
		}
		s.models[m.Name] = m
		s.names = append(s.names, m.Name)
		if err := s.metrics.reg.Register(m.batches.sizes); err != nil {
			return nil, fmt.Errorf("serve: model %q: registering residual_batch_size: %w", m.Name, err)
		}
	}
	s.routes()
	return s, nil
}

// Detector is the server's face detector (shared by every request).
func (s *Server) Detector() *face.Detector { return s.detector }

// Model returns the named model, or the default one for "".
func (s *Server) Model(name string) (*Model, error) {
	if name == "" {
		name = s.names[0]
	}
	m, ok := s.models[name]
	if !ok {
		known := append([]string(nil), s.names...)
		sort.Strings(known)
		return nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("unknown model %q (loaded: %s)", name, strings.Join(known, ", "))}
	}
	return m, nil
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.Handle("/v1/predict", s.instrument("predict", http.MethodPost, s.handlePredict))
	s.mux.Handle("/v1/models", s.instrument("models", http.MethodGet, s.handleModels))
	s.mux.Handle("/v1/stream", s.instrument("stream", http.MethodGet, s.handleStream))
	s.mux.Handle("/healthz", s.instrument("healthz", http.MethodGet, s.handleHealth))
	s.mux.Handle("/readyz", s.instrument("readyz", http.MethodGet, s.handleReady))
	metrics := s.metrics.handler()
	s.mux.Handle("/metrics", s.instrument("metrics", http.MethodGet, func(w http.ResponseWriter, r *http.Request) error {
		metrics.ServeHTTP(w, r)
		return nil
	}))
	s.mux.Handle("/", s.instrument("page", http.MethodGet, s.handlePage))
}

// Handler is the server's HTTP handler (for tests or embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// Run serves on ln until ctx is done, then shuts down as RunDrain does
// with DefaultDrain.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return s.RunDrain(ctx, ln, DefaultDrain)
}

// httpServer is the http.Server of Run: requests' contexts derive from
// base.
func (s *Server) httpServer(base context.Context) *http.Server {
	return &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// Error is a request error with its HTTP status; it is sent as
// {"error": Msg}.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// statusOf is the HTTP status of err: its own for *Error, 499 for a
// cancelled request, else 500.
func statusOf(err error) int {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Status
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may be gone; nothing to do then
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	s.cfg.Logger.Info("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err.Error())
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// instrument checks the method, counts the request by endpoint and status
// and times it. h returns an error to send as JSON, or nil when it wrote
// the response itself.
func (s *Server) instrument(endpoint, method string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				// A bug must not take the server down: log it with a stack
				// and answer 500.
				buf := make([]byte, 8<<10)
				buf = buf[:runtime.Stack(buf, false)]
				s.cfg.Logger.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(buf))
				if !sw.wrote {
					s.writeError(sw, r, errorf(http.StatusInternalServerError, "internal error"))
				}
			}
			s.metrics.observeRequest(endpoint, sw.status, time.Since(t0))
		}()
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			sw.Header().Set("Allow", method)
			s.writeError(sw, r, errorf(http.StatusMethodNotAllowed, "%s %s: method not allowed, use %s", r.Method, r.URL.Path, method))
			return
		}
		if err := h(sw, r); err != nil {
			s.writeError(sw, r, err)
		}
	})
}

// statusWriter records the status code written, for the metrics. It
// unwraps for http.ResponseController (the WebSocket upgrade hijacks).
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) error {
	infos := make([]ModelInfo, len(s.names))
	for i, n := range s.names {
		infos[i] = s.models[n].Info()
		infos[i].Default = i == 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": infos})
	return nil
}

// handleHealth is liveness: 200 as long as the process serves, during a
// drain too (restarting a draining replica would cut its requests).
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "models": len(s.names)})
	return nil
}
