package serve

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func dialStream(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readReply(t *testing.T, c *websocket.Conn) StreamReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("reply of type %v, want text", typ)
	}
	var r StreamReply
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("reply %q: %v", data, err)
	}
	return r
}

func send(t *testing.T, c *websocket.Conn, typ websocket.MessageType, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, data); err != nil {
		t.Fatal(err)
	}
}

func wsURL(ts string) string { return "ws" + strings.TrimPrefix(ts, "http") + "/v1/stream" }

func TestStream(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	c := dialStream(t, wsURL(ts.URL))

	// A face photo: one face with 7 emotion probabilities.
	send(t, c, websocket.MessageBinary, readPhoto(t, "astronaut.png"))
	r := readReply(t, c)
	if r.Type != "result" || r.Frame != 1 || r.Result == nil || len(r.Result.Faces) != 1 {
		t.Fatalf("first reply %+v", r)
	}
	checkPrediction(t, r.Result.Faces[0], emotionClasses)

	// Garbage: an error reply, and the stream goes on.
	send(t, c, websocket.MessageBinary, []byte("not a jpeg"))
	if r := readReply(t, c); r.Type != "error" || r.Frame != 2 || !strings.Contains(r.Error, "not a JPEG or PNG") {
		t.Fatalf("garbage frame: reply %+v", r)
	}

	// An unknown model in a control message is refused; the options stay.
	send(t, c, websocket.MessageText, []byte(`{"model":"nope"}`))
	if r := readReply(t, c); r.Type != "error" || !strings.Contains(r.Error, `unknown model "nope"`) {
		t.Fatalf("unknown model: reply %+v", r)
	}
	send(t, c, websocket.MessageText, []byte(`{not json`))
	if r := readReply(t, c); r.Type != "error" || !strings.Contains(r.Error, "control message") {
		t.Fatalf("bad control: reply %+v", r)
	}

	// Switch to the gesture model with a region of interest.
	send(t, c, websocket.MessageText, []byte(`{"model":"gesture","faces":false,"roi":{"x":10,"y":20,"w":100,"h":100}}`))
	send(t, c, websocket.MessageBinary, encodeJPEG(t, image.NewRGBA(image.Rect(0, 0, 320, 240))))
	r = readReply(t, c)
	if r.Type != "result" || r.Result.Model != "gesture" || len(r.Result.Faces) != 1 || r.Result.Faces[0].Box != (Box{10, 20, 100, 100}) {
		t.Fatalf("gesture ROI reply %+v", r)
	}
	checkPrediction(t, r.Result.Faces[0], []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"})
}

// TestStreamLatestOnly sends a burst of frames faster than they can be
// processed: the server drops the waiting ones instead of queueing, every
// frame is either answered or counted as dropped, and the last frame is
// always answered.
func TestStreamLatestOnly(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	c := dialStream(t, wsURL(ts.URL))
	frame := readPhoto(t, "grace_hopper.jpg")
	const n = 12
	for i := 0; i < n; i++ {
		send(t, c, websocket.MessageBinary, frame)
	}
	answered := 0
	for {
		r := readReply(t, c)
		if r.Type != "result" {
			t.Fatalf("reply %+v", r)
		}
		answered++
		if r.Frame == n {
			if answered+r.Dropped != n {
				t.Errorf("%d answered + %d dropped != %d sent", answered, r.Dropped, n)
			}
			t.Logf("%d frames sent at once: %d answered, %d dropped", n, answered, r.Dropped)
			return
		}
		if answered > n {
			t.Fatal("more replies than frames")
		}
	}
}

func TestMailbox(t *testing.T) {
	b := &mailbox{ready: make(chan struct{}, 1)}
	if b.put([]byte("1"), streamOptions{}) {
		t.Error("first frame reported a drop")
	}
	if !b.put([]byte("2"), streamOptions{}) || !b.put([]byte("3"), streamOptions{}) {
		t.Error("replacing a waiting frame reported no drop")
	}
	data, _, seq, dropped := b.take()
	if string(data) != "3" || seq != 3 || dropped != 2 {
		t.Errorf("take = %q seq %d dropped %d, want the latest \"3\", 3, 2", data, seq, dropped)
	}
	if data, _, _, _ := b.take(); data != nil {
		t.Errorf("second take = %q, want nothing", data)
	}
}

func TestStreamNeedsUpgrade(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	var e map[string]string
	getJSON(t, ts.URL+"/v1/stream", http.StatusUpgradeRequired, &e)
	if !strings.Contains(e["error"], "WebSocket") {
		t.Errorf("error %q", e["error"])
	}
	getJSON(t, ts.URL+"/v1/stream?model=nope", http.StatusNotFound, &e)
}

// TestRunGracefulShutdown serves on a real listener, opens a stream, then
// cancels: Run returns without error and the stream is closed with
// "going away".
func TestRunGracefulShutdown(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	var h map[string]any
	getJSON(t, base+"/healthz", 200, &h)
	c := dialStream(t, wsURL(base))

	cancel()
	// Reading answers the server's close handshake, which Run waits for.
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_, _, err = c.Read(rctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
		t.Errorf("stream read after shutdown: %v, want close status going away", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}
