// ort_bench.mjs times an ONNX image model in ONNX Runtime (CPU) on the same
// file residual imports, to put beside `go test -bench ImportedResNet18 ./onnx`
// and `scripts/onnx_reference.py --bench resnet18`:
//
//   node scripts/ort_bench.mjs MODEL.onnx [SIZE] [THREADS]
//
// SIZE is the input side (default 64; the model takes (N,3,SIZE,SIZE) with a
// dynamic batch axis), THREADS the intra-op threads (default 2). It runs
// inference at batch 1 and 64 with random inputs for about 5 s each after
// 3 warm-up runs and prints ms per batch and images/s. onnxruntime-node is
// looked up as in ort_check.mjs (ORT_DIR, else next to this script).
import { createRequire } from "node:module";
import path from "node:path";

const [modelPath, sizeArg, threadsArg] = process.argv.slice(2);
if (!modelPath) {
  console.error("usage: node ort_bench.mjs MODEL.onnx [SIZE] [THREADS]");
  process.exit(2);
}
const size = Number(sizeArg || 64);
const threads = Number(threadsArg || 2);
const base = process.env.ORT_DIR ? path.join(process.env.ORT_DIR, "package.json") : import.meta.url;
const ort = createRequire(base)("onnxruntime-node");

const session = await ort.InferenceSession.create(modelPath, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
});
for (const batch of [1, 64]) {
  const shape = [batch, 3, size, size];
  const data = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", data, shape) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 5000 || n < 5) {
    await session.run(feeds);
    n++;
  }
  const ms = (performance.now() - t0) / n;
  console.log(`onnxruntime-node ${path.basename(modelPath)} 3x${size}x${size} batch ${batch}: ${ms.toFixed(2)} ms/batch, ${((batch * 1000) / ms).toFixed(1)} images/s (${threads} threads)`);
}
