package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/serve"
)

type serveOptions struct {
	addr      string
	models    []string // name=path or path
	instances int
	maxUpload int64
	maxPixels int
	minFace   int
	drain     serve.Drain
}

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

Without --model it serves the shipped emotion model (` + serve.ShippedEmotion + `).

SIGTERM or SIGINT drain it: /readyz answers 503 at once while requests are
still served for --drain-delay (load balancers stop sending), then it stops
accepting, closes WebSocket streams with a close handshake (1001 going
away), waits up to --shutdown-grace for requests in flight and exits 0 (1
if some had to be cut). A second signal ends it at once.`,
		Example: `  residual serve
  residual serve --addr 127.0.0.1:9000 --model emotion=models/emotion-fer2013.residual --model gesture=gesture.residual`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); stop() }() // the first signal drains; a second one kills
			return runServe(ctx, o, cmd.OutOrStdout(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", ":8080", "address to listen on (host:port; port 0 picks a free one)")
	f.StringArrayVar(&o.models, "model", nil, "a model to serve, as name=path or path (name: the file's base name); repeat for several; the first is the default")
	f.IntVar(&o.instances, "instances", 0, "networks per model serving requests in parallel (0: one per CPU)")
	f.Int64Var(&o.maxUpload, "max-upload", 10<<20, "largest request body in bytes")
	f.IntVar(&o.maxPixels, "max-pixels", 40_000_000, "largest image (width*height), checked before decoding")
	f.IntVar(&o.minFace, "min-face", 0, "smallest face side searched, in pixels (0: the detector's default, 48)")
	f.DurationVar(&o.drain.Delay, "drain-delay", 5*time.Second, "on SIGTERM, how long to keep serving with /readyz at 503 before closing the listener (0: none)")
	f.DurationVar(&o.drain.Grace, "shutdown-grace", 20*time.Second, "on SIGTERM, after --drain-delay, how long requests in flight and streams get to finish")
	return cmd
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

// shippedRoots are where the shipped model is looked for: the working
// directory, then the executable's directory and its parent.
func shippedRoots() []string {
	roots := []string{"."}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		roots = append(roots, dir, filepath.Dir(dir))
	}
	return roots
}

// loadModels loads the --model specs, or the shipped emotion model (and
// the shipped gesture model when it is there too).
func loadModels(o serveOptions, roots []string) ([]*serve.Model, error) {
	specs := o.models
	if len(specs) == 0 {
		path, err := serve.FindShipped(roots...)
		if err != nil {
			return nil, fmt.Errorf("%v: train one (residual train) and pass --model emotion=PATH", err)
		}
		specs = []string{"emotion=" + path}
		if g, err := serve.FindShippedModel(serve.ShippedGesture, roots...); err == nil {
			specs = append(specs, "gesture="+g)
		}
	}
	var models []*serve.Model
	for _, spec := range specs {
		name, path, err := parseModelSpec(spec)
		if err != nil {
			return nil, err
		}
		m, err := serve.LoadModel(name, path, o.instances)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %v", spec, err)
		}
		models = append(models, m)
	}
	return models, nil
}

// runServe serves until ctx ends. ready, when not nil, receives the
// listening address once the server accepts connections.
func runServe(ctx context.Context, o serveOptions, out io.Writer, ready func(addr string)) error {
	if o.drain.Delay < 0 || o.drain.Grace < 0 {
		return fmt.Errorf("serve: --drain-delay %v and --shutdown-grace %v must not be negative", o.drain.Delay, o.drain.Grace)
	}
	models, err := loadModels(o, shippedRoots())
	if err != nil {
		return err
	}
	s, err := serve.New(serve.Config{MaxUploadBytes: o.maxUpload, MaxPixels: o.maxPixels, Detect: face.Options{MinSize: o.minFace}}, models...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: listening on %q: %v", o.addr, err)
	}
	for i, m := range models {
		def := ""
		if i == 0 {
			def = " (default)"
		}
		fmt.Fprintf(out, "model %s%s: %d classes %v, input %dx%dx%d, %d instances, from %s\n",
			m.Name, def, len(m.Classes), m.Classes, m.Preprocess.Width, m.Preprocess.Height, m.Preprocess.Channels, m.Instances(), m.Source)
	}
	fmt.Fprintf(out, "serving on http://%s/ (webcam page; API under /v1/, metrics at /metrics)\n", displayAddr(ln.Addr()))
	if ready != nil {
		ready(ln.Addr().String())
	}
	if err := s.RunDrain(ctx, ln, o.drain); err != nil {
		return err
	}
	fmt.Fprintln(out, "server stopped: drained")
	return nil
}

// displayAddr shows a wildcard listen address as localhost, which a
// browser accepts as a secure context for the camera.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return fmt.Sprintf("localhost:%d", tcp.Port)
}
