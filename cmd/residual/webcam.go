package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/residual-go/residual/detect"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/blackjack/webcam"
	"github.com/spf13/cobra"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

type webcamOptions struct {
	device   string
	model    string // name=path or path; empty: the built-in emotion model
	size     string // WxH asked of the camera
	faces    bool
	hands    bool
	roi      string // x,y,w,h classified when faces is false ("" = whole frame)
	frames   int    // stop after this many frames (0: until interrupted)
	preview  string // address of the MJPEG preview server ("" = none)
	minFace  int
	detector string
}

func newWebcamCmd() *cobra.Command {
	var o webcamOptions
	cmd := &cobra.Command{
		Use:   "webcam",
		Short: "Recognise faces live from a V4L2 camera (Linux), printing results or serving an MJPEG preview",
		Long: `webcam reads frames from a Video4Linux2 camera (YUYV preferred, else MJPEG),
runs the same pipeline as the server (face detection, crop, the model's
preprocessing, the network) on the latest frame, and prints one line per
frame. With --preview ADDR it also serves the annotated frames as an MJPEG
stream at http://ADDR/ (open it in a browser).`,
		Example: `  residual webcam --device /dev/video0
  residual webcam --model emotion=models/emotion-fer2013.residual --preview 127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runWebcam(ctx, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.device, "device", "/dev/video0", "V4L2 capture device")
	f.StringVar(&o.model, "model", "", "model as name=path or path (default: the built-in emotion model)")
	f.StringVar(&o.size, "size", "640x480", "frame size asked of the camera, WxH (the camera may pick another)")
	f.BoolVar(&o.faces, "faces", true, "detect faces (false: classify the whole frame or --roi)")
	f.BoolVar(&o.hands, "hands", false, "detect hands (palm detector) and classify each upright hand box, e.g. with --model gesture --faces=false")
	f.StringVar(&o.roi, "roi", "", "with --faces=false, the region classified as x,y,w,h in frame pixels (for gesture models)")
	countVar(f, &o.frames, "frames", 0, 0, "stop after this many frames (0: until Ctrl-C)")
	f.StringVar(&o.preview, "preview", "", "serve an annotated MJPEG preview on this address, e.g. 127.0.0.1:8081")
	f.StringVar(&o.detector, "detector", "blazeface", "face detector: blazeface (= blazeface-short for live frames), blazeface-short, blazeface-full or pigo")
	countVar(f, &o.minFace, "min-face", 48, 1, "with --detector pigo: smallest face side searched, in pixels")
	return cmd
}

// V4L2 pixel formats (fourcc codes).
const (
	fourccYUYV = webcam.PixelFormat('Y' | 'U'<<8 | 'Y'<<16 | 'V'<<24)
	fourccMJPG = webcam.PixelFormat('M' | 'J'<<8 | 'P'<<16 | 'G'<<24)
)

// openCamera opens a V4L2 device and starts streaming YUYV (preferred: no
// decoding, no missing-Huffman-table MJPEG quirks) or MJPEG at about w x h.
func openCamera(device string, w, h int) (*webcam.Webcam, webcam.PixelFormat, int, int, error) {
	if _, err := os.Stat(device); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("no video device at %s (%v): connect a camera or pass --device (list them with ls /dev/video*)", device, err)
	}
	cam, err := webcam.Open(device)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("opening %s: %v (is it a V4L2 capture device you may read?)", device, err)
	}
	formats := cam.GetSupportedFormats()
	var format webcam.PixelFormat
	switch {
	case formats[fourccYUYV] != "":
		format = fourccYUYV
	case formats[fourccMJPG] != "":
		format = fourccMJPG
	default:
		var names []string
		for _, n := range formats {
			names = append(names, n)
		}
		cam.Close()
		return nil, 0, 0, 0, fmt.Errorf("%s offers no YUYV or MJPEG format (it offers: %s)", device, strings.Join(names, ", "))
	}
	got, gw, gh, err := cam.SetImageFormat(format, uint32(w), uint32(h))
	if err != nil {
		cam.Close()
		return nil, 0, 0, 0, fmt.Errorf("%s: setting %s %dx%d: %v", device, formats[format], w, h, err)
	}
	if err := cam.StartStreaming(); err != nil {
		cam.Close()
		return nil, 0, 0, 0, fmt.Errorf("%s: starting the stream: %v", device, err)
	}
	return cam, got, int(gw), int(gh), nil
}

// yuyvImage wraps a packed YUYV 4:2:2 frame (Y0 U Y1 V per two pixels) as
// an image.YCbCr, copying it into planes.
func yuyvImage(b []byte, w, h int) (*image.YCbCr, error) {
	if w <= 0 || h <= 0 || w%2 != 0 {
		return nil, fmt.Errorf("YUYV frame size %dx%d: want positive, even width", w, h)
	}
	if len(b) < w*h*2 {
		return nil, fmt.Errorf("YUYV %dx%d frame has %d bytes, want %d", w, h, len(b), w*h*2)
	}
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio422)
	for y := 0; y < h; y++ {
		row := b[y*w*2 : (y+1)*w*2]
		yo, co := y*img.YStride, y*img.CStride
		for x := 0; x < w/2; x++ {
			img.Y[yo+2*x] = row[4*x]
			img.Cb[co+x] = row[4*x+1]
			img.Y[yo+2*x+1] = row[4*x+2]
			img.Cr[co+x] = row[4*x+3]
		}
	}
	return img, nil
}

// frameSource yields decoded camera frames.
type frameSource interface {
	// next returns the newest frame, skipping any older ones waiting.
	next(ctx context.Context) (image.Image, error)
	Close() error
}

// v4l2Source reads a started webcam.
type v4l2Source struct {
	cam    *webcam.Webcam
	format webcam.PixelFormat
	w, h   int
	buf    []byte
}

func (s *v4l2Source) next(ctx context.Context) (image.Image, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := s.cam.WaitForFrame(2)
		var timeout *webcam.Timeout
		if errors.As(err, &timeout) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("waiting for a frame: %v", err)
		}
		frame, err := s.cam.ReadFrame()
		if err != nil {
			return nil, fmt.Errorf("reading a frame: %v", err)
		}
		if len(frame) == 0 {
			continue
		}
		// Skip to the newest frame when more are already waiting.
		for s.cam.WaitForFrame(0) == nil {
			newer, err := s.cam.ReadFrame()
			if err != nil || len(newer) == 0 {
				break
			}
			frame = newer
		}
		s.buf = append(s.buf[:0], frame...) // the driver reuses its buffers
		if s.format == fourccYUYV {
			return yuyvImage(s.buf, s.w, s.h)
		}
		return vision.DecodeBytes(withHuffmanTables(s.buf), 0)
	}
}

// standardDHT is a JPEG DHT segment with the four "typical" Huffman tables
// of the JPEG standard (Annex K.3), taken once from image/jpeg's encoder,
// which writes exactly those.
var standardDHT = func() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
		panic(err) // encoding an 8x8 image in memory cannot fail
	}
	data := b.Bytes()
	i := bytes.Index(data, []byte{0xFF, 0xC4})
	if i < 0 {
		panic("image/jpeg wrote no DHT segment")
	}
	n := int(data[i+2])<<8 | int(data[i+3])
	return append([]byte(nil), data[i:i+2+n]...)
}()

// withHuffmanTables returns an MJPEG frame decodable by image/jpeg. Many
// USB cameras leave out the Huffman tables and rely on the standard ones
// (as Motion-JPEG allows); image/jpeg does not, so a frame without a DHT
// segment before its scan gets standardDHT inserted before the SOS marker.
func withHuffmanTables(frame []byte) []byte {
	// Walk the marker segments from SOI up to SOS.
	if len(frame) < 4 || frame[0] != 0xFF || frame[1] != 0xD8 {
		return frame // not a JPEG: let the decoder say so
	}
	for i := 2; i+4 <= len(frame); {
		if frame[i] != 0xFF {
			return frame
		}
		marker := frame[i+1]
		switch {
		case marker == 0xC4: // DHT present
			return frame
		case marker == 0xDA: // SOS without any DHT before it
			out := make([]byte, 0, len(frame)+len(standardDHT))
			out = append(out, frame[:i]...)
			out = append(out, standardDHT...)
			return append(out, frame[i:]...)
		case marker == 0xFF: // fill byte
			i++
			continue
		}
		n := int(frame[i+2])<<8 | int(frame[i+3])
		i += 2 + n
	}
	return frame
}

func (s *v4l2Source) Close() error {
	s.cam.StopStreaming()
	return s.cam.Close()
}

// parseSize reads WxH, each side 1 to serve.MaxCoord.
func parseSize(s string) (int, int, error) {
	v, err := parseInts(s, "x", 2, 1)
	if err != nil {
		return 0, 0, fmt.Errorf("--size %q: want WxH, e.g. 640x480: %v", s, err)
	}
	return v[0], v[1], nil
}

// parseROI reads x,y,w,h ("" is no region): x and y from 0, w and h from
// 1, each at most serve.MaxCoord, so x+w cannot overflow.
func parseROI(s string) (image.Rectangle, error) {
	if s == "" {
		return image.Rectangle{}, nil
	}
	v, err := parseInts(s, ",", 4, 0)
	if err == nil && (v[2] < 1 || v[3] < 1) {
		err = fmt.Errorf("w %d and h %d must be at least 1", v[2], v[3])
	}
	if err != nil {
		return image.Rectangle{}, fmt.Errorf("--roi %q: want x,y,w,h with positive w and h: %v", s, err)
	}
	return image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3]), nil
}

// parseInts splits s at sep into exactly n integers in [min, serve.MaxCoord].
func parseInts(s, sep string, n, min int) ([]int, error) {
	parts := strings.Split(s, sep)
	if len(parts) != n {
		return nil, fmt.Errorf("%d values, want %d", len(parts), n)
	}
	v := make([]int, n)
	for i, p := range parts {
		x, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%q is not an integer", p)
		}
		if err != nil || x < int64(min) || x > serve.MaxCoord {
			return nil, fmt.Errorf("%s is out of range [%d, %d]", strings.TrimSpace(p), min, serve.MaxCoord)
		}
		v[i] = int(x)
	}
	return v, nil
}

func runWebcam(ctx context.Context, o webcamOptions, out io.Writer) error {
	w, h, err := parseSize(o.size)
	if err != nil {
		return err
	}
	if _, err := parseROI(o.roi); err != nil {
		return err
	}
	if o.roi != "" && o.faces {
		return fmt.Errorf("--roi %q with --faces=true: a region is classified without face detection; add --faces=false", o.roi)
	}
	cam, format, gw, gh, err := openCamera(o.device, w, h)
	if err != nil {
		return err
	}
	src := &v4l2Source{cam: cam, format: format, w: gw, h: gh}
	defer src.Close()
	fmt.Fprintf(out, "camera %s: %dx%d %s\n", o.device, gw, gh, map[webcam.PixelFormat]string{fourccYUYV: "YUYV", fourccMJPG: "MJPEG"}[format])
	return recognise(ctx, o, src, out)
}

// recognise runs the pipeline on frames from src until ctx ends, src
// fails or o.frames frames are done.
func recognise(ctx context.Context, o webcamOptions, src frameSource, out io.Writer) error {
	sopt := serveOptions{instances: 1}
	if o.model != "" {
		sopt.models = []string{o.model}
	}
	models, err := loadModels(sopt)
	if err != nil {
		return err
	}
	m := models[0]
	roi, err := parseROI(o.roi)
	if err != nil {
		return err
	}
	det, err := detect.NewFinder(o.detector, true, face.Options{MinSize: o.minFace}, detect.FaceOptions{})
	if err != nil {
		return fmt.Errorf("webcam: --detector: %w", err)
	}
	var hands *detect.HandDetector
	if o.hands {
		if hands, err = detect.NewHandDetector(detect.HandOptions{}); err != nil {
			return err
		}
	}
	var preview *mjpegPreview
	if o.preview != "" {
		preview = newMJPEGPreview()
		ln, err := net.Listen("tcp", o.preview)
		if err != nil {
			return fmt.Errorf("--preview %q: %v", o.preview, err)
		}
		hs := &http.Server{Handler: preview, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		fmt.Fprintf(out, "preview on http://%s/\n", ln.Addr())
	}
	for n := 1; o.frames <= 0 || n <= o.frames; n++ {
		img, err := src.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t0 := time.Now()
		f, err := serve.NewFrame(img, m.Preprocess.Channels)
		if err != nil {
			return err
		}
		res, err := serve.Predict(ctx, m, det, f, serve.FrameOptions{Faces: o.faces, ROI: roi, Hands: hands})
		if err != nil {
			return err
		}
		res.Timings.Total = float64(time.Since(t0).Microseconds()) / 1000
		fmt.Fprintln(out, describe(n, res, o.faces))
		if preview != nil {
			preview.publish(serve.Annotate(img, res))
		}
	}
	return nil
}

// describe is one line per frame: number, time, each face's (or the
// region's) box and label.
func describe(n int, r *serve.Result, faces bool) string {
	var b strings.Builder
	what := "face(s)"
	if !faces {
		what = "region"
	}
	fmt.Fprintf(&b, "frame %d: %.1f ms (detect %.1f, classify %.1f), %d %s", n, r.Timings.Total, r.Timings.Detect, r.Timings.Classify, len(r.Faces), what)
	for _, p := range r.Faces {
		fmt.Fprintf(&b, "; [%d,%d %dx%d] %s %.0f%%", p.Box.X, p.Box.Y, p.Box.W, p.Box.H, p.Label, 100*p.Confidence)
	}
	if r.Hands != nil {
		fmt.Fprintf(&b, ", %d hand(s)", len(r.Hands))
		for _, p := range r.Hands {
			fmt.Fprintf(&b, "; hand [%d,%d %dx%d] %s %.0f%%", p.Box.X, p.Box.Y, p.Box.W, p.Box.H, p.Label, 100*p.Confidence)
		}
	}
	return b.String()
}

// mjpegPreview serves the latest annotated frame as an MJPEG stream
// (multipart/x-mixed-replace), which browsers show as a live image.
type mjpegPreview struct {
	mu      sync.Mutex
	frame   []byte        // latest JPEG
	changed chan struct{} // closed and replaced at each new frame
}

func newMJPEGPreview() *mjpegPreview { return &mjpegPreview{changed: make(chan struct{})} }

func (p *mjpegPreview) publish(img image.Image) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		return
	}
	p.mu.Lock()
	p.frame = b.Bytes()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *mjpegPreview) latest() ([]byte, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frame, p.changed
}

func (p *mjpegPreview) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+mw.Boundary())
	w.Header().Set("Cache-Control", "no-store")
	for {
		frame, changed := p.latest()
		if frame != nil {
			part, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"image/jpeg"}, "Content-Length": {fmt.Sprint(len(frame))}})
			if err != nil {
				return
			}
			if _, err := part.Write(frame); err != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}
