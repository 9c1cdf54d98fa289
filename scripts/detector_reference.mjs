// detector_reference.mjs runs a MediaPipe SSD detector (BlazeFace short /
// full range, the palm detector) in ONNX Runtime (CPU) on one prepared
// input and prints, as JSON, the raw outputs of the best anchors and the
// detections decoded here, independently of the Go code: SSD anchors as
// MediaPipe's SsdAnchorsCalculator makes them, box and keypoint decoding
// as TensorsToDetectionsCalculator (reverse_output_order), score
// clipping + sigmoid, and weighted non-maximum suppression. Go tests
// (detect/ort_test.go, build tag ort) write the inputs and the fixtures
// in detect/testdata from this output.
//
//   node scripts/detector_reference.mjs KIND MODEL.onnx INPUT.json [TOPK] [MINSCORE]
//
// KIND is short, full or palm. INPUT.json is {"shape": [...], "data": [...]}
// in the model's input layout (BlazeFace NHWC, palm NCHW), values in
// [-1, 1]. onnxruntime-node is looked up as in ort_check.mjs (ORT_DIR,
// else next to this script).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const [kind, modelPath, inputPath, topkArg, minArg] = process.argv.slice(2);
if (!kind || !modelPath || !inputPath) {
  console.error("usage: node detector_reference.mjs short|full|palm MODEL.onnx INPUT.json [TOPK] [MINSCORE]");
  process.exit(2);
}
const topk = Number(topkArg || 8);
const minScore = Number(minArg || 0.5);

// MediaPipe's options for each model.
const specs = {
  short: { size: 128, minScale: 0.1484375, strides: [8, 16, 16, 16], coords: 16, kps: 6,
    scores: ["Identity:0", "Identity_1:0"], boxes: ["Identity_2:0", "Identity_3:0"] },
  full: { size: 256, minScale: 0.15625, strides: [16, 32, 32, 32], coords: 16, kps: 6,
    scores: ["Identity:0", "Identity_1:0"], boxes: ["Identity_2:0", "Identity_3:0"] },
  palm: { size: 128, minScale: 0.1484375, strides: [8, 16, 16, 16], coords: 18, kps: 7,
    scores: ["classificators"], boxes: ["regressors"] },
};
const spec = specs[kind];
if (!spec) {
  console.error(`unknown kind ${kind}: want short, full or palm`);
  process.exit(2);
}

// SsdAnchorsCalculator with max_scale 0.75, aspect ratio 1, interpolated
// scale aspect ratio 1, offsets 0.5, fixed anchor size: only the centres
// matter (width = height = 1), one anchor per (aspect ratio + interpolated)
// for every layer sharing a stride.
function anchors(s) {
  const out = [];
  const n = s.strides.length;
  let layer = 0;
  while (layer < n) {
    let perCell = 0;
    let last = layer;
    while (last < n && s.strides[last] === s.strides[layer]) {
      perCell += 2; // aspect ratio 1.0 and the interpolated one
      last++;
    }
    const fm = Math.ceil(s.size / s.strides[layer]);
    for (let y = 0; y < fm; y++) {
      for (let x = 0; x < fm; x++) {
        for (let k = 0; k < perCell; k++) out.push({ x: (x + 0.5) / fm, y: (y + 0.5) / fm });
      }
    }
    layer = last;
  }
  return out;
}

const sigmoid = (v) => 1 / (1 + Math.exp(-Math.min(Math.max(v, -100), 100)));

function iou(a, b) {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

const base = process.env.ORT_DIR ? path.join(process.env.ORT_DIR, "package.json") : import.meta.url;
const ort = createRequire(base)("onnxruntime-node");
const input = JSON.parse(readFileSync(inputPath, "utf8"));
const session = await ort.InferenceSession.create(modelPath);
const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(input.data), input.shape) };
const res = await session.run(feeds);
const cat = (names) => names.flatMap((n) => Array.from(res[n].data));
const scores = cat(spec.scores);
const raw = cat(spec.boxes);
const A = anchors(spec);
if (scores.length !== A.length || raw.length !== A.length * spec.coords) {
  console.error(`outputs: ${scores.length} scores, ${raw.length} values; ${A.length} anchors`);
  process.exit(1);
}

const order = scores.map((s, i) => i).sort((a, b) => scores[b] - scores[a]);
const top = order.slice(0, topk).map((i) => ({ anchor: i, score: scores[i], raw: raw.slice(i * spec.coords, (i + 1) * spec.coords) }));

// Decode (normalised input coordinates) and weighted NMS (IoU 0.3).
let dets = [];
for (let i = 0; i < A.length; i++) {
  const s = sigmoid(scores[i]);
  if (s < minScore) continue;
  const r = raw.slice(i * spec.coords, (i + 1) * spec.coords);
  const cx = r[0] / spec.size + A[i].x, cy = r[1] / spec.size + A[i].y;
  const w = r[2] / spec.size, h = r[3] / spec.size;
  const kps = [];
  for (let k = 0; k < spec.kps; k++) kps.push([r[4 + 2 * k] / spec.size + A[i].x, r[5 + 2 * k] / spec.size + A[i].y]);
  dets.push({ anchor: i, score: s, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], keypoints: kps });
}
dets.sort((a, b) => b.score - a.score);
const merged = [];
while (dets.length > 0) {
  const best = dets[0];
  const cluster = dets.filter((d) => d === best || iou(best.box, d.box) > 0.3);
  dets = dets.filter((d) => !(d === best || iou(best.box, d.box) > 0.3));
  const sum = cluster.reduce((a, d) => a + d.score, 0);
  const box = [0, 1, 2, 3].map((j) => cluster.reduce((a, d) => a + d.box[j] * d.score, 0) / sum);
  const kps = best.keypoints.map((_, k) => [0, 1].map((j) => cluster.reduce((a, d) => a + d.keypoints[k][j] * d.score, 0) / sum));
  merged.push({ anchor: best.anchor, score: best.score, box, keypoints: kps });
}

process.stdout.write(JSON.stringify({ kind, anchors: A.length, top, detections: merged }));
