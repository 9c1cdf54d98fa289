package serve

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/models"
)

// TestWebcamPageHandsInBrowser: headless Chromium's fake camera plays a
// real hand photo (sign-language digit 5, dataset photo, not committed:
// skipped without the dataset); with the built-in gesture model the page
// looks for hands (the palm detector), draws a hand box and labels it
// with the right digit.
func TestWebcamPageHandsInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not found: the browser test needs it to make a fake camera video")
	}
	photo := filepath.Join(fixtures.Dataset(t, "gestures/sign-language-digits"), "5", "IMG_1123.JPG")
	video := filepath.Join(t.TempDir(), "hand.y4m")
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-t", "4", "-i", photo,
		"-vf", "scale=400:400,pad=640:480:120:40:gray,setsar=1,fps=15,format=yuv420p", "-f", "yuv4mpegpipe", video}
	if msg, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, msg)
	}
	net, meta, _, err := models.Load("gesture")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel("gesture", net, meta.Classes, meta.Preprocess, "built-in", 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Logger: quietLogger()}, m)
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, s)
	ctx := launchBrowser(t, chromium,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video))
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	label, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { if (document.getElementById("mode").value !== "hands") return ""; const b = document.querySelector(".face-box"); const l = b && b.querySelector(".face-label"); return b && l && l.textContent ? b.dataset.label : ""; })()`,
		chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("message").textContent + " | " + document.getElementById("connection").textContent + " | mode " + document.getElementById("mode").value`))
		t.Fatalf("no labelled hand box appeared: %v (page says: %q)", err, msg)
	}
	if !slices.Contains(m.Classes, label) {
		t.Fatalf("hand label %q is not a gesture class %v", label, m.Classes)
	}
	t.Logf("browser: hand labelled %q", label)
	if label != "5" {
		t.Errorf("hand labelled %q, want 5 (the photo shows digit 5)", label)
	}
}
