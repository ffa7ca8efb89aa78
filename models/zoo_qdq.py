"""ONNX Runtime's QDQ min/max int8 export of the zoo's vision models, for the int8 latency comparison.

Issue 4 compares Tern's int8 latency with ORT's faster mode: min(ORT fp32 on model.onnx, ORT on
the QDQ int8 model). This writes that QDQ model for each vision model of the zoo with the same
rewrite as the Fashion-MNIST baseline (models/fmnist/ort_qdq.py: ORT's quantize_static(QDQ,
MinMax, per_channel=True, activations QUInt8, weights QInt8), reimplemented because ORT's
Python tools are not installable here; its docstring lists the rules):

    zoo/NAME/calib.npy        calibration set [N, C, H, W]: input_0.npy's image plus N-1 seeded
                              N(0, 1) images of the same shape (the zoo has random weights and no
                              dataset, so accuracy is not the point, only speed); `tern quantize
                              --calib` reads the same file (tools/bench/compare.py --int8)
    zoo/NAME/model.qdq.onnx   the QDQ graph, calibrated on calib.npy (min/max over every float
                              tensor, by models/onnx_eval.py on the fp32 graph)
    zoo/NAME/qdq.json         counts of the rewrite, and a sanity check: ORT's outputs of the QDQ
                              model against ORT fp32 on the calibration images plus as many held-out
                              random images (max |diff|, relative to max |fp32|, argmax agreement).
                              Random-weight models have near-tied logits, so disagreement is
                              expected there and reported, not a failure.

    /usr/bin/python3 models/zoo_qdq.py [--models NAME ...] [--count 8] [--zoo models/zoo] [--no-check]

Needs torch and onnx (as models/export.py) and, for the check, onnxruntime-node
(cd tools/bench && npm install --ignore-scripts). The files are build outputs (models/zoo is
not tracked).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "fmnist"))
import ort_qdq  # noqa: E402  (also puts models/ on sys.path for onnx_eval)

VISION = ["mobilevit_v1_xxs", "mobilevit_v2_050", "efficientformer_l1", "nextvit_small_hybrid", "deit_tiny"]
CALIB_SEED = 20261201
ORT_EVAL = os.path.join(ROOT, "tools", "bench", "ort_eval.js")


def calib_set(folder, count, seed):
    """input_0.npy's sample(s) first, then seeded N(0, 1) images of the same per-sample shape."""
    x0 = np.load(os.path.join(folder, "input_0.npy")).astype(np.float32)
    rng = np.random.default_rng(seed)
    extra = max(0, count - x0.shape[0])
    rand = rng.standard_normal((extra,) + x0.shape[1:], dtype=np.float32)
    return np.ascontiguousarray(np.concatenate([x0, rand])[:count])


def ort_logits(model, images, threads=1):
    """ORT's outputs for images [N, ...], one at a time (tools/bench/ort_eval.js --batch 1)."""
    with tempfile.TemporaryDirectory(prefix="zoo-qdq-") as tmp:
        labels, out = os.path.join(tmp, "labels.npy"), os.path.join(tmp, "logits.npy")
        imgs = os.path.join(tmp, "images.npy")
        np.save(imgs, images)
        np.save(labels, np.zeros(len(images), np.int64))
        cmd = ["node", ORT_EVAL, model, "--images", imgs, "--labels", labels, "--batch", "1",
               "--threads", str(threads), "--logits-out", out]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
        return np.load(out), json.loads(p.stdout.strip().splitlines()[-1])


def process(name, zoo, count, check):
    folder = os.path.join(zoo, name)
    src = os.path.join(folder, "model.onnx")
    t0 = time.time()
    calib = calib_set(folder, count, CALIB_SEED + VISION.index(name) if name in VISION else CALIB_SEED)
    np.save(os.path.join(folder, "calib.npy"), calib)
    model = ort_qdq.constants_to_initializers(onnx.load(src))
    ranges = ort_qdq.calibrate(model, calib, batch=1)
    t1 = time.time()
    qdq, stats = ort_qdq.quantize_qdq(model, ranges)
    onnx.checker.check_model(qdq)
    qpath = os.path.join(folder, "model.qdq.onnx")
    onnx.save(qdq, qpath)
    info = {"name": name, "calib": "calib.npy", "calib_samples": int(len(calib)), "calib_seed": CALIB_SEED,
            "qdq_model": "model.qdq.onnx", "qdq_bytes": os.path.getsize(qpath), "onnx_bytes": os.path.getsize(src),
            "calibrate_s": round(t1 - t0, 1), "rewrite_s": round(time.time() - t1, 1), **stats}
    if check:
        # held-out images (another seed) besides the calibration set
        held = np.random.default_rng(CALIB_SEED + 1000 + (VISION.index(name) if name in VISION else 0)).standard_normal(
            (count,) + calib.shape[1:], dtype=np.float32)
        imgs = np.concatenate([calib, held])
        try:
            ref, _ = ort_logits(src, imgs)
            got, _ = ort_logits(qpath, imgs)
            diff = np.abs(got.astype(np.float64) - ref)
            scale = float(np.abs(ref).max()) or 1.0
            info["check"] = {
                "images": int(len(imgs)), "calib_images": int(len(calib)),
                "max_abs_diff": float(diff.max()), "max_abs_fp32": scale, "rel_to_max": float(diff.max()) / scale,
                "argmax_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
                "argmax_agreement_held_out": float((got[len(calib):].argmax(1) == ref[len(calib):].argmax(1)).mean()),
                # how close the fp32 top-2 logits are, relative to max |logit| (ties flip under int8 noise)
                "median_top2_gap_rel": float(np.median(np.diff(np.sort(ref, 1)[:, -2:], axis=1)) / scale),
            }
        except (RuntimeError, OSError) as e:
            info["check"] = {"error": str(e)}
    with open(os.path.join(folder, "qdq.json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)
        f.write("\n")
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=VISION, help="zoo models (default: the 5 vision models)")
    ap.add_argument("--zoo", default=os.path.join(HERE, "zoo"))
    ap.add_argument("--count", type=int, default=8, help="calibration images (default 8: input_0 + 7 random)")
    ap.add_argument("--no-check", action="store_true", help="skip the ORT QDQ-vs-fp32 output check")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    failed = []
    for name in args.models:
        try:
            info = process(name, args.zoo, args.count, not args.no_check)
        except Exception as e:  # report and go on with the other models
            print(f"{name}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        print(json.dumps(info), flush=True)
    if failed:
        sys.exit(f"zoo_qdq.py: failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
