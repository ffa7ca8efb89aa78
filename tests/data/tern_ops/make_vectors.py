#!/usr/bin/python3
"""Golden vectors for the reference kernels of tern.SelectiveScan, tern.LMU and tern.LIF.

The expected outputs come from the ops' specification itself (shared/spec/tern_ops.py), never
from Tern's code. Each case is a folder <op>_<what>/ of .npy files:
  inputs            by the spec's argument names (u.npy, delta.npy, A.npy, ..., h0.npy);
                    an optional input that is absent has no file
  attributes        attr_<name>.npy, 0-d (int64 for ints and flags, float32 for floats)
  expected outputs  by the spec's output names (y.npy, hT.npy / m.npy, mT.npy / s.npy, vT.npy);
                    when the second output has no file the test asks for the first only
tests/reference/test_tern_ops.cpp lists the case names and checks the kernels against them.

Run from anywhere with /usr/bin/python3 (numpy only). The spec is found, in order, at $TERN_SPEC
(the file or its folder; when set, nowhere else), else <repo>/../shared/spec/tern_ops.py, else
<repo>/shared/spec/tern_ops.py.
Output is deterministic: rerunning rewrites the same bytes.

Sanity checks before writing (the script fails rather than write a fragile case):
  * every case is also run in float64 through the same spec; the float32 result must lie within a
    quarter of the test tolerance (rtol 1e-5, atol 1e-6) of it, so a correct float32 kernel with a
    different summation order still passes;
  * every LIF membrane potential h stays at least 1e-4 away from v_threshold (inputs are resampled
    until it does), and each LIF case has both spikes and silences. The smallest margin is printed.
"""
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # never leave a __pycache__ beside the shared spec

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
RTOL, ATOL = 1e-5, 1e-6
LIF_MIN_MARGIN = 1e-4


def load_spec():
    env = os.environ.get("TERN_SPEC")
    if env:  # when given, the only place looked at
        p = Path(env)
        candidates = [p / "tern_ops.py" if p.is_dir() else p]
    else:
        candidates = [REPO.parent / "shared" / "spec" / "tern_ops.py", REPO / "shared" / "spec" / "tern_ops.py"]
    for p in candidates:
        if p.is_file():
            spec = importlib.util.spec_from_file_location("tern_ops", p)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod, p
    sys.exit("make_vectors.py: cannot find tern_ops.py; looked at " + ", ".join(str(p) for p in candidates)
             + " (set TERN_SPEC to the file or its folder)")


T, SPEC_PATH = load_spec()
CASES = {}  # name -> dict of arrays to save


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def f64(x):
    return None if x is None else np.asarray(x, np.float64)


WORST_CONDITIONING = [0.0, ""]


def check_conditioning(name, got32, want64):
    for key, g in got32.items():
        w = want64[key]
        excess = np.abs(g.astype(np.float64) - w) / (ATOL + RTOL * np.abs(w))
        worst = float(excess.max()) if excess.size else 0.0
        WORST_CONDITIONING[:] = max(WORST_CONDITIONING, [worst, f"{name}/{key}"])
        if worst > 0.25:
            sys.exit(f"make_vectors.py: case {name}: float32 {key} is {worst:.2f} tolerances from float64; "
                     "pick better-conditioned data")


def add_case(name, inputs, attrs, outputs):
    files = {k: f32(v) for k, v in inputs.items() if v is not None}
    for k, v in attrs.items():
        files["attr_" + k] = np.array(v, np.float32 if isinstance(v, float) else np.int64)
    files.update({k: f32(v) for k, v in outputs.items()})
    CASES[name] = files


# ---------------------------------------------------------------- SelectiveScan
SS_OPTIONAL = ("D", "z", "delta_bias", "h0")


def ss_case(name, rng, b, L, d, n, optional, delta_softplus, with_ht, delta_kind="normal"):
    u = rng.standard_normal((b, L, d)).astype(np.float32)
    if delta_kind == "positive":  # delta used as the step directly (delta_softplus = 0)
        delta = rng.uniform(0.05, 0.6, (b, L, d)).astype(np.float32)
    else:
        delta = rng.standard_normal((b, L, d)).astype(np.float32)
    if delta_kind == "large":  # past softplus's threshold of 20, and where exp(delta) overflows float32
        delta.flat[rng.choice(delta.size, 6, replace=False)] = np.array([20.5, 25, 40, 60, 95, 100], np.float32)
    A = (-np.exp(0.5 * rng.standard_normal((d, n)))).astype(np.float32)
    B = rng.standard_normal((b, L, n)).astype(np.float32)
    C = rng.standard_normal((b, L, n)).astype(np.float32)
    opt = {
        "D": rng.standard_normal(d).astype(np.float32),
        "z": rng.standard_normal((b, L, d)).astype(np.float32),
        "delta_bias": (0.5 * rng.standard_normal(d)).astype(np.float32),
        "h0": rng.standard_normal((b, d, n)).astype(np.float32),
    }
    opt = {k: (opt[k] if k in optional else None) for k in SS_OPTIONAL}
    if delta_kind == "positive" and opt["delta_bias"] is not None:
        opt["delta_bias"] = np.abs(opt["delta_bias"]) * 0.1
    y, hT = T.selective_scan(u, delta, A, B, C, **opt, delta_softplus=delta_softplus)
    y64, h64 = T.selective_scan(f64(u), f64(delta), f64(A), f64(B), f64(C),
                                **{k: f64(v) for k, v in opt.items()}, delta_softplus=delta_softplus)
    check_conditioning(name, {"y": y, "hT": hT}, {"y": y64, "hT": h64})
    outs = {"y": y}
    if with_ht:
        outs["hT"] = hT
    add_case(name, {"u": u, "delta": delta, "A": A, "B": B, "C": C, **opt},
             {"delta_softplus": int(delta_softplus)}, outs)


def selective_scan_cases():
    rng = np.random.default_rng(101)
    ss_case("selective_scan_plain", rng, 2, 7, 5, 3, (), 1, True)
    ss_case("selective_scan_all_optional", rng, 2, 7, 5, 3, SS_OPTIONAL, 1, True)
    ss_case("selective_scan_no_softplus_D_h0", rng, 2, 7, 5, 3, ("D", "h0"), 0, False, "positive")
    ss_case("selective_scan_gate_bias_large_delta", rng, 2, 7, 5, 3, ("z", "delta_bias"), 1, True, "large")
    ss_case("selective_scan_no_softplus_z_bias", rng, 1, 9, 4, 6, ("z", "delta_bias"), 0, True, "positive")
    ss_case("selective_scan_wide", rng, 1, 11, 8, 16, SS_OPTIONAL, 1, True)


# ---------------------------------------------------------------- LMU
def lmu_case(name, rng, b, L, c, A, B, with_m0, with_mt):
    u = rng.standard_normal((b, L, c)).astype(np.float32)
    n = A.shape[0]
    m0 = rng.standard_normal((b, c, n)).astype(np.float32) if with_m0 else None
    m, mT = T.lmu(u, A, B, m0=m0)
    m64, mT64 = T.lmu(f64(u), f64(A), f64(B), m0=f64(m0))
    check_conditioning(name, {"m": m, "mT": mT}, {"m": m64, "mT": mT64})
    outs = {"m": m}
    if with_mt:
        outs["mT"] = mT
    add_case(name, {"u": u, "A": A, "B": B, "m0": m0}, {}, outs)


def lmu_cases():
    rng = np.random.default_rng(202)
    A, B = T.lmu_matrices(order=3, theta=4.0)
    lmu_case("lmu_plain", rng, 2, 7, 5, A, B, False, True)
    A, B = T.lmu_matrices(order=6, theta=10.0)
    lmu_case("lmu_m0", rng, 2, 7, 5, A, B, True, True)
    # a generic (non-Legendre) stable A, spectral radius 0.9
    A = rng.standard_normal((5, 5))
    A = (0.9 * A / np.max(np.abs(np.linalg.eigvals(A)))).astype(np.float32)
    B = rng.standard_normal(5).astype(np.float32)
    lmu_case("lmu_random_A_m0", rng, 3, 5, 2, A, B, True, False)
    A, B = T.lmu_matrices(order=4, theta=6.0, dt=0.5)
    lmu_case("lmu_long_no_mT", rng, 1, 13, 3, A, B, False, False)


# ---------------------------------------------------------------- LIF
SMALLEST_MARGIN = [np.inf, ""]


def lif_margin(x, v0, tau, v_threshold, v_reset, soft_reset, time_axis):
    """The smallest |h - v_threshold| over every step, replaying the spec's float32 recurrence
    (and asserting that the replay's spikes are the spec's)."""
    xt = np.moveaxis(x, time_axis, 0)
    v = np.full(xt.shape[1:], v_reset, np.float32) if v0 is None else v0.astype(np.float32).copy()
    margin, spikes = np.inf, []
    for t in range(xt.shape[0]):
        h = v + (xt[t] - (v - v_reset)) / tau
        margin = min(margin, float(np.abs(h.astype(np.float64) - np.float64(np.float32(v_threshold))).min()))
        spike = (h >= v_threshold).astype(np.float32)
        v = h - spike * v_threshold if soft_reset else np.where(spike > 0, v_reset, h)
        spikes.append(spike)
    return margin, np.moveaxis(np.stack(spikes), 0, time_axis)


def lif_case(name, rng, shape, time_axis, with_v0, with_vt, tau=2.0, v_threshold=1.0, v_reset=0.0,
             soft_reset=0, lo=-0.5, hi=3.0):
    # attributes as the float32 values the kernel sees
    tau, v_threshold, v_reset = (float(np.float32(a)) for a in (tau, v_threshold, v_reset))
    state_shape = tuple(s for i, s in enumerate(shape) if i != time_axis)
    for attempt in range(100):
        x = rng.uniform(lo, hi, shape).astype(np.float32)
        v0 = rng.uniform(v_reset - 0.5, v_threshold - 0.05, state_shape).astype(np.float32) if with_v0 else None
        attrs = dict(tau=tau, v_threshold=v_threshold, v_reset=v_reset, soft_reset=soft_reset, time_axis=time_axis)
        s, vT = T.lif(x, v0, **attrs)
        margin, replay = lif_margin(x, v0, **attrs)
        assert np.array_equal(replay, s), name + ": the margin replay disagrees with the spec"
        if margin >= LIF_MIN_MARGIN and 0 < s.sum() < s.size:
            break
    else:
        sys.exit(f"make_vectors.py: case {name}: no sample with margin >= {LIF_MIN_MARGIN} in 100 tries")
    if margin < SMALLEST_MARGIN[0]:
        SMALLEST_MARGIN[:] = [margin, name]
    assert set(np.unique(s)) <= {0.0, 1.0}
    outs = {"s": s}
    if with_vt:
        outs["vT"] = vT
    add_case(name, {"x": x, "v0": v0}, attrs, outs)


def lif_cases():
    rng = np.random.default_rng(303)
    lif_case("lif_default", rng, (2, 7, 5), 1, False, True)
    lif_case("lif_soft_v0", rng, (2, 7, 5), 1, True, True, tau=1.5, v_threshold=0.75, v_reset=-0.25, soft_reset=1)
    lif_case("lif_time_axis0_hard_v0", rng, (7, 3, 5), 0, True, True, tau=3.0, v_threshold=0.5, v_reset=0.125)
    # no v0 with v_reset != 0: the state starts at v_reset, not at zero
    lif_case("lif_time_axis_last_soft", rng, (2, 3, 5, 7), 3, False, False, tau=2.5, v_reset=-0.2, soft_reset=1)
    lif_case("lif_time_axis2_rank4_v0", rng, (3, 5, 7, 2), 2, True, True, tau=4.0, v_threshold=0.6, v_reset=-0.1)
    lif_case("lif_rank2_time_axis0_soft_v0", rng, (9, 4), 0, True, True, tau=1.25, v_threshold=1.1, soft_reset=1)


def main():
    selective_scan_cases()
    lmu_cases()
    lif_cases()
    for old in HERE.iterdir():  # cases from an earlier run, renamed or dropped since
        if old.is_dir() and old.name.startswith(("selective_scan_", "lmu_", "lif_")):
            shutil.rmtree(old)
    total = 0
    for name, files in CASES.items():
        d = HERE / name
        d.mkdir()
        for key, arr in sorted(files.items()):
            np.save(d / (key + ".npy"), arr, allow_pickle=False)
            total += (d / (key + ".npy")).stat().st_size
    print(f"spec: {SPEC_PATH}")
    print(f"wrote {len(CASES)} cases, {sum(len(f) for f in CASES.values())} files, {total} bytes into {HERE}")
    print(f"float32 vs float64 spec, worst: {WORST_CONDITIONING[0]:.3f} of the test tolerance ({WORST_CONDITIONING[1]})")
    print(f"smallest LIF threshold margin: {SMALLEST_MARGIN[0]:.3g} (case {SMALLEST_MARGIN[1]})")


if __name__ == "__main__":
    main()
