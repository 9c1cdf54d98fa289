// ort_bench_detectors.mjs times the embedded detector files (BlazeFace
// short and full range, the palm detector) in ONNX Runtime (CPU) at batch
// 1, their only batch size, to put beside our engine's
// `go test -run '^$' -bench 'FaceDetect|PalmDetect' ./detect` (which also
// counts the letterbox, decoding and NMS, a few percent):
//
//   node scripts/ort_bench_detectors.mjs [THREADS]
//
// THREADS is the intra-op threads (default 2). Each model runs on random
// inputs in [-1, 1] for about 5 s after 3 warm-up runs; the script prints
// the mean ms per run and the p50. onnxruntime-node is looked up as in
// ort_check.mjs (ORT_DIR, else next to this script).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const threads = Number(process.argv[2] || 2);
const base = process.env.ORT_DIR ? path.join(process.env.ORT_DIR, "package.json") : import.meta.url;
const ort = createRequire(base)("onnxruntime-node");
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "detect", "models");

const models = [
  ["face_detection_front_128x128_barracuda.onnx", [1, 128, 128, 3]],
  ["face_detection_back_256x256_barracuda.onnx", [1, 256, 256, 3]],
  ["palm_detection.onnx", [1, 3, 128, 128]],
];
for (const [file, shape] of models) {
  const session = await ort.InferenceSession.create(path.join(dir, file), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
  });
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", data, shape) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const times = [];
  const t0 = performance.now();
  while (performance.now() - t0 < 5000 || times.length < 5) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(`onnxruntime-node ${file} ${shape.join("x")}: mean ${mean.toFixed(2)} ms, p50 ${times[times.length >> 1].toFixed(2)} ms over ${times.length} runs (${threads} threads)`);
}
