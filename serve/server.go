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
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/residual-go/residual/detect"
	"github.com/residual-go/residual/face"
)

// Config holds the server's limits and access rules. Zero fields take the
// documented defaults (the Default... constants); negative ones are an
// error from New.
type Config struct {
	// MaxUploadBytes bounds a request body and a stream message (413
	// above). Default 10 MiB.
	MaxUploadBytes int64
	// MaxPixels bounds an image's width*height, checked from its header
	// before decoding (413 above). Default 40 megapixels.
	MaxPixels int
	// MaxImageBytes bounds the memory one image takes to decode and
	// convert, priced from its header before decoding (413 above; see
	// limits.go). Default 256 MiB: a 40-megapixel colour JPEG fits, a
	// 6300x6300 16-bit RGBA PNG (318 MB decoded) does not.
	MaxImageBytes int64
	// DecodeBudget bounds the memory of all images being decoded and
	// classified at once; requests over it wait in the queue. Default
	// 512 MiB. It must be at least MaxImageBytes.
	DecodeBudget int64
	// MaxInFlight is the number of decode + inference slots: requests
	// (and stream frames) decoding or classifying at once. Default 32
	// (concurrent requests share forward passes, see batch.go).
	MaxInFlight int
	// MaxQueue bounds the requests waiting for a slot or for budget; one
	// more is answered 503 with Retry-After. Default 64.
	MaxQueue int
	// RequestTimeout bounds the time from a request's body read to its
	// answer (and a stream frame's); past it the answer is 503 with
	// Retry-After. Default 20 s.
	RequestTimeout time.Duration
	// ReadTimeout bounds reading a request, headers and body (a body
	// trickled in is cut off); WriteTimeout bounds writing its answer.
	// Neither applies to a WebSocket stream once open (see the Stream
	// timeouts). Default 30 s each.
	ReadTimeout, WriteTimeout time.Duration
	// MaxConns caps the open connections (Run only); further clients wait
	// in the kernel's backlog. Default 64.
	MaxConns int
	// MaxStreams caps the open WebSocket streams; one more is answered
	// 503 before the upgrade. Default 16.
	MaxStreams int
	// StreamIdleTimeout closes a stream that sends no message for that
	// long; StreamMessageTimeout bounds receiving one message once its
	// header has arrived. Defaults 60 s and 10 s.
	StreamIdleTimeout, StreamMessageTimeout time.Duration
	// Token, when set, is required on the API and /metrics (see auth.go).
	Token string
	// AllowedHosts is the Host allow-list (see auth.go); empty: the
	// loopback names when Run listens on loopback, else any Host.
	AllowedHosts []string
	// TLSCertFile and TLSKeyFile, when set, make Run serve HTTPS with this
	// PEM certificate (chain) and key.
	TLSCertFile, TLSKeyFile string
	// Detector names the face detector (detect.Resolve): "" or
	// "blazeface" is BlazeFace full range for /v1/predict and short range
	// for /v1/stream; "blazeface-full", "blazeface-short" or "pigo" use
	// that one for both.
	Detector string
	// Detect are pigo's options (face.Options defaults), used when
	// Detector is "pigo".
	Detect face.Options
	// BlazeFace are BlazeFace's options (detect.FaceOptions defaults; the
	// range comes from Detector).
	BlazeFace detect.FaceOptions
	// Hands are the palm detector's options (detect.HandOptions
	// defaults), used by hands=true: as given for /v1/stream, with Tiles
	// on for /v1/predict (photos: smaller hands found, at 5x the cost).
	Hands detect.HandOptions
	// Logger receives one line per failed request and stream; default
	// slog.Default().
	Logger *slog.Logger
}

// Server serves models over HTTP. Build it with New, then use Handler or
// Run.
type Server struct {
	cfg         Config
	gate        *gate
	openStreams atomic.Int64 // open WebSocket streams, for Config.MaxStreams
	tokenHash   *[sha256.Size]byte
	hosts       *hostList // from Config.AllowedHosts
	tlsConfig   *tls.Config
	models      map[string]*Model
	names       []string             // in registration order; names[0] is the default
	detector    face.Finder          // for photos (/v1/predict)
	live        face.Finder          // for live frames (/v1/stream); may be detector
	hands       *detect.HandDetector // for photos (Tiles on)
	handsLive   *detect.HandDetector // for stream frames
	metrics     *metrics
	mux         *http.ServeMux

	draining atomic.Bool    // set when a graceful drain starts: /readyz answers 503
	streams  sync.WaitGroup // open WebSocket streams, waited for on shutdown
}

// New builds a server for the given models; the first is the default
// when a request names none. Names must be unique.
func New(cfg Config, models ...*Model) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.checkLimits(); err != nil {
		return nil, err
	}
	if len(models) == 0 {
		return nil, errors.New("serve: no model to serve")
	}
	hosts, err := parseHosts(cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return nil, fmt.Errorf("serve: TLS needs both a certificate and a key (got cert %q, key %q)", cfg.TLSCertFile, cfg.TLSKeyFile)
		}
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("serve: TLS certificate %s and key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	det, err := detect.NewFinder(cfg.Detector, false, cfg.Detect, cfg.BlazeFace)
	if err != nil {
		return nil, err
	}
	live := det
	if name, _ := detect.Resolve(cfg.Detector, true); name != det.Name() {
		if live, err = detect.NewFinder(cfg.Detector, true, cfg.Detect, cfg.BlazeFace); err != nil {
			return nil, err
		}
	}
	handsLive, err := detect.NewHandDetector(cfg.Hands)
	if err != nil {
		return nil, err
	}
	photoHands := cfg.Hands
	photoHands.Tiles = true
	hands, err := detect.NewHandDetector(photoHands)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, models: map[string]*Model{}, detector: det, live: live, hands: hands, handsLive: handsLive, metrics: newMetrics(), hosts: hosts, tlsConfig: tlsConfig,
		gate: &gate{slots: cfg.MaxInFlight, budget: cfg.DecodeBudget, maxQueue: cfg.MaxQueue}}
	if cfg.Token != "" {
		h := sha256.Sum256([]byte(cfg.Token))
		s.tokenHash = &h
	}
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
	s.metrics.watch(s)
	s.routes()
	return s, nil
}

// Detector is the server's face detector for photos (shared by every
// request).
func (s *Server) Detector() face.Finder { return s.detector }

// LiveDetector is the face detector for stream frames.
func (s *Server) LiveDetector() face.Finder { return s.live }

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

// Handler is the server's HTTP handler (for tests or embedding): the
// routes behind the Host allow-list of Config.AllowedHosts and the token.
// The connection limits and timeouts are Run's.
func (s *Server) Handler() http.Handler { return s.guard(s.hosts, s.mux) }

// Run serves on ln until ctx is done, then shuts down as RunDrain does
// with DefaultDrain.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return s.RunDrain(ctx, ln, DefaultDrain)
}

// httpServer is the http.Server of Run and the listener it serves:
// requests' contexts derive from base. It caps the connections at
// Config.MaxConns, applies the read and write timeouts, serves TLS when
// configured, and on a loopback listener without Config.AllowedHosts
// allows only the loopback names.
func (s *Server) httpServer(base context.Context, ln net.Listener) (*http.Server, net.Listener) {
	hosts := s.hosts
	if hosts == nil && isLoopback(ln.Addr()) {
		hosts = loopbackHosts()
	}
	limited := newLimitListener(ln, s.cfg.MaxConns)
	s.metrics.watchConns(limited)
	ln = limited
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	return &http.Server{
		Handler:           s.guard(hosts, s.mux),
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelInfo),
	}, ln
}

// isLoopback reports whether a listener's address is a loopback IP.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// Error is a request error with its HTTP status; it is sent as
// {"error": Msg}, with a Retry-After header when RetryAfter (seconds) is
// set.
type Error struct {
	Status     int
	Msg        string
	RetryAfter int
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
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
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
