#!/usr/bin/python3
"""Regenerate the model zoo: ONNX files plus golden inputs/outputs computed by PyTorch.

    /usr/bin/python3 models/export.py [--out models/zoo] [--only NAME ...] [--missing]
                                      [--unrolled] [--seq-len N] [--batch N]

For every model NAME it writes OUT/NAME/:
    model.onnx             the exported graph (tern:: custom ops where the model has them)
    model_unrolled.onnx    with --unrolled, for models with tern ops: same weights, same
                           inputs/outputs, standard ONNX ops only (fixed sequence length)
    input_K.npy            golden input K (K = position among the graph inputs)
    output_K.npy           golden output K, computed by PyTorch
    meta.json              description, parameter and MAC counts, shapes, compile_args, ...
    compile_args.txt       the compile_args of meta.json, one argv token per line

Every file is a deterministic function of the code (fixed seeds, no timestamps).
Each exported graph is checked with onnx.checker (full_check; the checker skips the
unregistered tern domain's ops) and evaluated on the golden inputs by onnx_eval.py
(an interpreter of the ONNX op semantics), which must reproduce the PyTorch outputs.
"""
import argparse
import contextlib
import hashlib
import importlib
import io
import json
import os
import sys
import time
import warnings
import zlib
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import numpy_helper  # noqa: E402

import onnx_eval  # noqa: E402
import tern_export  # noqa: E402
from common import count_params  # noqa: E402

MODELS = [
    "mobilevit_v1_xxs",
    "mobilevit_v2_050",
    "efficientformer_l1",
    "nextvit_small_hybrid",
    "deit_tiny",
    "lmuformer",
    "spiking_lmuformer",
    "mamba_small",
]

# ONNX vs PyTorch agreement required of the golden outputs (float32, different summation order)
RTOL, ATOL = 1e-3, 1e-4

_NP_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}


def golden_seed(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------
# graph clean-up after torch.onnx.export
# --------------------------------------------------------------------------

def _constant_values(graph):
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return values


def _rename_inputs(graph, rename):
    for n in graph.node:
        for i, name in enumerate(n.input):
            while name in rename:
                name = rename[name]
            n.input[i] = name


def _remove_dead(graph):
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for n in graph.node for name in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output if o)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {name for n in graph.node for name in n.input} | outputs
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


_FOLDABLE = {"ConstantOfShape", "Concat", "Reshape", "Slice", "Transpose", "Cast", "Unsqueeze", "Squeeze",
             "Gather", "Add", "Sub", "Mul", "Div", "Neg", "Range", "Equal", "Where", "Expand"}


def fold_small_constants(model, max_elems=1024):
    """Evaluate shape-manipulation nodes whose inputs are all outputs of Constant nodes (the exporter
    leaves chains such as ConstantOfShape -> Concat -> Reshape -> Slice -> Cast computing Pad's
    pads); each becomes a Constant node. Initializers (weights) are never folded."""
    g = model.graph
    interp = onnx_eval.Interpreter(model)
    values = {}
    for idx, node in enumerate(list(g.node)):
        if node.op_type == "Constant":
            values[node.output[0]] = interp.op_Constant(node, [], onnx_eval._attrs(node), Counter())
            continue
        if (node.domain or node.op_type not in _FOLDABLE
                or not all(i == "" or i in values for i in node.input)):
            continue
        ins = [values[i] if i else None for i in node.input]
        outs = getattr(interp, "op_" + node.op_type)(node, ins, onnx_eval._attrs(node), Counter())
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        if any(o.numel() > max_elems for o in outs):
            continue
        pos = list(g.node).index(node)
        g.node.remove(node)
        for k, (name, value) in enumerate(zip(node.output, outs)):
            values[name] = value
            const = onnx.helper.make_node("Constant", [], [name], name=(node.name or name) + "_folded",
                                          value=numpy_helper.from_array(value.numpy(), name))
            g.node.insert(pos + k, const)


def cleanup_graph(model):
    """Drop exporter artefacts that carry no computation.

    * Identity of an initializer: torch deduplicates equal initializers into Identity nodes;
      consumers read the initializer directly instead.
    * shape-manipulation chains on small constants are folded (fold_small_constants).
    * Pad by all-zero constant pads (torch's avg_pool1d emits one).
    * unused nodes and initializers, and an opset import of a domain no node uses.
    """
    g = model.graph
    outputs = {o.name for o in g.output}
    inits = {i.name for i in g.initializer}
    consts = _constant_values(g)
    rename = {}
    for n in list(g.node):
        if n.output[0] in outputs:
            continue
        if n.op_type == "Identity" and n.input[0] in inits:
            rename[n.output[0]] = n.input[0]
            g.node.remove(n)
        elif (n.op_type == "Pad" and len(n.input) > 1 and n.input[1] in consts
              and not np.any(consts[n.input[1]])
              and onnx.helper.get_attribute_value(next((a for a in n.attribute if a.name == "mode"),
                                                       onnx.helper.make_attribute("mode", "constant")))
              in (b"constant", "constant")):
            rename[n.output[0]] = n.input[0]
            g.node.remove(n)
    _rename_inputs(g, rename)
    fold_small_constants(model)
    consts = _constant_values(g)
    rename = {}
    for n in list(g.node):  # Pads whose pads only became constant by folding
        if (n.op_type == "Pad" and n.output[0] not in outputs and len(n.input) > 1 and n.input[1] in consts
                and not np.any(consts[n.input[1]])
                and all(onnx.helper.get_attribute_value(a) in (b"constant", "constant")
                        for a in n.attribute if a.name == "mode")):
            rename[n.output[0]] = n.input[0]
            g.node.remove(n)
    _rename_inputs(g, rename)
    _remove_dead(g)
    used_domains = {n.domain for n in g.node}
    for imp in list(model.opset_import):
        if imp.domain not in ("", "ai.onnx") and imp.domain not in used_domains:
            model.opset_import.remove(imp)
    return model


def fix_io_shapes(model, dynamic_axes, io_shapes):
    """Name symbolic dims as declared; concrete sizes elsewhere; drop invented value_info.

    Downstream of a tern op torch cannot infer shapes and invents dim names such as
    "LMU..._dim_2"; value_info entries with such names are removed (shape unknown there),
    and the graph inputs/outputs get their real shape (symbols from dynamic_axes).
    """
    declared = {sym for axes in dynamic_axes.values() for sym in axes.values()}
    g = model.graph
    for vi in list(g.value_info):
        dims = vi.type.tensor_type.shape.dim
        if any(d.dim_param and d.dim_param not in declared for d in dims):
            g.value_info.remove(vi)
    for out in list(g.input) + list(g.output):
        if out.name not in io_shapes:
            continue
        shape = io_shapes[out.name]
        axes = dynamic_axes.get(out.name, {})
        dims = out.type.tensor_type.shape.dim
        while len(dims) < len(shape):
            dims.add()
        while len(dims) > len(shape):
            dims.pop()
        for i, size in enumerate(shape):
            dims[i].Clear()
            if i in axes:
                dims[i].dim_param = axes[i]
            else:
                dims[i].dim_value = int(size)
    return model


# --------------------------------------------------------------------------
# export + verification
# --------------------------------------------------------------------------

def _without_seq(dynamic_axes):
    out = {name: {ax: sym for ax, sym in axes.items() if sym != "seq"} for name, axes in dynamic_axes.items()}
    return {k: v for k, v in out.items() if v}


def export_graph(spec, model, inputs, io_shapes, unrolled=False):
    """torch.onnx export + clean-up. unrolled=True traces tern_export.unrolled() (short sequences only)."""
    dynamic_axes = {name: dict(axes) for name, axes in spec.dynamic_axes.items()}
    if unrolled:  # the time loop is unrolled at trace time: the sequence length is fixed
        dynamic_axes = _without_seq(dynamic_axes)
    buf = io.BytesIO()
    ctx = tern_export.unrolled() if unrolled else contextlib.nullcontext()
    with ctx, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.uses_tern and not unrolled:
            tern_export.export_onnx(model, inputs, buf, opset_version=spec.opset,
                                    input_names=spec.input_names, output_names=spec.output_names,
                                    dynamic_axes=dynamic_axes or None)
        else:
            torch.onnx.export(model, inputs, buf, opset_version=spec.opset, do_constant_folding=True,
                              input_names=spec.input_names, output_names=spec.output_names,
                              dynamic_axes=dynamic_axes or None)
    proto = onnx.load_from_string(buf.getvalue())
    if spec.postprocess_onnx is not None:
        proto = spec.postprocess_onnx(proto)
    cleanup_graph(proto)
    fix_io_shapes(proto, dynamic_axes, io_shapes)
    onnx.checker.check_model(proto, full_check=True)
    return proto, dynamic_axes


def lower_graph(proto, dynamic_axes, io_shapes, seq_len):
    """model_unrolled: the tern nodes of ``proto`` lowered to standard ops (tern_export.lowering).

    LMU nodes become a Conv with a kernel of length seq_len, which fixes the sequence length;
    graphs without LMU keep a symbolic one (their Scans run any length)."""
    has_lmu = any(n.domain == "tern" and n.op_type == "LMU" for n in proto.graph.node)
    axes = _without_seq(dynamic_axes) if has_lmu else dynamic_axes
    lowered = tern_export.lower_tern_ops(proto, seq_len=seq_len)
    cleanup_graph(lowered)
    fix_io_shapes(lowered, axes, io_shapes)
    onnx.checker.check_model(lowered, full_check=True)
    return lowered, axes


def compare(name, got, want):
    diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
    if got.shape != want.shape or not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        raise AssertionError(f"{name}: ONNX evaluation differs from PyTorch (shape {got.shape} vs "
                             f"{want.shape}, max abs diff {diff:.3g}, rtol {RTOL}, atol {ATOL})")
    return diff


def evaluate(proto, feeds, want, label):
    outs, stats = onnx_eval.run_model(proto, feeds)
    diffs = [compare(f"{label} output {k}", outs[o.name], want[k]) for k, o in enumerate(proto.graph.output)]
    return stats, max(diffs)


def op_histogram(proto, nested=False):
    """Op types of the top-level graph, or (nested=True) of the subgraphs (Scan bodies)."""
    h = Counter()

    def walk(graph, inside):
        for n in graph.node:
            if inside:
                h[(n.domain + "::" if n.domain else "") + n.op_type] += 1
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g, True)
    if nested:
        walk(proto.graph, False)
    else:
        h.update((n.domain + "::" if n.domain else "") + n.op_type for n in proto.graph.node)
    return dict(sorted(h.items()))


def io_entries(values, vis, dynamic_axes, prefix):
    entries = []
    for k, (arr, vi) in enumerate(zip(values, vis)):
        axes = dynamic_axes.get(vi.name, {})
        entries.append({
            "name": vi.name,
            "shape": list(arr.shape),
            "dims": [axes.get(i, int(s)) for i, s in enumerate(arr.shape)],
            "dtype": _NP_DTYPES[vi.type.tensor_type.elem_type],
            "file": f"{prefix}_{k}.npy",
        })
    return entries


def compile_args_for(inputs_meta):
    args = []
    for e in inputs_meta:
        if any(isinstance(d, str) for d in e["dims"]):
            args += ["--input-shape", e["name"] + "=" + "x".join(str(s) for s in e["shape"])]
    return args


def folder_complete(folder, spec, batch, seq_len, want_unrolled):
    meta_path = os.path.join(folder, "meta.json")
    if not os.path.isfile(meta_path):
        return False
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    files = ["model.onnx", "compile_args.txt"] + [e["file"] for e in meta.get("inputs", []) + meta.get("outputs", [])]
    if want_unrolled and spec.uses_tern:
        files.append("model_unrolled.onnx")
    if meta.get("batch") != batch or meta.get("seq_len") != seq_len:
        return False
    return all(os.path.isfile(os.path.join(folder, f)) for f in files)


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def export_one(name, out_dir, args):
    t0 = time.time()
    spec = importlib.import_module(name).spec()
    batch = args.batch or spec.default_batch
    seq_len = (args.seq_len or spec.default_seq_len) if spec.default_seq_len else None
    folder = os.path.join(out_dir, name)
    if args.missing and folder_complete(folder, spec, batch, seq_len, args.unrolled):
        print(f"{name:22s} complete, skipped")
        return None

    torch.manual_seed(0)
    model = spec.build()
    inputs = spec.make_inputs(golden_seed(name), batch, seq_len)
    extra = {}
    with torch.no_grad():
        if spec.prepare_golden is not None:
            extra = spec.prepare_golden(model, inputs) or {}
        outputs = model(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    in_arrays = [t.detach().numpy().copy() for t in inputs]
    out_arrays = [t.detach().numpy().copy() for t in outputs]
    io_shapes = {n: a.shape for n, a in zip(spec.output_names, out_arrays)}
    io_shapes.update({n: a.shape for n, a in zip(spec.input_names, in_arrays)})

    proto, dynamic_axes = export_graph(spec, model, inputs, io_shapes)
    feeds = {n: a for n, a in zip(spec.input_names, in_arrays)}
    stats, max_diff = evaluate(proto, feeds, out_arrays, name)
    onnx_bytes = proto.SerializeToString()

    inputs_meta = io_entries(in_arrays, proto.graph.input, dynamic_axes, "input")
    outputs_meta = io_entries(out_arrays, proto.graph.output, dynamic_axes, "output")
    compile_args = compile_args_for(inputs_meta)
    hist = op_histogram(proto)
    meta = {
        "name": name,
        "opset": spec.opset,
        "source": spec.source,
        "config": spec.config,
        "params": count_params(model),
        "macs": stats["macs"],
        "macs_by_op": stats["macs_by_op"],
        "macs_note": "multiply-accumulates at the golden shape: Conv, Gemm, MatMul, and the tern ops' "
                     "per-step multiply-adds (see onnx_eval.py for the formulas)",
        "batch": batch,
        "seq_len": seq_len,
        "golden_seed": golden_seed(name),
        "onnx_file": "model.onnx",
        "onnx_bytes": len(onnx_bytes),
        "onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "dynamic_axes": {k: {str(a): s for a, s in v.items()} for k, v in dynamic_axes.items()},
        "inputs": inputs_meta,
        "outputs": outputs_meta,
        "compile_args": compile_args,
        "op_histogram": hist,
        "tern_ops": sorted(k for k in hist if k.startswith("tern::")),
        "verification": {"onnx_eval_max_abs_diff": max_diff, "rtol": RTOL, "atol": ATOL},
        "exporter": {"torch": torch.__version__, "onnx": onnx.__version__},
    }
    if spec.spiking:
        meta["spike_margin"] = extra["spike_margin"]
        meta["spike_margin_target"] = 1e-4
        meta["spike_rates"] = extra["spike_rates"]
        meta["spike_margin_note"] = ("smallest |h_t - v_threshold| over every LIF neuron and step for the "
                                     "golden input; reached by nudging pre-LIF BatchNorm biases "
                                     "(spiking_lmuformer.repair_spike_margins), so the weights depend on "
                                     "the golden input (batch, seq_len)")

    unrolled_bytes = None
    if args.unrolled and spec.uses_tern:
        with torch.no_grad(), tern_export.unrolled():
            un_out = model(*inputs)
        un_out = un_out if isinstance(un_out, (tuple, list)) else (un_out,)
        torch_diff = max(compare(f"{name} unrolled PyTorch", u.numpy(), w) for u, w in zip(un_out, out_arrays))
        un_proto, un_axes = lower_graph(proto, dynamic_axes, io_shapes, seq_len)
        un_hist = op_histogram(un_proto)
        assert not any(k.startswith("tern::") for k in un_hist), f"{name}: tern op left in unrolled graph"
        un_stats, un_diff = evaluate(un_proto, feeds, out_arrays, f"{name} (unrolled)")
        unrolled_bytes = un_proto.SerializeToString()
        meta["unrolled"] = {
            "onnx_file": "model_unrolled.onnx",
            "onnx_bytes": len(unrolled_bytes),
            "onnx_sha256": hashlib.sha256(unrolled_bytes).hexdigest(),
            "dynamic_axes": {k: {str(a): s for a, s in v.items()} for k, v in un_axes.items()},
            "compile_args": compile_args_for(io_entries(in_arrays, un_proto.graph.input, un_axes, "input")),
            "macs": un_stats["macs"],
            "macs_by_op": un_stats["macs_by_op"],
            "op_histogram": un_hist,
            "op_histogram_scan_bodies": op_histogram(un_proto, nested=True),
            "nodes": len(un_proto.graph.node),
            "max_abs_diff_vs_golden": {"pytorch_unrolled": torch_diff, "onnx_eval": un_diff},
            "note": "standard ONNX ops only (tern nodes lowered by tern_export.lower_tern_ops: LIF and "
                    "SelectiveScan as Scan, LMU as a causal Conv with the impulse-response kernel, "
                    "which fixes the sequence length to seq_len)",
        }

    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):  # stale outputs of an earlier run
        if f.endswith(".npy") or f in ("model.onnx", "model_unrolled.onnx", "meta.json", "compile_args.txt"):
            os.remove(os.path.join(folder, f))
    write_bytes(os.path.join(folder, "model.onnx"), onnx_bytes)
    if unrolled_bytes is not None:
        write_bytes(os.path.join(folder, "model_unrolled.onnx"), unrolled_bytes)
    for k, a in enumerate(in_arrays):
        np.save(os.path.join(folder, f"input_{k}.npy"), a)
    for k, a in enumerate(out_arrays):
        np.save(os.path.join(folder, f"output_{k}.npy"), a)
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    with open(os.path.join(folder, "compile_args.txt"), "w") as f:
        f.write("".join(a + "\n" for a in compile_args))

    elapsed = time.time() - t0
    size = f"{len(onnx_bytes) / 1e6:7.2f} MB"
    if unrolled_bytes is not None:
        size += f" (unrolled {len(unrolled_bytes) / 1e6:.2f} MB)"
    extra_txt = f"  spike_margin {meta['spike_margin']:.3g}" if spec.spiking else ""
    print(f"{name:22s} params {meta['params'] / 1e6:6.3f} M  MACs {meta['macs'] / 1e9:7.4f} G  "
          f"onnx {size}  opset {spec.opset}  {elapsed:6.1f} s{extra_txt}", flush=True)
    return meta


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(HERE, "zoo"), help="output folder (default models/zoo)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=MODELS, help="export only these models")
    p.add_argument("--missing", action="store_true", help="only (re)build models whose folder is incomplete")
    p.add_argument("--unrolled", action="store_true",
                   help="also write model_unrolled.onnx (tern ops lowered to standard ops) for models with tern ops")
    p.add_argument("--seq-len", type=int, help="golden sequence length of the recurrent models (default 128)")
    p.add_argument("--batch", type=int, help="golden batch size (default: 1 vision, 2 recurrent)")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    os.makedirs(args.out, exist_ok=True)
    failed = []
    for name in args.only or MODELS:
        try:
            export_one(name, args.out, args)
        except Exception as e:  # report every model, fail at the end
            failed.append(name)
            print(f"{name:22s} FAILED: {type(e).__name__}: {e}", flush=True)
    if failed:
        print("failed: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
