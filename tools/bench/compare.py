#!/usr/bin/python3
"""Tern vs ONNX Runtime on the model zoo, same ONNX models, same inputs, same thread counts.

    /usr/bin/python3 tools/bench/compare.py [--models NAME ...] [--threads 1 2] [--rounds 5]
                                            [--iters 20] [--markdown] [--json FILE]
    /usr/bin/python3 tools/bench/compare.py --seq-lens 64 256 1024 [--models lmuformer ...]

Needs: a built `tern` CLI (--tern, else $TERN, else build/host-release/tools/tern, else the newest
build/*/tools/tern), the zoo
(`/usr/bin/python3 models/export.py --unrolled`), and onnxruntime-node
(`cd tools/bench && npm install --ignore-scripts`). The peak-FLOPs probe is tern_peak_flops from
the build (else compiled here from tools/bench/peak_flops.cpp).

For every model: `tern compile model.onnx` (+ compile_args.txt), then R rounds; each round runs,
for every thread count T, `tern bench --json --threads T` and `node ort_bench.js --threads T` on the
golden inputs (which of the two goes first alternates between rounds). The recurrent models with
tern ops run in ORT as model_unrolled.onnx (the same network in standard ops). A model's latency is
the minimum over rounds of each round's median: the machine is shared and its second core noisy,
so the least disturbed round is the best estimate of what the code costs.

Reported per model and T: Tern ms, ORT ms, ratio Tern/ORT, Tern's fraction of the fp32 peak
(2 x MACs / latency / (T x single-core peak); MACs from meta.json), the 2-thread speedup, start-up
(plan load + session create, first run), and peak RSS against the memory bound of issue 3
(1.2 x (weights + arena) + 16 MiB). Geometric means of the ratio over the vision models.

--seq-lens mode runs the recurrent models at other sequence lengths (inputs: the golden ones tiled
along the sequence; see seq_variant) and shows Tern's (and ORT's) latency per step: a flat column
means cost linear in the sequence length.

--int8 mode (issue 4) runs the vision models only: Tern's int8 plan (`tern quantize model.onnx
--calib calib.npy --max-drop -1`), Tern's fp32 plan, ORT on model.onnx and ORT on model.qdq.onnx
(ORT's QDQ min/max int8 export, models/zoo_qdq.py, which also writes zoo/NAME/calib.npy, the
calibration images both quantizers use; run for a model whose files are missing), in alternating
rounds (the one that goes first rotates). Reported per model and T: the four latencies, Tern int8 /
Tern fp32, and Tern int8 / min(ORT fp32, ORT QDQ) with its geomean (issue 4 wants <= 0.6, and
int8 <= 0.5 x Tern fp32):

    /usr/bin/python3 tools/bench/compare.py --int8 --threads 1 2 --rounds 3 --iters 10 --json build/bench-int8.json
"""
import argparse
import datetime
import glob
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VISION = ["mobilevit_v1_xxs", "mobilevit_v2_050", "efficientformer_l1", "nextvit_small_hybrid", "deit_tiny"]
RECURRENT = ["lmuformer", "spiking_lmuformer", "mamba_small"]
MODELS = VISION + RECURRENT
MIB = 1 << 20


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_json(cmd, timeout=1800):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)}: no JSON in output: {p.stdout[-500:]}")
    return json.loads(lines[-1])


# --------------------------------------------------------------------------------------------
# tools
# --------------------------------------------------------------------------------------------

def find_tern(arg):
    if arg:
        return arg
    if os.environ.get("TERN"):
        return os.environ["TERN"]
    main_build = os.path.join(ROOT, "build", "host-release", "tools", "tern")
    if os.access(main_build, os.X_OK):
        return main_build
    cands = [p for p in glob.glob(os.path.join(ROOT, "build", "*", "tools", "tern")) if os.access(p, os.X_OK)]
    if not cands:
        sys.exit("compare.py: no tern CLI found: build it (cmake --build build/<dir> --target tern_cli) or pass --tern")
    return max(cands, key=os.path.getmtime)


def find_peak_probe(tern, work):
    built = os.path.join(os.path.dirname(tern), "tern_peak_flops")
    if os.access(built, os.X_OK):
        return built
    exe = os.path.join(work, "tern_peak_flops")
    src = os.path.join(HERE, "peak_flops.cpp")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
        subprocess.run([cxx, "-O2", "-std=c++17", "-pthread", src, "-o", exe], check=True)
    return exe


def measure_peak(probe, threads):
    r = run_json([probe, "--json", "--threads", str(threads), "--trials", "7", "--seconds", "0.1"])
    return r


def git_rev():
    try:
        p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
        return p.stdout.strip() + ("+local changes" if dirty.stdout.strip() else "") if p.returncode == 0 else None
    except OSError:
        return None


def cpu_summary():
    info = {"machine": platform.machine(), "kernel": platform.release()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        keep = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "L1d cache", "L2 cache", "L3 cache",
                "Hypervisor vendor")
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in keep:
                info[k.strip()] = v.strip()
        flags = next((ln.split(":", 1)[1].split() for ln in out.splitlines() if ln.startswith("Flags")), [])
        info["simd"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "asimd")
                                if f in flags)
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["memory"] = f"{int(f.readline().split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------------------------
# one model
# --------------------------------------------------------------------------------------------

def compile_args(folder):
    path = os.path.join(folder, "compile_args.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


PREPACK = True  # tern compile --prepack (the CPU kernels' packed weights in the plan: start-up); --no-prepack


def compile_plan(tern, folder, plan):
    cmd = [tern, "compile", os.path.join(folder, "model.onnx"), "-o", plan, "-q"] + compile_args(folder) + (
        ["--prepack"] if PREPACK else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"tern compile failed: {p.stderr.strip()[-2000:]}")


def ort_model(folder):
    un = os.path.join(folder, "model_unrolled.onnx")
    return un if os.path.exists(un) else os.path.join(folder, "model.onnx")


def bench_model(args, tern, folder, plan, meta):
    inputs = [{"name": e["name"], "file": os.path.join(folder, e["file"])} for e in meta["inputs"]]
    return run_rounds(args, tern, plan, inputs, ort_model(folder), check=True)


def run_rounds(args, tern, plan, inputs, onnx, check):
    """Alternating rounds of tern bench and ort_bench.js; returns {T: {"tern": [...], "ort": [...]}}."""
    tern_inputs = [f"--input={e['name']}={e['file']}" for e in inputs]
    res = {t: {"tern": [], "ort": []} for t in args.threads}
    for r in range(args.rounds):
        for t in args.threads:
            tern_cmd = [tern, "bench", plan, "--json", "--threads", str(t), "--iters", str(args.iters),
                        "--warmup", str(args.warmup), "--backend", args.backend] + tern_inputs
            ort_cmd = ["node", os.path.join(HERE, "ort_bench.js"), onnx, "--threads", str(t), "--iters", str(args.iters),
                       "--warmup", str(args.warmup), "--inputs"] + [e["file"] for e in inputs]
            if args.ort_no_spin:
                ort_cmd.append("--no-spin")
            if not check:
                ort_cmd.append("--no-check")
            order = [("tern", tern_cmd), ("ort", ort_cmd)]
            if r % 2:
                order.reverse()
            for name, cmd in order:
                if name == "ort" and args.no_ort:
                    continue
                try:
                    res[t][name].append(run_json(cmd))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    log(f"  {name} T={t}: {e}")
                    res[t][name].append({"error": str(e)})
    return res


STAT = "median_ms"  # the per-round statistic minimised over rounds (--stat)


def best(runs, key=None):
    key = key or STAT
    vals = [r[key] for r in runs if key in r]
    return min(vals) if vals else None


def summarize(name, meta, res, peak1, args):
    rows = []
    for t in args.threads:
        tern_ms, ort_ms = best(res[t]["tern"]), best(res[t]["ort"])
        ok_t = [r for r in res[t]["tern"] if "median_ms" in r]
        ok_o = [r for r in res[t]["ort"] if "median_ms" in r]
        row = {"model": name, "threads": t, "tern_ms": tern_ms, "ort_ms": ort_ms,
               "ratio": tern_ms / ort_ms if tern_ms and ort_ms else None,
               "macs": meta["macs"],
               "ort_model": os.path.basename(ort_model(os.path.dirname(meta["_path"]))),
               "tern_min_ms": best(res[t]["tern"], "min_ms"), "ort_min_ms": best(res[t]["ort"], "min_ms"),
               "tern_cpu_ms": best(res[t]["tern"], "cpu_ms_per_run"), "ort_cpu_ms": best(res[t]["ort"], "cpu_ms_per_run"),
               "rounds_tern": [r.get("median_ms") for r in res[t]["tern"]],
               "rounds_ort": [r.get("median_ms") for r in res[t]["ort"]],
               "runs": res[t]}
        if tern_ms:
            row["tern_peak_frac"] = 2.0 * meta["macs"] / (tern_ms * 1e-3) / (t * peak1 * 1e9)
            row["tern_gflops"] = 2.0 * meta["macs"] / (tern_ms * 1e-3) / 1e9
        if t == 1 and row["tern_cpu_ms"]:
            row["tern_peak_frac_cpu"] = 2.0 * meta["macs"] / (row["tern_cpu_ms"] * 1e-3) / (peak1 * 1e9)
        if ort_ms:
            ort_macs = meta.get("unrolled", {}).get("macs", meta["macs"]) if row["ort_model"] != "model.onnx" else meta["macs"]
            row["ort_peak_frac"] = 2.0 * ort_macs / (ort_ms * 1e-3) / (t * peak1 * 1e9)
        if ok_t:
            last = ok_t[-1]
            row["backend"] = last.get("backend")
            for k in ("load_ms", "plan_load_ms", "session_create_ms", "load_cpu_ms", "weights_bytes", "arena_bytes",
                      "plan_file_bytes"):
                if k in last:
                    row[k] = last[k]
            row["first_run_ms"] = min(r["first_run_ms"] for r in ok_t if "first_run_ms" in r) if any(
                "first_run_ms" in r for r in ok_t) else None
            row["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in ok_t)
            if "weights_bytes" in last and "arena_bytes" in last:
                bound = 1.2 * (last["weights_bytes"] + last["arena_bytes"]) + 16 * MIB
                row["rss_bound_bytes"] = bound
                row["rss_ok"] = row["peak_rss_bytes"] <= bound
        if ok_o:
            row["ort_peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in ok_o)
            chk = ok_o[-1].get("check")
            if chk:
                row["ort_check_rel"] = max(c.get("rel_to_max", float("inf")) for c in chk)
        rows.append(row)
    return rows


def check_outputs(tern, folder, plan, meta, work, backend):
    """tern run on the golden inputs with `backend` and with the reference backend; max |diff| / max |ref|."""
    try:
        import numpy as np
    except ImportError:
        return {"error": "numpy missing"}
    out = {}
    ins = [f"--input={e['name']}={os.path.join(folder, e['file'])}" for e in meta["inputs"]]
    results = {}
    for be in (backend, "reference"):
        outs = [f"--output={e['name']}={os.path.join(work, meta['name'] + '.' + be + '.' + e['file'])}" for e in meta["outputs"]]
        p = subprocess.run([tern, "run", plan, "--backend", be, "-q"] + ins + outs, capture_output=True, text=True)
        if p.returncode != 0:
            return {"error": f"tern run --backend {be}: {p.stderr.strip()[-500:]}"}
        results[be] = [np.load(os.path.join(work, meta["name"] + "." + be + "." + e["file"])) for e in meta["outputs"]]
    golden = [np.load(os.path.join(folder, e["file"])) for e in meta["outputs"]]

    def rel(a, b):
        return float(np.max(np.abs(a.astype(np.float64) - b)) / max(float(np.max(np.abs(b))), 1e-30))
    out["vs_reference"] = max(rel(a, b) for a, b in zip(results[backend], results["reference"]))
    out["vs_golden"] = max(rel(a, b) for a, b in zip(results[backend], golden))
    return out


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------

def fmt(v, spec=".2f", none="—"):
    return none if v is None else format(v, spec)


def geomean(vals):
    vals = [v for v in vals if v]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


def table(headers, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def report(all_rows, checks, peaks, args, md):
    out = []
    h = (lambda s: f"\n### {s}\n") if md else (lambda s: f"\n== {s} ==")
    out.append(h(f"Latency: Tern vs ONNX Runtime (min over {args.rounds} rounds of each round's {args.stat} of {args.iters} runs)"))
    rows = []
    for r in all_rows:
        tc, oc = r.get("tern_cpu_ms"), r.get("ort_cpu_ms")
        rows.append([r["model"], r["threads"], fmt(r["tern_ms"]), fmt(r["ort_ms"]), fmt(r["ratio"], ".3f"),
                     fmt(100 * r["tern_peak_frac"] if r.get("tern_peak_frac") else None, ".1f"),
                     fmt(100 * r["ort_peak_frac"] if r.get("ort_peak_frac") else None, ".1f"),
                     fmt(tc if r["threads"] == 1 else None), fmt(oc if r["threads"] == 1 else None),
                     fmt(tc / oc if tc and oc and r["threads"] == 1 else None, ".3f"),
                     fmt(100 * r["tern_peak_frac_cpu"] if r.get("tern_peak_frac_cpu") else None, ".1f"),
                     r.get("ort_model", ""), r.get("backend", "")])
    out.append(table(["model", "threads", "tern ms", "ort ms", "tern/ort", "tern % peak", "ort % peak", "tern CPU ms", "ort CPU ms",
                      "CPU tern/ort", "tern % peak (CPU)", "ORT runs", "tern backend"], rows, md))
    out.append("")
    out.append(("- " if md else "") + "CPU ms (1 thread only): process CPU time per run, min over rounds; unlike wall time it "
               "excludes time spent descheduled, so on a loaded machine it is the better estimate of single-thread latency")
    out.append("")
    for t in args.threads:
        g = geomean([r["ratio"] for r in all_rows if r["threads"] == t and r["model"] in VISION])
        worst = max(((r["ratio"], r["model"]) for r in all_rows if r["threads"] == t and r["model"] in VISION and r["ratio"]),
                    default=None)
        if g is not None:
            line = f"geomean tern/ort over the vision models at {t} thread{'s' if t > 1 else ''}: {g:.3f}"
            if worst:
                line += f" (worst {worst[1]} {worst[0]:.3f}; issue 3 wants <= 0.9, none above 1.1)"
            out.append(("- " if md else "") + line)
    rec = [r for r in all_rows if r["model"] in RECURRENT and r["ratio"]]
    for r in rec:
        out.append(("- " if md else "") + f"{r['model']} at {r['threads']} thread{'s' if r['threads'] > 1 else ''}: "
                   f"ORT latency / Tern latency = {1 / r['ratio']:.2f} (ORT on {r.get('ort_model')})")

    if len(args.threads) > 1 and 1 in args.threads:
        out.append(h("Thread scaling (latency at 1 thread / latency at T threads)"))
        rows = []
        by = {(r["model"], r["threads"]): r for r in all_rows}
        for m in dict.fromkeys(r["model"] for r in all_rows):
            for t in args.threads:
                if t == 1:
                    continue
                a, b = by.get((m, 1)), by.get((m, t))
                if not a or not b:
                    continue
                st = a["tern_ms"] / b["tern_ms"] if a["tern_ms"] and b["tern_ms"] else None
                so = a["ort_ms"] / b["ort_ms"] if a["ort_ms"] and b["ort_ms"] else None
                rows.append([m, t, fmt(st), fmt(so)])
        out.append(table(["model", "T", "tern speedup", "ort speedup"], rows, md))
        out.append("")
        gs = geomean([float(r[2]) for r in rows if r[2] != "—" and r[0] in VISION])
        if gs:
            out.append(("- " if md else "") + f"geomean Tern speedup over the vision models: {gs:.2f}x (issue 3 wants >= 1.5x)")

    out.append(h("Start-up and memory (tern bench, 1st thread count)"))
    rows = []
    t0 = args.threads[0]
    for r in all_rows:
        if r["threads"] != t0 or r.get("peak_rss_bytes") is None:
            continue
        rows.append([r["model"], fmt(r.get("plan_load_ms")), fmt(r.get("session_create_ms")), fmt(r.get("load_cpu_ms")),
                     fmt(r.get("first_run_ms")),
                     fmt(r.get("weights_bytes", 0) / MIB, ".1f"), fmt(r.get("arena_bytes", 0) / MIB, ".1f"),
                     fmt(r["peak_rss_bytes"] / MIB, ".1f"), fmt(r.get("rss_bound_bytes", 0) / MIB, ".1f"),
                     "yes" if r.get("rss_ok") else "NO",
                     fmt(r.get("ort_peak_rss_bytes", 0) / MIB if r.get("ort_peak_rss_bytes") else None, ".1f")])
    out.append(table(["model", "plan load ms", "session create ms", "load CPU ms", "first run ms", "weights MiB", "arena MiB", "peak RSS MiB",
                      "bound MiB", "within", "ORT RSS MiB"], rows, md))
    out.append("")
    out.append(("- " if md else "") + "bound = 1.2 x (weights + arena) + 16 MiB (issue 3); plan load = mmap + verification "
               "(checksums, indices, shape inference); session create = arenas + backend prepare (weight packing)")

    if peaks:
        out.append(h("Peak"))
        for t, p in sorted(peaks.items()):
            out.append(("- " if md else "") + f"fp32 FMA peak, {t} thread{'s' if t > 1 else ''} ({p['isa']}): {p['gflops']:.1f} GFLOP/s"
                       + (f" per CPU second ({p['gflops_wall']:.1f} per wall second on this shared machine)" if "gflops_wall" in p else "")
                       + (f", per thread {', '.join(f'{g:.1f}' for g in p['gflops_per_thread'])}" if t > 1 else ""))
        out.append(("- " if md else "") + f"% peak = 2 x MACs / latency / (T x {peaks[1]['gflops'] if 1 in peaks else args.peak_gflops:.1f} GFLOP/s)"
                   if 1 in peaks else "")
    if checks:
        out.append(h("Accuracy (tern run on the golden inputs: max |diff| / max |reference|)"))
        rows = [[m, fmt(c.get("vs_reference"), ".2e"), fmt(c.get("vs_golden"), ".2e"), c.get("error", "")] for m, c in checks.items()]
        out.append(table(["model", f"{args.backend} vs reference backend", "vs PyTorch golden", "error"], rows, md))
    out.append(h("Issue 3 acceptance, as measured here"))
    out.append(acceptance(all_rows, checks, args, md))
    ort_bad = [r for r in all_rows if r.get("ort_check_rel") is not None and r["ort_check_rel"] > 1e-4]
    if ort_bad:
        out.append("ORT outputs differ from golden: " + ", ".join(f"{r['model']} {r['ort_check_rel']:.2e}" for r in ort_bad))
    return "\n".join(out)


def acceptance(all_rows, checks, args, md):
    """One line per criterion of issue 3 that this run measures: PASS/FAIL and the figures."""
    lines = []

    def add(ok, text):
        lines.append(("- " if md else "  ") + ("PASS " if ok else "FAIL ") + text)
    by = {(r["model"], r["threads"]): r for r in all_rows}
    for t in args.threads:
        vis = [r for r in all_rows if r["threads"] == t and r["model"] in VISION and r["ratio"]]
        if vis:
            g = geomean([r["ratio"] for r in vis])
            worst = max(vis, key=lambda r: r["ratio"])
            add(g <= 0.9 and worst["ratio"] <= 1.1, f"vision geomean tern/ort at {t} thread(s) {g:.3f} (<= 0.9), "
                f"worst {worst['model']} {worst['ratio']:.3f} (<= 1.1)")
    vis1 = [r for r in all_rows if r["threads"] == 1 and r["model"] in VISION and r.get("tern_cpu_ms") and r.get("ort_cpu_ms")]
    if vis1:
        cr = [(r["tern_cpu_ms"] / r["ort_cpu_ms"], r["model"]) for r in vis1]
        g, worst = geomean([v for v, _ in cr]), max(cr)
        add(g <= 0.9 and worst[0] <= 1.1, f"same, 1 thread, by CPU time per run: geomean {g:.3f}, worst {worst[1]} {worst[0]:.3f}")
    for m, need in (("spiking_lmuformer", 10.0), ("mamba_small", 10.0), ("lmuformer", 1.5)):
        for t in args.threads:
            r = by.get((m, t))
            if r and r["ratio"]:
                add(1 / r["ratio"] >= need, f"{m} at {t} thread(s): ORT/Tern latency {1 / r['ratio']:.2f} (>= {need:g})")
        r = by.get((m, 1))
        if r and r.get("tern_cpu_ms") and r.get("ort_cpu_ms"):
            v = r["ort_cpu_ms"] / r["tern_cpu_ms"]
            add(v >= need, f"{m} at 1 thread by CPU time per run: ORT/Tern {v:.2f} (>= {need:g})")
    for m in RECURRENT:
        r = by.get((m, 1))
        if r and r.get("tern_peak_frac"):
            add(r["tern_peak_frac"] >= 0.25, f"{m} at 1 thread: {100 * r['tern_peak_frac']:.1f} % of fp32 peak (>= 25 %)")
        if r and r.get("tern_peak_frac_cpu"):
            add(r["tern_peak_frac_cpu"] >= 0.25, f"{m} at 1 thread by CPU time: {100 * r['tern_peak_frac_cpu']:.1f} % of fp32 peak (>= 25 %)")
    t2 = [t for t in args.threads if t == 2]
    if t2 and 1 in args.threads:
        sp = [(by[(m, 1)]["tern_ms"] / by[(m, 2)]["tern_ms"], m) for m in VISION
              if (m, 1) in by and (m, 2) in by and by[(m, 1)]["tern_ms"] and by[(m, 2)]["tern_ms"]]
        if sp:
            lo = min(sp)
            add(lo[0] >= 1.5, f"2 threads over 1 on the vision models: lowest {lo[1]} {lo[0]:.2f}x, geomean "
                f"{geomean([v for v, _ in sp]):.2f}x (>= 1.5x)")
    mem = [r for r in all_rows if r["threads"] == args.threads[0] and r.get("rss_bound_bytes")]
    if mem:
        bad = [r for r in mem if not r["rss_ok"]]
        add(not bad, "peak RSS <= 1.2 x (weights + arena) + 16 MiB: " + (
            "all models" if not bad else "over for " + ", ".join(
                f"{r['model']} ({r['peak_rss_bytes'] / MIB:.1f} > {r['rss_bound_bytes'] / MIB:.1f} MiB)" for r in bad)))
        big = max(mem, key=lambda r: r.get("weights_bytes", 0))
        if big.get("load_ms") is not None and big.get("first_run_ms") is not None and big.get("tern_ms"):
            extra = big["load_ms"] + max(0.0, big["first_run_ms"] - big["tern_ms"])
            add(extra <= 5.0, f"start-up of the largest model ({big['model']}{', plan compiled with --prepack' if PREPACK else ''}): "
                f"load {big['load_ms']:.2f} ms + first-run "
                f"excess {max(0.0, big['first_run_ms'] - big['tern_ms']):.2f} ms = {extra:.2f} ms (<= 5 ms beyond the mmap)"
                + (f"; load CPU time {big['load_cpu_ms']:.2f} ms" if big.get("load_cpu_ms") is not None else ""))
    if checks:
        vals = [(c["vs_reference"], m) for m, c in checks.items() if "vs_reference" in c]
        errs = [m for m, c in checks.items() if "error" in c]
        if vals or errs:
            worst = max(vals) if vals else (float("inf"), "?")
            add(not errs and worst[0] <= 1e-4, f"outputs vs the reference backend: worst {worst[1]} {worst[0]:.2e} (<= 1e-4 "
                "relative to max |ref|)" + (f"; failed: {', '.join(errs)}" if errs else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# sequence-length sweep
# --------------------------------------------------------------------------------------------

LOWER_SCRIPT = """
import sys, onnx
sys.path.insert(0, sys.argv[1])
from tern_export.lowering import lower_tern_ops
onnx.save(lower_tern_ops(onnx.load(sys.argv[2]), seq_len=int(sys.argv[3])), sys.argv[4])
"""


def seq_variant(folder, meta, L, work):
    """The zoo model at sequence length L, without re-exporting: Tern compiles model.onnx (symbolic
    seq) for L; the inputs are the golden ones tiled/cropped along the sequence axis; ORT runs
    model_unrolled.onnx when its sequence is symbolic, else model.onnx lowered at L here
    (tern_export.lower_tern_ops, as export.py --unrolled does, minus the verification, which
    takes hours at 1024 steps). Returns (folder-like dict) with inputs, compile args, ORT model."""
    import numpy as np
    out = os.path.join(work, f"{meta['name']}.seq{L}")
    os.makedirs(out, exist_ok=True)
    inputs, cargs = [], []
    for e in meta["inputs"]:
        arr = np.load(os.path.join(folder, e["file"]))
        for ax, d in enumerate(e["dims"]):
            if d == "seq":
                reps = -(-L // arr.shape[ax])
                arr = np.take(np.concatenate([arr] * reps, axis=ax), range(L), axis=ax)
        path = os.path.join(out, e["file"])
        np.save(path, np.ascontiguousarray(arr))
        inputs.append({"name": e["name"], "file": path})
        if any(isinstance(d, str) for d in e["dims"]):
            cargs += ["--input-shape", e["name"] + "=" + "x".join(str(n) for n in arr.shape)]
    un = meta.get("unrolled", {})
    symbolic = any("seq" in axes.values() for axes in un.get("dynamic_axes", {}).values())
    if symbolic:
        ort = os.path.join(folder, "model_unrolled.onnx")
    else:
        ort = os.path.join(out, "model_unrolled.onnx")
        if not os.path.exists(ort):
            subprocess.run(["/usr/bin/python3", "-c", LOWER_SCRIPT, os.path.join(ROOT, "models"), os.path.join(folder, "model.onnx"),
                            str(L), ort], check=True)
    return {"inputs": inputs, "compile_args": cargs, "ort_model": ort, "macs": meta["macs"] * L / meta["seq_len"]}


def seq_sweep(args, tern, work):
    models = [m for m in (args.models or RECURRENT) if m in RECURRENT]
    results = []
    for m in models:
        folder = os.path.join(args.zoo, m)
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        for L in args.seq_lens:
            try:
                v = seq_variant(folder, meta, L, work)
                plan = os.path.join(work, f"{m}.seq{L}.tern")
                p = subprocess.run([tern, "compile", os.path.join(folder, "model.onnx"), "-o", plan, "-q"] + v["compile_args"],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    raise RuntimeError(f"tern compile failed: {p.stderr.strip()[-1000:]}")
                res = run_rounds(args, tern, plan, v["inputs"], v["ort_model"], check=False)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                log(f"{m} seq {L}: {e}")
                continue
            for t in args.threads:
                tm, om = best(res[t]["tern"]), best(res[t]["ort"])
                results.append({"model": m, "seq_len": L, "threads": t, "tern_ms": tm, "ort_ms": om, "macs": v["macs"],
                                "batch": meta["batch"], "tern_cpu_ms": best(res[t]["tern"], "cpu_ms_per_run"),
                                "ort_cpu_ms": best(res[t]["ort"], "cpu_ms_per_run")})
            log(f"{m} seq {L}: " + ", ".join(f"T={t} tern {fmt(best(res[t]['tern']))} ort {fmt(best(res[t]['ort']))}"
                                              for t in args.threads))
    return results


def print_seq_report(header, results, peak1, args):
    rows, base = [], {}
    for r in sorted(results, key=lambda r: (r["model"], r["threads"], r["seq_len"])):
        key = (r["model"], r["threads"])
        per_step = r["tern_ms"] * 1e3 / r["seq_len"] if r["tern_ms"] else None
        base.setdefault(key, per_step)
        frac = 2.0 * r["macs"] / (r["tern_ms"] * 1e-3) / (r["threads"] * peak1 * 1e9) if r["tern_ms"] else None
        cpu = r.get("tern_cpu_ms") if r["threads"] == 1 else None
        cpu_step = cpu * 1e3 / r["seq_len"] if cpu else None
        base.setdefault(key + ("cpu",), cpu_step)
        cbase = base[key + ("cpu",)]
        rows.append([r["model"], r["threads"], r["seq_len"], fmt(r["tern_ms"]), fmt(per_step, ".1f"),
                     fmt(per_step / base[key] if per_step and base[key] else None, ".2f"),
                     fmt(cpu_step, ".1f"), fmt(cpu_step / cbase if cpu_step and cbase else None, ".2f"),
                     fmt(100 * frac if frac else None, ".1f"), fmt(r["ort_ms"]),
                     fmt(r["ort_ms"] * 1e3 / r["seq_len"] if r["ort_ms"] else None, ".1f"),
                     fmt(r["tern_ms"] / r["ort_ms"] if r["tern_ms"] and r["ort_ms"] else None, ".3f")])
    text = table(["model", "threads", "seq len", "tern ms", "tern us/step", "per-step vs shortest", "tern CPU us/step",
                  "CPU per-step vs shortest", "tern % peak", "ort ms", "ort us/step", "tern/ort"], rows, args.markdown)
    print("\n".join(("- " if args.markdown else "") + h for h in header))
    print(("\n### " if args.markdown else "\n== ") + "Sequence length sweep (recurrent models)" + ("\n" if args.markdown else " =="))
    print(text)
    if args.markdown:
        print("\n- us/step = latency / sequence length (batch 2); a flat column means cost linear in the sequence length")


# --------------------------------------------------------------------------------------------
# int8 mode (issue 4): Tern int8 vs ORT's faster mode, min(ORT fp32, ORT QDQ int8)
# --------------------------------------------------------------------------------------------

INT8_TOOLS = ("tern_int8", "tern_fp32", "ort_fp32", "ort_qdq")


def int8_prepare(args, tern, folder, m, work):
    """calib.npy + model.qdq.onnx (models/zoo_qdq.py, if missing), the fp32 plan and the int8 plan
    (tern quantize --calib calib.npy --max-drop D); returns {plan paths, quantize seconds}."""
    calib, qdq = os.path.join(folder, "calib.npy"), os.path.join(folder, "model.qdq.onnx")
    if not (os.path.exists(calib) and os.path.exists(qdq)):
        log(f"{m}: writing calib.npy and model.qdq.onnx (models/zoo_qdq.py)")
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "models", "zoo_qdq.py"), "--models", m, "--zoo", args.zoo],
                       check=True, stdout=subprocess.DEVNULL)
    fp32 = os.path.join(work, m + ".tern")
    compile_plan(tern, folder, fp32)
    int8 = os.path.join(work, m + ".int8.tern")
    cmd = [tern, "quantize", os.path.join(folder, "model.onnx"), "--calib", calib, "--max-drop", f"{args.int8_max_drop:g}",
           "-o", int8, "-q"] + compile_args(folder)
    t0 = datetime.datetime.now()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"tern quantize failed: {p.stderr.strip()[-2000:]}")
    qinfo = {}
    try:
        with open(os.path.join(folder, "qdq.json")) as f:
            qinfo = json.load(f)
    except (OSError, ValueError):
        pass
    return {"tern_int8": int8, "tern_fp32": fp32, "ort_fp32": os.path.join(folder, "model.onnx"), "ort_qdq": qdq,
            "quantize_s": (datetime.datetime.now() - t0).total_seconds(), "qdq_info": qinfo}


def int8_rounds(args, tern, prep, inputs):
    """Alternating rounds of the four measurements; the one that goes first rotates between rounds."""
    tern_inputs = [f"--input={e['name']}={e['file']}" for e in inputs]
    res = {t: {k: [] for k in INT8_TOOLS} for t in args.threads}
    for r in range(args.rounds):
        for t in args.threads:
            cmds = {}
            for k in ("tern_int8", "tern_fp32"):
                cmds[k] = [tern, "bench", prep[k], "--json", "--threads", str(t), "--iters", str(args.iters),
                           "--warmup", str(args.warmup), "--backend", args.backend] + tern_inputs
            for k in ("ort_fp32", "ort_qdq"):
                cmds[k] = ["node", os.path.join(HERE, "ort_bench.js"), prep[k], "--threads", str(t), "--iters", str(args.iters),
                           "--warmup", str(args.warmup), "--inputs"] + [e["file"] for e in inputs] + (
                               ["--no-spin"] if args.ort_no_spin else [])
            order = list(INT8_TOOLS[r % 4:] + INT8_TOOLS[:r % 4])
            for k in order:
                try:
                    res[t][k].append(run_json(cmds[k]))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    log(f"  {k} T={t}: {e}")
                    res[t][k].append({"error": str(e)})
    return res


def int8_summarize(m, prep, res, args):
    rows = []
    for t in args.threads:
        row = {"model": m, "threads": t, "quantize_s": prep["quantize_s"],
               "int8_plan_bytes": os.path.getsize(prep["tern_int8"]), "onnx_bytes": os.path.getsize(prep["ort_fp32"]),
               "qdq_check": prep["qdq_info"].get("check"), "runs": res[t]}
        for k in INT8_TOOLS:
            row[k + "_ms"] = best(res[t][k])
            row[k + "_cpu_ms"] = best(res[t][k], "cpu_ms_per_run")
            row[k + "_rounds"] = [x.get("median_ms") for x in res[t][k]]
            chk = next((x.get("check") for x in res[t][k] if x.get("check")), None)
            if chk:
                row[k + "_vs_golden"] = max(c.get("rel_to_max", float("inf")) for c in chk)
        ort = [v for v in (row["ort_fp32_ms"], row["ort_qdq_ms"]) if v]
        row["ort_best_ms"] = min(ort) if ort else None
        row["ort_best"] = None if not ort else ("qdq" if row["ort_qdq_ms"] and row["ort_qdq_ms"] <= (row["ort_fp32_ms"] or 1e30)
                                                 else "fp32")
        ti = row["tern_int8_ms"]
        row["ratio_ort"] = ti / row["ort_best_ms"] if ti and row["ort_best_ms"] else None
        row["ratio_fp32"] = ti / row["tern_fp32_ms"] if ti and row["tern_fp32_ms"] else None
        if t == 1:
            oc = [v for v in (row["ort_fp32_cpu_ms"], row["ort_qdq_cpu_ms"]) if v]
            row["ratio_ort_cpu"] = row["tern_int8_cpu_ms"] / min(oc) if row["tern_int8_cpu_ms"] and oc else None
        rows.append(row)
    return rows


def int8_report(rows, args, md):
    b = "- " if md else ""
    out = [("\n### " if md else "\n== ") + f"int8 latency: Tern int8 vs ORT's faster mode (min over {args.rounds} rounds of each "
           f"round's {args.stat} of {args.iters} runs)" + ("\n" if md else " ==")]
    trs = []
    for r in rows:
        qc = r.get("qdq_check") or {}
        trs.append([r["model"], r["threads"], fmt(r["tern_int8_ms"]), fmt(r["tern_fp32_ms"]), fmt(r["ratio_fp32"], ".3f"),
                    fmt(r["ort_fp32_ms"]), fmt(r["ort_qdq_ms"]),
                    fmt(r["ort_qdq_ms"] / r["ort_fp32_ms"] if r["ort_qdq_ms"] and r["ort_fp32_ms"] else None, ".3f"),
                    r["ort_best"] or "—", fmt(r["ratio_ort"], ".3f"),
                    fmt(r.get("ratio_ort_cpu"), ".3f") if r["threads"] == 1 else "—",
                    fmt(r["int8_plan_bytes"] / r["onnx_bytes"], ".3f"),
                    fmt(qc.get("rel_to_max"), ".3f"), fmt(100 * qc["argmax_agreement"] if "argmax_agreement" in qc else None, ".0f")])
    out.append(table(["model", "threads", "tern int8 ms", "tern fp32 ms", "int8/fp32", "ort fp32 ms", "ort qdq ms", "ort qdq/fp32",
                      "ort faster", "tern int8 / ort best", "same by CPU (T=1)", "int8 plan / onnx", "qdq vs fp32 rel", "qdq argmax %"],
                     trs, md))
    out.append("")
    out.append(b + "ort best = min(ORT fp32 on model.onnx, ORT on model.qdq.onnx: models/zoo_qdq.py, ORT's quantize_static QDQ "
               "min/max per-channel rewrite, calibrated on calib.npy); Tern int8 = `tern quantize --calib calib.npy --max-drop "
               f"{args.int8_max_drop:g}`; same calibration images for both")
    out.append(b + "qdq vs fp32 rel / argmax %: ORT QDQ outputs against ORT fp32 on the calibration + as many held-out random "
               "images (max |diff| / max |fp32|; random weights give near-tied logits, so these are noisy by nature)")
    out.append(("\n### " if md else "\n== ") + "Issue 4 latency acceptance, as measured here" + ("\n" if md else " =="))

    def add(ok, text):
        out.append(("- " if md else "  ") + ("PASS " if ok else "FAIL ") + text)
    for t in args.threads:
        tr = [r for r in rows if r["threads"] == t]
        ro = [(r["ratio_ort"], r["model"]) for r in tr if r["ratio_ort"]]
        if ro:
            g, worst = geomean([v for v, _ in ro]), max(ro)
            n_ok = sum(1 for v, _ in ro if v <= 0.6)
            add(g <= 0.6, f"geomean tern int8 / ORT best at {t} thread(s): {g:.3f} (<= 0.6); worst {worst[1]} {worst[0]:.3f}; "
                f"{n_ok}/{len(ro)} models <= 0.6")
        rf = [(r["ratio_fp32"], r["model"]) for r in tr if r["ratio_fp32"]]
        if rf:
            g, worst = geomean([v for v, _ in rf]), max(rf)
            add(g <= 0.5, f"geomean tern int8 / tern fp32 at {t} thread(s): {g:.3f} (<= 0.5); worst {worst[1]} {worst[0]:.3f}")
    rc = [(r["ratio_ort_cpu"], r["model"]) for r in rows if r["threads"] == 1 and r.get("ratio_ort_cpu")]
    if rc:
        add(geomean([v for v, _ in rc]) <= 0.6, f"same, 1 thread, by CPU time per run: geomean tern int8 / ORT best "
            f"{geomean([v for v, _ in rc]):.3f}, worst {max(rc)[1]} {max(rc)[0]:.3f}")
    sz = {r["model"]: r["int8_plan_bytes"] / r["onnx_bytes"] for r in rows}
    if sz:
        worst = max(sz.items(), key=lambda kv: kv[1])
        add(worst[1] <= 0.3, f"int8 plan <= 0.3 x ONNX file: worst {worst[0]} {worst[1]:.3f}")
    slower = [f"{r['model']} (T={r['threads']}: {r['ort_qdq_ms'] / r['ort_fp32_ms']:.2f}x)" for r in rows
              if r["ort_qdq_ms"] and r["ort_fp32_ms"] and r["ort_qdq_ms"] > r["ort_fp32_ms"]]
    if slower:
        out.append(b + "ORT's QDQ model slower than its fp32 one: " + ", ".join(slower))
    return "\n".join(out)


def int8_compare(args, tern, work):
    rows = []
    for m in [m for m in (args.models or VISION) if m in VISION]:
        folder = os.path.join(args.zoo, m)
        try:
            with open(os.path.join(folder, "meta.json")) as f:
                meta = json.load(f)
            prep = int8_prepare(args, tern, folder, m, work)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            log(f"{m}: {e}")
            continue
        inputs = [{"name": e["name"], "file": os.path.join(folder, e["file"])} for e in meta["inputs"]]
        res = int8_rounds(args, tern, prep, inputs)
        mr = int8_summarize(m, prep, res, args)
        rows += mr
        log(f"{m}: quantize {prep['quantize_s']:.1f} s; " + "; ".join(
            f"T={r['threads']} int8 {fmt(r['tern_int8_ms'])} fp32 {fmt(r['tern_fp32_ms'])} ort {fmt(r['ort_fp32_ms'])} "
            f"qdq {fmt(r['ort_qdq_ms'])} ratio {fmt(r['ratio_ort'], '.3f')}" for r in mr))
    return rows


def render(args):
    with open(args.render) as f:
        dump = json.load(f)
    for k, v in dump.get("args", {}).items():
        if k != "seq_lens" or v:
            setattr(args, k, v)
    peaks = {int(k): v for k, v in dump["peaks"].items()}
    if "int8_rows" in dump:
        print("\n".join(("- " if args.markdown else "") + h for h in dump["header"]))
        return print(int8_report(dump["int8_rows"], args, args.markdown))
    if "seq_sweep" in dump:
        return print_seq_report(dump["header"], dump["seq_sweep"], peaks[1]["gflops"], args)
    print("\n".join(("- " if args.markdown else "") + h for h in dump["header"]))
    print(report(dump["rows"], dump.get("checks", {}), peaks, args, args.markdown))


# --------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=MODELS, help="models to run (default: all 8)")
    p.add_argument("--zoo", default=os.path.join(ROOT, "models", "zoo"))
    p.add_argument("--tern", help="tern CLI (default $TERN, build/host-release/tools/tern, else the newest build/*/tools/tern)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per model and thread count (default 5)")
    p.add_argument("--iters", type=int, default=20, help="timed runs per round and tool (default 20)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--stat", choices=["median", "min"], default="median",
                   help="per-round statistic whose minimum over rounds is reported (default median)")
    p.add_argument("--tern-copy", action="store_true",
                   help="run a copy of the tern binary (so rebuilding it during a long run does not mix versions)")
    p.add_argument("--ort-no-spin", action="store_true", help="ORT: disable intra-op thread spinning (default: ORT's default)")
    p.add_argument("--backend", default="cpu", help="tern backend (default cpu)")
    p.add_argument("--work", help="folder for plans and outputs (default: a temporary folder)")
    p.add_argument("--peak-gflops", type=float, help="single-core fp32 peak in GFLOP/s instead of measuring it")
    p.add_argument("--check", action="store_true", help="also compare Tern's outputs with the reference backend and golden")
    p.add_argument("--no-ort", action="store_true", help="Tern only")
    p.add_argument("--seq-lens", nargs="+", type=int, help="sequence-length sweep of the recurrent models instead")
    p.add_argument("--int8", action="store_true",
                   help="issue 4's int8 latency instead: on the vision models, Tern int8 (tern quantize --calib "
                        "zoo/NAME/calib.npy) vs Tern fp32, ORT fp32 and ORT on zoo/NAME/model.qdq.onnx (both written by "
                        "models/zoo_qdq.py when missing); ratio Tern int8 / min(ORT fp32, ORT QDQ) and its geomean")
    p.add_argument("--int8-max-drop", type=float, default=-1.0,
                   help="--int8: tern quantize --max-drop (default -1: every layer int8)")
    p.add_argument("--no-prepack", action="store_true",
                   help="compile Tern's fp32 plans without --prepack (weights then packed at session creation: slower start-up)")
    p.add_argument("--markdown", action="store_true", help="print Markdown (for docs/benchmarks.md)")
    p.add_argument("--json", help="also write every measurement to this JSON file")
    p.add_argument("--render", metavar="JSON", help="print the report of a --json file again (e.g. with --markdown); measures nothing")
    args = p.parse_args()
    global PREPACK
    PREPACK = not args.no_prepack
    if args.render:
        return render(args)
    if args.int8 and (args.no_ort or args.seq_lens):
        p.error("--int8 compares with ORT on the vision models: not with --no-ort or --seq-lens")

    global STAT
    STAT = args.stat + "_ms"
    tern = tern_orig = find_tern(args.tern)
    work = args.work or tempfile.mkdtemp(prefix="tern-bench-")
    os.makedirs(work, exist_ok=True)
    if args.tern_copy:
        snap = os.path.join(work, "tern")
        shutil.copy2(tern, snap)
        probe = os.path.join(os.path.dirname(tern), "tern_peak_flops")
        if os.access(probe, os.X_OK):
            shutil.copy2(probe, os.path.join(work, "tern_peak_flops"))
        tern = snap
    if not args.no_ort and not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        sys.exit("compare.py: onnxruntime-node missing: (cd tools/bench && npm install --ignore-scripts), or --no-ort")
    log(f"tern: {tern}; work: {work}")

    peaks = {}
    if args.int8:
        pass  # no %-of-peak columns in the int8 tables
    elif args.peak_gflops:
        peaks[1] = {"isa": "given", "gflops": args.peak_gflops, "gflops_per_thread": [args.peak_gflops]}
    else:
        probe = find_peak_probe(tern, work)
        for t in sorted(set([1] + args.threads)):
            peaks[t] = measure_peak(probe, t)
            log(f"peak {t} thread(s): {peaks[t]['gflops']:.1f} GFLOP/s ({peaks[t]['isa']})")
    peak1 = peaks[1]["gflops"] if peaks else None

    started = datetime.datetime.now(datetime.timezone.utc)
    header = [f"date: {started:%Y-%m-%d %H:%M} UTC", f"tern: {tern_orig}" + (f" (git {git_rev()})" if git_rev() else ""),
              f"command: /usr/bin/python3 tools/bench/compare.py {' '.join(sys.argv[1:])}",
              "cpu: " + ", ".join(f"{k} {v}" for k, v in cpu_summary().items())]
    try:
        header.append("load average at start: " + " ".join(open("/proc/loadavg").read().split()[:3]))
    except OSError:
        pass
    dump = {"header": header, "peaks": peaks,
            "args": {k: getattr(args, k) for k in ("threads", "rounds", "iters", "warmup", "stat", "backend", "seq_lens",
                                                     "int8_max_drop")}}

    if args.int8:
        rows = int8_compare(args, tern, work)
        dump["int8_rows"] = rows
        print("\n".join(("- " if args.markdown else "") + h for h in header))
        print(int8_report(rows, args, args.markdown))
    elif args.seq_lens:
        results = seq_sweep(args, tern, work)
        dump["seq_sweep"] = results
        print_seq_report(header, results, peak1, args)
    else:
        all_rows, checks = [], {}
        for m in args.models or MODELS:
            folder = os.path.join(args.zoo, m)
            meta_path = os.path.join(folder, "meta.json")
            if not os.path.exists(meta_path):
                log(f"{m}: {meta_path} missing (run models/export.py --unrolled)")
                continue
            with open(meta_path) as f:
                meta = json.load(f)
            meta["_path"] = meta_path
            plan = os.path.join(work, m + ".tern")
            try:
                compile_plan(tern, folder, plan)
            except RuntimeError as e:
                log(f"{m}: {e}")
                continue
            res = bench_model(args, tern, folder, plan, meta)
            rows = summarize(m, meta, res, peak1, args)
            all_rows += rows
            log(f"{m}: " + ", ".join(f"T={r['threads']} tern {fmt(r['tern_ms'])} ms ort {fmt(r['ort_ms'])} ms "
                                     f"ratio {fmt(r['ratio'], '.3f')}" for r in rows))
            if args.check:
                checks[m] = check_outputs(tern, folder, plan, meta, work, args.backend)
                log(f"{m}: check {checks[m]}")
        dump["rows"], dump["checks"] = all_rows, checks
        if args.markdown:
            print("\n".join("- " + h for h in header))
        else:
            print("\n".join(header))
        print(report(all_rows, checks, peaks, args, args.markdown))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dump, f, indent=1, default=str)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
