package serve

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebcamPageToken: on a server with a token, the page opened as
// http://host/#token=TOKEN lists the models (Authorization header), drops
// the token from the address bar, and opens the stream with the token
// subprotocol.
func TestWebcamPageToken(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := findChromium(t)
	s, err := New(Config{Logger: quietLogger(), Token: "t0k/en+="}, newEmotionModel(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, s)
	ctx := launchBrowser(t, chromium, chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", "deny"))
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"#token=t0k%2Fen%2B%3D")); err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(ctx, chromedp.Poll[float64](`document.getElementById("model").options.length`,
		chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil || n != 1 {
		t.Fatalf("the page listed %v models (%v), want 1", n, err)
	}
	if hash, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`)); hash != "" {
		t.Errorf("the token stays in the address bar: %q", hash)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const u = new URL("v1/stream", location.href); u.protocol = "ws:";
		const ws = new WebSocket(u, streamProtocols());
		ws.onopen = () => { window.__stream = "open " + ws.protocol; };
		ws.onclose = (ev) => { window.__stream = window.__stream || "closed " + ev.code; };
		return true; })()`)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Poll[string](`window.__stream || ""`,
		chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil || got != "open residual" {
		t.Errorf("stream with the page's token: %q (%v), want open residual", got, err)
	}
	if v := metric(t, s, `residual_rejected_total{reason="unauthorized"}`); v != 0 {
		t.Errorf("%v requests from the page were refused", v)
	}
}
