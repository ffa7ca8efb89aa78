#!/usr/bin/env node
// ONNX Runtime side of the Tern/ORT comparison (tools/bench/compare.py). Benchmark-only: ORT is
// never a Tern dependency. Install once: (cd tools/bench && npm install --ignore-scripts)
//
//   node tools/bench/ort_bench.js MODEL.onnx [--inputs a.npy b.npy ...] [--golden out_0.npy ...]
//        [--threads N] [--warmup W] [--iters K] [--min-time-ms T] [--no-spin] [--no-check]
//
// CPU execution provider, intraOpNumThreads = N, interOpNumThreads = 1, sequential execution,
// every graph optimization. Inputs are the given .npy files in the graph's input order (default:
// input_K.npy beside the model); with --golden (default: output_K.npy beside the model, if present)
// ORT's outputs are compared with them as a sanity check. Prints one JSON object:
//   {median_ms, min_ms, max_ms, iters, threads, load_ms, first_run_ms, peak_rss_bytes, check}
"use strict";

const fs = require("fs");
const path = require("path");

let ort;
try {
  ort = require("onnxruntime-node");
} catch (e) {
  process.stderr.write("ort_bench: onnxruntime-node is not installed: run `npm install --ignore-scripts` in tools/bench\n");
  process.exit(2);
}

const { readNpy } = require("./npy");

// ---- arguments --------------------------------------------------------------------------------
function parseArgs(argv) {
  const a = { model: null, inputs: null, golden: null, threads: 1, warmup: 5, iters: 50, minTimeMs: 0, spin: true };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const list = () => {
      const out = [];
      while (i + 1 < argv.length && !argv[i + 1].startsWith("--")) out.push(argv[++i]);
      return out;
    };
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v)) throw new Error(`${arg} needs a number`);
      return v;
    };
    if (arg === "--inputs") a.inputs = list();
    else if (arg === "--golden") a.golden = list();
    else if (arg === "--threads") a.threads = num();
    else if (arg === "--warmup") a.warmup = num();
    else if (arg === "--iters") a.iters = num();
    else if (arg === "--min-time-ms") a.minTimeMs = num();
    else if (arg === "--no-spin") a.spin = false;
    else if (arg === "--no-check") a.golden = [];
    else if (arg === "-h" || arg === "--help") {
      process.stdout.write(fs.readFileSync(__filename, "utf8").split("\n").slice(1, 12).join("\n") + "\n");
      process.exit(0);
    } else if (!arg.startsWith("--") && !a.model) a.model = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!a.model) throw new Error("usage: ort_bench.js MODEL.onnx [--inputs ...] [--threads N] [--iters K]");
  return a;
}

function defaultFiles(dir, prefix, count) {
  const out = [];
  for (let k = 0; k < count; ++k) {
    const f = path.join(dir, `${prefix}_${k}.npy`);
    if (!fs.existsSync(f)) return null;
    out.push(f);
  }
  return out;
}

function compareOutput(got, want) {
  // max |got - want| and the same divided by max |want| (scale-free), plus shape agreement
  const g = got.data, w = want.data;
  const sameShape = got.dims.length === want.dims.length && got.dims.every((d, i) => Number(d) === want.dims[i]);
  if (!sameShape || g.length !== w.length) return { shape_ok: false, got_shape: got.dims.map(Number), want_shape: want.dims };
  let maxAbs = 0, maxRef = 0;
  for (let i = 0; i < g.length; ++i) {
    const d = Math.abs(Number(g[i]) - Number(w[i]));
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(Number(w[i])));
  }
  return { shape_ok: true, max_abs_diff: maxAbs, max_abs_golden: maxRef, rel_to_max: maxRef > 0 ? maxAbs / maxRef : maxAbs };
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

// VmHWM: this address space's peak (maxRSS of getrusage survives exec: it can be the parent's)
function peakRssBytes() {
  try {
    const m = /VmHWM:\s*(\d+)\s*kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch (e) {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const dir = path.dirname(a.model);
  const t0 = now();
  const options = {
    executionProviders: ["cpu"],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  // ORT's default lets idle intra-op threads spin; --no-spin turns that off (shared machines)
  if (!a.spin) options.extra = { session: { intra_op: { allow_spinning: "0" } } };
  const session = await ort.InferenceSession.create(a.model, options);
  const loadMs = now() - t0;
  const names = session.inputNames;
  const inputFiles = a.inputs || defaultFiles(dir, "input", names.length);
  if (!inputFiles || inputFiles.length !== names.length)
    throw new Error(`the model has ${names.length} input(s) (${names.join(", ")}): pass --inputs with one .npy each`);
  const feeds = {};
  names.forEach((n, k) => {
    const arr = readNpy(inputFiles[k]);
    feeds[n] = new ort.Tensor(arr.dtype, arr.data, arr.dims);
  });

  const t1 = now();
  let out = await session.run(feeds);
  const firstMs = now() - t1;

  // sanity: ORT's outputs against the golden ones
  let check = null;
  const goldenFiles = a.golden || defaultFiles(dir, "output", session.outputNames.length);
  if (goldenFiles && goldenFiles.length) {
    check = session.outputNames.map((n, k) => Object.assign({ output: n }, compareOutput(out[n], readNpy(goldenFiles[k]))));
  }
  out = null;

  for (let i = 0; i < a.warmup; ++i) await session.run(feeds);
  const times = [];
  const cpu0 = process.cpuUsage();
  const tStart = now();
  while (times.length < a.iters || now() - tStart < a.minTimeMs) {
    const t = now();
    await session.run(feeds);
    times.push(now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuPerRun = (cpu.user + cpu.system) / 1e3 / times.length;  // whole process (all threads)
  times.sort((x, y) => x - y);
  const n = times.length;
  const median = n % 2 ? times[(n - 1) / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  const result = {
    model: a.model,
    runtime: "onnxruntime-node " + (ort.env.versions ? ort.env.versions.node : "?"),
    threads: a.threads,
    spinning: a.spin,
    iters: n,
    warmup: a.warmup,
    median_ms: median,
    min_ms: times[0],
    max_ms: times[n - 1],
    load_ms: loadMs,
    first_run_ms: firstMs,
    peak_rss_bytes: peakRssBytes(),
    cpu_ms_per_run: cpuPerRun,
    check,
  };
  await session.release();
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  process.stderr.write(`ort_bench: error: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
