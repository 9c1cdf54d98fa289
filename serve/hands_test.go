package serve

import (
	"encoding/json"
	"image"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/vision"
)

// handFrame puts a real sign-language-digits photo (100x100, one hand)
// scaled to 240x240 at (300,160) in a 640x480 gray frame.
func handFrame(t *testing.T) *image.RGBA {
	t.Helper()
	p := filepath.Join(fixtures.Dataset(t, "gestures/sign-language-digits"), "5", "IMG_1123.JPG")
	src, err := vision.LoadFile(nil, p, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	sq, err := vision.Resize(src, 240, 240)
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range out.Pix {
		out.Pix[i] = 128
	}
	for y := 0; y < 240; y++ {
		for x := 0; x < 240; x++ {
			o, s := out.PixOffset(x+300, y+160), (y*240+x)*3
			copy(out.Pix[o:o+3], sq.Pix[s:s+3])
		}
	}
	return out
}

// TestPredictHands: hands=true finds the hand with the palm detector and
// classifies its (upright) hand box with the model; the face path is off
// unless asked; bad values are refused.
func TestPredictHands(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	body := encodeJPEG(t, handFrame(t))
	code, b := post(t, ts.URL+"/v1/predict?model=gesture&hands=true", "image/jpeg", body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, b)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Faces) != 0 || len(res.Hands) != 1 {
		t.Fatalf("%d faces and %d hands, want 0 and 1: %s", len(res.Faces), len(res.Hands), b)
	}
	h := res.Hands[0]
	c := image.Pt(h.Box.X+h.Box.W/2, h.Box.Y+h.Box.H/2)
	if !c.In(image.Rect(300, 160, 540, 400)) || h.Score < 0.7 || len(h.Probs) != 10 || len(h.Keypoints) != 7 {
		t.Errorf("hand %+v: want its box centre inside the photo (300,160)-(540,400), score >= 0.7, 10 classes and 7 keypoints", h)
	}
	t.Logf("hand box %+v crop %+v angle %.2f score %.2f label %s", h.Box, h.Crop, h.Angle, h.Score, h.Label)

	if code, b := post(t, ts.URL+"/v1/predict?model=gesture&hands=maybe", "image/jpeg", body); code != http.StatusBadRequest {
		t.Errorf("hands=maybe: status %d (%s), want 400", code, b)
	}
	if code, b := post(t, ts.URL+"/v1/predict?align=sideways", "image/jpeg", body); code != http.StatusBadRequest {
		t.Errorf("align=sideways: status %d (%s), want 400", code, b)
	}
}

// TestPredictAlignedFace: BlazeFace's keypoints come back with each face,
// and align=false turns the crop by nothing.
func TestPredictAlignedFace(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	body := encodeJPEG(t, oneFaceFrame(t))
	for _, align := range []string{"true", "false"} {
		code, b := post(t, ts.URL+"/v1/predict?align="+align, "image/jpeg", body)
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, b)
		}
		var res Result
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Faces) != 1 || len(res.Faces[0].Keypoints) != 6 {
			t.Fatalf("align=%s: want one face with 6 keypoints: %s", align, b)
		}
		if align == "false" && res.Faces[0].Angle != 0 {
			t.Errorf("align=false: crop turned by %g", res.Faces[0].Angle)
		}
	}
}
