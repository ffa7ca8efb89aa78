"""Train the five Fashion-MNIST models of nets.py and export them to ONNX.

    LD_LIBRARY_PATH=/tmp/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=1 \\
        nice -n 10 /usr/bin/python3 models/fmnist/train.py [--only NAME ...] [--epochs N] [--export-only]

For each model NAME this writes into models/fmnist/:
  NAME.onnx           opset 17, input `image` [batch, 1, 28, 28], output `logits` [batch, 10],
                      dynamic dim `batch`; the recurrent models contain tern::LMU / tern::LIF /
                      tern::SelectiveScan nodes (models/tern_export)
  NAME_unrolled.onnx  tern models only: the same network with standard ops (tern_export's
                      lower_tern_ops, LMU as one causal Conv of length 28) for ONNX Runtime
  NAME.json           params, training settings, PyTorch fp32 top-1 on the 10,000 test images,
                      op histogram, max |ONNX - PyTorch| on 32 test images (models/onnx_eval.py)
  NAME.pt             the trained state_dict (git-ignored; --export-only re-exports from it)

Deterministic: fixed seeds, one thread, seeded shuffles; the same command gives the same
weights. (The openblas LD_LIBRARY_PATH only makes it faster: unpack with
`apt-get download libopenblas0-pthread && dpkg-deb -x libopenblas0-pthread_*.deb /tmp/openblas`.)
"""
import argparse
import collections
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import data  # noqa: E402
import nets  # noqa: E402
import tern_export as te  # noqa: E402

# per model: optimizer steps of BATCH images (sized for a 2-core machine shared by several
# agents: a fraction of an epoch to two epochs), peak learning rate, weight decay, seed
SETTINGS = {
    "mobilevit_fm": dict(steps=450, lr=4e-3, wd=0.02, seed=101),
    "efficientformer_fm": dict(steps=700, lr=4e-3, wd=0.02, seed=102),
    "lmu_fm": dict(steps=900, lr=3e-3, wd=0.01, seed=103),
    "spiking_lmu_fm": dict(steps=700, lr=3e-3, wd=0.01, seed=104),
    "mamba_fm": dict(steps=450, lr=4e-3, wd=0.01, seed=105),
}
BATCH = 128
OUT = {"dir": HERE}
OPSET = 17


def build(name, seed):
    torch.manual_seed(seed)
    return nets.MODELS[name]()


def lr_at(step, total, peak, warmup=100):
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(name, model, x_train, y_train, total, lr, wd, seed, log):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "attention_biases" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "attention_biases" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr)
    n = len(x_train)
    steps_per_epoch = n // BATCH
    t0 = time.time()
    model.train()
    run_loss, run_acc = 0.0, 0.0
    with nets.training_forms():
        for step in range(total):
            epoch, i = divmod(step, steps_per_epoch)
            if i == 0:
                order = np.random.default_rng(seed * 1000 + epoch).permutation(n)
            idx = torch.from_numpy(order[i * BATCH:(i + 1) * BATCH])
            xb, yb = x_train[idx], y_train[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, lr)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            opt.step()
            run_loss += float(loss)
            run_acc += float((logits.argmax(1) == yb).float().mean())
            if (step + 1) % 50 == 0:
                log(f"{name} step {step + 1}/{total} (epoch {step / steps_per_epoch:.2f}) "
                    f"loss {run_loss / 50:.4f} acc {run_acc / 50:.4f} ({time.time() - t0:.0f} s)")
                run_loss, run_acc = 0.0, 0.0
    model.eval()
    return time.time() - t0


@torch.no_grad()
def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def prune_initializers(model):
    """Drop initializers no node reads (the LMU's A and B once it is lowered to a Conv)."""
    used = set()

    def visit(graph):
        for node in graph.node:
            used.update(node.input)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for g in attr.graphs:
                    visit(g)
    visit(model.graph)
    keep = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    return model


def export(name, model, x_test, info):
    path = os.path.join(OUT["dir"], f"{name}.onnx")
    example = x_test[:2]
    te.export_onnx(model, (example,), path, opset_version=OPSET, input_names=["image"],
                   output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    files = {"onnx": os.path.basename(path)}
    graphs = {"onnx": proto}
    if name in nets.TERN_MODELS:
        lowered = prune_initializers(te.lower_tern_ops(proto, seq_len=nets.ROWS))
        upath = os.path.join(OUT["dir"], f"{name}_unrolled.onnx")
        onnx.save(lowered, upath)
        onnx.checker.check_model(lowered, full_check=True)
        files["unrolled"] = os.path.basename(upath)
        graphs["unrolled"] = lowered
    # check what was written: the ONNX interpreter against PyTorch on 32 test images
    import onnx_eval
    xs = x_test[:32]
    with torch.no_grad():
        ref = model(xs).numpy()
    for kind, g in graphs.items():
        outs, stats = onnx_eval.Interpreter(g).run({"image": xs.numpy()})
        info[f"max_abs_diff_{kind}"] = float(np.abs(outs["logits"] - ref).max())
        info[f"macs_per_image_{kind}"] = stats["macs"] // len(xs)
        info[f"op_histogram_{kind}"] = dict(sorted(collections.Counter(
            (n.domain + "::" if n.domain else "") + n.op_type for n in g.graph.node).items()))
        info[f"bytes_{kind}"] = os.path.getsize(os.path.join(OUT["dir"], files[kind]))
    info["files"] = files
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=sorted(nets.MODELS), help="models to train (default: all)")
    ap.add_argument("--epochs", type=float, help="train this many epochs instead of the model's step count")
    ap.add_argument("--export-only", action="store_true", help="load NAME.pt instead of training")
    ap.add_argument("--out", default=HERE, help="output folder (default: models/fmnist)")
    args = ap.parse_args()
    OUT["dir"] = args.out
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    tr_img, tr_lab = data.load_split("train")
    te_img, te_lab = data.load_split("test")
    x_train, y_train = torch.from_numpy(data.normalize(tr_img)), torch.from_numpy(tr_lab)
    x_test, y_test = torch.from_numpy(data.normalize(te_img)), torch.from_numpy(te_lab)

    def log(msg):
        print(msg, flush=True)

    for name in args.only or list(nets.MODELS):
        s = dict(SETTINGS[name])
        if args.epochs:
            s["steps"] = int(round(args.epochs * (60000 // BATCH)))
        s["epochs"] = round(s["steps"] / (60000 // BATCH), 3)
        model = build(name, s["seed"])
        pt = os.path.join(OUT["dir"], f"{name}.pt")
        info = {"name": name, "params": int(sum(p.numel() for p in model.parameters())),
                "batch_size": BATCH, **s, "input": "image [batch, 1, 28, 28] float32, (x/255 - 0.2860)/0.3530",
                "output": "logits [batch, 10]", "opset": OPSET}
        if args.export_only:
            model.load_state_dict(torch.load(pt))
            old = os.path.join(OUT["dir"], f"{name}.json")
            if os.path.exists(old):
                with open(old) as f:
                    prev = json.load(f)
                info["train_seconds"] = prev.get("train_seconds")
        else:
            info["train_seconds"] = round(train(name, model, x_train, y_train, s["steps"], s["lr"], s["wd"],
                                                s["seed"], log), 1)
            torch.save(model.state_dict(), pt)
        model.eval()
        info["pytorch_fp32_top1"] = evaluate(model, x_test, y_test)
        log(f"{name}: params {info['params']}, PyTorch fp32 top-1 {info['pytorch_fp32_top1']:.4f}")
        export(name, model, x_test, info)
        with open(os.path.join(OUT["dir"], f"{name}.json"), "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
            f.write("\n")
        log(f"{name}: exported {info['files']}, max |onnx - torch| "
            + ", ".join(f"{k}={v:.2e}" for k, v in info.items() if k.startswith("max_abs_diff")))


if __name__ == "__main__":
    main()
