"""Model definitions: sizes against the published ones, determinism, exporter plumbing.

Run: /usr/bin/python3 -m unittest discover models/tests
"""
import os
import sys
import unittest

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import export  # noqa: E402
import onnx_eval  # noqa: E402
from common import count_params  # noqa: E402

# parameter counts of our definitions; the published ones in the comments
PARAMS = {
    "mobilevit_v1_xxs": 1_272_024,      # 1.3M (MobileViT paper, Table 1: XXS 1.3M)
    "mobilevit_v2_050": 1_370_593,      # 1.4M (MobileViTv2 paper: 0.5 -> 1.4M)
    "efficientformer_l1": 12_289_928,   # 12.3M (EfficientFormer paper: L1 12.3M)
    "deit_tiny": 5_717_416,             # 5.7M (DeiT paper: DeiT-Ti 5M; timm 5,717,416)
    "lmuformer": 1_621_796,             # 1.62M (LMUFormer paper, Speech Commands)
    "spiking_lmuformer": 1_689_894,     # 1.69M (LMUFormer paper, spiking, Speech Commands)
    "nextvit_small_hybrid": 2_565_800,  # our configuration
    "mamba_small": 2_800_896,           # our configuration
}


def spec_of(name):
    return __import__(name).spec()


class Definitions(unittest.TestCase):
    def test_parameter_counts(self):
        for name, expected in PARAMS.items():
            with self.subTest(model=name):
                self.assertEqual(count_params(spec_of(name).build()), expected)

    def test_builds_are_deterministic(self):
        for name in ("mobilevit_v2_050", "lmuformer"):
            a, b = spec_of(name).build().state_dict(), spec_of(name).build().state_dict()
            for k in a:
                self.assertTrue(torch.equal(a[k], b[k]), (name, k))

    def test_mobilevit_v2_unfolding_equals_cvnets(self):
        import mobilevit_v2_050
        self.assertTrue(mobilevit_v2_050.unfold_matches_cvnets())

    def test_every_model_is_listed(self):
        files = {f[:-3] for f in os.listdir(os.path.dirname(HERE))
                 if f.endswith(".py") and f[:-3] not in ("export", "common", "onnx_eval", "_cvnets", "zoo_qdq")}
        self.assertEqual(files, set(export.MODELS))


class Export(unittest.TestCase):
    def test_mamba_small_short_sequence(self):
        """Export at seq 8: tied head stored once, graph equals PyTorch, dims stay symbolic."""
        spec = spec_of("mamba_small")
        model = spec.build()
        inputs = spec.make_inputs(1, 2, 8)
        with torch.no_grad():
            want = model(*inputs).numpy()
        proto, axes = export.export_graph(spec, model, inputs, {"logits": want.shape})
        inits = {i.name: tuple(i.dims) for i in proto.graph.initializer}
        self.assertIn((4096, 256), inits.values())
        self.assertNotIn((256, 4096), inits.values())
        self.assertEqual(sum(n.op_type == "SelectiveScan" and n.domain == "tern" for n in proto.graph.node), 4)
        dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
        self.assertEqual(dims, ["batch", "seq", 4096])
        got, _ = onnx_eval.run_model(proto, {"input_ids": inputs[0].numpy()})
        np.testing.assert_allclose(got["logits"], want, rtol=1e-4, atol=1e-5)
        # a different sequence length runs on the same graph
        longer = spec.make_inputs(2, 1, 13)
        with torch.no_grad():
            want = model(*longer).numpy()
        got, _ = onnx_eval.run_model(proto, {"input_ids": longer[0].numpy()})
        np.testing.assert_allclose(got["logits"], want, rtol=1e-4, atol=1e-5)

    def test_spiking_margin_repair(self):
        import spiking_lmuformer as S
        spec = S.spec()
        model = spec.build()
        inputs = spec.make_inputs(3, 1, 32)
        info = spec.prepare_golden(model, inputs)
        self.assertGreaterEqual(info["spike_margin"], 1e-4)
        self.assertEqual(len(info["spike_rates"]), 11)

    def test_cleanup_removes_zero_pad_and_identity(self):
        x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 4])
        y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2, 4])
        w = onnx.numpy_helper.from_array(np.ones((1, 2, 4), np.float32), "w")
        pads = onnx.numpy_helper.from_array(np.zeros(6, np.int64), "pads")
        nodes = [onnx.helper.make_node("Identity", ["w"], ["w2"]),
                 onnx.helper.make_node("Pad", ["x", "pads"], ["xp"], mode="constant"),
                 onnx.helper.make_node("Add", ["xp", "w2"], ["y"])]
        g = onnx.helper.make_graph(nodes, "g", [x], [y], [w, pads])
        m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)])
        export.cleanup_graph(m)
        self.assertEqual([n.op_type for n in m.graph.node], ["Add"])
        self.assertEqual(list(m.graph.node[0].input), ["x", "w"])


if __name__ == "__main__":
    unittest.main()
