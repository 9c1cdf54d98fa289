package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// closingKey marks the context value of RunDrain's requests: a channel
// closed when streams are to end.
type closingKey struct{}

// streamsClosing is the channel closed when the server running the
// request wants its streams to end (nil, never closed, outside RunDrain).
func streamsClosing(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(closingKey{}).(<-chan struct{})
	return c
}

// Drain says how Run shuts down once its context ends.
type Drain struct {
	// Delay is how long the server goes on serving with /readyz answering
	// 503, so that load balancers and orchestrators stop sending before it
	// stops accepting (HAProxy: about check inter x fall; Kubernetes: the
	// readiness probe's period x failureThreshold). Zero stops at once.
	Delay time.Duration
	// Grace bounds the wait, after Delay, for requests in flight and for
	// open streams to end their close handshake. Past it the remaining
	// connections are cut and Run returns an error.
	Grace time.Duration
}

// DefaultDrain is Run's drain: no delay, 10 s grace.
var DefaultDrain = Drain{Delay: 0, Grace: 10 * time.Second}

// RunDrain serves on ln until ctx is done, then drains gracefully:
//
//  1. /readyz answers 503 (/healthz stays 200) and keep-alive is turned
//     off, while every request is still served, for d.Delay;
//  2. it stops accepting, closes open WebSocket streams with a close
//     handshake (1001 going away) and waits up to d.Grace for requests in
//     flight and streams to end;
//  3. it returns nil when all ended in time, else an error saying what
//     was cut.
func (s *Server) RunDrain(ctx context.Context, ln net.Listener, d Drain) error {
	if d.Delay < 0 || d.Grace < 0 {
		return fmt.Errorf("serve: drain delay %v and grace %v must not be negative", d.Delay, d.Grace)
	}
	// Requests keep a live context through the drain; streams watch
	// closing (see streamsClosing) to end with a close handshake.
	closing := make(chan struct{})
	closeStreams := sync.OnceFunc(func() { close(closing) })
	defer closeStreams()
	hs, ln := s.httpServer(context.WithValue(context.Background(), closingKey{}, (<-chan struct{})(closing)), ln)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	s.draining.Store(true)
	hs.SetKeepAlivesEnabled(false) // answers say Connection: close, idle connections close
	s.cfg.Logger.Info("draining: /readyz answers 503, still serving", "delay", d.Delay, "grace", d.Grace)
	select {
	case <-time.After(d.Delay):
	case err := <-errc:
		return err
	}

	s.cfg.Logger.Info("draining: stopped accepting; closing streams and waiting for requests in flight", "grace", d.Grace)
	sctx, cancel := context.WithTimeout(context.Background(), d.Grace)
	defer cancel()
	closeStreams() // WebSocket handlers close politely
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		<-errc
		return fmt.Errorf("serve: drain: requests still in flight after the %v grace were cut: %w", d.Grace, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Shutdown has seen every connection idle, so no stream starts now.
	streamsDone := make(chan struct{})
	go func() { s.streams.Wait(); close(streamsDone) }()
	select {
	case <-streamsDone:
		return nil
	default:
	}
	select {
	case <-streamsDone:
		return nil
	case <-sctx.Done():
		return fmt.Errorf("serve: drain: WebSocket streams still closing after the %v grace were cut", d.Grace)
	}
}

// handleReady is readiness: 200 while the server takes new work, 503 from
// the start of a graceful drain (see RunDrain) so that load balancers send
// elsewhere.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": len(s.names)})
	return nil
}
