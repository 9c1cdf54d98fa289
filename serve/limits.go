package serve

// Limits: what one request may cost, and how many may run at once.
//
// A small file can ask for a lot of memory: a 300 KB PNG of 6300x6300
// 16-bit RGBA pixels decodes to 318 MB. So an upload is priced before it
// is decoded, from its header alone (image.DecodeConfig and a look at the
// PNG/JPEG header): width x height x bytes per pixel of the decoder's
// image (x2 for an interlaced PNG, +4 bytes per pixel and component for a
// progressive JPEG's coefficients) plus the frames the pipeline converts
// it to. An image above Config.MaxImageBytes is refused with 413.
//
// A request then needs one of Config.MaxInFlight slots and its price out
// of Config.DecodeBudget bytes for the whole of its decoding and
// classification (the gate below). Requests that do not fit wait in a
// queue of at most Config.MaxQueue; a freed slot or budget goes to the
// oldest waiter that fits, so that small requests are not held behind a
// large image waiting for room (under load, large images are the ones
// shed). When the queue is full, or the request's deadline
// (Config.RequestTimeout) passes while it waits, it is answered 503 with
// Retry-After. The memory held by images at any time is thus at most
// DecodeBudget, whatever the clients send.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of the Config limits (see Config for each).
const (
	DefaultMaxUploadBytes       = 10 << 20
	DefaultMaxPixels            = 40_000_000
	DefaultMaxImageBytes        = 256 << 20
	DefaultDecodeBudget         = 512 << 20
	DefaultMaxInFlight          = 32
	DefaultMaxQueue             = 64
	DefaultRequestTimeout       = 20 * time.Second
	DefaultReadTimeout          = 30 * time.Second
	DefaultWriteTimeout         = 30 * time.Second
	DefaultMaxConns             = 64
	DefaultMaxStreams           = 16
	DefaultStreamIdleTimeout    = 60 * time.Second
	DefaultStreamMessageTimeout = 10 * time.Second
)

// retryAfter is the Retry-After, in seconds, of a 503 for a full server.
const retryAfter = 1

// checkLimits fills the zero limits of c with their defaults and rejects
// negative ones (and an image limit above the budget, which no image
// could ever get).
func (c *Config) checkLimits() error {
	type lim struct {
		name string
		p    *int64
		def  int64
	}
	type ilim struct {
		name string
		p    *int
		def  int
	}
	type dlim struct {
		name string
		p    *time.Duration
		def  time.Duration
	}
	for _, l := range []lim{{"MaxUploadBytes", &c.MaxUploadBytes, DefaultMaxUploadBytes}, {"MaxImageBytes", &c.MaxImageBytes, DefaultMaxImageBytes}, {"DecodeBudget", &c.DecodeBudget, DefaultDecodeBudget}} {
		if *l.p < 0 {
			return fmt.Errorf("serve: Config.%s %d is negative", l.name, *l.p)
		}
		if *l.p == 0 {
			*l.p = l.def
		}
	}
	for _, l := range []ilim{{"MaxPixels", &c.MaxPixels, DefaultMaxPixels}, {"MaxInFlight", &c.MaxInFlight, DefaultMaxInFlight}, {"MaxQueue", &c.MaxQueue, DefaultMaxQueue},
		{"MaxConns", &c.MaxConns, DefaultMaxConns}, {"MaxStreams", &c.MaxStreams, DefaultMaxStreams}} {
		if *l.p < 0 {
			return fmt.Errorf("serve: Config.%s %d is negative", l.name, *l.p)
		}
		if *l.p == 0 {
			*l.p = l.def
		}
	}
	for _, l := range []dlim{{"RequestTimeout", &c.RequestTimeout, DefaultRequestTimeout}, {"ReadTimeout", &c.ReadTimeout, DefaultReadTimeout}, {"WriteTimeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"StreamIdleTimeout", &c.StreamIdleTimeout, DefaultStreamIdleTimeout}, {"StreamMessageTimeout", &c.StreamMessageTimeout, DefaultStreamMessageTimeout}} {
		if *l.p < 0 {
			return fmt.Errorf("serve: Config.%s %v is negative", l.name, *l.p)
		}
		if *l.p == 0 {
			*l.p = l.def
		}
	}
	if c.MaxImageBytes > c.DecodeBudget {
		return fmt.Errorf("serve: Config.MaxImageBytes %d is above Config.DecodeBudget %d: no such image could ever be decoded", c.MaxImageBytes, c.DecodeBudget)
	}
	return nil
}

// imageHeader is what an upload's header says about it.
type imageHeader struct {
	format        string // "jpeg" or "png"
	width, height int
	bytes         int64 // memory to decode and convert it, see imageCost
}

// inspect reads the image's header and prices it, without decoding any
// pixel: 400 when it is not an image, 415 for another format than JPEG
// or PNG, 413 above MaxPixels or MaxImageBytes.
func (s *Server) inspect(data []byte, channels int) (imageHeader, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return imageHeader{}, errorf(http.StatusBadRequest, "not a JPEG or PNG image (%d bytes): %v", len(data), err)
	}
	if format != "jpeg" && format != "png" {
		return imageHeader{}, errorf(http.StatusUnsupportedMediaType, "image format %q: send JPEG or PNG", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return imageHeader{}, errorf(http.StatusBadRequest, "%s image has an invalid size %dx%d", format, cfg.Width, cfg.Height)
	}
	h := imageHeader{format: format, width: cfg.Width, height: cfg.Height}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(s.cfg.MaxPixels) {
		s.metrics.rejected.WithLabelValues("too_large").Inc()
		return h, errorf(http.StatusRequestEntityTooLarge, "%s image is %dx%d = %d pixels, more than the limit of %d", format, cfg.Width, cfg.Height, px, s.cfg.MaxPixels)
	}
	h.bytes = imageCost(cfg, format, data, channels)
	if h.bytes > s.cfg.MaxImageBytes {
		s.metrics.rejected.WithLabelValues("too_large").Inc()
		return h, errorf(http.StatusRequestEntityTooLarge, "%s image %dx%d (%s) needs %d bytes to decode, more than the limit of %d",
			format, cfg.Width, cfg.Height, colorName(cfg.ColorModel), h.bytes, s.cfg.MaxImageBytes)
	}
	return h, nil
}

// imageCost is the memory, in bytes, that decoding an image with header
// cfg and converting it for a model with the given channels takes: the
// decoder's image (bytes per pixel from its colour model; x2 for an
// interlaced PNG, whose passes are decoded apart; plus the coefficients,
// 4 bytes per pixel and component, of a progressive JPEG), then the gray
// frame and the model's frame. JPEG and PNG images have one frame.
func imageCost(cfg image.Config, format string, data []byte, channels int) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	decoded := px * bytesPerPixel(cfg.ColorModel)
	switch format {
	case "png":
		if pngInterlaced(data) {
			decoded *= 2
		}
	case "jpeg":
		if jpegProgressive(data) {
			comps := int64(3)
			if cfg.ColorModel == color.GrayModel {
				comps = 1
			} else if cfg.ColorModel == color.CMYKModel {
				comps = 4
			}
			decoded += px * 4 * comps
		}
	}
	frames := px // the gray frame
	if channels != 1 {
		frames += px * int64(channels)
	}
	return decoded + frames
}

// bytesPerPixel is the size of a pixel in the image a decoder returns for
// colour model m (8, the largest, for a model it does not know).
func bytesPerPixel(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel: // 4:4:4 at most
		return 3
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	}
	return 8 // RGBA64, NRGBA64 and anything else
}

func colorName(m color.Model) string {
	if p, ok := m.(color.Palette); ok {
		return fmt.Sprintf("paletted, %d colours", len(p))
	}
	switch m {
	case color.GrayModel:
		return "8-bit gray"
	case color.Gray16Model:
		return "16-bit gray"
	case color.YCbCrModel:
		return "YCbCr"
	case color.CMYKModel:
		return "CMYK"
	case color.RGBAModel:
		return "8-bit RGBA"
	case color.NRGBAModel:
		return "8-bit NRGBA"
	case color.RGBA64Model:
		return "16-bit RGBA"
	case color.NRGBA64Model:
		return "16-bit NRGBA"
	}
	return fmt.Sprintf("%T", m)
}

// pngInterlaced reports the interlace flag of a PNG's IHDR (the last of
// its 13 bytes, after the 8-byte signature and the chunk's length and
// type).
func pngInterlaced(data []byte) bool {
	return len(data) > 28 && string(data[12:16]) == "IHDR" && data[28] != 0
}

// jpegProgressive walks a JPEG's marker segments up to its frame header
// and reports whether that is SOF2 (progressive, the only non-baseline
// frame Go decodes).
func jpegProgressive(data []byte) bool {
	i := 2 // after SOI
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return false
		}
		marker := data[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0xC2:
			return true
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			return false // another frame header
		case marker == 0xDA: // start of scan before any frame header
			return false
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 {
			return false
		}
		i += 2 + n
	}
	return false
}

// gate admits requests to decoding and classification: at most slots at
// once, holding at most budget bytes of images, with at most maxQueue
// waiting (the oldest that fits goes first).
type gate struct {
	slots    int
	budget   int64
	maxQueue int

	mu       sync.Mutex
	inFlight int
	used     int64
	waiting  []*waiter
}

type waiter struct {
	cost  int64
	ready chan struct{} // closed when admitted
}

// errBusy is the 503 of a full queue.
func errBusy(queued int) *Error {
	return &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter,
		Msg: fmt.Sprintf("server busy: %d requests already waiting, try again later", queued)}
}

// acquire waits for a slot and cost bytes of the budget (cost is at most
// the budget: see checkLimits), or until ctx ends. It returns the release
// function to call when the request's images are dropped.
func (g *gate) acquire(ctx context.Context, cost int64) (release func(), err error) {
	cost = min(max(cost, 1), g.budget)
	g.mu.Lock()
	if g.fits(cost) {
		g.inFlight++
		g.used += cost
		g.mu.Unlock()
		return g.releaser(cost), nil
	}
	if len(g.waiting) >= g.maxQueue {
		n := len(g.waiting)
		g.mu.Unlock()
		return nil, errBusy(n)
	}
	w := &waiter{cost: cost, ready: make(chan struct{})}
	g.waiting = append(g.waiting, w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return g.releaser(cost), nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.ready: // admitted meanwhile: give it back
		g.inFlight--
		g.used -= cost
		g.admit()
	default:
		for i, q := range g.waiting {
			if q == w {
				g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
				break
			}
		}
		g.admit() // a large request leaving may let smaller ones in
	}
	return nil, ctx.Err()
}

func (g *gate) fits(cost int64) bool { return g.inFlight < g.slots && g.used+cost <= g.budget }

// admit lets in the waiters that fit, oldest first. Callers hold g.mu.
func (g *gate) admit() {
	kept := g.waiting[:0]
	for _, w := range g.waiting {
		if g.fits(w.cost) {
			g.inFlight++
			g.used += w.cost
			close(w.ready)
			continue
		}
		kept = append(kept, w)
	}
	clear(g.waiting[len(kept):])
	g.waiting = kept
}

func (g *gate) releaser(cost int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.inFlight--
			g.used -= cost
			g.admit()
		})
	}
}

// stats are the gate's current numbers, for /metrics.
func (g *gate) stats() (inFlight, queued int, used int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, len(g.waiting), g.used
}

// deadlineError turns a request's ended context into its answer: 503
// with Retry-After when its deadline passed (the server is too busy to
// answer in time), the error itself otherwise (a client gone: 499).
func (s *Server) deadlineError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.metrics.rejected.WithLabelValues("deadline").Inc()
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter,
			Msg: fmt.Sprintf("server busy: the request deadline of %v passed before it was answered, try again later", s.cfg.RequestTimeout)}
	}
	return err
}

// ctxReader reads from r until ctx ends (a decoder reading from it then
// fails within one buffer of input).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// limitListener caps the connections accepted from ln at n: Accept waits
// while n are open (the kernel's backlog holds the others).
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{} // closed by Close: a waiting Accept returns
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// open is the number of connections open.
func (l *limitListener) open() int { return len(l.sem) }

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
