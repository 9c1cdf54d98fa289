package serve

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"testing"
	"time"
)

func TestPNGBomb(t *testing.T) {
	b, err := PNGBomb(3000, 2000)
	if err != nil {
		t.Fatal(err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil || format != "png" || cfg.Width != 3000 || cfg.Height != 2000 || cfg.ColorModel != color.NRGBA64Model {
		t.Fatalf("bomb header: %+v %q %v, want a 3000x2000 16-bit RGBA PNG", cfg, format, err)
	}
	if len(b) > 200_000 {
		t.Errorf("a 3000x2000 flat bomb is %d bytes, want a few tens of KB", len(b))
	}
	if _, err := PNGBomb(0, 5); err == nil {
		t.Error("0x5 bomb accepted")
	}
}

// TestStressShort is a short run of `residual bench serve bombs`: bomb
// clients beside normal clients, every answer one of the allowed statuses
// within the latency bound, the server's memory sampled.
func TestStressShort(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test skipped in -short mode")
	}
	s := newServer(t, Config{MaxImageBytes: 16 << 20, DecodeBudget: 48 << 20})
	addr := runServer(t, s)
	bomb, err := PNGBomb(2000, 2000) // 32 MB decoded: over the 16 MiB image limit
	if err != nil {
		t.Fatal(err)
	}
	admitted := bomb16(t, 1000, 1000) // 8 MB + 1 MB: decoded, within the budget
	normal := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	rep, err := Stress(context.Background(), StressOptions{
		URL: "http://" + addr,
		Groups: []StressGroup{
			{Name: "bombs", Clients: 3, Path: "/v1/predict?faces=false", Body: bomb, ContentType: "image/png", Allowed: []int{413, 503}},
			{Name: "admitted bombs", Clients: 2, Path: "/v1/predict?faces=false", Body: admitted, ContentType: "image/png", Allowed: []int{200, 503}},
			{Name: "normal", Clients: 2, Path: "/v1/predict?faces=false", Body: normal, ContentType: "image/jpeg", Allowed: []int{200, 503}},
		},
		Duration: 1500 * time.Millisecond, MaxLatency: 30 * time.Second,
		RSS: ProcessRSS(0), SampleEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	if rep.Failures() != 0 {
		t.Errorf("%d failed requests", rep.Failures())
	}
	if g := rep.Groups[0]; g.Statuses[413] == 0 {
		t.Errorf("no bomb was refused with 413: %v", g.Statuses)
	}
	if g := rep.Groups[2]; g.Statuses[200] == 0 {
		t.Errorf("no normal request was answered 200: %v", g.Statuses)
	}
	if len(rep.RSS) == 0 || rep.PeakRSS() > 1500<<20 {
		t.Errorf("RSS samples %d, peak %d bytes: want samples under 1.5 GB", len(rep.RSS), rep.PeakRSS())
	}
}
