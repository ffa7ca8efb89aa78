#!/usr/bin/env node
// Top-1 accuracy of a classifier in ONNX Runtime (models/fmnist/ort_qdq.py uses it for the fp32
// and the QDQ int8 models). Benchmark-only: ORT is never a Tern dependency. Install once:
// (cd tools/bench && npm install --ignore-scripts)
//
//   node tools/bench/ort_eval.js MODEL.onnx --images X.npy --labels Y.npy [--batch B] [--threads N]
//        [--logits-out L.npy]
//
// X: float32 [N, ...] fed to the model's single input in batches of B (default 500; the graph's
// batch dimension must be dynamic unless B matches it); Y: int64 (or int32) [N]. The model's first
// output must be [B, classes]. CPU execution provider, every graph optimization (so a QDQ model runs
// ORT's int8 kernels), intraOpNumThreads = N (default 1). Prints one JSON object:
//   {model, n, correct, top1, batch, threads, load_ms, run_ms}
// --logits-out writes all logits as a float32 .npy [N, classes].
"use strict";

const fs = require("fs");

let ort;
try {
  ort = require("onnxruntime-node");
} catch (e) {
  process.stderr.write("ort_eval: onnxruntime-node is not installed: run `npm install --ignore-scripts` in tools/bench\n");
  process.exit(2);
}

const { readNpy, writeNpyF32 } = require("./npy");

function parseArgs(argv) {
  const a = { model: null, images: null, labels: null, batch: 500, threads: 1, logitsOut: null };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === "--images") a.images = argv[++i];
    else if (arg === "--labels") a.labels = argv[++i];
    else if (arg === "--batch") a.batch = Number(argv[++i]);
    else if (arg === "--threads") a.threads = Number(argv[++i]);
    else if (arg === "--logits-out") a.logitsOut = argv[++i];
    else if (arg === "-h" || arg === "--help") {
      process.stdout.write(fs.readFileSync(__filename, "utf8").split("\n").slice(1, 15).join("\n") + "\n");
      process.exit(0);
    } else if (!arg.startsWith("--") && !a.model) a.model = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!a.model || !a.images || !a.labels) throw new Error("usage: ort_eval.js MODEL.onnx --images X.npy --labels Y.npy [--batch B]");
  if (!(a.batch >= 1) || !(a.threads >= 1)) throw new Error("--batch and --threads must be >= 1");
  return a;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const images = readNpy(a.images);
  const labels = readNpy(a.labels);
  const n = images.dims[0];
  if (labels.dims.length !== 1 || labels.dims[0] !== n)
    throw new Error(`labels shape [${labels.dims}] does not match ${n} images`);
  const t0 = now();
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ["cpu"],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const loadMs = now() - t0;
  if (session.inputNames.length !== 1) throw new Error(`the model has ${session.inputNames.length} inputs; expected 1`);
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const per = images.dims.slice(1).reduce((x, y) => x * y, 1);
  let correct = 0;
  let classes = 0;
  let logitsAll = null;
  const t1 = now();
  for (let s = 0; s < n; s += a.batch) {
    const b = Math.min(a.batch, n - s);
    const x = new ort.Tensor("float32", images.data.subarray(s * per, (s + b) * per), [b, ...images.dims.slice(1)]);
    const out = (await session.run({ [inName]: x }))[outName];
    if (out.dims.length !== 2 || Number(out.dims[0]) !== b) throw new Error(`output ${outName} has shape [${out.dims}] for batch ${b}`);
    classes = Number(out.dims[1]);
    if (a.logitsOut && !logitsAll) logitsAll = new Float32Array(n * classes);
    for (let i = 0; i < b; ++i) {
      let best = 0;
      for (let c = 1; c < classes; ++c) if (out.data[i * classes + c] > out.data[i * classes + best]) best = c;
      if (best === Number(labels.data[s + i])) ++correct;
    }
    if (logitsAll) logitsAll.set(out.data.subarray(0, b * classes), s * classes);
  }
  const runMs = now() - t1;
  if (a.logitsOut) writeNpyF32(a.logitsOut, logitsAll, [n, classes]);
  await session.release();
  process.stdout.write(JSON.stringify({ model: a.model, n, correct, top1: correct / n, batch: a.batch, threads: a.threads,
                                        load_ms: loadMs, run_ms: runMs }) + "\n");
}

main().catch((e) => {
  process.stderr.write(`ort_eval: error: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
