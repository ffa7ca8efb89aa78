"""Lower tern:: nodes of an exported ONNX graph into standard ONNX ops.

This is how ``export.py --unrolled`` makes ``model_unrolled.onnx``: same initializers, same
graph inputs and outputs, every tern node replaced by an equivalent standard subgraph:

  tern::LIF            one Scan over the time axis; the body is the spec's update exactly
                       (h = v + (x - (v - v_reset)) / tau, spike by >=, reset), so spikes and
                       states equal the reference bit for bit.
  tern::SelectiveScan  the discretisation for all steps at once (Softplus, Exp, Mul on
                       [b, L, d, n]), then one Scan whose body is h = dA*h + dBu, y = h @ C.
  tern::LMU            without initial state and with a known sequence length L: one causal
                       Conv whose kernel is the impulse response A^k B (k < L), the LMUFormer
                       way of computing the memory; otherwise a Scan of m = m A^T + B u.

The ``unrolled()`` context of ``tern_export`` gives the same math at trace time, as a
per-step unroll; torch.onnx's export time grows super-linearly with that many nodes
(minutes at a few hundred steps), so for real sequence lengths lower the exported graph.
Requires the default-domain opset >= 13 (Squeeze/Unsqueeze take axes as inputs).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .lmu_math import lmu_impulse_response


class _Builder:
    def __init__(self, prefix):
        self.prefix = prefix
        self.nodes = []
        self.count = 0

    def name(self, hint):
        self.count += 1
        return f"{self.prefix}/{hint}_{self.count}"

    def const(self, value, hint="const"):
        out = self.name(hint)
        self.nodes.append(helper.make_node("Constant", [], [out], name=out,
                                           value=numpy_helper.from_array(np.asarray(value), out)))
        return out

    def op(self, op_type, inputs, hint=None, outputs=1, **attrs):
        outs = [self.name(hint or op_type) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0], **attrs))
        return outs[0] if outputs == 1 else outs


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _f32(v):
    return np.array(v, dtype=np.float32)


def _i64(v):
    return np.array(v, dtype=np.int64)


def _shape_without(b, x, axis):
    """Shape of x with one axis removed (for the initial state); works without knowing x's rank."""
    shape = b.op("Shape", [x])
    parts = [b.op("Slice", [shape, b.const(_i64([0]), "start"), b.const(_i64([axis]), "end")])]
    if axis != -1:
        parts.append(b.op("Slice", [shape, b.const(_i64([axis + 1]), "start"),
                                    b.const(_i64([np.iinfo(np.int64).max]), "end")]))
    return b.op("Concat", parts, axis=0)


def _lower_lif(node, out_names):
    a = _attrs(node)
    tau = float(a.get("tau", 2.0))
    thr = float(a.get("v_threshold", 1.0))
    v_reset = float(a.get("v_reset", 0.0))
    soft = int(a.get("soft_reset", 0))
    axis = int(a.get("time_axis", 1))
    b = _Builder(node.name or "LIF")
    x = node.input[0]
    v0 = node.input[1] if len(node.input) > 1 and node.input[1] else None
    if v0 is None:
        v0 = b.op("ConstantOfShape", [_shape_without(b, x, axis)],
                  value=numpy_helper.from_array(_f32([v_reset])))

    body = _Builder("body")
    v, xt = "v_in", "x_t"
    d = body.op("Sub", [v, body.const(_f32(v_reset), "v_reset")])      # v - v_reset
    d = body.op("Sub", [xt, d])                                       # x - (v - v_reset)
    h = body.op("Add", [v, body.op("Div", [d, body.const(_f32(tau), "tau")])])
    fire = body.op("GreaterOrEqual", [h, body.const(_f32(thr), "v_threshold")])
    spike = body.op("Cast", [fire], to=TensorProto.FLOAT)
    if soft:
        v_out = body.op("Sub", [h, body.op("Mul", [spike, body.const(_f32(thr), "v_threshold")])])
    else:
        v_out = body.op("Where", [fire, body.const(_f32(v_reset), "v_reset"), h])
    body.nodes.append(helper.make_node("Identity", [v_out], ["v_out"]))
    body.nodes.append(helper.make_node("Identity", [spike], ["s_t"]))
    graph = helper.make_graph(
        body.nodes, (node.name or "LIF").strip("/").replace("/", "_") + "_body",
        [helper.make_tensor_value_info(v, TensorProto.FLOAT, None),
         helper.make_tensor_value_info(xt, TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("s_t", TensorProto.FLOAT, None)])
    s_name = out_names[0]
    vT_name = out_names[1] if len(out_names) > 1 and out_names[1] else b.name("vT")
    b.nodes.append(helper.make_node("Scan", [v0, x], [vT_name, s_name], name=b.name("Scan"), body=graph,
                                    num_scan_inputs=1, scan_input_axes=[axis], scan_output_axes=[axis]))
    return b.nodes


def _lower_selective_scan(node, out_names):
    a = _attrs(node)
    ins = list(node.input) + [""] * (9 - len(node.input))
    u, delta, A, B, C, D, z, delta_bias, h0 = ins
    b = _Builder(node.name or "SelectiveScan")
    dt = b.op("Add", [delta, delta_bias]) if delta_bias else delta
    if int(a.get("delta_softplus", 1)):
        dt = b.op("Softplus", [dt])
    dt4 = b.op("Unsqueeze", [dt, b.const(_i64([-1]), "axes")])                    # [b, L, d, 1]
    dA = b.op("Exp", [b.op("Mul", [dt4, A])])                                     # [b, L, d, n]
    B4 = b.op("Unsqueeze", [B, b.const(_i64([2]), "axes")])                       # [b, L, 1, n]
    u4 = b.op("Unsqueeze", [u, b.const(_i64([-1]), "axes")])                      # [b, L, d, 1]
    dBu = b.op("Mul", [b.op("Mul", [dt4, B4]), u4])                               # [b, L, d, n]
    C4 = b.op("Unsqueeze", [C, b.const(_i64([-1]), "axes")])                      # [b, L, n, 1]
    if not h0:
        su = b.op("Shape", [u])
        sA = b.op("Shape", [A])
        shape = b.op("Concat", [b.op("Gather", [su, b.const(_i64([0, 2]), "idx")], axis=0),
                                b.op("Gather", [sA, b.const(_i64([1]), "idx")], axis=0)], axis=0)
        h0 = b.op("ConstantOfShape", [shape], value=numpy_helper.from_array(_f32([0.0])))

    body = _Builder("body")
    h = body.op("Add", [body.op("Mul", ["dA_t", "h_in"]), "dBu_t"])               # [b, d, n]
    y = body.op("Squeeze", [body.op("MatMul", [h, "C_t"]), body.const(_i64([-1]), "axes")])  # [b, d]
    body.nodes.append(helper.make_node("Identity", [h], ["h_out"]))
    body.nodes.append(helper.make_node("Identity", [y], ["y_t"]))
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, None)  # noqa: E731
    graph = helper.make_graph(body.nodes, (node.name or "SelectiveScan").strip("/").replace("/", "_") + "_body",
                              [vi("h_in"), vi("dA_t"), vi("dBu_t"), vi("C_t")], [vi("h_out"), vi("y_t")])
    hT = out_names[1] if len(out_names) > 1 and out_names[1] else b.name("hT")
    y_name = b.name("y_scan") if (D or z) else out_names[0]
    b.nodes.append(helper.make_node("Scan", [h0, dA, dBu, C4], [hT, y_name], name=b.name("Scan"), body=graph,
                                    num_scan_inputs=3, scan_input_axes=[1, 1, 1], scan_output_axes=[1]))
    if D:
        Du = b.op("Mul", [u, D])
        out = out_names[0] if not z else b.name("y_D")
        b.nodes.append(helper.make_node("Add", [y_name, Du], [out], name=b.name("Add")))
        y_name = out
    if z:
        gate = b.op("Mul", [z, b.op("Sigmoid", [z])])                             # silu(z)
        b.nodes.append(helper.make_node("Mul", [y_name, gate], [out_names[0]], name=b.name("Mul")))
    return b.nodes


def _lower_lmu(node, out_names, inits, seq_len):
    ins = list(node.input) + [""] * (4 - len(node.input))
    u, A, B, m0 = ins
    b = _Builder(node.name or "LMU")
    n = None
    if A in inits:
        n = inits[A].shape[0]
    if not m0 and seq_len and A in inits and B in inits:
        L = int(seq_len)
        H = lmu_impulse_response(inits[A], inits[B], L)                           # [L, n]
        kernel = np.ascontiguousarray(H[::-1].T[:, None, :]).astype(np.float32)   # [n, 1, L]
        w = b.const(kernel, "impulse_response")
        x = b.op("Reshape", [b.op("Transpose", [u], perm=[0, 2, 1]), b.const(_i64([-1, 1, L]), "shape")])
        m = b.op("Conv", [x, w], kernel_shape=[L], pads=[L - 1, 0], strides=[1], dilations=[1], group=1)
        c = b.op("Gather", [b.op("Shape", [u]), b.const(_i64([2]), "idx")], axis=0)
        shape = b.op("Concat", [b.const(_i64([-1]), "minus1"), c, b.const(_i64([n, L]), "nL")], axis=0)
        m = b.op("Reshape", [m, shape])                                            # [b, c, n, L]
        b.nodes.append(helper.make_node("Transpose", [m], [out_names[0]], name=b.name("m"), perm=[0, 3, 1, 2]))
        if len(out_names) > 1 and out_names[1]:
            b.nodes.append(helper.make_node("Gather", [out_names[0], b.const(_i64(L - 1), "last")],
                                            [out_names[1]], name=b.name("mT"), axis=1))
        return b.nodes
    At = b.op("Transpose", [A], perm=[1, 0])
    if not m0:
        su = b.op("Shape", [u])
        shape = b.op("Concat", [b.op("Gather", [su, b.const(_i64([0, 2]), "idx")], axis=0),
                                b.op("Gather", [b.op("Shape", [A]), b.const(_i64([0]), "idx")], axis=0)], axis=0)
        m0 = b.op("ConstantOfShape", [shape], value=numpy_helper.from_array(_f32([0.0])))
    body = _Builder("body")
    ub = body.op("Mul", [body.op("Unsqueeze", ["u_t", body.const(_i64([-1]), "axes")]), B])
    m = body.op("Add", [body.op("MatMul", ["m_in", At]), ub])
    body.nodes.append(helper.make_node("Identity", [m], ["m_out"]))
    body.nodes.append(helper.make_node("Identity", [m], ["m_t"]))
    vi = lambda nm: helper.make_tensor_value_info(nm, TensorProto.FLOAT, None)  # noqa: E731
    graph = helper.make_graph(body.nodes, (node.name or "LMU").strip("/").replace("/", "_") + "_body",
                              [vi("m_in"), vi("u_t")], [vi("m_out"), vi("m_t")])
    mT = out_names[1] if len(out_names) > 1 and out_names[1] else b.name("mT")
    b.nodes.append(helper.make_node("Scan", [m0, u], [mT, out_names[0]], name=b.name("Scan"), body=graph,
                                    num_scan_inputs=1, scan_input_axes=[1], scan_output_axes=[1]))
    return b.nodes


def lower_tern_ops(model, seq_len=None):
    """Return a copy of ``model`` with every tern:: node replaced by standard ONNX ops.

    seq_len: the (fixed) sequence length, enabling the Conv form of LMU nodes without an
    initial state; without it LMU nodes become Scans and the sequence may stay symbolic.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    opset = {o.domain: o.version for o in model.opset_import}
    if opset.get("", opset.get("ai.onnx", 0)) < 13:
        raise ValueError("lower_tern_ops needs default-domain opset >= 13")
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    new_nodes = []
    for node in model.graph.node:
        if node.domain != "tern":
            new_nodes.append(node)
            continue
        outs = list(node.output)
        if node.op_type == "LIF":
            new_nodes += _lower_lif(node, outs)
        elif node.op_type == "SelectiveScan":
            new_nodes += _lower_selective_scan(node, outs)
        elif node.op_type == "LMU":
            new_nodes += _lower_lmu(node, outs, inits, seq_len)
        else:
            raise ValueError(f"lower_tern_ops: unknown op tern::{node.op_type}")
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    for imp in list(model.opset_import):
        if imp.domain == "tern":
            model.opset_import.remove(imp)
    return model
