package detect

import (
	"math"
	"testing"
)

// TestDetectorsMatchONNXRuntime runs the three embedded detectors on our
// engine on real photos and compares with ONNX Runtime's outputs stored
// in testdata/ort (scripts/detector_reference.mjs): the raw score and
// the 16 or 18 box/keypoint values of ORT's best anchors, and the
// detections after decoding and weighted NMS (decoded by the script's
// own JavaScript implementation).
func TestDetectorsMatchONNXRuntime(t *testing.T) {
	models := map[string]*ssd{}
	for _, c := range refCases {
		t.Run(c.kind+"/"+c.image, func(t *testing.T) {
			f := readFixture(t, c)
			img := loadShared(t, c.image)
			d := models[c.kind]
			if d == nil {
				d = refSSD(t, c.kind)
				models[c.kind] = d
			}
			inst, sum, sq := prepared(t, d, img)
			defer func() { d.pool <- inst }()
			if math.Abs(sum-f.InputSum) > 1e-2*math.Max(1, math.Abs(f.InputSum)) || math.Abs(sq-f.InputSq) > 1e-2*math.Max(1, f.InputSq) {
				t.Fatalf("the prepared input changed (sum %g, sum of squares %g; fixture %g, %g): preprocessing differs from the fixture's, regenerate it", sum, sq, f.InputSum, f.InputSq)
			}
			if f.Anchors != len(d.anchors) {
				t.Fatalf("%d anchors, the reference has %d", len(d.anchors), f.Anchors)
			}
			dets, err := d.run(inst, img, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			nc := d.spec.decode.NumCoords
			var dScore, dRaw float64
			for _, top := range f.Top {
				dScore = math.Max(dScore, math.Abs(float64(inst.scores[top.Anchor]-top.Score)))
				dRaw = math.Max(dRaw, maxAbs(inst.raw[top.Anchor*nc:(top.Anchor+1)*nc], top.Raw))
			}
			t.Logf("top %d anchors (best %d, raw score %.3f): max |diff| score %.2e, box/keypoint values %.2e (input px)", len(f.Top), f.Top[0].Anchor, f.Top[0].Score, dScore, dRaw)
			if dScore > 2e-3 || dRaw > 2e-2 {
				t.Errorf("raw outputs differ from ONNX Runtime's: score %.3g, values %.3g", dScore, dRaw)
			}

			// Decoding + NMS in normalised input coordinates, compared with
			// the script's; then mapped to the frame.
			merged := WeightedNMS(normalised(d, inst, dets, img.W, img.H), 0.3, 0)
			if len(merged) != len(f.Detections) {
				t.Fatalf("%d detections after NMS, the reference has %d", len(merged), len(f.Detections))
			}
			var dBox float64
			for i, m := range merged {
				r := f.Detections[i]
				got := []float32{m.Box.X0, m.Box.Y0, m.Box.X1, m.Box.Y1}
				dBox = math.Max(dBox, maxAbs(got, r.Box[:]))
				for k, p := range m.Keypoints {
					dBox = math.Max(dBox, maxAbs([]float32{p.X, p.Y}, r.Keypoints[k][:]))
				}
				if m.Anchor != r.Anchor {
					t.Errorf("detection %d comes from anchor %d, the reference's from %d", i, m.Anchor, r.Anchor)
				}
			}
			t.Logf("%d detections: max |diff| of boxes and keypoints %.2e (fraction of the input side)", len(merged), dBox)
			if dBox > 1e-3 {
				t.Errorf("decoded boxes differ from the reference by %.3g", dBox)
			}
		})
	}
}

// normalised maps frame-pixel detections back to normalised input
// coordinates (the inverse of the letterbox), to compare with the
// reference script, which works on the input only.
func normalised(d *ssd, inst *instance, dets []Detection, w, h int) []Detection {
	s := float32(d.spec.size)
	sc := min(s/float32(w), s/float32(h))
	rw, rh := float32(int(float32(w)*sc+0.5)), float32(int(float32(h)*sc+0.5))
	px, py := float32(int((s-rw)/2)), float32(int((s-rh)/2))
	sx, sy := rw/float32(w), rh/float32(h)
	to := func(p Point) Point { return Point{(p.X*sx + px) / s, (p.Y*sy + py) / s} }
	out := make([]Detection, len(dets))
	for i, dt := range dets {
		p0, p1 := to(Point{dt.Box.X0, dt.Box.Y0}), to(Point{dt.Box.X1, dt.Box.Y1})
		out[i] = Detection{Box: Box{p0.X, p0.Y, p1.X, p1.Y}, Score: dt.Score, Anchor: dt.Anchor}
		for _, k := range dt.Keypoints {
			out[i].Keypoints = append(out[i].Keypoints, to(k))
		}
	}
	return out
}
