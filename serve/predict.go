package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// handlePredict is POST /v1/predict. The image is the raw body
// (Content-Type image/jpeg, image/png or application/octet-stream) or the
// "file" field of a multipart/form-data body. Query parameters:
//
//	model=NAME        the model (default: the first loaded)
//	faces=true|false  detect faces (default true, false with a roi) or classify one region
//	roi=x,y,w,h       the region classified without detection (default: whole image);
//	                  x, y >= 0, w, h >= 1, each at most MaxCoord; with faces=true: 400
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) error {
	t0 := time.Now()
	q, err := frameQuery(r)
	if err != nil {
		return err
	}
	m, err := s.Model(q.Get("model"))
	if err != nil {
		return err
	}
	opt, err := parseFrameOptions(q.Get("faces"), q.Get("roi"))
	if err != nil {
		return err
	}
	if opt, err = s.detectOptions(opt, q.Get("faces"), q.Get("hands"), q.Get("align")); err != nil {
		return err
	}
	data, err := s.readImage(w, r)
	if err != nil {
		return err
	}
	// The body is read: from here the request deadline bounds the work,
	// and the answer gets WriteTimeout after it (the server's deadlines
	// count from the request's start, which a slow upload may have used).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout + s.cfg.WriteTimeout))
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.predictBytes(ctx, m, data, opt)
	if err != nil {
		return err
	}
	res.Timings.Total = ms(time.Since(t0))
	s.metrics.observeFrame(m.Name, "predict", res)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// MaxCoord bounds every coordinate and size of a region of interest (no
// image is wider: see Config.MaxPixels), so that x+w cannot overflow.
const MaxCoord = 1 << 20

// frameQuery parses the query of /v1/predict and /v1/stream: a malformed
// query (which url.Values would drop in part) and a parameter given twice
// (which one would count is a guess) are errors.
func frameQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "query %.200q: %v", r.URL.RawQuery, err)
	}
	for _, n := range []string{"model", "faces", "roi", "hands", "align"} {
		if v := q[n]; len(v) > 1 {
			return nil, errorf(http.StatusBadRequest, "query parameter %s given %d times (%q): give it once", n, len(v), v)
		}
	}
	return q, nil
}

// parseFrameOptions reads the faces and roi parameters. A roi without
// faces means faces=false; a roi with faces=true is a contradiction.
func parseFrameOptions(faces, roi string) (FrameOptions, error) {
	opt := FrameOptions{Faces: roi == ""}
	if faces != "" {
		b, err := strconv.ParseBool(faces)
		if err != nil {
			return opt, errorf(http.StatusBadRequest, "faces=%q: want true or false", faces)
		}
		opt.Faces = b
	}
	if roi != "" {
		var v [4]int
		parts := strings.Split(roi, ",")
		if len(parts) != 4 {
			return opt, errorf(http.StatusBadRequest, "roi=%q: want x,y,w,h (4 integers), got %d values", roi, len(parts))
		}
		for i, p := range parts {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if errors.Is(err, strconv.ErrRange) {
				return opt, errorf(http.StatusBadRequest, "roi=%q: %s=%s is out of range [%d, %d]", roi, roiNames[i], p, 0, MaxCoord)
			}
			if err != nil {
				return opt, errorf(http.StatusBadRequest, "roi=%q: %s=%q is not an integer", roi, roiNames[i], p)
			}
			if err := checkCoord(roiNames[i], n); err != nil {
				return opt, errorf(http.StatusBadRequest, "roi=%q: %v", roi, err)
			}
			v[i] = int(n)
		}
		if opt.Faces {
			return opt, errorf(http.StatusBadRequest, "roi=%q with faces=true: a region is classified without face detection; drop roi or set faces=false", roi)
		}
		opt.ROI = image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3])
	}
	return opt, nil
}

var roiNames = [4]string{"x", "y", "w", "h"}

// detectOptions applies the hands and align parameters: hands=true finds
// hands with the server's palm detector and classifies them (faces then
// defaults to false); align=false classifies face crops without turning
// them level.
func (s *Server) detectOptions(opt FrameOptions, faces, hands, align string) (FrameOptions, error) {
	if hands != "" {
		b, err := strconv.ParseBool(hands)
		if err != nil {
			return opt, errorf(http.StatusBadRequest, "hands=%q: want true or false", hands)
		}
		opt.Hands = nil
		if b {
			opt.Hands = s.hands
			if faces == "" {
				opt.Faces = false
			}
		}
	}
	if align != "" {
		b, err := strconv.ParseBool(align)
		if err != nil {
			return opt, errorf(http.StatusBadRequest, "align=%q: want true or false", align)
		}
		opt.NoAlign = !b
	}
	if opt.Hands != nil && !opt.ROI.Empty() {
		return opt, errorf(http.StatusBadRequest, "roi with hands=true: a region is classified without hand detection; drop roi or hands")
	}
	return opt, nil
}

// checkCoord checks one value of a region: x and y in [0, MaxCoord], w
// and h in [1, MaxCoord].
func checkCoord(name string, v int64) error {
	lo := int64(0)
	if name == "w" || name == "h" {
		lo = 1
	}
	if v < lo || v > MaxCoord {
		return fmt.Errorf("%s=%d is out of range [%d, %d]", name, v, lo, MaxCoord)
	}
	return nil
}

// readImage returns the uploaded image bytes, bounded by MaxUploadBytes.
func (s *Server) readImage(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.cfg.MaxUploadBytes
	body := http.MaxBytesReader(w, r.Body, limit)
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" {
		mt, err = "application/octet-stream", nil
	}
	if err != nil {
		return nil, errorf(http.StatusUnsupportedMediaType, "Content-Type %q: %v", ct, err)
	}
	var src io.Reader
	switch mt {
	case "image/jpeg", "image/png", "application/octet-stream":
		src = body
	case "multipart/form-data":
		part, err := filePart(body, params["boundary"])
		if err != nil {
			return nil, err
		}
		src = part
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, "Content-Type %q: send image/jpeg, image/png, application/octet-stream or multipart/form-data with a \"file\" field", mt)
	}
	data, err := io.ReadAll(src)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "upload is larger than the limit of %d bytes", limit)
		}
		return nil, errorf(http.StatusBadRequest, "reading the upload: %v", err)
	}
	if len(data) == 0 {
		return nil, errorf(http.StatusBadRequest, "empty image: the request has no image data")
	}
	return data, nil
}

// filePart finds the "file" field of a multipart body.
func filePart(body io.Reader, boundary string) (io.Reader, error) {
	if boundary == "" {
		return nil, errorf(http.StatusBadRequest, "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, errorf(http.StatusBadRequest, "multipart body has no \"file\" field")
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, errorf(http.StatusRequestEntityTooLarge, "upload is larger than the limit of %d bytes", tooBig.Limit)
			}
			return nil, errorf(http.StatusBadRequest, "reading the multipart body: %v", err)
		}
		if p.FormName() == "file" {
			return p, nil
		}
	}
}

// predictBytes prices an encoded frame from its header, waits for a
// decode + inference slot and its share of the decode budget (see
// limits.go), decodes it and runs the pipeline on it. ctx carries the
// request deadline.
func (s *Server) predictBytes(ctx context.Context, m *Model, data []byte, opt FrameOptions) (*Result, error) {
	hdr, err := s.inspect(data, m.Preprocess.Channels)
	if err != nil {
		return nil, err
	}
	release, err := s.gate.acquire(ctx, hdr.bytes)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			s.metrics.rejected.WithLabelValues("busy").Inc()
			return nil, err
		}
		return nil, s.deadlineError(ctx, err)
	}
	defer release()
	t0 := time.Now()
	// The format and size are checked (inspect); the decoder reads through
	// the deadline, so that a request past it stops decoding at once.
	img, _, err := image.Decode(ctxReader{ctx, bytes.NewReader(data)})
	if err != nil {
		if ctx.Err() != nil {
			return nil, s.deadlineError(ctx, ctx.Err())
		}
		return nil, errorf(http.StatusBadRequest, "vision: decoding %dx%d %s image: %v", hdr.width, hdr.height, hdr.format, err)
	}
	frame, err := NewFrame(img, m.Preprocess.Channels)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "converting the image: %v", err)
	}
	decode := ms(time.Since(t0))
	if err := ctx.Err(); err != nil {
		return nil, s.deadlineError(ctx, err)
	}
	det := s.detector
	if opt.Live {
		det = s.live
		if opt.Hands == s.hands {
			opt.Hands = s.handsLive
		}
	}
	res, err := Predict(ctx, m, det, frame, opt)
	if err != nil {
		if ctx.Err() != nil {
			return nil, s.deadlineError(ctx, err)
		}
		return nil, fmt.Errorf("model %q: %w", m.Name, err)
	}
	res.Timings.Decode = decode
	return res, nil
}
