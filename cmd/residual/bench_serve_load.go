package main

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// stressOptions are the flags of bench serve bombs and soak.
type stressOptions struct {
	url      string
	pid      int
	token    string
	model    string
	photo    string
	clients  int
	bombs    int
	bombSize int
	duration time.Duration
	latency  time.Duration
	rssLimit int64
	drift    float64
	sample   time.Duration
	memLimit int64
	warm     bool // as serve --warm
	heapProf string
}

func (o *stressOptions) commonFlags(cmd *cobra.Command, duration time.Duration) {
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "base URL of a running server on loopback (default: start one in-process with serve's default limits)")
	f.IntVar(&o.pid, "pid", 0, "with --url: the server's process id, whose /proc/PID/status VmRSS is sampled (default: no sampling)")
	f.StringVar(&o.token, "token", "", "bearer token of the --url server")
	f.StringVar(&o.model, "model", "", "model file of the in-process server (default: the built-in emotion model)")
	f.StringVar(&o.photo, "photo", "testdata/faces/grace_hopper.jpg", "photo with one face: normal clients send it as a 640x480 JPEG frame (faces=true)")
	f.IntVar(&o.clients, "clients", 16, "normal clients")
	f.DurationVar(&o.duration, "duration", duration, "how long the clients send")
	f.DurationVar(&o.latency, "max-latency", 30*time.Second, "an answer later than this is a failure")
	f.DurationVar(&o.sample, "sample", time.Second, "RSS sampling period")
	f.Int64Var(&o.memLimit, "memory-limit", defaultMemoryLimit, "soft memory limit of the in-process server, as serve --memory-limit")
	f.BoolVar(&o.warm, "warm", false, "size the in-process server's network buffers for the largest batch at start-up, as serve --warm")
	f.StringVar(&o.heapProf, "heap-profile", "", "write a pprof heap profile of this process (the in-process server) at the end")
}

func newBenchServeBombsCmd() *cobra.Command {
	var o stressOptions
	cmd := &cobra.Command{
		Use:   "bombs",
		Short: "Load test: 16-bit PNG decompression bombs beside normal clients; every answer 200/413/503 in time, RSS bounded",
		Long: `bench serve bombs sends --bombs concurrent streams of 16-bit RGBA PNG bombs
(--bomb-size square, one flat colour: a few hundred KB that decode to
side^2 x 8 bytes) while --clients normal clients send 640x480 frames, for
--duration. It fails unless every answer is 200, 413 or 503 within
--max-latency and the server's RSS stays under --rss-limit.

The server is loopback only: in-process (RSS of this process, clients
included) or --url http://127.0.0.1:PORT with --pid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBenchBombs(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	o.commonFlags(cmd, time.Minute)
	f := cmd.Flags()
	f.IntVar(&o.bombs, "bombs", 32, "concurrent bomb clients")
	f.IntVar(&o.bombSize, "bomb-size", 6300, "bomb side in pixels (6300: 318 MB decoded, over serve's default --max-image-bytes; 4000: 128 MB, decoded within the budget)")
	f.Int64Var(&o.rssLimit, "rss-limit", 1500<<20, "largest server RSS allowed, bytes")
	return cmd
}

func newBenchServeSoakCmd() *cobra.Command {
	var o stressOptions
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Soak test: normal clients for a long time; zero errors, RSS flat",
		Long: `bench serve soak runs --clients normal clients (640x480 frames, faces=true)
for --duration (default 10 minutes) with the server's RSS sampled. It fails
on any answer but 200 in --max-latency, or when the median RSS of the last
tenth of the run differs from that of the tenth before its middle (40-50%;
before that the heap is still growing to the garbage collector's target)
by more than --rss-drift.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBenchSoak(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	o.commonFlags(cmd, 10*time.Minute)
	cmd.Flags().Float64Var(&o.drift, "rss-drift", 0.10, "largest relative RSS change allowed between the early and the late run")
	return cmd
}

// stressTarget starts the in-process server (or checks --url) and returns
// its base URL, the RSS reader and a stop function.
func stressTarget(ctx context.Context, o stressOptions) (string, func() (int64, error), func(), error) {
	if o.clients < 1 || o.duration <= 0 || o.latency <= 0 || o.sample <= 0 {
		return "", nil, nil, fmt.Errorf("bench serve: --clients %d, --duration %v, --max-latency %v and --sample %v must be positive", o.clients, o.duration, o.latency, o.sample)
	}
	if o.url != "" {
		if err := checkLoopbackURL(o.url); err != nil {
			return "", nil, nil, err
		}
		var rss func() (int64, error)
		if o.pid > 0 {
			rss = serve.ProcessRSS(o.pid)
			if _, err := rss(); err != nil {
				return "", nil, nil, fmt.Errorf("bench serve: --pid %d: %v", o.pid, err)
			}
		}
		return o.url, rss, func() {}, nil
	}
	if o.memLimit <= 0 {
		return "", nil, nil, fmt.Errorf("bench serve: --memory-limit %d must be positive", o.memLimit)
	}
	setMemoryLimit(o.memLimit)
	var m *serve.Model
	var err error
	if o.model == "" {
		m, err = loadBuiltin("emotion", runtime.GOMAXPROCS(0))
	} else {
		m, err = serve.LoadModel("emotion", o.model, runtime.GOMAXPROCS(0))
	}
	if err == nil && o.warm {
		err = m.Warm() // as residual serve --warm does (loadModels)
	}
	if err != nil {
		return "", nil, nil, err
	}
	s, err := serve.New(serve.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, m)
	if err != nil {
		return "", nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(sctx, ln); close(done) }()
	return "http://" + ln.Addr().String(), serve.ProcessRSS(0), func() { stop(); <-done }, nil
}

// checkLoopbackURL keeps load tests on this machine.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("bench serve: --url %q: want http://127.0.0.1:PORT", raw)
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("bench serve: --url %q: load tests run against loopback only (127.0.0.0/8, ::1, localhost)", raw)
	}
	return nil
}

// normalFrame is the --photo as a 640x480 webcam-like JPEG frame.
func normalFrame(photo string) ([]byte, error) {
	img, err := vision.DecodeFile(photo, vision.DefaultMaxPixels)
	if err != nil {
		return nil, fmt.Errorf("bench serve: --photo: %w", err)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, letterbox(img, 640, 480), &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func runBenchBombs(ctx context.Context, o stressOptions, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.bombs < 1 || o.rssLimit <= 0 {
		return fmt.Errorf("bench serve bombs: --bombs %d and --rss-limit %d must be positive", o.bombs, o.rssLimit)
	}
	frame, err := normalFrame(o.photo)
	if err != nil {
		return err
	}
	bomb, err := serve.PNGBomb(o.bombSize, o.bombSize)
	if err != nil {
		return fmt.Errorf("bench serve bombs: --bomb-size: %v", err)
	}
	base, rss, stop, err := stressTarget(ctx, o)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(out, "%d bomb clients (%dx%d 16-bit RGBA PNG, %d bytes, %d MB decoded) and %d normal clients (640x480 JPEG, %d bytes) for %v against %s\n",
		o.bombs, o.bombSize, o.bombSize, len(bomb), int64(o.bombSize)*int64(o.bombSize)*8/1e6, o.clients, len(frame), o.duration, base)
	rep, err := serve.Stress(ctx, serve.StressOptions{
		URL: base, Token: o.token, Duration: o.duration, MaxLatency: o.latency, RSS: rss, SampleEvery: o.sample,
		Groups: []serve.StressGroup{
			{Name: "bombs", Clients: o.bombs, Path: "/v1/predict?faces=false", Body: bomb, ContentType: "image/png", Allowed: []int{200, 413, 503}},
			{Name: "normal", Clients: o.clients, Path: "/v1/predict?faces=true", Body: frame, ContentType: "image/jpeg", Allowed: []int{200, 413, 503}},
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, rep)
	if err := writeHeapProfile(o.heapProf); err != nil {
		return err
	}
	if n := rep.Failures(); n > 0 {
		return fmt.Errorf("bench serve bombs: %d requests failed", n)
	}
	if p := rep.PeakRSS(); p > o.rssLimit {
		return fmt.Errorf("bench serve bombs: server RSS peaked at %d bytes, above --rss-limit %d", p, o.rssLimit)
	}
	return nil
}

func runBenchSoak(ctx context.Context, o stressOptions, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.drift <= 0 {
		return fmt.Errorf("bench serve soak: --rss-drift %v must be positive", o.drift)
	}
	frame, err := normalFrame(o.photo)
	if err != nil {
		return err
	}
	base, rss, stop, err := stressTarget(ctx, o)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(out, "%d normal clients (640x480 JPEG, faces=true) for %v against %s, RSS every %v\n", o.clients, o.duration, base, o.sample)
	rep, err := serve.Stress(ctx, serve.StressOptions{
		URL: base, Token: o.token, Duration: o.duration, MaxLatency: o.latency, RSS: rss, SampleEvery: o.sample,
		Groups: []serve.StressGroup{{Name: "normal", Clients: o.clients, Path: "/v1/predict?faces=true", Body: frame, ContentType: "image/jpeg", Allowed: []int{200}}},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, rep)
	if err := writeHeapProfile(o.heapProf); err != nil {
		return err
	}
	if n := rep.Failures(); n > 0 {
		return fmt.Errorf("bench serve soak: %d requests failed", n)
	}
	if rss != nil {
		early, late, drift := rep.RSSDrift()
		if early == 0 {
			return fmt.Errorf("bench serve soak: %d RSS samples, too few to judge (run longer or sample more often)", len(rep.RSS))
		}
		if drift > o.drift || drift < -o.drift {
			return fmt.Errorf("bench serve soak: RSS went from %d to %d bytes (%+.1f%%), more than --rss-drift %.0f%%", early, late, 100*drift, 100*o.drift)
		}
	}
	return nil
}

// writeHeapProfile writes the heap profile (live objects after a GC) to
// path, when set.
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench serve: --heap-profile: %v", err)
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("bench serve: --heap-profile %s: %v", path, err)
	}
	return f.Close()
}
