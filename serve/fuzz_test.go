package serve

import (
	"image"
	"net/http"
	"testing"
)

// FuzzParseFrameOptions: query parameters never panic, and accepted ones
// describe a valid region.
func FuzzParseFrameOptions(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"true", ""}, {"false", "1,2,3,4"}, {"0", "-5,-5,10,10"}, {"x", "1,2"}, {"", "a,b,c,d"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, faces, roi string) {
		o, err := parseFrameOptions(faces, roi)
		if err != nil {
			if statusOf(err) != http.StatusBadRequest {
				t.Errorf("status %d for %q %q, want 400", statusOf(err), faces, roi)
			}
			return
		}
		if roi != "" && (o.ROI.Dx() <= 0 || o.ROI.Dy() <= 0) {
			t.Errorf("roi %q accepted as %v", roi, o.ROI)
		}
	})
}

// FuzzStreamControl: control messages never panic, and accepted ones
// leave a known model and a valid region.
func FuzzStreamControl(f *testing.F) {
	for _, s := range []string{`{}`, `{"model":"gesture","faces":false,"roi":{"x":1,"y":2,"w":3,"h":4}}`, `{"roi":null}`, `{"roi":{"w":-1}}`, `{"model":"nope"}`, `[]`, `{"faces":"yes"}`} {
		f.Add([]byte(s))
	}
	s, _ := newTestServer(f, Config{})
	m, _ := s.Model("")
	f.Fuzz(func(t *testing.T, data []byte) {
		opt, err := s.applyControl(streamOptions{model: m, frame: FrameOptions{Faces: true}}, data)
		if err != nil {
			return
		}
		if _, ok := s.models[opt.model.Name]; !ok {
			t.Errorf("control %q selected an unknown model", data)
		}
		if opt.frame.ROI != (image.Rectangle{}) && (opt.frame.ROI.Dx() <= 0 || opt.frame.ROI.Dy() <= 0) {
			t.Errorf("control %q gave region %v", data, opt.frame.ROI)
		}
	})
}
