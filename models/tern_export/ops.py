"""The three custom ops of ONNX domain ``tern`` (version 1) for torch.onnx export.

Each op has
  * a pure-torch reference (``*_reference``): the math of ``spec/tern_ops.py``,
    looping over time, used for eager execution and golden outputs;
  * a ``torch.autograd.Function`` whose ``symbolic`` emits the ``tern::`` node;
  * an unrolled form (``*_unrolled``): the same math written with standard ops
    only, traced when the ``unrolled()`` context is active, so ONNX Runtime (or
    any standard ONNX backend) can run an equivalent network.

Callers use the functions ``selective_scan``, ``lmu`` and ``lif``; they choose
between the custom node and the unrolled form. Inputs and outputs follow the
spec exactly (names, order, attributes). In an exported node every optional
input is listed: an absent one is the empty name "" (ONNX also allows trailing
absent inputs to be dropped; importers must accept both). Optional outputs
(hT / mT / vT, the final states that streaming needs) are emitted only when the
caller asks for them with ``return_state=True``.
"""
import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from .lmu_math import lmu_impulse_response

TERN_DOMAIN = "tern"
TERN_OPSET = 1
CUSTOM_OPSETS = {TERN_DOMAIN: TERN_OPSET}

_MODE = {"unrolled": False}
_LIF_PROBES = []


@contextlib.contextmanager
def unrolled(enabled=True):
    """Within this context the ops trace (and run) as standard ONNX ops only.

    The time loop is unrolled at trace time, so an exported graph has a fixed
    sequence length (the traced one); the batch dimension may stay symbolic.
    """
    previous = _MODE["unrolled"]
    _MODE["unrolled"] = bool(enabled)
    try:
        yield
    finally:
        _MODE["unrolled"] = previous


def is_unrolled():
    return _MODE["unrolled"]


class LIFProbe:
    """Statistics of every LIF evaluated (eagerly, reference path) while active.

    ``records`` holds one dict per LIF call: its smallest |h_t - v_threshold|
    over all neurons and steps (``margin``), its spike rate and its shape.
    """

    def __init__(self):
        self.records = []

    @property
    def margin(self):
        return min((r["margin"] for r in self.records), default=float("inf"))


@contextlib.contextmanager
def lif_probe():
    probe = LIFProbe()
    _LIF_PROBES.append(probe)
    try:
        yield probe
    finally:
        _LIF_PROBES.remove(probe)


# --------------------------------------------------------------------------
# pure-torch references (spec semantics; loops over time)
# --------------------------------------------------------------------------

def selective_scan_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, h0=None,
                             delta_softplus=1):
    """tern.SelectiveScan: u, delta [b,L,d]; A [d,n]; B, C [b,L,n] -> y [b,L,d], hT [b,d,n]."""
    b, L, d = u.shape
    n = A.shape[1]
    dt = delta + delta_bias if delta_bias is not None else delta
    if delta_softplus:
        dt = F.softplus(dt)  # beta=1, threshold=20, as the spec
    h = u.new_zeros((b, d, n)) if h0 is None else h0.clone()
    ys = []
    for t in range(L):
        dA = torch.exp(dt[:, t, :, None] * A[None, :, :])
        dBu = dt[:, t, :, None] * B[:, t, None, :] * u[:, t, :, None]
        h = dA * h + dBu
        ys.append(torch.matmul(h, C[:, t, :, None])[..., 0])
    y = torch.stack(ys, dim=1) if ys else u.new_zeros((b, 0, d))
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y, h


def lmu_reference(u, A, B, m0=None):
    """tern.LMU: u [b,L,c]; A [n,n]; B [n] -> m [b,L,c,n], mT [b,c,n]."""
    b, L, c = u.shape
    n = A.shape[0]
    m = u.new_zeros((b, c, n)) if m0 is None else m0.clone()
    At = A.t()
    outs = []
    for t in range(L):
        m = torch.matmul(m, At) + u[:, t, :, None] * B[None, None, :]
        outs.append(m)
    out = torch.stack(outs, dim=1) if outs else u.new_zeros((b, 0, c, n))
    return out, m


def lif_reference(x, v0=None, tau=2.0, v_threshold=1.0, v_reset=0.0, soft_reset=0, time_axis=1):
    """tern.LIF: multi-step LIF (decay_input, spikingjelly MultiStepLIFNode) along time_axis."""
    xt = torch.movedim(x, time_axis, 0)
    if v0 is None:
        v = torch.full(xt.shape[1:], float(v_reset), dtype=x.dtype)
    else:
        v = v0.clone()
    spikes = []
    margin = float("inf")
    for t in range(xt.shape[0]):
        h = v + (xt[t] - (v - v_reset)) / tau
        if _LIF_PROBES and h.numel():
            margin = min(margin, float((h - v_threshold).abs().min()))
        spike = (h >= v_threshold).to(x.dtype)
        if soft_reset:
            v = h - spike * v_threshold
        else:
            v = torch.where(spike > 0, torch.full_like(h, float(v_reset)), h)
        spikes.append(spike)
    s = torch.stack(spikes, dim=0) if spikes else torch.zeros_like(xt)
    s = torch.movedim(s, 0, time_axis)
    for probe in _LIF_PROBES:
        probe.records.append({"margin": margin, "spike_rate": float(s.mean()) if s.numel() else 0.0,
                              "shape": list(x.shape), "v_threshold": float(v_threshold),
                              "time_axis": int(time_axis)})
    return s, v


# --------------------------------------------------------------------------
# unrolled forms (standard ONNX ops only when traced)
# --------------------------------------------------------------------------

def selective_scan_unrolled(u, delta, A, B, C, D=None, z=None, delta_bias=None, h0=None,
                            delta_softplus=1):
    """Discretization for all steps at once, then one Mul+Add per step, one MatMul for y."""
    L = u.shape[1]
    dt = delta + delta_bias if delta_bias is not None else delta
    if delta_softplus:
        dt = F.softplus(dt)
    dt4 = dt.unsqueeze(-1)                                   # [b,L,d,1]
    dA = torch.exp(dt4 * A)                                  # [b,L,d,n]
    dBu = dt4 * B.unsqueeze(2) * u.unsqueeze(-1)             # [b,L,d,n]
    h = h0
    hs = []
    for t in range(L):
        h = dBu[:, t] if h is None else dA[:, t] * h + dBu[:, t]
        hs.append(h)
    H = torch.stack(hs, dim=1)                               # [b,L,d,n]
    y = torch.matmul(H, C.unsqueeze(-1)).squeeze(-1)         # [b,L,d]
    if D is not None:
        y = y + u * D
    if z is not None:
        y = y * F.silu(z)
    return y, h


def lmu_unrolled(u, A, B, m0=None):
    """Zero initial state: one causal Conv with the impulse response A^k B as kernel.

    With an initial state, an explicit per-step recurrence (MatMul + Add per step).
    """
    L = int(u.shape[1])
    c = int(u.shape[2])
    n = int(A.shape[0])
    if m0 is None:
        H = lmu_impulse_response(A.detach().cpu().numpy(), B.detach().cpu().numpy(), L)  # [L, n]
        kernel = torch.from_numpy(np.ascontiguousarray(H[::-1].T[:, None, :]))             # [n,1,L]
        x = u.transpose(1, 2).reshape(-1, 1, L)              # [b*c, 1, L]
        x = F.pad(x, (L - 1, 0))
        m = F.conv1d(x, kernel)                              # [b*c, n, L]
        m = m.reshape(-1, c, n, L).permute(0, 3, 1, 2)       # [b, L, c, n]
        return m, m[:, L - 1]
    At = A.t()
    mm = m0
    outs = []
    for t in range(L):
        mm = torch.matmul(mm, At) + u[:, t, :, None] * B
        outs.append(mm)
    return torch.stack(outs, dim=1), mm


def lif_unrolled(x, v0=None, tau=2.0, v_threshold=1.0, v_reset=0.0, soft_reset=0, time_axis=1):
    """h_t = v*(1-1/tau) + (x_t+v_reset)/tau (the spec's h, rearranged), spike by >=, reset by arithmetic."""
    T = int(x.shape[time_axis])
    keep = 1.0 - 1.0 / tau
    xs = (x + v_reset) / tau if v_reset != 0.0 else x / tau
    v = v0
    spikes = []
    for t in range(T):
        xt = xs.select(time_axis, t)
        if v is None:
            h = xt + v_reset * keep if v_reset != 0.0 else xt
        else:
            h = v * keep + xt
        s = (h >= v_threshold).to(x.dtype)
        if soft_reset:
            v = h - s * v_threshold
        elif v_reset == 0.0:
            v = h - h * s
        else:
            v = h - s * (h - v_reset)
        spikes.append(s)
    return torch.stack(spikes, dim=time_axis), v


# --------------------------------------------------------------------------
# autograd Functions with ONNX symbolics
# --------------------------------------------------------------------------

@contextlib.contextmanager
def _not_traced():
    """Run a Function's forward without recording it into an active torch.jit trace.

    torch.onnx traces the forward of an autograd.Function into a subgraph of the PythonOp even
    when a symbolic replaces the node; for a per-step reference loop that subgraph has
    thousands of nodes and the exporter's passes over it take minutes. The values are still
    computed (they feed the rest of the trace); only the recording is paused.
    """
    state = torch._C._get_tracing_state()
    if state is None:
        yield
        return
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)


def _optional(g, value):
    """An absent optional input: a None-typed constant, exported as the empty name ""."""
    if value is None:
        return g.op("prim::Constant").setType(torch._C.OptionalType.ofTensor())
    return value


class SelectiveScanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, h0, delta_softplus, return_state):
        with _not_traced():
            y, hT = selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, h0, delta_softplus)
        return (y, hT) if return_state else y

    @staticmethod
    def symbolic(g, u, delta, A, B, C, D, z, delta_bias, h0, delta_softplus, return_state):
        inputs = [u, delta, A, B, C] + [_optional(g, v) for v in (D, z, delta_bias, h0)]
        out = g.op("tern::SelectiveScan", *inputs, delta_softplus_i=int(delta_softplus),
                   outputs=2 if return_state else 1)
        (out[0] if return_state else out).setType(u.type())
        return out


class LMUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, A, B, m0, return_state):
        with _not_traced():
            m, mT = lmu_reference(u, A, B, m0)
        return (m, mT) if return_state else m

    @staticmethod
    def symbolic(g, u, A, B, m0, return_state):
        return g.op("tern::LMU", u, A, B, _optional(g, m0), outputs=2 if return_state else 1)


class LIFFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, tau, v_threshold, v_reset, soft_reset, time_axis, return_state):
        with _not_traced():
            s, vT = lif_reference(x, v0, tau, v_threshold, v_reset, soft_reset, time_axis)
        return (s, vT) if return_state else s

    @staticmethod
    def symbolic(g, x, v0, tau, v_threshold, v_reset, soft_reset, time_axis, return_state):
        out = g.op("tern::LIF", x, _optional(g, v0), tau_f=float(tau),
                   v_threshold_f=float(v_threshold), v_reset_f=float(v_reset),
                   soft_reset_i=int(soft_reset), time_axis_i=int(time_axis),
                   outputs=2 if return_state else 1)
        (out[0] if return_state else out).setType(x.type())
        return out


# --------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------

def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, h0=None,
                   delta_softplus=1, return_state=False):
    """Mamba's S6 scan, channels last. Returns y, or (y, hT) with return_state=True."""
    if _MODE["unrolled"]:
        y, hT = selective_scan_unrolled(u, delta, A, B, C, D, z, delta_bias, h0, delta_softplus)
        return (y, hT) if return_state else y
    return SelectiveScanFunction.apply(u, delta, A, B, C, D, z, delta_bias, h0,
                                       int(delta_softplus), bool(return_state))


def lmu(u, A, B, m0=None, return_state=False):
    """LMU memory: every channel of u [b,L,c] drives an n-dim memory. Returns m [b,L,c,n] (, mT)."""
    if _MODE["unrolled"]:
        m, mT = lmu_unrolled(u, A, B, m0)
        return (m, mT) if return_state else m
    return LMUFunction.apply(u, A, B, m0, bool(return_state))


def lif(x, v0=None, tau=2.0, v_threshold=1.0, v_reset=0.0, soft_reset=0, time_axis=1,
        return_state=False):
    """Multi-step LIF neuron along time_axis. Returns spikes s (0/1) (, vT)."""
    if time_axis < 0:
        time_axis += x.dim()
    if _MODE["unrolled"]:
        s, vT = lif_unrolled(x, v0, tau, v_threshold, v_reset, soft_reset, time_axis)
        return (s, vT) if return_state else s
    return LIFFunction.apply(x, v0, float(tau), float(v_threshold), float(v_reset),
                             int(soft_reset), int(time_axis), bool(return_state))
