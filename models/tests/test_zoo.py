"""Consistency of a generated zoo folder (skipped when none exists).

Looks at $TERN_ZOO, else models/zoo. Generate it with /usr/bin/python3 models/export.py.
"""
import hashlib
import json
import os
import sys
import unittest

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import export  # noqa: E402

ZOO = os.environ.get("TERN_ZOO", os.path.join(os.path.dirname(HERE), "zoo"))
ALLOWED = {
    "Conv", "ConvTranspose", "BatchNormalization", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow",
    "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Neg",
    "Abs", "Softplus", "Softmax", "LayerNormalization", "GroupNormalization", "InstanceNormalization",
    "ReduceMean", "ReduceSum", "ReduceMax", "GlobalAveragePool", "AveragePool", "MaxPool", "Reshape",
    "Transpose", "Concat", "Split", "Slice", "Gather", "Unsqueeze", "Squeeze", "Flatten", "Expand", "Pad",
    "Resize", "Cast", "Where", "Identity", "Constant", "ConstantOfShape", "Shape", "Range", "Tile",
    "tern::SelectiveScan", "tern::LMU", "tern::LIF",
}


@unittest.skipUnless(os.path.isdir(ZOO), f"no zoo at {ZOO}")
class Zoo(unittest.TestCase):
    def models(self):
        names = [n for n in export.MODELS if os.path.isfile(os.path.join(ZOO, n, "meta.json"))]
        if not names:
            self.skipTest("zoo folder has no models")
        return names

    def test_meta_matches_files(self):
        for name in self.models():
            folder = os.path.join(ZOO, name)
            with open(os.path.join(folder, "meta.json")) as f:
                meta = json.load(f)
            with self.subTest(model=name):
                data = open(os.path.join(folder, "model.onnx"), "rb").read()
                self.assertEqual(hashlib.sha256(data).hexdigest(), meta["onnx_sha256"])
                proto = onnx.load_from_string(data)
                onnx.checker.check_model(proto)
                self.assertEqual([i.name for i in proto.graph.input], [e["name"] for e in meta["inputs"]])
                self.assertEqual([o.name for o in proto.graph.output], [e["name"] for e in meta["outputs"]])
                self.assertEqual(meta["opset"], next(o.version for o in proto.opset_import if o.domain == ""))
                for e in meta["inputs"] + meta["outputs"]:
                    a = np.load(os.path.join(folder, e["file"]))
                    self.assertEqual(list(a.shape), e["shape"])
                    self.assertEqual(str(a.dtype), e["dtype"])
                with open(os.path.join(folder, "compile_args.txt")) as f:
                    self.assertEqual(f.read().splitlines(), meta["compile_args"])
                ops = set(meta["op_histogram"])
                self.assertFalse(ops - ALLOWED, f"ops outside the agreed set: {ops - ALLOWED}")
                if "spike_margin" in meta:
                    self.assertGreaterEqual(meta["spike_margin"], 1e-4)
                if "unrolled" in meta:
                    self.assertTrue(os.path.isfile(os.path.join(folder, "model_unrolled.onnx")))
                    self.assertFalse([k for k in meta["unrolled"]["op_histogram"] if k.startswith("tern::")])


if __name__ == "__main__":
    unittest.main()
