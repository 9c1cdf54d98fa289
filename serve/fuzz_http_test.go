package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"image"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/vision"
)

// fuzzServer is a server cheap enough per input: a tiny network, small
// uploads and images (the work a request can ask for is bounded by the
// limits, not by the fuzzer's luck).
func fuzzServer(t testing.TB) *Server {
	net, err := model.New(model.Config{Layers: []int{1}, Widths: []int{4}, Input: [3]int{48, 48, 1}, Classes: 7}, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel("emotion", net, emotionClasses, vision.DefaultFER(), "tiny fuzz net", 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Logger: quietLogger(), MaxUploadBytes: 64 << 10, MaxPixels: 256 * 256, MaxImageBytes: 1 << 20, DecodeBudget: 4 << 20,
		RequestTimeout: 5 * time.Second, Token: "fuzz"}, m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzHTTPRequest feeds raw request bytes to the server's handler: no
// input panics or gets a 5xx, and every error is a JSON object with a
// message.
func FuzzHTTPRequest(f *testing.F) {
	jpg := encodeJPEG(f, image.NewGray(image.Rect(0, 0, 32, 32)))
	pngb := encodePNG(f, image.NewGray(image.Rect(0, 0, 16, 16)))
	req := func(method, target string, hdr string, body []byte) []byte {
		return append([]byte(method+" "+target+" HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer fuzz\r\n"+hdr+"\r\n"), body...)
	}
	f.Add(req("POST", "/v1/predict?faces=false", "Content-Type: image/jpeg\r\n", jpg))
	f.Add(req("POST", "/v1/predict?faces=false&roi=1,2,3,4", "Content-Type: image/png\r\n", pngb))
	f.Add(req("POST", "/v1/predict", "Content-Type: image/png\r\n", pngb))
	f.Add(req("POST", "/v1/predict?roi=9223372036854775807,0,9223372036854775807,10", "Content-Type: image/jpeg\r\n", jpg))
	f.Add(req("POST", "/v1/predict", "Content-Type: multipart/form-data; boundary=b\r\n", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nxx\r\n--b--\r\n")))
	f.Add(req("GET", "/v1/models", "", nil))
	f.Add(req("GET", "/v1/stream?model=x", "Upgrade: websocket\r\nConnection: Upgrade\r\n", nil))
	f.Add(req("GET", "/metrics", "", nil))
	f.Add(req("GET", "/../../etc/passwd", "", nil))
	f.Add(req("POST", "/v1/predict", "Content-Type: image/png\r\n", hugePNG(20000, 20000)))
	s := fuzzServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http refuses it before any handler
		}
		if r.Header.Get("Upgrade") != "" {
			r.Header.Del("Upgrade") // a recorder cannot be hijacked
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %q: %s", rec.Code, raw, rec.Body.Bytes())
		}
		if rec.Code >= 400 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("status %d with body %q: want {\"error\": ...}", rec.Code, rec.Body.Bytes())
			}
		}
	})
}

// streamMessages splits fuzz bytes into WebSocket messages: a type byte
// (even: text, odd: binary), a 2-byte length, the payload.
func streamMessages(data []byte) (msgs []struct {
	typ websocket.MessageType
	b   []byte
}) {
	for len(data) >= 3 && len(msgs) < 16 {
		typ := websocket.MessageText
		if data[0]&1 == 1 {
			typ = websocket.MessageBinary
		}
		n := int(binary.BigEndian.Uint16(data[1:3]))
		data = data[3:]
		n = min(n, len(data))
		msgs = append(msgs, struct {
			typ websocket.MessageType
			b   []byte
		}{typ, data[:n]})
		data = data[n:]
	}
	return msgs
}

func streamSeed(parts ...any) []byte {
	var b []byte
	for i := 0; i+1 < len(parts); i += 2 {
		typ, payload := parts[i].(int), parts[i+1].([]byte)
		b = append(b, byte(typ))
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
		b = append(b, payload...)
	}
	return b
}

// FuzzStreamLoop runs the WebSocket message loop on fuzzed messages
// (controls and frames): the stream never breaks, and it still answers a
// good frame afterwards.
func FuzzStreamLoop(f *testing.F) {
	jpg := encodeJPEG(f, image.NewGray(image.Rect(0, 0, 32, 32)))
	f.Add(streamSeed(0, []byte(`{"faces":false}`), 1, jpg))
	f.Add(streamSeed(0, []byte(`{"roi":{"x":1,"y":1,"w":8,"h":8}}`), 1, jpg, 1, jpg))
	f.Add(streamSeed(0, []byte(`{"faces":true,"roi":{"x":1,"y":1,"w":8,"h":8}}`), 0, []byte(`{"roi":null}`)))
	f.Add(streamSeed(0, []byte(`{"roi":{"x":9223372036854775807,"y":0,"w":9223372036854775807,"h":1}}`)))
	f.Add(streamSeed(1, []byte("garbage"), 0, []byte("[")))
	f.Add(streamSeed(1, hugePNG(20000, 20000)))
	s := fuzzServer(f)
	ts := httptest.NewServer(s.Handler())
	f.Cleanup(ts.Close)
	url := wsURL(ts.URL)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"residual", TokenSubprotocol("fuzz")}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		frames := 0
		for _, m := range streamMessages(data) {
			if err := c.Write(ctx, m.typ, m.b); err != nil {
				t.Fatalf("write: %v", err)
			}
			if m.typ == websocket.MessageBinary {
				frames++
			}
		}
		// Back to a known state, then one good frame: its result must come.
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"model":"emotion","faces":false,"roi":null}`)); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageBinary, jpg); err != nil {
			t.Fatal(err)
		}
		frames++
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("stream broke after %q: %v", data, err)
			}
			var r StreamReply
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("reply %q: %v", b, err)
			}
			if r.Frame == frames {
				if r.Type != "result" {
					t.Fatalf("good last frame answered %+v", r)
				}
				return
			}
		}
	})
}

// FuzzFrameGuard: any byte stream passes the guard unchanged up to where
// it stops, and the guard never panics.
func FuzzFrameGuard(f *testing.F) {
	f.Add([]byte{0x82, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}, int64(10))
	f.Add(binary.BigEndian.AppendUint64([]byte{0x82, 0xFF}, 1<<63), int64(100))
	f.Add([]byte{0x81, 0xFE, 0x03, 0xE8}, int64(999))
	f.Fuzz(func(t *testing.T, data []byte, limit int64) {
		g := &frameGuard{r: bytes.NewReader(data), limit: limit}
		var out []byte
		buf := make([]byte, 7)
		for i := 0; i < 1<<20; i++ {
			n, err := g.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
			if n == 0 && len(out) == len(data) {
				break
			}
		}
		if !bytes.HasPrefix(data, out) {
			t.Fatalf("guard changed the stream: %x -> %x", data, out)
		}
	})
}
