package serve

// A WebSocket frame header can announce up to 2^63-1 bytes. The
// WebSocket library enforces its read limit (Conn.SetReadLimit) only as
// the payload arrives, so a client announcing a huge frame and then
// sending nothing would hold the stream until its message deadline.
// frameGuard reads the frame headers on the hijacked connection itself and
// fails the connection at once when a data frame announces more than the
// limit, before the library sees that frame.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
)

// frameGuard passes a client's WebSocket byte stream through unchanged,
// checking each frame header's payload length.
type frameGuard struct {
	r         io.Reader
	limit     int64
	remaining int64  // payload bytes of the current frame still to pass
	hdr       []byte // the header being read
	pending   []byte // a checked header not yet handed on
	err       error
}

// headerSize is the size of a frame header from its first two bytes.
func headerSize(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 { // masked: a 4-byte key
		n += 4
	}
	return n
}

func (g *frameGuard) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	if g.err != nil {
		return 0, g.err
	}
	if g.remaining > 0 {
		if int64(len(p)) > g.remaining {
			p = p[:g.remaining]
		}
		n, err := g.r.Read(p)
		g.remaining -= int64(n)
		return n, err
	}
	// Read a whole header, check it, then hand it on.
	for len(g.hdr) < 2 || len(g.hdr) < headerSize(g.hdr[1]) {
		var b [14]byte
		want := 2 - len(g.hdr)
		if len(g.hdr) >= 2 {
			want = headerSize(g.hdr[1]) - len(g.hdr)
		}
		n, err := g.r.Read(b[:want])
		g.hdr = append(g.hdr, b[:n]...)
		if err != nil && (len(g.hdr) < 2 || len(g.hdr) < headerSize(g.hdr[1])) {
			return 0, err
		}
	}
	length := int64(g.hdr[1] & 0x7F)
	switch length {
	case 126:
		length = int64(binary.BigEndian.Uint16(g.hdr[2:]))
	case 127:
		u := binary.BigEndian.Uint64(g.hdr[2:])
		if u > 1<<63-1 {
			g.err = fmt.Errorf("websocket frame header announces %d bytes: invalid length", u)
			return 0, g.err
		}
		length = int64(u)
	}
	if opcode := g.hdr[0] & 0x0F; opcode <= 2 && length > g.limit {
		g.err = fmt.Errorf("websocket frame header announces %d bytes, more than the limit of %d", length, g.limit)
		return 0, g.err
	}
	g.pending, g.hdr = g.hdr, nil
	g.remaining = length
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// guardedConn is a hijacked connection whose reads go through a
// frameGuard.
type guardedConn struct {
	net.Conn
	guard *frameGuard
}

func (c *guardedConn) Read(p []byte) (int, error) { return c.guard.Read(p) }

// guardedWriter hands the WebSocket library a guarded connection when it
// hijacks.
type guardedWriter struct {
	http.ResponseWriter
	limit int64
	guard *frameGuard // set by Hijack
}

func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent right after its handshake may already be
	// buffered: they go through the guard too.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	src := io.MultiReader(bytes.NewReader(append([]byte(nil), buffered...)), c)
	w.guard = &frameGuard{r: src, limit: w.limit}
	gc := &guardedConn{Conn: c, guard: w.guard}
	return gc, bufio.NewReadWriter(bufio.NewReader(gc), brw.Writer), nil
}

func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
