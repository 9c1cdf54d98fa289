package detect

import (
	"fmt"
	"math"
	"sort"
)

// Point is a position in pixels (of the model input, or of the frame
// once mapped back).
type Point struct{ X, Y float32 }

// Box is an axis-aligned box in pixels: [X0,X1) x [Y0,Y1).
type Box struct{ X0, Y0, X1, Y1 float32 }

// W and H are the box's sides.
func (b Box) W() float32 { return b.X1 - b.X0 }
func (b Box) H() float32 { return b.Y1 - b.Y0 }

// Centre is the box's centre.
func (b Box) Centre() Point { return Point{(b.X0 + b.X1) / 2, (b.Y0 + b.Y1) / 2} }

// IoU is the intersection over union of two boxes (0 when either is empty).
func IoU(a, b Box) float32 {
	iw := min(a.X1, b.X1) - max(a.X0, b.X0)
	ih := min(a.Y1, b.Y1) - max(a.Y0, b.Y0)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := a.W()*a.H() + b.W()*b.H() - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// Detection is one detected object: a box, its keypoints and the
// sigmoid score in [0,1].
type Detection struct {
	Box       Box
	Keypoints []Point
	Score     float32
	Anchor    int // index of the anchor that produced it (the best one after NMS)
}

// DecodeOptions are the fields of MediaPipe's
// TensorsToDetectionsCalculatorOptions these models use.
type DecodeOptions struct {
	NumCoords    int     // values per anchor: 4 box values + 2 per keypoint
	NumKeypoints int     // keypoints per anchor
	Scale        float32 // x/y/w/h_scale: raw values are in input pixels of this size
	// ScoreClip clips raw scores to [-ScoreClip, ScoreClip] before the
	// sigmoid (score_clipping_thresh).
	ScoreClip float32
	// MinScore drops anchors whose sigmoid score is below it.
	MinScore float32
}

// Decode turns raw model outputs into detections in normalised input
// coordinates (0..1), as TensorsToDetectionsCalculator does with
// reverse_output_order (each box is x_centre, y_centre, w, h; keypoints
// are x, y pairs), all offsets relative to the anchor centre and scaled
// by the anchor size. scores has one raw logit per anchor, raw has
// NumCoords values per anchor.
func Decode(scores, raw []float32, anchors []Anchor, o DecodeOptions) ([]Detection, error) {
	n := len(anchors)
	if len(scores) != n || len(raw) != n*o.NumCoords {
		return nil, fmt.Errorf("detect: %d scores and %d box values for %d anchors of %d values", len(scores), len(raw), n, o.NumCoords)
	}
	if o.NumCoords < 4+2*o.NumKeypoints {
		return nil, fmt.Errorf("detect: %d coordinates per anchor cannot hold a box and %d keypoints", o.NumCoords, o.NumKeypoints)
	}
	var dets []Detection
	for i, a := range anchors {
		s := Sigmoid(scores[i], o.ScoreClip)
		if s < o.MinScore {
			continue
		}
		r := raw[i*o.NumCoords : (i+1)*o.NumCoords]
		cx := r[0]/o.Scale*a.W + a.X
		cy := r[1]/o.Scale*a.H + a.Y
		w := r[2] / o.Scale * a.W
		h := r[3] / o.Scale * a.H
		d := Detection{Box: Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}, Score: s, Anchor: i}
		d.Keypoints = make([]Point, o.NumKeypoints)
		for k := range d.Keypoints {
			d.Keypoints[k] = Point{r[4+2*k]/o.Scale*a.W + a.X, r[5+2*k]/o.Scale*a.H + a.Y}
		}
		dets = append(dets, d)
	}
	return dets, nil
}

// Sigmoid is the logistic function of x clipped to [-clip, clip] (no
// clipping when clip <= 0).
func Sigmoid(x, clip float32) float32 {
	if clip > 0 {
		x = min(max(x, -clip), clip)
	}
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// WeightedNMS merges overlapping detections as MediaPipe's
// NonMaxSuppressionCalculator with algorithm WEIGHTED: repeatedly take
// the best remaining detection; every remaining detection overlapping it
// by more than iou (IoU) joins its cluster; the cluster's box and
// keypoints are the score-weighted mean of its members, its score the
// best one's. At most max detections are returned (0: no limit), best
// first.
func WeightedNMS(dets []Detection, iou float32, max int) []Detection {
	rest := append([]Detection(nil), dets...)
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Score > rest[j].Score })
	var out []Detection
	for len(rest) > 0 && (max <= 0 || len(out) < max) {
		best := rest[0]
		var keep []Detection
		var sum float32
		var box Box
		kps := make([]Point, len(best.Keypoints))
		for _, d := range rest {
			if IoU(best.Box, d.Box) <= iou && d.Anchor != best.Anchor {
				keep = append(keep, d)
				continue
			}
			sum += d.Score
			box.X0 += d.Box.X0 * d.Score
			box.Y0 += d.Box.Y0 * d.Score
			box.X1 += d.Box.X1 * d.Score
			box.Y1 += d.Box.Y1 * d.Score
			for k := range kps {
				if k < len(d.Keypoints) {
					kps[k].X += d.Keypoints[k].X * d.Score
					kps[k].Y += d.Keypoints[k].Y * d.Score
				}
			}
		}
		if sum > 0 {
			best.Box = Box{box.X0 / sum, box.Y0 / sum, box.X1 / sum, box.Y1 / sum}
			for k := range kps {
				kps[k].X /= sum
				kps[k].Y /= sum
			}
			best.Keypoints = kps
		}
		out = append(out, best)
		rest = keep
	}
	return out
}
