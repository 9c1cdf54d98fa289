package main

import (
	"context"
	"fmt"
	"github.com/residual-go/residual/detect"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/models"
	"github.com/residual-go/residual/serve"
)

type serveOptions struct {
	addr      string
	models    []string // name=path or path
	instances int
	cfg       serve.Config // limits and access rules; Detect.MinSize is --min-face
	memLimit  int64        // --memory-limit
	token     string       // --token
	tokenFile string       // --token-file
	drain     serve.Drain
	precision string // --precision
	warm      bool   // --warm
}

// tokenEnv is the environment variable holding the API token when neither
// --token nor --token-file is given.
const tokenEnv = "RESIDUAL_TOKEN"

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve models over HTTP: predict API, WebSocket stream, webcam page, metrics",
		Long: `serve runs the recognition server:

  GET  /            the webcam page (camera -> WebSocket -> boxes and labels)
  POST /v1/predict  classify the faces of a JPEG/PNG (?model=NAME&faces=true|false&roi=x,y,w,h)
  GET  /v1/models   the loaded models
  GET  /v1/stream   WebSocket stream of frames (latest frame only)
  GET  /healthz     liveness (200 until the process exits)
  GET  /readyz      readiness (503 once a drain has started)
  GET  /metrics     Prometheus metrics

It listens on 127.0.0.1:8080 (this machine only); --addr :8080 opens it to
the network. With a token (--token-file FILE, $` + "RESIDUAL_TOKEN" + ` or --token,
which other users can see in ps) the API and /metrics need
"Authorization: Bearer TOKEN"; the page takes it once from its URL,
http://HOST/#token=TOKEN, or asks for it. --tls-cert/--tls-key serve HTTPS.
--allowed-hosts lists the Host names served (default on loopback:
localhost and the loopback IPs), which defends against DNS rebinding.

Uploads are priced from their header before decoding (--max-image-bytes),
at most --max-inflight are decoded and classified at once within
--decode-budget bytes, --max-queue more wait; beyond that, and past
--request-timeout, the answer is 503 with Retry-After.

Without --model it serves the models built into the binary (residual models
lists them): emotion (the default) and gesture; it needs no files.

SIGTERM or SIGINT drain it: /readyz answers 503 at once while requests are
still served for --drain-delay (load balancers stop sending), then it stops
accepting, closes WebSocket streams with a close handshake (1001 going
away), waits up to --shutdown-grace for requests in flight and exits 0 (1
if some had to be cut). A second signal ends it at once.`,
		Example: `  residual serve
  residual serve --addr 127.0.0.1:9000 --model emotion=models/emotion-fer2013.residual --model gesture=gesture.residual`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServeFlags(o); err != nil {
				return err
			}
			tok, err := resolveToken(o.token, cmd.Flags().Changed("token"), o.tokenFile, os.LookupEnv)
			if err != nil {
				return err
			}
			o.cfg.Token = tok
			// $GOMEMLIMIT, when set, stands unless --memory-limit is given.
			if cmd.Flags().Changed("memory-limit") || os.Getenv("GOMEMLIMIT") == "" {
				setMemoryLimit(o.memLimit)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); stop() }() // the first signal drains; a second one kills
			return runServe(ctx, o, cmd.OutOrStdout(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; :8080 for every interface; port 0 picks a free one)")
	f.StringArrayVar(&o.models, "model", nil, "a model to serve, as name=path or path (name: the file's base name); repeat for several; the first is the default")
	f.IntVar(&o.instances, "instances", runtime.GOMAXPROCS(0), "networks per model serving requests in parallel (default: one per CPU)")
	f.BoolVar(&o.warm, "warm", false, "size every network instance's buffers for the largest batch at start-up: memory is flat from the first request (no growth under load), at the cost of that peak from the start (about 640 MB RSS with the two built-in models and 2 instances, against about 135 MB without)")
	addPrecisionFlag(f, &o.precision)
	f.StringVar(&o.token, "token", "", "API token required on /v1/ and /metrics (visible in ps: prefer --token-file or $"+tokenEnv+")")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the API token (one line)")
	f.StringVar(&o.cfg.TLSCertFile, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS (with --tls-key)")
	f.StringVar(&o.cfg.TLSKeyFile, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringSliceVar(&o.cfg.AllowedHosts, "allowed-hosts", nil, "Host names served, comma-separated (name, IP, *.domain or *); default on loopback: localhost, *.localhost and loopback IPs; elsewhere any")
	f.Int64Var(&o.cfg.MaxUploadBytes, "max-upload", serve.DefaultMaxUploadBytes, "largest request body or stream message in bytes")
	f.IntVar(&o.cfg.MaxPixels, "max-pixels", serve.DefaultMaxPixels, "largest image (width*height), checked before decoding")
	f.Int64Var(&o.cfg.MaxImageBytes, "max-image-bytes", serve.DefaultMaxImageBytes, "largest memory one image may take to decode (width x height x bytes per pixel, from its header), checked before decoding")
	f.Int64Var(&o.cfg.DecodeBudget, "decode-budget", serve.DefaultDecodeBudget, "bytes of all the images being decoded and classified at once")
	f.IntVar(&o.cfg.MaxInFlight, "max-inflight", serve.DefaultMaxInFlight, "requests and stream frames decoded and classified at once")
	f.IntVar(&o.cfg.MaxQueue, "max-queue", serve.DefaultMaxQueue, "requests waiting for a slot; one more is answered 503")
	f.DurationVar(&o.cfg.RequestTimeout, "request-timeout", serve.DefaultRequestTimeout, "deadline of a request after its body is read (503 past it)")
	f.DurationVar(&o.cfg.ReadTimeout, "read-timeout", serve.DefaultReadTimeout, "time to read a request's headers and body")
	f.DurationVar(&o.cfg.WriteTimeout, "write-timeout", serve.DefaultWriteTimeout, "time to write an answer")
	f.IntVar(&o.cfg.MaxConns, "max-conns", serve.DefaultMaxConns, "open connections at most (others wait in the backlog)")
	f.IntVar(&o.cfg.MaxStreams, "max-streams", serve.DefaultMaxStreams, "open WebSocket streams at most (503 above)")
	f.DurationVar(&o.cfg.StreamIdleTimeout, "stream-idle-timeout", serve.DefaultStreamIdleTimeout, "a stream silent this long is closed")
	f.DurationVar(&o.cfg.StreamMessageTimeout, "stream-message-timeout", serve.DefaultStreamMessageTimeout, "time to receive one stream message once it has begun")
	f.StringVar(&o.cfg.Detector, "detector", detect.DetectorAuto, "face detector: blazeface (full range for /v1/predict, short range for /v1/stream), blazeface-full, blazeface-short or pigo")
	f.Int64Var(&o.memLimit, "memory-limit", defaultMemoryLimit, "soft memory limit of the process in bytes (runtime/debug.SetMemoryLimit): the garbage collector keeps the heap under it; at least --decode-budget; $GOMEMLIMIT is kept when this flag is not given")
	f.IntVar(&o.cfg.Detect.MinSize, "min-face", 48, "with --detector pigo: smallest face side searched, in pixels")
	f.DurationVar(&o.drain.Delay, "drain-delay", 5*time.Second, "on SIGTERM, how long to keep serving with /readyz at 503 before closing the listener (0: none)")
	f.DurationVar(&o.drain.Grace, "shutdown-grace", 20*time.Second, "on SIGTERM, after --drain-delay, how long requests in flight and streams get to finish")
	return cmd
}

// checkServeFlags rejects the flag values serve cannot honour: a
// negative or zero count, size or duration (none of them has a meaning
// at zero, and none is replaced by a default).
func checkServeFlags(o serveOptions) error {
	c := o.cfg
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"--instances", int64(o.instances)}, {"--max-upload", c.MaxUploadBytes}, {"--max-pixels", int64(c.MaxPixels)},
		{"--max-image-bytes", c.MaxImageBytes}, {"--decode-budget", c.DecodeBudget}, {"--max-inflight", int64(c.MaxInFlight)},
		{"--max-queue", int64(c.MaxQueue)}, {"--max-conns", int64(c.MaxConns)}, {"--max-streams", int64(c.MaxStreams)},
		{"--min-face", int64(c.Detect.MinSize)},
	} {
		if f.v < 1 {
			return fmt.Errorf("serve: %s %d: must be at least 1", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"--request-timeout", c.RequestTimeout}, {"--read-timeout", c.ReadTimeout}, {"--write-timeout", c.WriteTimeout},
		{"--stream-idle-timeout", c.StreamIdleTimeout}, {"--stream-message-timeout", c.StreamMessageTimeout},
	} {
		if f.v <= 0 {
			return fmt.Errorf("serve: %s %v: must be positive", f.name, f.v)
		}
	}
	if o.memLimit < c.DecodeBudget {
		return fmt.Errorf("serve: --memory-limit %d is below --decode-budget %d: the images alone could exceed it", o.memLimit, c.DecodeBudget)
	}
	if c.MaxImageBytes > c.DecodeBudget {
		return fmt.Errorf("serve: --max-image-bytes %d is above --decode-budget %d: no such image could ever be decoded", c.MaxImageBytes, c.DecodeBudget)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("serve: --tls-cert %q and --tls-key %q go together", c.TLSCertFile, c.TLSKeyFile)
	}
	return nil
}

// defaultMemoryLimit is serve's soft memory limit: the decode budget
// (512 MiB of images at most) plus room for the models, the frames and
// the garbage collector's slack.
const defaultMemoryLimit = 1 << 30

// setMemoryLimit sets the runtime's soft memory limit. Without it a burst
// of large images leaves the heap at twice its peak (GOGC=100): 3 admitted
// 4000x4000 16-bit PNGs (432 MB live) took RSS to 2 GB.
func setMemoryLimit(n int64) { debug.SetMemoryLimit(n) }

// resolveToken picks the API token from --token (set: whether it was
// given), --token-file or the environment, in that order; giving two
// flags, or an empty token, is an error.
func resolveToken(token string, set bool, file string, env func(string) (string, bool)) (string, error) {
	switch {
	case set && file != "":
		return "", fmt.Errorf("serve: --token and --token-file %q: give one", file)
	case set:
		if token == "" {
			return "", fmt.Errorf("serve: --token \"\": empty token (omit --token to serve without one)")
		}
		return token, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("serve: --token-file: %v", err)
		}
		tok := strings.TrimRight(string(b), "\r\n")
		if tok == "" || strings.ContainsAny(tok, "\r\n") {
			return "", fmt.Errorf("serve: --token-file %s: want one non-empty line", file)
		}
		return tok, nil
	}
	if tok, ok := env(tokenEnv); ok {
		if tok == "" {
			return "", fmt.Errorf("serve: $%s is set but empty (unset it to serve without a token)", tokenEnv)
		}
		return tok, nil
	}
	return "", nil
}

// parseModelSpec splits "name=path" (or a bare path).
func parseModelSpec(spec string) (name, path string, err error) {
	name, path, ok := strings.Cut(spec, "=")
	if !ok {
		name, path = "", spec
	}
	if path == "" || (ok && name == "") {
		return "", "", fmt.Errorf("--model %q: want name=path or path", spec)
	}
	return name, path, nil
}

// loadModels loads the --model specs, or without any the built-in models
// (package models: emotion, the default, then gesture).
func loadModels(o serveOptions) ([]*serve.Model, error) {
	precision := o.precision
	if precision == "" {
		precision = "fp32" // options built in code (webcam, tests) rather than from flags
	}
	bf16, err := useBF16("serve", precision, os.Stderr)
	if err != nil {
		return nil, err
	}
	var ms []*serve.Model
	if len(o.models) == 0 {
		for _, name := range models.Names() {
			m, err := loadBuiltin(name, o.instances)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
	}
	for _, spec := range o.models {
		name, path, err := parseModelSpec(spec)
		if err != nil {
			return nil, err
		}
		m, err := serve.LoadModel(name, path, o.instances)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %v", spec, err)
		}
		ms = append(ms, m)
	}
	for _, m := range ms {
		m.SetBF16(bf16)
		if o.warm {
			if err := m.Warm(); err != nil {
				return nil, err
			}
		}
	}
	return ms, nil
}

// loadBuiltin serves the built-in model called name.
func loadBuiltin(name string, instances int) (*serve.Model, error) {
	net, meta, b, err := models.Load(name)
	if err != nil {
		return nil, err
	}
	return serve.NewModel(name, net, meta.Classes, meta.Preprocess, "built-in "+b.File, instances)
}

// runServe serves until ctx ends. ready, when not nil, receives the
// listening address once the server accepts connections.
func runServe(ctx context.Context, o serveOptions, out io.Writer, ready func(addr string)) error {
	if o.drain.Delay < 0 || o.drain.Grace < 0 {
		return fmt.Errorf("serve: --drain-delay %v and --shutdown-grace %v must not be negative", o.drain.Delay, o.drain.Grace)
	}
	served, err := loadModels(o)
	if err != nil {
		return err
	}
	s, err := serve.New(o.cfg, served...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: listening on %q: %v", o.addr, err)
	}
	for i, m := range served {
		def := ""
		if i == 0 {
			def = " (default)"
		}
		fmt.Fprintf(out, "model %s%s: %d classes %v, input %dx%dx%d, %d instances, from %s\n",
			m.Name, def, len(m.Classes), m.Classes, m.Preprocess.Width, m.Preprocess.Height, m.Preprocess.Channels, m.Instances(), m.Source)
	}
	printServing(out, ln.Addr(), o.cfg)
	if ready != nil {
		ready(ln.Addr().String())
	}
	if err := s.RunDrain(ctx, ln, o.drain); err != nil {
		return err
	}
	fmt.Fprintln(out, "server stopped: drained")
	return nil
}

// printServing says where the server listens (the real bound address)
// and warns when it is open without a token or a Host allow-list.
func printServing(out io.Writer, a net.Addr, c serve.Config) {
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(out, "serving on %s://%s/ (webcam page; API under /v1/, metrics at /metrics)\n", scheme, a)
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsLoopback() {
		return
	}
	if tcp.IP.IsUnspecified() {
		// Browsers give the camera to http pages on localhost only.
		fmt.Fprintf(out, "listening on every interface; on this machine open %s://localhost:%d/\n", scheme, tcp.Port)
	}
	if c.Token == "" {
		fmt.Fprintf(out, "warning: no token: anyone who reaches %s can use the API (--token-file or $%s)\n", a, tokenEnv)
	}
	if len(c.AllowedHosts) == 0 {
		fmt.Fprintln(out, "warning: any Host header is accepted: list the names clients use with --allowed-hosts")
	}
}
