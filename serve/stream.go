package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// StreamControl and StreamReply make the WebSocket protocol of GET /v1/stream?model=NAME&faces=true|false&roi=x,y,w,h:
//
// The client sends
//   - binary messages: one JPEG (or PNG) frame each;
//   - text messages: a StreamControl JSON object changing the options of
//     the frames that follow, e.g. {"model":"gesture","faces":false,
//     "roi":{"x":80,"y":40,"w":240,"h":240}} (absent fields are kept;
//     "roi":null clears the region).
//
// The server answers every frame it processes with a StreamReply JSON text
// message. It never queues: a frame that arrives while the previous one is
// still being processed replaces any frame already waiting, which is then
// dropped (counted in "dropped"). Clients should also keep one frame in
// flight (send the next one when the reply arrives).
//
// StreamControl changes a stream's options.
type StreamControl struct {
	Model string          `json:"model,omitempty"`
	Faces *bool           `json:"faces,omitempty"`
	ROI   json.RawMessage `json:"roi,omitempty"` // a Box, or null to clear
	// Hands finds and classifies hands (true) or stops (false); Align
	// turns face crops level (true, the default) or not.
	Hands *bool `json:"hands,omitempty"`
	Align *bool `json:"align,omitempty"`
}

// StreamReply is the server's answer to a frame: a result, or an error
// that leaves the stream open.
type StreamReply struct {
	Type    string  `json:"type"`    // "result" or "error"
	Frame   int     `json:"frame"`   // the frame's number (1 = first binary message received)
	Dropped int     `json:"dropped"` // frames dropped so far on this stream
	Error   string  `json:"error,omitempty"`
	Result  *Result `json:"result,omitempty"`
}

// streamOptions are the options one frame is processed with.
type streamOptions struct {
	model *Model
	frame FrameOptions
}

// mailbox holds at most one frame: the latest received and not yet taken.
type mailbox struct {
	mu      sync.Mutex
	data    []byte
	opt     streamOptions
	seq     int // frames received
	dropped int
	ready   chan struct{} // signalled (capacity 1) when a frame is put
}

// put stores a frame, dropping the one waiting if any; it reports whether
// one was dropped.
func (b *mailbox) put(data []byte, opt streamOptions) bool {
	b.mu.Lock()
	dropped := b.data != nil
	if dropped {
		b.dropped++
	}
	b.data, b.opt = data, opt
	b.seq++
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return dropped
}

// take removes the waiting frame (nil if none).
func (b *mailbox) take() (data []byte, opt streamOptions, seq, dropped int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, opt, seq, dropped = b.data, b.opt, b.seq, b.dropped
	b.data = nil
	return
}

func isWebSocketRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	q, err := frameQuery(r)
	if err != nil {
		return err
	}
	m, err := s.Model(q.Get("model"))
	if err != nil {
		return err
	}
	fopt, err := parseFrameOptions(q.Get("faces"), q.Get("roi"))
	if err != nil {
		return err
	}
	if fopt, err = s.detectOptions(fopt, q.Get("faces"), q.Get("hands"), q.Get("align")); err != nil {
		return err
	}
	if !isWebSocketRequest(r) {
		return errorf(http.StatusUpgradeRequired, "GET /v1/stream is a WebSocket endpoint: send Upgrade: websocket")
	}
	if n := s.openStreams.Add(1); n > int64(s.cfg.MaxStreams) {
		s.openStreams.Add(-1)
		s.metrics.rejected.WithLabelValues("streams").Inc()
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter,
			Msg: fmt.Sprintf("too many streams: %d open, the limit is %d; try again later", n-1, s.cfg.MaxStreams)}
	}
	defer s.openStreams.Add(-1)
	// Counted before Accept hijacks the connection, while http.Server's
	// Shutdown still tracks it: RunDrain then waits for the close handshake.
	s.streams.Add(1)
	defer s.streams.Done()
	// A stream lives long: the connection's read and write deadlines
	// (ReadTimeout, WriteTimeout) give way to the stream's own.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	gw := &guardedWriter{ResponseWriter: w, limit: s.cfg.MaxUploadBytes}
	c, err := websocket.Accept(gw, r, &websocket.AcceptOptions{Subprotocols: []string{streamSubprotocol}})
	if err != nil {
		// Accept has answered the client already.
		s.cfg.Logger.Info("websocket accept failed", "error", err.Error())
		return nil
	}
	// A message larger than this is refused (close 1009); a frame header
	// announcing more is refused at once by the guard (see wsguard.go).
	c.SetReadLimit(s.cfg.MaxUploadBytes)
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()

	// closing is closed when the server drains (RunDrain). The reader has
	// a context of its own because cancelling a Read's context kills the
	// connection at once, and on shutdown we want a proper close handshake
	// instead.
	ctx := r.Context()
	closing := streamsClosing(ctx)
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	gone := make(chan struct{}) // closed when the client has gone
	box := &mailbox{ready: make(chan struct{}, 1)}
	fopt.Live = true
	opt := streamOptions{model: m, frame: fopt}

	// The reader takes every message as it arrives so that frames never
	// pile up in the socket. A client silent for StreamIdleTimeout, or
	// slower than StreamMessageTimeout to send one message, is cut off.
	go func() {
		defer close(gone)
		for {
			typ, data, err := s.readMessage(readCtx, c)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					s.cfg.Logger.Info("stream closed", "error", err.Error())
				}
				return
			}
			if typ == websocket.MessageBinary {
				if box.put(data, opt) {
					s.metrics.dropped.Inc()
				}
				continue
			}
			next, err := s.applyControl(opt, data)
			if err != nil {
				s.writeReply(ctx, c, StreamReply{Type: "error", Error: err.Error()})
				continue
			}
			opt = next
		}
	}()

	for {
		select {
		case <-closing:
			c.Close(websocket.StatusGoingAway, "server shutting down")
			return nil
		case <-ctx.Done():
			c.CloseNow()
			return nil
		case <-gone:
			c.CloseNow()
			return nil
		case <-box.ready:
		}
		data, o, seq, dropped := box.take()
		if data == nil {
			continue
		}
		t0 := time.Now()
		reply := StreamReply{Type: "result", Frame: seq, Dropped: dropped}
		fctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		res, err := s.predictBytes(fctx, o.model, data, o.frame)
		cancel()
		if err != nil {
			reply.Type, reply.Error = "error", err.Error()
		} else {
			res.Timings.Total = ms(time.Since(t0))
			reply.Result = res
			s.metrics.observeFrame(o.model.Name, "stream", res)
		}
		if err := s.writeReply(ctx, c, reply); err != nil {
			return nil
		}
	}
}

// readMessage reads the next message: its header must arrive within
// StreamIdleTimeout, and the rest of it within StreamMessageTimeout
// after. Either failing closes the connection.
func (s *Server) readMessage(ctx context.Context, c *websocket.Conn) (websocket.MessageType, []byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(s.cfg.StreamIdleTimeout, cancel)
	defer timer.Stop()
	typ, rd, err := c.Reader(ctx)
	if err != nil {
		if ctx.Err() != nil && !timer.Stop() {
			return 0, nil, fmt.Errorf("stream idle for %v: %w", s.cfg.StreamIdleTimeout, err)
		}
		return 0, nil, err
	}
	if !timer.Stop() {
		return 0, nil, fmt.Errorf("stream idle for %v", s.cfg.StreamIdleTimeout)
	}
	timer.Reset(s.cfg.StreamMessageTimeout)
	data, err := io.ReadAll(rd)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, fmt.Errorf("stream message not received within %v: %w", s.cfg.StreamMessageTimeout, err)
		}
		return 0, nil, err
	}
	return typ, data, nil
}

// applyControl returns opt changed by a StreamControl message.
func (s *Server) applyControl(opt streamOptions, data []byte) (streamOptions, error) {
	var ctl StreamControl
	if err := json.Unmarshal(data, &ctl); err != nil {
		return opt, fmt.Errorf("control message %.80q: %v", data, err)
	}
	if ctl.Model != "" {
		m, err := s.Model(ctl.Model)
		if err != nil {
			return opt, err
		}
		opt.model = m
	}
	if ctl.Faces != nil {
		opt.frame.Faces = *ctl.Faces
	}
	if ctl.Hands != nil {
		opt.frame.Hands = nil
		if *ctl.Hands {
			opt.frame.Hands = s.hands
		}
	}
	if ctl.Align != nil {
		opt.frame.NoAlign = !*ctl.Align
	}
	switch {
	case len(ctl.ROI) == 0: // absent: keep
	case string(ctl.ROI) == "null":
		opt.frame.ROI = image.Rectangle{}
	default:
		var b Box
		if err := json.Unmarshal(ctl.ROI, &b); err != nil {
			return opt, fmt.Errorf("control message: roi %.80s: %v", ctl.ROI, err)
		}
		for i, v := range [4]int{b.X, b.Y, b.W, b.H} {
			if err := checkCoord(roiNames[i], int64(v)); err != nil {
				return opt, fmt.Errorf("control message: roi %.80s: %v", ctl.ROI, err)
			}
		}
		opt.frame.ROI = b.Rect()
		if ctl.Faces == nil {
			opt.frame.Faces = false // a region is classified without detection
		}
	}
	if opt.frame.Hands != nil && !opt.frame.ROI.Empty() {
		return opt, fmt.Errorf("control message %.80q: hands=true with a roi set: a region is classified without hand detection; send \"roi\":null or \"hands\":false", data)
	}
	if opt.frame.Faces && !opt.frame.ROI.Empty() {
		return opt, fmt.Errorf("control message %.80q: faces=true with a roi set: a region is classified without face detection; send \"roi\":null or \"faces\":false", data)
	}
	return opt, nil
}

func (s *Server) writeReply(ctx context.Context, c *websocket.Conn, reply StreamReply) error {
	b, err := json.Marshal(reply)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Write(wctx, websocket.MessageText, b); err != nil && !errors.Is(err, context.Canceled) {
		s.cfg.Logger.Info("stream write failed", "error", err.Error())
		return err
	}
	return nil
}
