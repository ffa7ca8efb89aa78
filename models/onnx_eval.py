"""A small ONNX interpreter for the ops of this zoo (and the tern ops), on CPU.

onnx 1.12 (Debian) has no ``onnx.reference`` and ONNX Runtime is not available here, so
``export.py`` runs every exported graph through this interpreter on the golden inputs and
compares with PyTorch. That checks what the exporter wrote (node attributes, input order of
the tern nodes, our post-processing), not PyTorch's kernels: each op below is written from
the ONNX operator specification, using torch tensors only as the array library.
The tern ops run their reference semantics (``tern_export``, tested against the spec).

It also counts multiply-accumulates at the evaluated shapes:
  Conv / ConvTranspose   N * C_out * prod(out spatial) * (C_in / group) * prod(kernel)
  Gemm / MatMul          batch * M * N * K
  tern::SelectiveScan    b*L*d*n*4 (dt*A, dt*B*u, dA*h + dBu, C.h)  + b*L*d (D*u) if D
  tern::LMU              b*L*c*(n*n + n)   (A m + B u per step)
  tern::LIF              x.numel()         (one multiply-add per neuron and step)
"""
import collections

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

import tern_export

_ONNX_TO_TORCH = {
    onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.FLOAT16: torch.float16, onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32, onnx.TensorProto.INT8: torch.int8,
    onnx.TensorProto.UINT8: torch.uint8, onnx.TensorProto.BOOL: torch.bool,
}


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _tensor(array):
    return torch.from_numpy(np.array(array, copy=True))


def _ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]


class UnsupportedOp(NotImplementedError):
    pass


class Interpreter:
    def __init__(self, model=None, graph=None, opset=None):
        self.graph = graph if graph is not None else model.graph
        self.opset = opset if opset is not None else {o.domain: o.version for o in model.opset_import}
        self.inits = {i.name: _tensor(numpy_helper.to_array(i)) for i in self.graph.initializer}
        self._outer = {}
        self._plan = None

    def _schedule(self):
        if self._plan is None:
            last_use = {}
            for i, node in enumerate(self.graph.node):
                for name in node.input:
                    last_use[name] = i
            self._plan = last_use
        return self._plan

    def run(self, feeds, outer=None, macs=None):
        """feeds: {input name: array}. Returns ({output name: np.ndarray}, stats).

        outer: values visible from an enclosing graph (for Scan bodies); macs: a Counter to add to.
        """
        outputs, macs = self.run_tensors({k: _tensor(v) for k, v in feeds.items()}, outer, macs)
        results = {k: v.numpy() for k, v in outputs.items()}
        return results, {"macs": int(sum(macs.values())), "macs_by_op": dict(sorted(macs.items()))}

    def run_tensors(self, feeds, outer=None, macs=None):
        outer = outer if outer is not None else {}
        env = collections.ChainMap(dict(feeds), self.inits, outer)
        self._env = env
        last_use = self._schedule()
        keep = {o.name for o in self.graph.output}
        macs = macs if macs is not None else collections.Counter()
        for i, node in enumerate(self.graph.node):
            ins = [env[n] if n else None for n in node.input]
            key = (node.domain + "::" if node.domain and node.domain != "ai.onnx" else "") + node.op_type
            fn = getattr(self, "op_" + key.replace("::", "_"), None)
            if fn is None:
                raise UnsupportedOp(f"onnx_eval: no implementation of {key} (node {node.name})")
            try:
                outs = fn(node, ins, _attrs(node), macs)
            except UnsupportedOp:
                raise
            except Exception as e:  # name the node for the reader
                shapes = [None if t is None else tuple(t.shape) for t in ins]
                raise RuntimeError(f"onnx_eval: {key} node {node.name} with input shapes {shapes}: {e}") from e
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for name, value in zip(node.output, outs):
                if name:
                    env[name] = value
            for name in node.input:
                if name and last_use.get(name) == i and name not in keep and name in env.maps[0]:
                    del env.maps[0][name]
        return {o.name: env[o.name] for o in self.graph.output}, macs

    # ---------------- control flow ----------------
    def op_Scan(self, node, ins, a, macs):
        body = a["body"]
        m = a["num_scan_inputs"]
        n_state = len(ins) - m
        states, scans = list(ins[:n_state]), ins[n_state:]
        in_axes = a.get("scan_input_axes", [0] * m)
        in_dirs = a.get("scan_input_directions", [0] * m)
        if any(in_dirs) or any(a.get("scan_output_directions", [])):
            raise UnsupportedOp("Scan in reverse direction")
        in_axes = [ax % s.dim() for ax, s in zip(in_axes, scans)]
        steps = scans[0].shape[in_axes[0]]
        sub = Interpreter(graph=body, opset=self.opset)
        names_in = [i.name for i in body.input]
        names_out = [o.name for o in body.output]
        collected = [[] for _ in range(len(names_out) - n_state)]
        outer = self._env
        for t in range(steps):
            feeds = dict(zip(names_in, states + [s.select(ax, t) for s, ax in zip(scans, in_axes)]))
            outs, _ = sub.run_tensors(feeds, outer, macs)
            self._env = outer
            values = [outs[n] for n in names_out]
            states = values[:n_state]
            for c, v in zip(collected, values[n_state:]):
                c.append(v)
        out_axes = a.get("scan_output_axes", [0] * len(collected))
        stacked = []
        for c, ax in zip(collected, out_axes):
            rank = c[0].dim() + 1
            stacked.append(torch.stack(c, dim=ax % rank))
        return states + stacked

    # ---------------- elementwise ----------------
    def _binary(fn):
        def op(self, node, ins, a, macs):
            x, y = ins
            if x.dtype.is_floating_point != y.dtype.is_floating_point:
                raise TypeError("mixed float/integer inputs")
            return fn(x, y)
        return op

    op_Add = _binary(torch.add)
    op_Sub = _binary(torch.sub)
    op_Mul = _binary(torch.mul)

    def op_Div(self, node, ins, a, macs):
        x, y = ins
        if x.dtype.is_floating_point:
            return x / y
        return torch.div(x, y, rounding_mode="trunc")

    def op_Pow(self, node, ins, a, macs):
        x, y = ins
        if y.dtype != x.dtype:
            y = y.to(x.dtype)
        return torch.pow(x, y)

    def _unary(fn):
        def op(self, node, ins, a, macs):
            return fn(ins[0])
        return op

    op_Sqrt = _unary(torch.sqrt)
    op_Exp = _unary(torch.exp)
    op_Log = _unary(torch.log)
    op_Neg = _unary(torch.neg)
    op_Abs = _unary(torch.abs)
    op_Erf = _unary(torch.erf)
    op_Tanh = _unary(torch.tanh)
    op_Sigmoid = _unary(torch.sigmoid)
    op_Relu = _unary(torch.relu)
    op_Reciprocal = _unary(torch.reciprocal)
    op_Identity = _unary(lambda x: x)
    op_Softplus = _unary(lambda x: torch.logaddexp(x, torch.zeros((), dtype=x.dtype)))
    op_Not = _unary(torch.logical_not)

    def op_Clip(self, node, ins, a, macs):
        x = ins[0]
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else None
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else None
        return torch.clamp(x, min=lo, max=hi)

    def op_Equal(self, node, ins, a, macs):
        return torch.eq(ins[0], ins[1])

    def op_Greater(self, node, ins, a, macs):
        return torch.gt(ins[0], ins[1])

    def op_GreaterOrEqual(self, node, ins, a, macs):
        return torch.ge(ins[0], ins[1])

    def op_Less(self, node, ins, a, macs):
        return torch.lt(ins[0], ins[1])

    def op_Where(self, node, ins, a, macs):
        return torch.where(ins[0], ins[1], ins[2])

    def op_Cast(self, node, ins, a, macs):
        return ins[0].to(_ONNX_TO_TORCH[a["to"]])

    # ---------------- reductions / normalisation ----------------
    def _axes(self, node, ins, a, rank):
        if len(ins) > 1 and ins[1] is not None:
            axes = _ints(ins[1])
        else:
            axes = a.get("axes")
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return None
            axes = list(range(rank))
        return [ax % rank for ax in axes]

    def op_ReduceMean(self, node, ins, a, macs):
        x = ins[0]
        axes = self._axes(node, ins, a, x.dim())
        return x if axes is None else torch.mean(x, dim=axes, keepdim=bool(a.get("keepdims", 1)))

    def op_ReduceSum(self, node, ins, a, macs):
        x = ins[0]
        axes = self._axes(node, ins, a, x.dim())
        return x if axes is None else torch.sum(x, dim=axes, keepdim=bool(a.get("keepdims", 1)))

    def op_ReduceMax(self, node, ins, a, macs):
        x = ins[0]
        axes = self._axes(node, ins, a, x.dim())
        return x if axes is None else torch.amax(x, dim=axes, keepdim=bool(a.get("keepdims", 1)))

    def op_Softmax(self, node, ins, a, macs):
        if self.opset.get("", 13) < 13:
            raise UnsupportedOp("Softmax before opset 13 (2-D coercion) is not implemented")
        return torch.softmax(ins[0], dim=a.get("axis", -1))

    def op_BatchNormalization(self, node, ins, a, macs):
        x, scale, bias, mean, var = ins[:5]
        shape = [1, -1] + [1] * (x.dim() - 2)
        inv = 1.0 / torch.sqrt(var + a.get("epsilon", 1e-5))
        return (x - mean.reshape(shape)) * inv.reshape(shape) * scale.reshape(shape) + bias.reshape(shape)

    def op_InstanceNormalization(self, node, ins, a, macs):
        x, scale, bias = ins
        dims = list(range(2, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x - mean) / torch.sqrt(var + a.get("epsilon", 1e-5))
        return y * scale.reshape(shape) + bias.reshape(shape)

    def op_LayerNormalization(self, node, ins, a, macs):
        x, scale = ins[0], ins[1]
        bias = ins[2] if len(ins) > 2 else None
        axis = a.get("axis", -1) % x.dim()
        dims = list(range(axis, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        y = (x - mean) / torch.sqrt(var + a.get("epsilon", 1e-5)) * scale
        return y + bias if bias is not None else y

    # ---------------- linear algebra ----------------
    def op_MatMul(self, node, ins, a, macs):
        x, y = ins
        out = torch.matmul(x, y)
        k = x.shape[-1]
        macs[node.op_type] += out.numel() * k
        return out

    def op_Gemm(self, node, ins, a, macs):
        A, B = ins[0], ins[1]
        C = ins[2] if len(ins) > 2 else None
        if a.get("transA", 0):
            A = A.t()
        if a.get("transB", 0):
            B = B.t()
        y = a.get("alpha", 1.0) * (A @ B)
        if C is not None:
            y = y + a.get("beta", 1.0) * C
        macs["Gemm"] += A.shape[0] * A.shape[1] * B.shape[1]
        return y

    def op_Conv(self, node, ins, a, macs):
        x, w = ins[0], ins[1]
        b = ins[2] if len(ins) > 2 else None
        nd = x.dim() - 2
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedOp("Conv auto_pad")
        pads = a.get("pads", [0] * (2 * nd))
        strides = a.get("strides", [1] * nd)
        dil = a.get("dilations", [1] * nd)
        group = a.get("group", 1)
        # F.pad wants (last dim begin, last dim end, previous dim begin, ...)
        torch_pad = []
        for d in reversed(range(nd)):
            torch_pad += [pads[d], pads[d + nd]]
        if any(torch_pad):
            x = F.pad(x, torch_pad)
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
        y = conv(x, w, b, stride=strides, dilation=dil, groups=group)
        macs["Conv"] += y.numel() * (w.shape[1] * int(np.prod(w.shape[2:])))
        return y

    # ---------------- pooling ----------------
    def op_AveragePool(self, node, ins, a, macs):
        x = ins[0]
        nd = x.dim() - 2
        k = a["kernel_shape"]
        s = a.get("strides", [1] * nd)
        pads = a.get("pads", [0] * (2 * nd))
        if pads[:nd] != pads[nd:] or any(p > kk // 2 for p, kk in zip(pads[:nd], k)):
            raise UnsupportedOp("AveragePool with asymmetric or large pads")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedOp("AveragePool auto_pad")
        pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
        return pool(x, k, s, pads[:nd], ceil_mode=bool(a.get("ceil_mode", 0)),
                    count_include_pad=bool(a.get("count_include_pad", 0)))

    def op_GlobalAveragePool(self, node, ins, a, macs):
        x = ins[0]
        return x.mean(dim=list(range(2, x.dim())), keepdim=True)

    # ---------------- shape manipulation ----------------
    def op_Constant(self, node, ins, a, macs):
        if "value" in a:
            return _tensor(numpy_helper.to_array(a["value"]))
        if "value_float" in a:
            return torch.tensor(a["value_float"], dtype=torch.float32)
        if "value_int" in a:
            return torch.tensor(a["value_int"], dtype=torch.int64)
        if "value_floats" in a:
            return torch.tensor(a["value_floats"], dtype=torch.float32)
        if "value_ints" in a:
            return torch.tensor(a["value_ints"], dtype=torch.int64)
        raise UnsupportedOp(f"Constant with attributes {list(a)}")

    def op_ConstantOfShape(self, node, ins, a, macs):
        shape = _ints(ins[0])
        if "value" in a:
            v = _tensor(numpy_helper.to_array(a["value"]))
            return v.reshape(()).expand(shape).clone() if shape else v.reshape(())
        return torch.zeros(shape, dtype=torch.float32)

    def op_Shape(self, node, ins, a, macs):
        shape = list(ins[0].shape)
        start, end = a.get("start", 0), a.get("end", None)
        return torch.tensor(shape[start:end], dtype=torch.int64)

    def op_Reshape(self, node, ins, a, macs):
        x, shape = ins[0], _ints(ins[1])
        if not a.get("allowzero", 0):
            shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(shape)

    def op_Flatten(self, node, ins, a, macs):
        x = ins[0]
        axis = a.get("axis", 1) % (x.dim() + 1) if x.dim() else 0
        lead = int(np.prod(x.shape[:axis])) if axis else 1
        return x.reshape(lead, -1)

    def op_Transpose(self, node, ins, a, macs):
        x = ins[0]
        perm = a.get("perm", list(reversed(range(x.dim()))))
        return x.permute(perm).contiguous()

    def op_Squeeze(self, node, ins, a, macs):
        x = ins[0]
        axes = _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else a.get("axes")
        if axes is None:
            axes = [i for i, s in enumerate(x.shape) if s == 1]
        for ax in sorted((ax % x.dim() for ax in axes), reverse=True):
            if x.shape[ax] != 1:
                raise ValueError(f"Squeeze of axis {ax} with size {x.shape[ax]}")
            x = x.squeeze(ax)
        return x

    def op_Unsqueeze(self, node, ins, a, macs):
        x = ins[0]
        axes = _ints(ins[1]) if len(ins) > 1 else a["axes"]
        rank = x.dim() + len(axes)
        for ax in sorted(ax % rank for ax in axes):
            x = x.unsqueeze(ax)
        return x

    def op_Concat(self, node, ins, a, macs):
        return torch.cat([t for t in ins if t is not None], dim=a["axis"])

    def op_Split(self, node, ins, a, macs):
        x = ins[0]
        axis = a.get("axis", 0)
        if len(ins) > 1 and ins[1] is not None:
            sizes = _ints(ins[1])
        elif "split" in a:
            sizes = list(a["split"])
        else:
            n = len(node.output)
            sizes = [x.shape[axis] // n] * n
        return list(torch.split(x, sizes, dim=axis))

    def op_Slice(self, node, ins, a, macs):
        x = ins[0]
        starts, ends = _ints(ins[1]), _ints(ins[2])
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        index = [slice(None)] * x.dim()
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            ax = ax % x.dim()
            dim = x.shape[ax]
            st = st + dim if st < 0 else st
            en = en + dim if en < 0 else en
            if sp > 0:
                index[ax] = slice(max(0, min(dim, st)), max(0, min(dim, en)), sp)
            elif sp < 0:
                # ONNX: start clamped to [0, dim-1], end to [-1, dim-1] (-1: before the first element).
                # torch has no negative-step slicing: take the forward range, then flip.
                st = max(0, min(dim - 1, st))
                en = max(-1, min(dim - 1, en))
                idx = list(range(st, en, sp))
                index[ax] = torch.tensor(idx, dtype=torch.int64) if idx else slice(0, 0)
            else:
                raise ValueError("Slice step 0")
        out = x
        for ax, sel in enumerate(index):  # one axis at a time (tensor indices do not combine like slices)
            if isinstance(sel, torch.Tensor):
                out = torch.index_select(out, ax, sel)
            elif sel != slice(None):
                out = out[(slice(None),) * ax + (sel,)]
        return out

    def op_Gather(self, node, ins, a, macs):
        x, idx = ins
        axis = a.get("axis", 0) % x.dim()
        idx = torch.where(idx < 0, idx + x.shape[axis], idx)
        out = torch.index_select(x, axis, idx.reshape(-1))
        return out.reshape(list(x.shape[:axis]) + list(idx.shape) + list(x.shape[axis + 1:]))

    def op_Expand(self, node, ins, a, macs):
        x, shape = ins[0], _ints(ins[1])
        target = list(np.broadcast_shapes(tuple(x.shape), tuple(shape)))
        return x.expand(target).clone()

    def op_Tile(self, node, ins, a, macs):
        return ins[0].repeat(_ints(ins[1]))

    def op_Range(self, node, ins, a, macs):
        start, limit, delta = (t.item() for t in ins)
        return torch.arange(start, limit, delta, dtype=ins[0].dtype)

    def op_Pad(self, node, ins, a, macs):
        x = ins[0]
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            raise UnsupportedOp(f"Pad mode {mode}")
        pads = _ints(ins[1])
        value = float(ins[2].item()) if len(ins) > 2 and ins[2] is not None else 0.0
        nd = x.dim()
        torch_pad = []
        for d in reversed(range(nd)):
            torch_pad += [pads[d], pads[d + nd]]
        return F.pad(x, torch_pad, value=value)

    # ---------------- tern ops ----------------
    def op_tern_SelectiveScan(self, node, ins, a, macs):
        ins = list(ins) + [None] * (9 - len(ins))
        u, delta, A, B, C, D, z, delta_bias, h0 = ins
        y, hT = tern_export.selective_scan_reference(u, delta, A, B, C, D, z, delta_bias, h0,
                                                     a.get("delta_softplus", 1))
        b, L, d = u.shape
        macs["tern::SelectiveScan"] += b * L * d * A.shape[1] * 4 + (b * L * d if D is not None else 0)
        return [y, hT][:len(node.output)]

    def op_tern_LMU(self, node, ins, a, macs):
        ins = list(ins) + [None] * (4 - len(ins))
        u, A, B, m0 = ins
        m, mT = tern_export.lmu_reference(u, A, B, m0)
        b, L, c = u.shape
        n = A.shape[0]
        macs["tern::LMU"] += b * L * c * (n * n + n)
        return [m, mT][:len(node.output)]

    def op_tern_LIF(self, node, ins, a, macs):
        x = ins[0]
        v0 = ins[1] if len(ins) > 1 else None
        s, vT = tern_export.lif_reference(x, v0, a.get("tau", 2.0), a.get("v_threshold", 1.0),
                                          a.get("v_reset", 0.0), a.get("soft_reset", 0),
                                          a.get("time_axis", 1) % x.dim())
        macs["tern::LIF"] += x.numel()
        return [s, vT][:len(node.output)]


def run_model(model, feeds):
    """Evaluate an onnx.ModelProto on {input name: array}; returns (outputs dict, stats)."""
    with torch.no_grad():
        return Interpreter(model).run(feeds)
