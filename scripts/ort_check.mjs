// ort_check.mjs runs an ONNX model in ONNX Runtime (CPU) and prints its
// outputs as JSON, so that Go tests can compare our executor with it.
//
//   node scripts/ort_check.mjs MODEL.onnx INPUT.json
//
// INPUT.json is {"name": "input", "shape": [N,C,H,W], "data": [...]}
// (float32 values in row-major order). Output on stdout:
// {"outputs": {"logits": {"shape": [...], "data": [...]}}}.
//
// ORT_OPT, when set, is the session's graphOptimizationLevel (disabled,
// basic, extended or all; default all).
//
// onnxruntime-node is looked up from the directory in the ORT_DIR
// environment variable (where `npm install --ignore-scripts
// onnxruntime-node@1.30.0` was run), else from this script's location.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const [modelPath, inputPath] = process.argv.slice(2);
if (!modelPath || !inputPath) {
  console.error("usage: node ort_check.mjs MODEL.onnx INPUT.json");
  process.exit(2);
}
const base = process.env.ORT_DIR ? path.join(process.env.ORT_DIR, "package.json") : import.meta.url;
const ort = createRequire(base)("onnxruntime-node");

const input = JSON.parse(readFileSync(inputPath, "utf8"));
const session = await ort.InferenceSession.create(modelPath, process.env.ORT_OPT ? { graphOptimizationLevel: process.env.ORT_OPT } : {});
const feeds = {};
feeds[input.name || session.inputNames[0]] = new ort.Tensor("float32", Float32Array.from(input.data), input.shape);
const results = await session.run(feeds);
const outputs = {};
for (const name of session.outputNames) {
  outputs[name] = { shape: results[name].dims, data: Array.from(results[name].data) };
}
process.stdout.write(JSON.stringify({ outputs }));
