package serve

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/models"
)

// fakeCameraVideo builds a 640x480 Y4M video (4 s at 15 fps) from a
// committed face photo with ffmpeg, for Chromium's fake camera.
func fakeCameraVideo(t *testing.T) string {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not found (apt-get install -y --no-install-recommends ffmpeg): the browser test needs it to make a fake camera video")
	}
	// One photo only: with several, a screenshot can catch the video on
	// the next photo while the boxes still belong to the previous one.
	path := fixtures.Face(t, "astronaut.png")
	out := filepath.Join(t.TempDir(), "faces.y4m")
	// The photo scaled to 480x480 and centred on gray, 4 s at 15 frames/s.
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-t", "4", "-i", path,
		"-vf", "scale=480:480,pad=640:480:80:0:gray,setsar=1,fps=15,format=yuv420p",
		"-f", "yuv4mpegpipe", out}
	if msg, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, msg)
	}
	return out
}

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not found (apt-get install -y --no-install-recommends chromium): skipping the browser test")
	return ""
}

// launchBrowser starts headless Chromium with a fresh profile and the
// given extra flags; it is closed when the test ends.
func launchBrowser(t *testing.T, chromium string, extra ...chromedp.ExecAllocatorOption) context.Context {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 820),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// startServer runs s on a free local port until the test ends and
// returns the page's URL.
func startServer(t *testing.T, s *Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, ln); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return "http://" + ln.Addr().String() + "/"
}

// TestWebcamPageCameraErrors opens the page in a browser that refuses the
// camera, then in one that has none: each must say so on the page.
func TestWebcamPageCameraErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	s, err := New(Config{Logger: quietLogger()}, newEmotionModel(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, s)
	for _, tc := range []struct {
		name  string
		flags []chromedp.ExecAllocatorOption
		want  string
	}{
		// A camera is there but the (fake) permission prompt says no.
		{"refused", []chromedp.ExecAllocatorOption{chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", "deny")}, "Camera access was refused"},
		// The prompt says yes but there is no camera.
		{"missing", []chromedp.ExecAllocatorOption{chromedp.Flag("use-fake-ui-for-media-stream", true)}, "No camera was found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := launchBrowser(t, chromium, tc.flags...)
			if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
				t.Fatal(err)
			}
			msg, err := chromedp.Run(ctx, chromedp.Poll[string](
				`(() => { const m = document.getElementById("message"); return m.hidden ? "" : m.textContent; })()`,
				chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
			if err != nil {
				t.Fatalf("no message shown: %v", err)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
		})
	}
}

// TestWebcamPageInBrowser is the end-to-end test of the webcam page:
// headless Chromium with a fake camera playing the face photos opens the
// page served in-process; a face box with an emotion label must appear.
// It logs the result rate reached and saves a screenshot (see
// RESIDUAL_SCREENSHOT below).
func TestWebcamPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	video := fakeCameraVideo(t)

	// The built-in emotion model.
	net, meta, _, err := models.Load("emotion")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel("emotion", net, meta.Classes, meta.Preprocess, "built-in", 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Logger: quietLogger()}, m, newGestureModel(t))
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, s)

	ctx := launchBrowser(t, chromium,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video))
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s in %s: %v", url, chromium, err)
	}

	// Wait for a face box carrying a label (at most 30 s).
	label, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { const b = document.querySelector(".face-box"); const l = b && b.querySelector(".face-label"); return b && l && l.textContent ? b.dataset.label : ""; })()`,
		chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("message").textContent + " | " + document.getElementById("connection").textContent`))
		t.Fatalf("no labelled face box appeared: %v (page says: %q)", err, msg)
	}
	if !slices.Contains(m.Classes, label) {
		t.Errorf("face label %q is not one of the model's classes %v", label, m.Classes)
	}

	// Measure the result rate over 3 s, the page sending at its highest
	// rate (30 frames/s, one in flight).
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`(() => { const r = document.getElementById("rate"); r.value = "30"; r.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	count := func() float64 {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.residualState.results`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n0, t0 := count(), time.Now()
	time.Sleep(3 * time.Second)
	n1, el := count(), time.Since(t0)
	rate := (n1 - n0) / el.Seconds()
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`({fps: document.getElementById("fps").textContent, latency: document.getElementById("latency").textContent, server: document.getElementById("server").textContent, skipped: document.getElementById("dropped").textContent, capture: window.residualState.captureMs.toFixed(0), label: document.querySelector(".face-label") ? document.querySelector(".face-label").textContent : ""})`))
	t.Logf("browser: face labelled %q; sending at 30 frames/s: %.1f results/s over %.1f s (page shows %v results/s, browser capture+JPEG %v ms, round trip %v ms, server %v ms, %v frames skipped)",
		label, rate, el.Seconds(), page["fps"], page["capture"], page["latency"], page["server"], page["skipped"])
	if rate < 1 {
		t.Errorf("only %.2f results/s: the page is not streaming", rate)
	}

	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	// The screenshot goes to a temporary folder unless
	// RESIDUAL_SCREENSHOT names a file (docs/webcam.png is made with
	// RESIDUAL_SCREENSHOT=../docs/webcam.png go test ./serve -run Browser).
	shot := filepath.Join(t.TempDir(), "webcam.png")
	if p := os.Getenv("RESIDUAL_SCREENSHOT"); p != "" {
		shot = p
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot saved to %s", shot)

	// Switch to the gesture model: the page looks for hands (the palm
	// detector); then choose the region of interest, which is labelled
	// with a gesture class.
	mode, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`(() => { const s = document.getElementById("model"); s.value = "gesture"; s.dispatchEvent(new Event("change")); return document.getElementById("mode").value; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if mode != "hands" {
		t.Errorf("the gesture model selected mode %q, want hands", mode)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`(() => { const m = document.getElementById("mode"); m.value = "roi"; m.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	gesture, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { if (document.getElementById("mode").value !== "roi" || document.getElementById("roi").hidden) return ""; const b = document.querySelector(".face-box"); return b ? b.dataset.label : ""; })()`,
		chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("no region-of-interest label after switching to the gesture model: %v", err)
	}
	if g, _ := s.Model("gesture"); !slices.Contains(g.Classes, gesture) {
		t.Errorf("region label %q is not a gesture class %v", gesture, g.Classes)
	}
}
