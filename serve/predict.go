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
	"strconv"
	"strings"
	"time"

	"github.com/residual-go/residual/vision"
)

// handlePredict is POST /v1/predict. The image is the raw body
// (Content-Type image/jpeg, image/png or application/octet-stream) or the
// "file" field of a multipart/form-data body. Query parameters:
//
//	model=NAME        the model (default: the first loaded)
//	faces=true|false  detect faces (default true) or classify one region
//	roi=x,y,w,h       with faces=false, the region (default: whole image)
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) error {
	t0 := time.Now()
	q := r.URL.Query()
	m, err := s.Model(q.Get("model"))
	if err != nil {
		return err
	}
	opt, err := parseFrameOptions(q.Get("faces"), q.Get("roi"))
	if err != nil {
		return err
	}
	data, err := s.readImage(w, r)
	if err != nil {
		return err
	}
	res, err := s.predictBytes(r.Context(), m, data, opt)
	if err != nil {
		return err
	}
	res.Timings.Total = ms(time.Since(t0))
	s.metrics.observeFrame(m.Name, "predict", res)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// parseFrameOptions reads the faces and roi parameters.
func parseFrameOptions(faces, roi string) (FrameOptions, error) {
	opt := FrameOptions{Faces: true}
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
			return opt, errorf(http.StatusBadRequest, "roi=%q: want x,y,w,h", roi)
		}
		for i, p := range parts {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return opt, errorf(http.StatusBadRequest, "roi=%q: value %d %q is not an integer", roi, i+1, p)
			}
			v[i] = n
		}
		if v[2] <= 0 || v[3] <= 0 {
			return opt, errorf(http.StatusBadRequest, "roi=%q: width and height must be positive", roi)
		}
		opt.ROI = image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3])
	}
	return opt, nil
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

// decode checks the header (format, size) and decodes. The pixel limit is
// applied from the header, before any pixel is decoded.
func (s *Server) decode(data []byte) (image.Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "not a JPEG or PNG image (%d bytes): %v", len(data), err)
	}
	if format != "jpeg" && format != "png" {
		return nil, errorf(http.StatusUnsupportedMediaType, "image format %q: send JPEG or PNG", format)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(s.cfg.MaxPixels) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "%s image is %dx%d = %d pixels, more than the limit of %d", format, cfg.Width, cfg.Height, px, s.cfg.MaxPixels)
	}
	img, err := vision.DecodeBytes(data, s.cfg.MaxPixels)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	return img, nil
}

// predictBytes decodes an encoded frame and runs the pipeline on it.
func (s *Server) predictBytes(ctx context.Context, m *Model, data []byte, opt FrameOptions) (*Result, error) {
	t0 := time.Now()
	img, err := s.decode(data)
	if err != nil {
		return nil, err
	}
	frame, err := NewFrame(img, m.Preprocess.Channels)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "converting the image: %v", err)
	}
	decode := ms(time.Since(t0))
	res, err := Predict(ctx, m, s.detector, frame, opt)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", m.Name, err)
	}
	res.Timings.Decode = decode
	return res, nil
}
