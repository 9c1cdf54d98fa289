package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/residual-go/residual/detect"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

type benchServeOptions struct {
	url      string
	model    string
	photo    string
	clients  int
	duration time.Duration
	frames   int
}

func newBenchServeCmd() *cobra.Command {
	var o benchServeOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Measure the real-time pipeline: per-frame latency and /v1/predict under concurrent load",
		Long: `bench serve measures the recognition pipeline of 'residual serve':

  1. one 640x480 frame made from --photo (one face): face detection and
     classification of every face with each detector (blazeface-short,
     blazeface-full, pigo), p50/p99 over --frames frames;
  2. POST /v1/predict with a 48x48 face crop (faces=false) from --clients
     concurrent clients for --duration: throughput, p50/p99 latency, errors.

Without --url it starts the server in-process on 127.0.0.1 with --model
(default: the built-in emotion model); with --url it loads that server instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runBenchServe(cmd.Context(), o) },
	}
	cmd.AddCommand(newBenchServeBombsCmd(), newBenchServeSoakCmd())
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "base URL of a running server (default: start one in-process)")
	f.StringVar(&o.model, "model", "", "model file (default: the built-in emotion model)")
	f.StringVar(&o.photo, "photo", "testdata/faces/grace_hopper.jpg", "photo with one face (the default is the committed public-domain photo, read from the repository root)")
	f.IntVar(&o.clients, "clients", 16, "concurrent clients")
	f.DurationVar(&o.duration, "duration", 30*time.Second, "load test duration")
	f.IntVar(&o.frames, "frames", 200, "frames timed for the per-frame latency")
	return cmd
}

func runBenchServe(ctx context.Context, o benchServeOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.clients < 1 || o.duration <= 0 || o.frames < 1 {
		return fmt.Errorf("bench serve: --clients %d, --duration %v and --frames %d must be positive", o.clients, o.duration, o.frames)
	}
	var m *serve.Model
	var err error
	if o.model == "" {
		m, err = loadBuiltin("emotion", 2)
	} else {
		m, err = serve.LoadModel("emotion", o.model, 2)
	}
	if err != nil {
		return err
	}
	path := m.Source
	photo, err := vision.DecodeFile(o.photo, vision.DefaultMaxPixels)
	if err != nil {
		return fmt.Errorf("bench serve: --photo: %w", err)
	}
	// The photo scaled to 480 pixels high in the middle of a gray 640x480
	// frame, as a webcam would send it.
	frameImg := letterbox(photo, 640, 480)
	frame, err := serve.NewFrame(frameImg, m.Preprocess.Channels)
	if err != nil {
		return err
	}
	// Every face detector: BlazeFace short range (the live default), full
	// range (the photo default) and pigo.
	var det face.Finder
	for _, name := range []string{detect.DetectorShort, detect.DetectorFull, detect.DetectorPigo} {
		d, err := detect.NewFinder(name, true, face.Options{}, detect.FaceOptions{})
		if err != nil {
			return err
		}
		if det == nil {
			det = d
		}
		var times []time.Duration
		var faces int
		for i := 0; i < o.frames+5; i++ {
			t0 := time.Now()
			res, err := serve.Predict(ctx, m, d, frame, serve.FrameOptions{Faces: true})
			if err != nil {
				return err
			}
			if i >= 5 { // warm-up excluded
				times = append(times, time.Since(t0))
			}
			faces = len(res.Faces)
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		fmt.Printf("frame 640x480, %s: %d face(s), detection + classification: p50 %.2f ms, p99 %.2f ms over %d frames (%s)\n",
			name, faces, ms(times[len(times)/2]), ms(times[len(times)*99/100]), len(times), path)
	}

	// A 48x48 crop of the detected face (or of the frame's centre).
	res, err := serve.Predict(ctx, m, det, frame, serve.FrameOptions{Faces: true})
	if err != nil {
		return err
	}
	r := image.Rect(296, 216, 344, 264)
	if len(res.Faces) > 0 {
		b := res.Faces[0].Crop
		r = image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H)
	}
	var body bytes.Buffer
	if err := jpeg.Encode(&body, stretch(subImage(frameImg, r), 48, 48), &jpeg.Options{Quality: 90}); err != nil {
		return err
	}

	base := o.url
	if base == "" {
		s, err := serve.New(serve.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, m)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		go s.Run(sctx, ln)
		base = "http://" + ln.Addr().String()
	}
	rep, err := serve.LoadTest(ctx, serve.LoadOptions{URL: base + "/v1/predict?faces=false", Body: body.Bytes(), Clients: o.clients, Duration: o.duration})
	if err != nil {
		return err
	}
	fmt.Printf("POST /v1/predict 48x48 crop, %d clients, %v: %d requests, %.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors\n",
		o.clients, rep.Elapsed.Round(time.Millisecond), rep.Requests, rep.Throughput, ms(rep.P50), ms(rep.P99), ms(rep.Max), rep.Errors)
	if rep.Errors > 0 {
		return fmt.Errorf("bench serve: %d of %d requests failed", rep.Errors, rep.Requests)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// stretch resizes img to w x h (bilinear, RGB).
func stretch(img image.Image, w, h int) image.Image {
	src, _ := vision.FromImage(nil, img, 3)
	dst, _ := vision.Resize(src, w, h)
	return dst.ToImage()
}

// letterbox scales img to h pixels high (keeping its aspect ratio, at
// most w wide) and centres it on a gray w x h frame.
func letterbox(img image.Image, w, h int) image.Image {
	b := img.Bounds()
	sw := min(w, b.Dx()*h/b.Dy())
	scaled := stretch(img, sw, h)
	frame := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(frame, frame.Bounds(), image.NewUniform(color.Gray{Y: 128}), image.Point{}, draw.Src)
	x0 := (w - sw) / 2
	draw.Draw(frame, image.Rect(x0, 0, x0+sw, h), scaled, image.Point{}, draw.Src)
	return frame
}

func subImage(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r.Intersect(img.Bounds()))
	}
	return img
}
