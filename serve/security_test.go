package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// runServer runs s with Run on a fresh 127.0.0.1 port until the test
// ends; it returns the host:port.
func runServer(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunDrain(ctx, ln, Drain{Grace: 2 * time.Second}); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return ln.Addr().String()
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := New(cfg, newEmotionModel(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends a request and returns the status, the JSON error (if any) and
// the response.
func do(t *testing.T, c *http.Client, method, url string, hdr map[string]string, body []byte) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error, resp
}

func TestToken(t *testing.T) {
	s := newServer(t, Config{Token: "s3cret"})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	good := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	for _, tc := range []struct {
		path, auth string
		status     int
	}{
		{"/v1/models", "", 401},
		{"/v1/models", "Bearer wrong", 401},
		{"/v1/models", "Bearer s3cre", 401},
		{"/v1/models", "Basic czNjcmV0", 401},
		{"/v1/models", "Bearer s3cret", 200},
		{"/v1/models", "bearer s3cret", 200},
		{"/metrics", "", 401},
		{"/metrics", "Bearer s3cret", 200},
		{"/healthz", "", 200},
		{"/", "", 200},
		{"/app.js", "", 200},
	} {
		hdr := map[string]string{}
		if tc.auth != "" {
			hdr["Authorization"] = tc.auth
		}
		status, msg, resp := do(t, nil, "GET", ts.URL+tc.path, hdr, nil)
		if status != tc.status {
			t.Errorf("GET %s with %q: status %d (%s), want %d", tc.path, tc.auth, status, msg, tc.status)
		}
		if status == 401 && (!strings.Contains(msg, "Authorization: Bearer") || resp.Header.Get("WWW-Authenticate") == "") {
			t.Errorf("GET %s: 401 with %q and WWW-Authenticate %q", tc.path, msg, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if status, msg, _ := do(t, nil, "POST", ts.URL+"/v1/predict?faces=false", map[string]string{"Content-Type": "image/jpeg"}, good); status != 401 {
		t.Errorf("predict without token: %d %s", status, msg)
	}
	if status, msg, _ := do(t, nil, "POST", ts.URL+"/v1/predict?faces=false", map[string]string{"Content-Type": "image/jpeg", "Authorization": "Bearer s3cret"}, good); status != 200 {
		t.Errorf("predict with token: %d %s", status, msg)
	}

	// The stream takes the token as a subprotocol, and selects "residual".
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, wsURL(ts.URL), &websocket.DialOptions{Subprotocols: []string{"residual"}})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("stream without token: %v (response %v)", err, resp)
	}
	_, resp, err = websocket.Dial(ctx, wsURL(ts.URL), &websocket.DialOptions{Subprotocols: []string{"residual", TokenSubprotocol("nope")}})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("stream with a wrong token: %v", err)
	}
	c, _, err := websocket.Dial(ctx, wsURL(ts.URL), &websocket.DialOptions{Subprotocols: []string{"residual", TokenSubprotocol("s3cret")}})
	if err != nil {
		t.Fatalf("stream with the token: %v", err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "residual" {
		t.Errorf("selected subprotocol %q, want residual (never the token)", c.Subprotocol())
	}
	send(t, c, websocket.MessageBinary, encodeJPEG(t, oneFaceFrameOrGray(t)))
	if r := readReply(t, c); r.Type != "result" {
		t.Errorf("stream reply %+v", r)
	}
}

// oneFaceFrameOrGray is a plain 64x64 frame (no shared photo needed).
func oneFaceFrameOrGray(t *testing.T) image.Image { return image.NewGray(image.Rect(0, 0, 64, 64)) }

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files and returns their paths and the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "residual test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := selfSigned(t, dir)
	s := newServer(t, Config{TLSCertFile: certFile, TLSKeyFile: keyFile})
	addr := runServer(t, s)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	status, msg, resp := do(t, client, "GET", "https://"+addr+"/healthz", nil, nil)
	if status != 200 || resp.TLS == nil {
		t.Fatalf("https /healthz: %d %s, TLS %v", status, msg, resp.TLS)
	}
	// Plain HTTP to the TLS port is refused by the TLS layer.
	if status, _, _ := do(t, nil, "GET", "http://"+addr+"/healthz", nil, nil); status != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: status %d, want 400", status)
	}
	// A client that does not trust the certificate fails.
	if _, err := http.Get("https://" + addr + "/healthz"); err == nil {
		t.Error("an untrusted self-signed certificate was accepted")
	}

	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TLSCertFile: certFile}, "both a certificate and a key"},
		{Config{TLSCertFile: filepath.Join(dir, "missing.pem"), TLSKeyFile: keyFile}, "missing.pem"},
		{Config{TLSCertFile: keyFile, TLSKeyFile: certFile}, "key.pem"},
	} {
		tc.cfg.Logger = quietLogger()
		if _, err := New(tc.cfg, newEmotionModel(t, 1)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

func TestHostAllowList(t *testing.T) {
	// Run on loopback without a list: the loopback names only.
	addr := runServer(t, newServer(t, Config{}))
	_, port, _ := net.SplitHostPort(addr)
	for host, want := range map[string]int{
		addr: 200, "localhost:" + port: 200, "LOCALHOST": 200, "app.localhost:" + port: 200, "127.0.0.2": 200, "[::1]:" + port: 200,
		"evil.example:" + port: 421, "evil.example": 421, "localhost.evil.example": 421, "192.168.1.10:" + port: 421,
	} {
		status, msg, _ := do(t, nil, "GET", "http://"+addr+"/v1/models", map[string]string{"Host": host}, nil)
		if status != want {
			t.Errorf("Host %q: status %d (%s), want %d", host, status, msg, want)
		}
		if status == 421 && !strings.Contains(msg, "--allowed-hosts") {
			t.Errorf("Host %q: message %q does not say what to do", host, msg)
		}
	}
	// An explicit list replaces the loopback names.
	s := newServer(t, Config{AllowedHosts: []string{"residual.example", "*.lab.example", "10.0.0.5"}})
	addr = runServer(t, s)
	for host, want := range map[string]int{
		"residual.example": 200, "residual.example:8080": 200, "cam.lab.example": 200, "10.0.0.5:80": 200,
		"localhost": 421, addr: 421, "lab.example": 421, "other.example": 421,
	} {
		if status, msg, _ := do(t, nil, "GET", "http://"+addr+"/v1/models", map[string]string{"Host": host}, nil); status != want {
			t.Errorf("list, Host %q: status %d (%s), want %d", host, status, msg, want)
		}
	}
	// Probes are answered whatever the Host.
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, msg, _ := do(t, nil, "GET", "http://"+addr+p, map[string]string{"Host": "10.1.2.3:8080"}, nil); status != 200 {
			t.Errorf("probe %s from another Host: %d %s", p, status, msg)
		}
	}
	if _, err := New(Config{AllowedHosts: []string{"http://x.example/"}}, newEmotionModel(t, 1)); err == nil || !strings.Contains(err.Error(), "http://x.example/") {
		t.Errorf("bad allowed host: %v", err)
	}
	// Handler without a list serves any Host (embedding: the caller decides).
	ts := httptest.NewServer(newServer(t, Config{}).Handler())
	defer ts.Close()
	if status, _, _ := do(t, nil, "GET", ts.URL+"/healthz", map[string]string{"Host": "any.example"}, nil); status != 200 {
		t.Errorf("Handler without a list: status %d", status)
	}
}

// TestSlowBodyCutOff: a body trickled in one byte every 2 s is cut off at
// ReadTimeout, and the server goes on serving.
func TestSlowBodyCutOff(t *testing.T) {
	addr := runServer(t, newServer(t, Config{ReadTimeout: time.Second}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/predict HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\n", addr)
	t0 := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		// The server answers (or closes) once the read deadline passes.
		_, _ = io.ReadAll(c)
		cut <- time.Since(t0)
	}()
	for i := 0; i < 5; i++ {
		if _, err := c.Write([]byte{0xFF}); err != nil {
			break
		}
		select {
		case d := <-cut:
			if d > 5*time.Second { // 1 s, plus room for a loaded machine
				t.Errorf("slow body cut off after %v, want about ReadTimeout (1s)", d)
			}
			if status, _, _ := do(t, nil, "GET", "http://"+addr+"/healthz", nil, nil); status != 200 {
				t.Errorf("after the slow body: status %d", status)
			}
			return
		case <-time.After(2 * time.Second):
		}
	}
	t.Fatalf("a body sent one byte every 2 s was still being read after %v", time.Since(t0))
}

// TestConnectionCap: with MaxConns 2, a third connection waits until one
// of the first two closes.
func TestConnectionCap(t *testing.T) {
	addr := runServer(t, newServer(t, Config{MaxConns: 2}))
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A request begun but not finished keeps the connection busy.
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n", addr)
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept both
	answered := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/healthz")
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case s := <-answered:
		t.Fatalf("a third connection was served (status %d) while 2 of MaxConns 2 were open", s)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case s := <-answered:
		if s != 200 {
			t.Errorf("third connection: status %d", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not served after one of the first two closed")
	}
}

func TestStreamCap(t *testing.T) {
	s := newServer(t, Config{MaxStreams: 2})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	a, b := dialStream(t, wsURL(ts.URL)), dialStream(t, wsURL(ts.URL))
	defer b.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, wsURL(ts.URL), nil)
	if err == nil || resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %v, response %+v; want 503 with Retry-After", err, resp)
	}
	a.Close(websocket.StatusNormalClosure, "")
	// The slot frees once the first stream's handler has returned.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := websocket.Dial(ctx, wsURL(ts.URL), nil)
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream slot after closing one: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wsHandshake opens a raw WebSocket connection to /v1/stream.
func wsHandshake(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /v1/stream HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}

// closedWithin reports how long the server took to end the connection (a
// close frame or EOF), or fails after limit.
func closedWithin(t *testing.T, c net.Conn, br *bufio.Reader, limit time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return b
}

// TestStreamHugeFrameHeader: a frame header announcing 2^63-1 bytes, then
// silence, is refused at once, long before the message deadline.
func TestStreamHugeFrameHeader(t *testing.T) {
	addr := runServer(t, newServer(t, Config{StreamMessageTimeout: time.Minute}))
	c, br := wsHandshake(t, addr)
	hdr := []byte{0x82, 0xFF} // FIN binary, masked, 64-bit length
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<63-1)
	hdr = append(hdr, 1, 2, 3, 4) // mask key
	if _, err := c.Write(hdr); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, c, br, 3*time.Second)
	// A frame just under the limit is fine, one just over is refused.
	for _, tc := range []struct {
		n    uint16
		open bool
	}{{1000, true}, {1001, false}} {
		g := &frameGuard{r: bytes.NewReader(append([]byte{0x82, 0xFE, byte(tc.n >> 8), byte(tc.n), 1, 2, 3, 4}, make([]byte, tc.n)...)), limit: 1000}
		b, err := io.ReadAll(g)
		if tc.open && (err != nil || len(b) != 8+int(tc.n)) {
			t.Errorf("%d-byte frame, limit 1000: %d bytes, %v", tc.n, len(b), err)
		}
		if !tc.open && (err == nil || !strings.Contains(err.Error(), "1001 bytes")) {
			t.Errorf("%d-byte frame, limit 1000: %v", tc.n, err)
		}
	}
}

// TestStreamTimeouts: an idle stream and a message that stops half-way
// are both cut off.
func TestStreamTimeouts(t *testing.T) {
	addr := runServer(t, newServer(t, Config{StreamIdleTimeout: 300 * time.Millisecond, StreamMessageTimeout: 300 * time.Millisecond}))
	t0 := time.Now()
	c, br := wsHandshake(t, addr)
	closedWithin(t, c, br, 3*time.Second)
	if d := time.Since(t0); d < 250*time.Millisecond {
		t.Errorf("idle stream closed after %v, before the idle timeout", d)
	}
	c, br = wsHandshake(t, addr)
	hdr := []byte{0x82, 0xFE, 0x03, 0xE8, 1, 2, 3, 4} // 1000 bytes announced
	c.Write(append(hdr, make([]byte, 10)...))         // 10 sent
	t0 = time.Now()
	closedWithin(t, c, br, 3*time.Second)
	if d := time.Since(t0); d < 250*time.Millisecond {
		t.Errorf("half-sent message cut after %v, before the message timeout", d)
	}
}

// bomb16 is a w x h 16-bit RGBA PNG of one flat colour: small on the wire,
// w*h*8 bytes decoded.
func bomb16(t testing.TB, w, h int) []byte {
	img := image.NewRGBA64(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 8 {
		copy(img.Pix[i:], []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xff, 0xff})
	}
	return encodePNG(t, img)
}

func TestDecodeLimitCountsBytes(t *testing.T) {
	s := newServer(t, Config{MaxImageBytes: 16 << 20, DecodeBudget: 16 << 20})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	bomb := bomb16(t, 1500, 1500) // 18 MB decoded + 2.25 MB gray: over 16 MiB
	status, msg, _ := do(t, nil, "POST", ts.URL+"/v1/predict?faces=false", map[string]string{"Content-Type": "image/png"}, bomb)
	if status != 413 || !strings.Contains(msg, "16-bit RGBA") || !strings.Contains(msg, "1500x1500") || !strings.Contains(msg, fmt.Sprint(16<<20)) {
		t.Errorf("%d-byte 16-bit PNG bomb: %d %q, want 413 naming its size, colour and the limit", len(bomb), status, msg)
	}
	// The same pixels in 8-bit gray fit (2.25 + 2.25 MB).
	gray := image.NewGray(image.Rect(0, 0, 1500, 1500))
	if status, msg, _ := do(t, nil, "POST", ts.URL+"/v1/predict?faces=false", map[string]string{"Content-Type": "image/png"}, encodePNG(t, gray)); status != 200 {
		t.Errorf("8-bit gray 1500x1500: %d %s", status, msg)
	}
	if b := metric(t, s, `residual_rejected_total{reason="too_large"}`); b != 1 {
		t.Errorf("rejected too_large = %v, want 1", b)
	}
}

func TestImageCost(t *testing.T) {
	px := int64(100 * 100)
	for _, tc := range []struct {
		name     string
		img      image.Image
		channels int
		want     int64
	}{
		{"gray", image.NewGray(image.Rect(0, 0, 100, 100)), 1, px + px},
		{"gray16", image.NewGray16(image.Rect(0, 0, 100, 100)), 1, 2*px + px},
		{"rgba", image.NewNRGBA(image.Rect(0, 0, 100, 100)), 3, 4*px + 4*px},
		{"rgba64", image.NewRGBA64(image.Rect(0, 0, 100, 100)), 1, 8*px + px},
		{"paletted", image.NewPaletted(image.Rect(0, 0, 100, 100), color.Palette{color.Black, color.White}), 1, px + px},
	} {
		data := encodePNG(t, tc.img)
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := imageCost(cfg, format, data, tc.channels); got != tc.want {
			t.Errorf("%s PNG (%s): cost %d, want %d", tc.name, colorName(cfg.ColorModel), got, tc.want)
		}
	}
	// Interlaced PNG: twice the decoded image.
	data := encodePNG(t, image.NewGray(image.Rect(0, 0, 100, 100)))
	data[28] = 1
	if !pngInterlaced(data) {
		t.Error("interlace flag not seen")
	}
	// Progressive JPEG: the coefficients too. Go encodes baseline only, so
	// the frame marker is rewritten (DecodeConfig reads SOF2 the same).
	jp := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 100, 100)))
	if jpegProgressive(jp) {
		t.Error("baseline JPEG seen as progressive")
	}
	i := bytes.Index(jp, []byte{0xFF, 0xC0})
	jp[i+1] = 0xC2
	cfg, format, err := image.DecodeConfig(bytes.NewReader(jp))
	if err != nil {
		t.Fatal(err)
	}
	if !jpegProgressive(jp) || imageCost(cfg, format, jp, 1) != px+4*px+px {
		t.Errorf("progressive gray JPEG: progressive %v, cost %d, want %d", jpegProgressive(jp), imageCost(cfg, format, jp, 1), px+4*px+px)
	}
}

// metric reads one series' value from the server's /metrics.
func metric(t *testing.T, s *Server, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, series+" "), &v)
			return v
		}
	}
	t.Fatalf("no series %s in /metrics", series)
	return 0
}

func TestGate(t *testing.T) {
	g := &gate{slots: 2, budget: 100, maxQueue: 2}
	ctx := context.Background()
	relA, err := g.acquire(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	// 60 + 50 > 100: B waits although a slot is free.
	bDone := make(chan func(), 1)
	go func() { r, _ := g.acquire(ctx, 50); bDone <- r }()
	waitFor(t, func() bool { _, q, _ := g.stats(); return q == 1 })
	// C (small) fits: it is not held behind B and takes the last slot.
	relC, err := g.acquire(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// D: no slot left, it queues; E finds the queue full: 503 at once.
	dDone := make(chan func(), 1)
	go func() { r, _ := g.acquire(ctx, 1); dDone <- r }()
	waitFor(t, func() bool { _, q, _ := g.stats(); return q == 2 })
	if _, err := g.acquire(ctx, 1); statusOf(err) != 503 {
		t.Fatalf("full queue: %v, want 503", err)
	}
	// A waiter whose deadline passes leaves the queue.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	g2 := &gate{slots: 1, budget: 10, maxQueue: 4}
	r2, _ := g2.acquire(ctx, 1)
	if _, err := g2.acquire(dctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline while queued: %v", err)
	}
	if _, q, _ := g2.stats(); q != 0 {
		t.Errorf("%d still queued after their deadline", q)
	}
	r2()
	// A leaves: B (the oldest, and it now fits) goes in; D still waits
	// for a slot.
	relA()
	relB := <-bDone
	if n, q, used := g.stats(); n != 2 || q != 1 || used != 51 {
		t.Errorf("after A left: in flight %d, queued %d, used %d; want 2, 1, 51", n, q, used)
	}
	relC()
	relD := <-dDone
	relB()
	relD()
	relD() // twice is harmless
	if n, q, used := g.stats(); n != 0 || q != 0 || used != 0 {
		t.Errorf("all released: in flight %d, queued %d, used %d", n, q, used)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBusyAnswers503: with every slot taken, one request waits in the
// queue, the next is answered 503 at once with Retry-After, and the
// waiting one gets 503 when its deadline passes; /metrics counts both.
func TestBusyAnswers503(t *testing.T) {
	s := newServer(t, Config{MaxInFlight: 1, MaxQueue: 1, RequestTimeout: 500 * time.Millisecond})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	release, err := s.gate.acquire(context.Background(), 1) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	good := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	hdr := map[string]string{"Content-Type": "image/jpeg"}
	type answer struct {
		status int
		msg    string
		retry  string
	}
	first := make(chan answer, 1)
	go func() {
		status, msg, resp := do(t, nil, "POST", ts.URL+"/v1/predict?faces=false", hdr, good)
		first <- answer{status, msg, resp.Header.Get("Retry-After")}
	}()
	waitFor(t, func() bool { return metric(t, s, "residual_queue_depth") == 1 })
	status, msg, resp := do(t, nil, "POST", ts.URL+"/v1/predict?faces=false", hdr, good)
	if status != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(msg, "busy") {
		t.Errorf("full queue: %d %q Retry-After %q, want 503 busy with Retry-After 1", status, msg, resp.Header.Get("Retry-After"))
	}
	a := <-first
	if a.status != 503 || a.retry != "1" || !strings.Contains(a.msg, "deadline of 500ms") {
		t.Errorf("queued past its deadline: %+v, want 503 naming the deadline", a)
	}
	if v := metric(t, s, "residual_inflight_requests"); v != 1 {
		t.Errorf("in flight %v, want 1", v)
	}
	release()
	if status, msg, _ := do(t, nil, "POST", ts.URL+"/v1/predict?faces=false", hdr, good); status != 200 {
		t.Errorf("after the slot is free: %d %s", status, msg)
	}
	for reason, want := range map[string]float64{"busy": 1, "deadline": 1} {
		if v := metric(t, s, `residual_rejected_total{reason="`+reason+`"}`); v != want {
			t.Errorf("rejected %s = %v, want %v", reason, v, want)
		}
	}
}

// TestPanicValueNotSent: a panic in a handler is logged, and the client
// sees only "internal error".
func TestPanicValueNotSent(t *testing.T) {
	var log bytes.Buffer
	s := newServer(t, Config{Logger: slogTo(&log)})
	h := s.instrument("test", "GET", func(http.ResponseWriter, *http.Request) error {
		panic("secret /home/user/path")
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") || !strings.Contains(rec.Body.String(), "internal error") {
		t.Errorf("panic answered %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(log.String(), "secret /home/user/path") {
		t.Errorf("panic value not logged: %q", log.String())
	}
}

// TestModelsShowNoPaths: /v1/models names the model file, not where it is.
func TestModelsShowNoPaths(t *testing.T) {
	m := newEmotionModel(t, 1)
	m.Source = filepath.Join(t.TempDir(), "models", "emotion-fer2013.residual")
	s, err := New(Config{Logger: quietLogger()}, m)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/models", nil))
	if body := rec.Body.String(); strings.Contains(body, filepath.Dir(m.Source)) || !strings.Contains(body, `"source":"emotion-fer2013.residual"`) {
		t.Errorf("/v1/models: %s", body)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestDecodeStopsAtDeadline: the decoder reads through the request's
// context, so a decode past the deadline stops within a buffer of input.
func TestDecodeStopsAtDeadline(t *testing.T) {
	bomb, err := PNGBomb(3000, 3000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	r := ctxReader{ctx, readerFunc(func(p []byte) (int, error) {
		n++
		if n == 3 {
			cancel() // mid-decode
		}
		k := copy(p, bomb)
		bomb = bomb[k:]
		if k == 0 {
			return 0, io.EOF
		}
		return k, nil
	})}
	if _, _, err := image.Decode(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("decode after cancel: %v, want context.Canceled", err)
	}
	if n > 4 {
		t.Errorf("the decoder read %d times, want it to stop right after the cancel", n)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestSlowAnswerNotCutByReadTimeout: ReadTimeout bounds reading the
// request, not the work after it: a request that waits longer than
// ReadTimeout for a slot is still answered.
func TestSlowAnswerNotCutByReadTimeout(t *testing.T) {
	s := newServer(t, Config{ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxInFlight: 1, RequestTimeout: 10 * time.Second})
	addr := runServer(t, s)
	release, err := s.gate.acquire(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(1500*time.Millisecond, release)
	good := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	t0 := time.Now()
	status, msg, _ := do(t, nil, "POST", "http://"+addr+"/v1/predict?faces=false", map[string]string{"Content-Type": "image/jpeg"}, good)
	if status != 200 || time.Since(t0) < time.Second {
		t.Errorf("status %d (%s) after %v, want 200 after the slot freed at 1.5 s", status, msg, time.Since(t0))
	}
}
