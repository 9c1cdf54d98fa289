package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// startSlowPost sends the headers and half the body of a POST /v1/predict
// over a raw connection: a request in flight until finish sends the rest
// and returns the status line and headers of the answer.
func startSlowPost(t *testing.T, addr string, body []byte) (finish func() (string, error)) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v1/predict?faces=false HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", addr, len(body))
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	return func() (string, error) {
		if _, err := conn.Write(body[half:]); err != nil {
			return "", err
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		var head strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return head.String(), err
			}
			if line == "\r\n" {
				return head.String(), nil
			}
			head.WriteString(line)
		}
	}
}

func status(t *testing.T, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRunDrain follows a drain step by step: readiness turns 503 while
// liveness and the API still answer; after the delay the listener is
// closed, a request in flight still completes with 200, the open stream
// is closed with 1001 going away, and RunDrain returns nil.
func TestRunDrain(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const delay = time.Second
	done := make(chan error, 1)
	go func() { done <- s.RunDrain(ctx, ln, Drain{Delay: delay, Grace: 10 * time.Second}) }()

	if got := status(t, "GET", base+"/readyz"); got != 200 {
		t.Fatalf("GET /readyz before the drain: %d, want 200", got)
	}
	jpg := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 48, 48)))
	finish := startSlowPost(t, addr, jpg)
	stream := dialStream(t, wsURL(base))

	t0 := time.Now()
	cancel()
	if got := status(t, "GET", base+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz once draining: %d, want 503", got)
	}
	if got := status(t, "GET", base+"/healthz"); got != 200 {
		t.Errorf("GET /healthz while draining: %d, want 200 (liveness)", got)
	}
	if code, b := post(t, base+"/v1/predict?faces=false", "image/jpeg", jpg); code != 200 {
		t.Errorf("POST /v1/predict during the drain delay: %d %s, want 200", code, b)
	}
	if time.Since(t0) > delay {
		t.Fatalf("the checks during the delay took %v, more than the %v delay: machine too slow for this test", time.Since(t0), delay)
	}

	// Past the delay: the listener closes while the slow request is in flight.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 5 s after the drain started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if time.Since(t0) < delay {
		t.Errorf("stopped accepting after %v, before the %v delay", time.Since(t0), delay)
	}
	select {
	case err := <-done:
		t.Fatalf("RunDrain returned (%v) with a request in flight", err)
	default:
	}
	head, err := finish()
	if err != nil || !strings.HasPrefix(head, "HTTP/1.1 200") {
		t.Errorf("request in flight during the drain: %q, %v; want 200", head, err)
	}
	if !strings.Contains(strings.ToLower(head), "connection: close") {
		t.Errorf("answer during the drain lacks Connection: close: %q", head)
	}

	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_, _, err = stream.Read(rctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
		t.Errorf("stream read during the drain: %v, want close status 1001 going away", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunDrain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunDrain did not return after its requests ended")
	}
}

// TestRunDrainGraceCut: a request that does not finish within the grace
// is cut and RunDrain says so.
func TestRunDrainGraceCut(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunDrain(ctx, ln, Drain{Delay: 0, Grace: 200 * time.Millisecond}) }()
	startSlowPost(t, ln.Addr().String(), encodeJPEG(t, image.NewGray(image.Rect(0, 0, 48, 48))))
	time.Sleep(50 * time.Millisecond) // let the server read the headers
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "200ms grace") {
			t.Errorf("RunDrain with a request stuck past the grace: %v, want an error naming the 200ms grace", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunDrain did not return after its grace")
	}
}

func TestRunDrainRejectsNegative(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = s.RunDrain(context.Background(), ln, Drain{Delay: -time.Second, Grace: time.Second})
	if err == nil || !strings.Contains(err.Error(), "-1s") {
		t.Errorf("RunDrain with a negative delay: %v, want an error naming -1s", err)
	}
}
