package serve

// The catalogue of bad HTTP and WebSocket inputs (issue 12's acceptance,
// the server's half; the CLI's half is in cmd/residual): each must get
// its status code and a message naming the problem, and the server must
// still answer a good request afterwards.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const catalogueToken = "catalogue-token"

// multipartBody is a multipart/form-data body with one field.
func multipartBody(field, filename string, data []byte) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if filename != "" {
		fw, _ := mw.CreateFormFile(field, filename)
		fw.Write(data)
	} else {
		mw.WriteField(field, string(data))
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// pngWithBadCRC is a 16x16 gray PNG whose IHDR checksum is wrong.
func pngWithBadCRC(t *testing.T) []byte {
	b := encodePNG(t, image.NewGray(image.Rect(0, 0, 16, 16)))
	b[29] ^= 0xFF // first CRC byte of IHDR (8 signature + 8 length/type + 13 data)
	return b
}

// zeroSizePNG is a PNG header for a 0x0 image.
func zeroSizePNG() []byte { return hugePNG(0, 0) }

// gifImage is a tiny GIF (no GIF decoder is registered: not an image).
var gifImage = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// pngIHDR is a PNG signature and a valid IHDR with the given fields.
func pngIHDR(w, h uint32, depth, colorType byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colorType
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

type catalogueCase struct {
	name    string
	method  string
	target  string            // path and query
	hdr     map[string]string // "Authorization" defaults to the token; "" removes it
	body    []byte
	chunked bool // send without Content-Length
	status  int
	msg     string // part of the answer's body
}

func TestCatalogueHTTP(t *testing.T) {
	s := newServer(t, Config{MaxUploadBytes: 200_000, MaxImageBytes: 16 << 20, DecodeBudget: 32 << 20, Token: catalogueToken})
	addr := runServer(t, s)
	base := "http://" + addr

	good := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	big := make([]byte, 300_000)
	copy(big, good)
	noisy := image.NewGray(image.Rect(0, 0, 128, 128))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(i * 7919 % 256)
	}
	truncated := encodeJPEG(t, noisy)
	truncated = truncated[:len(truncated)/2]
	mpNoFile, mpNoFileBody := multipartBody("image", "", []byte("not here"))
	mpBig, mpBigBody := multipartBody("file", "big.jpg", big)
	bomb := bomb16(t, 1500, 1500)
	jpegHeaderOnly := good[:bytes.Index(good, []byte{0xFF, 0xDA})] // up to the first scan
	img := map[string]string{"Content-Type": "image/jpeg"}
	png := map[string]string{"Content-Type": "image/png"}
	noAuth := map[string]string{"Content-Type": "image/jpeg", "Authorization": ""}
	ws := map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
	predict := "/v1/predict?faces=false"

	cases := []catalogueCase{
		// Bodies.
		{"empty body", "POST", predict, img, nil, false, 400, "empty image"},
		{"text/plain body", "POST", predict, map[string]string{"Content-Type": "text/plain"}, good, false, 415, `"text/plain"`},
		{"JSON body", "POST", predict, map[string]string{"Content-Type": "application/json"}, []byte(`{"image":1}`), false, 415, "application/json"},
		{"multipart/mixed body", "POST", predict, map[string]string{"Content-Type": "multipart/mixed; boundary=x"}, good, false, 415, "multipart/mixed"},
		{"malformed Content-Type", "POST", predict, map[string]string{"Content-Type": "image/jpeg; ==="}, good, false, 415, "Content-Type"},
		{"truncated JPEG", "POST", predict, img, truncated, false, 400, "decoding"},
		{"JPEG header without scan", "POST", predict, img, jpegHeaderOnly, false, 400, "unexpected EOF"},
		{"text, not an image", "POST", predict, map[string]string{"Content-Type": "application/octet-stream"}, []byte("hello, this is not an image at all"), false, 400, "not a JPEG or PNG"},
		{"GIF image", "POST", predict, map[string]string{"Content-Type": "application/octet-stream"}, gifImage, false, 400, "not a JPEG or PNG"},
		{"BMP image", "POST", predict, map[string]string{"Content-Type": "application/octet-stream"}, append([]byte("BM"), make([]byte, 60)...), false, 400, "not a JPEG or PNG"},
		{"PNG with a bad checksum", "POST", predict, png, pngWithBadCRC(t), false, 400, "checksum"},
		{"PNG of 0x0 pixels", "POST", predict, png, zeroSizePNG(), false, 400, "not a JPEG or PNG"},
		{"PNG with bit depth 3", "POST", predict, png, pngIHDR(16, 16, 3, 0), false, 400, "not a JPEG or PNG"},
		{"PNG header only", "POST", predict, png, pngIHDR(16, 16, 8, 0), false, 400, "decoding"},
		{"20000x20000 PNG header", "POST", predict, png, hugePNG(20000, 20000), false, 413, "20000x20000"},
		{"20000x20000 JPEG header", "POST", predict, img, hugeJPEG(t, 20000, 20000), false, 413, "20000x20000"},
		{"4294967295-wide PNG header", "POST", predict, png, hugePNG(1<<32-1, 1), false, 400, "not a JPEG or PNG"},
		{"16-bit RGBA PNG bomb", "POST", predict, png, bomb, false, 413, "needs 20250000 bytes to decode"},
		{"upload over the limit", "POST", predict, img, big, false, 413, "limit of 200000 bytes"},
		{"chunked upload over the limit", "POST", predict, img, big, true, 413, "limit of 200000 bytes"},
		{"multipart upload over the limit", "POST", predict, map[string]string{"Content-Type": mpBig}, mpBigBody, false, 413, "limit"},
		{"multipart without a file field", "POST", predict, map[string]string{"Content-Type": mpNoFile}, mpNoFileBody, false, 400, `no "file" field`},
		{"multipart without a boundary", "POST", predict, map[string]string{"Content-Type": "multipart/form-data"}, mpNoFileBody, false, 400, "without a boundary"},
		{"multipart with a wrong boundary", "POST", predict, map[string]string{"Content-Type": "multipart/form-data; boundary=nope"}, mpNoFileBody, false, 400, "multipart"},

		// Query parameters.
		{"unknown model", "POST", "/v1/predict?model=nope", img, good, false, 404, `unknown model "nope"`},
		{"model given twice", "POST", "/v1/predict?model=emotion&model=gesture", img, good, false, 400, "model given 2 times"},
		{"faces=maybe", "POST", "/v1/predict?faces=maybe", img, good, false, 400, `faces="maybe"`},
		{"faces=2", "POST", "/v1/predict?faces=2", img, good, false, 400, `faces="2"`},
		{"faces given twice", "POST", "/v1/predict?faces=true&faces=false", img, good, false, 400, "faces given 2 times"},
		{"roi with 3 values", "POST", "/v1/predict?faces=false&roi=1,2,3", img, good, false, 400, "got 3 values"},
		{"roi with 5 values", "POST", "/v1/predict?faces=false&roi=1,2,3,4,5", img, good, false, 400, "got 5 values"},
		{"roi empty value", "POST", "/v1/predict?faces=false&roi=1,,3,4", img, good, false, 400, `y="" is not an integer`},
		{"roi not numbers", "POST", "/v1/predict?faces=false&roi=a,b,c,d", img, good, false, 400, `x="a" is not an integer`},
		{"roi float", "POST", "/v1/predict?faces=false&roi=0,0,1.5,10", img, good, false, 400, `w="1.5" is not an integer`},
		{"roi hexadecimal", "POST", "/v1/predict?faces=false&roi=0x10,0,10,10", img, good, false, 400, `x="0x10" is not an integer`},
		{"roi int64 overflow", "POST", "/v1/predict?faces=false&roi=9223372036854775807,0,9223372036854775807,10", img, good, false, 400, "x=9223372036854775807 is out of range [0, 1048576]"},
		{"roi beyond int64", "POST", "/v1/predict?faces=false&roi=0,99999999999999999999,10,10", img, good, false, 400, "y=99999999999999999999 is out of range"},
		{"roi negative x", "POST", "/v1/predict?faces=false&roi=-5,0,10,10", img, good, false, 400, "x=-5 is out of range"},
		{"roi zero width", "POST", "/v1/predict?faces=false&roi=0,0,0,10", img, good, false, 400, "w=0 is out of range [1, 1048576]"},
		{"roi negative height", "POST", "/v1/predict?faces=false&roi=0,0,10,-10", img, good, false, 400, "h=-10 is out of range"},
		{"roi too wide", "POST", "/v1/predict?faces=false&roi=0,0,2000000,10", img, good, false, 400, "w=2000000 is out of range"},
		{"roi with faces=true", "POST", "/v1/predict?faces=true&roi=0,0,10,10", img, good, false, 400, "with faces=true"},
		{"hands=sometimes", "POST", "/v1/predict?hands=sometimes", img, good, false, 400, `hands="sometimes"`},
		{"align=7", "POST", "/v1/predict?align=7", img, good, false, 400, `align="7"`},
		{"roi with hands=true", "POST", "/v1/predict?hands=true&roi=0,0,10,10", img, good, false, 400, "roi with hands=true"},
		{"hands given twice", "POST", "/v1/predict?hands=true&hands=false", img, good, false, 400, "hands given 2 times"},
		{"roi given twice", "POST", "/v1/predict?roi=0,0,10,10&roi=1,1,5,5", img, good, false, 400, "roi given 2 times"},
		{"roi outside the image", "POST", "/v1/predict?faces=false&roi=500,500,10,10", img, good, false, 400, "outside the 64x64 frame"},
		{"malformed query escape", "POST", "/v1/predict?roi=%zz", img, good, false, 400, "invalid URL escape"},
		{"semicolon in query", "POST", "/v1/predict?faces=false;roi=1,2,3,4", img, good, false, 400, "semicolon"},

		// Methods and paths.
		{"GET /v1/predict", "GET", "/v1/predict", nil, nil, false, 405, "use POST"},
		{"PUT /v1/predict", "PUT", predict, img, good, false, 405, "use POST"},
		{"DELETE /v1/models", "DELETE", "/v1/models", nil, nil, false, 405, "use GET"},
		{"POST /v1/models", "POST", "/v1/models", img, good, false, 405, "use GET"},
		{"POST /healthz", "POST", "/healthz", nil, nil, false, 405, "use GET"},
		{"unknown path", "GET", "/nowhere", nil, nil, false, 404, "no such page"},
		{"unknown API path", "GET", "/v1/nothing", nil, nil, false, 404, "no such page"},
		{"encoded traversal", "GET", "/%2e%2e/go.mod", nil, nil, false, 404, "no such page"},
		{"stream without upgrade", "GET", "/v1/stream", nil, nil, false, 426, "WebSocket endpoint"},
		{"stream, unknown model", "GET", "/v1/stream?model=nope", ws, nil, false, 404, `unknown model "nope"`},
		{"stream, bad roi", "GET", "/v1/stream?roi=0,0,0,0", ws, nil, false, 400, "w=0 is out of range"},
		{"stream, roi with faces=true", "GET", "/v1/stream?faces=true&roi=0,0,9,9", ws, nil, false, 400, "with faces=true"},
		{"stream, wrong WebSocket version", "GET", "/v1/stream", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, nil, false, 400, "version"},

		// Access.
		{"predict without token", "POST", predict, noAuth, good, false, 401, "missing or wrong token"},
		{"predict with a wrong token", "POST", predict, map[string]string{"Content-Type": "image/jpeg", "Authorization": "Bearer wrong"}, good, false, 401, "missing or wrong token"},
		{"predict with Basic auth", "POST", predict, map[string]string{"Content-Type": "image/jpeg", "Authorization": "Basic Y2F0YWxvZ3VlLXRva2Vu"}, good, false, 401, "Authorization: Bearer"},
		{"models without token", "GET", "/v1/models", map[string]string{"Authorization": ""}, nil, false, 401, "missing or wrong token"},
		{"metrics without token", "GET", "/metrics", map[string]string{"Authorization": ""}, nil, false, 401, "missing or wrong token"},
		{"stream without token", "GET", "/v1/stream", map[string]string{"Authorization": "", "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, nil, false, 401, "subprotocols"},
		{"stream with a malformed token subprotocol", "GET", "/v1/stream", map[string]string{"Authorization": "", "Sec-WebSocket-Protocol": "residual, bearer.!!!", "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, nil, false, 401, "missing or wrong token"},
		{"DNS-rebinding Host", "GET", "/v1/models", map[string]string{"Host": "attacker.example"}, nil, false, 421, `Host "attacker.example" is not served here`},
		{"private IP Host", "GET", "/v1/models", map[string]string{"Host": "192.168.0.7:8080"}, nil, false, 421, "is not served here"},
	}
	if len(cases) < 45 {
		t.Fatalf("the catalogue has %d HTTP cases, want at least 45", len(cases))
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(bytes.NewReader(tc.body)) // unknown length: chunked
			}
			req, err := http.NewRequest(tc.method, base+tc.target, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+catalogueToken)
			for k, v := range tc.hdr {
				switch {
				case k == "Host":
					req.Host = v
				case v == "":
					req.Header.Del(k)
				default:
					req.Header.Set(k, v)
				}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			text := string(b)
			var e struct{ Error string }
			if json.Unmarshal(b, &e) == nil && e.Error != "" {
				text = e.Error
			}
			if resp.StatusCode != tc.status || !strings.Contains(text, tc.msg) {
				t.Errorf("status %d %q, want %d with %q", resp.StatusCode, text, tc.status, tc.msg)
			}
			if resp.StatusCode >= 400 && tc.status != 426 && tc.msg != "version" && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("error answer is %q, not JSON", resp.Header.Get("Content-Type"))
			}
			stillServes(t, client, base, good)
		})
	}

	// Headers over the 64 KiB limit: net/http answers 431 itself.
	t.Run("headers over 64 KiB", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(string(b), "Header Fields Too Large") {
			t.Errorf("status %d %q, want 431", resp.StatusCode, b)
		}
		stillServes(t, client, base, good)
	})
}

// stillServes checks that a good request is answered 200.
func stillServes(t *testing.T, client *http.Client, base string, good []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/predict?faces=false", bytes.NewReader(good))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("Authorization", "Bearer "+catalogueToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("after the bad input: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the bad input: status %d: %s", resp.StatusCode, b)
	}
}

// TestCatalogueStream: bad stream messages get an error reply naming the
// problem, and the stream still answers a good frame afterwards.
func TestCatalogueStream(t *testing.T) {
	s := newServer(t, Config{MaxUploadBytes: 200_000, MaxImageBytes: 16 << 20, DecodeBudget: 32 << 20})
	addr := runServer(t, s)
	good := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 64, 64)))
	gray := image.NewGray(image.Rect(0, 0, 8, 8))
	gray.Set(1, 1, color.White)
	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  []byte
		want string
	}{
		{"control not JSON", websocket.MessageText, []byte("roi please"), "control message"},
		{"control is an array", websocket.MessageText, []byte(`[1,2]`), "cannot unmarshal array"},
		{"control faces as a string", websocket.MessageText, []byte(`{"faces":"yes"}`), "cannot unmarshal string"},
		{"control unknown model", websocket.MessageText, []byte(`{"model":"nope"}`), `unknown model "nope"`},
		{"control roi overflow", websocket.MessageText, []byte(`{"faces":false,"roi":{"x":9223372036854775807,"y":0,"w":9223372036854775807,"h":10}}`), "x=9223372036854775807 is out of range"},
		{"control roi beyond int64", websocket.MessageText, []byte(`{"roi":{"x":0,"y":0,"w":1e30,"h":10}}`), "cannot unmarshal number 1e30"},
		{"control roi negative", websocket.MessageText, []byte(`{"roi":{"x":-1,"y":0,"w":5,"h":5}}`), "x=-1 is out of range"},
		{"control roi float", websocket.MessageText, []byte(`{"roi":{"x":0.5,"y":0,"w":5,"h":5}}`), "cannot unmarshal number 0.5"},
		{"control roi zero size", websocket.MessageText, []byte(`{"roi":{"x":0,"y":0,"w":0,"h":5}}`), "w=0 is out of range"},
		{"control roi with faces=true", websocket.MessageText, []byte(`{"faces":true,"roi":{"x":0,"y":0,"w":5,"h":5}}`), "faces=true with a roi"},
		{"control roi with hands=true", websocket.MessageText, []byte(`{"hands":true,"roi":{"x":0,"y":0,"w":5,"h":5}}`), "hands=true with a roi"},
		{"frame not an image", websocket.MessageBinary, []byte("not an image"), "not a JPEG or PNG"},
		{"frame PNG bomb", websocket.MessageBinary, bomb16(t, 1500, 1500), "needs 20250000 bytes"},
		{"frame 20000x20000 header", websocket.MessageBinary, hugePNG(20000, 20000), "20000x20000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialStream(t, wsURL("http://"+addr))
			defer c.CloseNow()
			send(t, c, tc.typ, tc.msg)
			r := readReply(t, c)
			if r.Type != "error" || !strings.Contains(r.Error, tc.want) {
				t.Errorf("reply %+v, want an error with %q", r, tc.want)
			}
			send(t, c, websocket.MessageText, []byte(`{"faces":false,"hands":false,"roi":null}`))
			send(t, c, websocket.MessageBinary, good)
			if r := readReply(t, c); r.Type != "result" {
				t.Errorf("after the bad message: %+v", r)
			}
		})
	}
	// A message over the limit closes the stream (1009); the server serves on.
	c := dialStream(t, wsURL("http://"+addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.Write(ctx, websocket.MessageBinary, make([]byte, 300_000))
	if _, _, err := c.Read(ctx); err == nil {
		t.Error("a 300000-byte message over the 200000-byte limit left the stream open")
	}
	c = dialStream(t, wsURL("http://"+addr))
	defer c.CloseNow()
	send(t, c, websocket.MessageBinary, good)
	if r := readReply(t, c); r.Type != "result" {
		t.Errorf("after the oversized message: %+v", r)
	}
}
