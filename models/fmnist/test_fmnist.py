"""Tests of the Fashion-MNIST tooling: IDX reading, calibration subset, the QDQ rewrite.

    /usr/bin/python3 -m unittest discover -s models/fmnist -p 'test_*.py'
"""
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import data  # noqa: E402
import ort_qdq  # noqa: E402


class TestData(unittest.TestCase):
    def test_idx_roundtrip(self):
        arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.gz")
            with gzip.open(p, "wb") as f:
                f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 3, 4) + arr.tobytes())
            np.testing.assert_array_equal(data._read_idx(p), arr)
            with gzip.open(p, "wb") as f:          # truncated payload
                f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 3, 4) + arr.tobytes()[:-1])
            with self.assertRaises(ValueError):
                data._read_idx(p)

    def test_normalize_layout(self):
        x = data.normalize(np.full((2, 28, 28), 255, np.uint8))
        self.assertEqual(x.shape, (2, 1, 28, 28))
        self.assertEqual(x.dtype, np.float32)
        self.assertAlmostEqual(float(x[0, 0, 0, 0]), (1 - data.MEAN) / data.STD, places=5)

    def test_calib_indices(self):
        idx = data.calib_indices()
        self.assertEqual(len(idx), 512)
        self.assertEqual(len(np.unique(idx)), 512)
        np.testing.assert_array_equal(idx, data.calib_indices())

    @unittest.skipUnless(os.path.exists(os.path.join(data.DATA_DIR, "train-images-idx3-ubyte.gz")),
                         "dataset-fashion-mnist not installed")
    def test_committed_calib_matches_dataset(self):
        path = os.path.join(HERE, "calib.npy")
        if not os.path.exists(path):
            self.skipTest("calib.npy not generated")
        images, _ = data.load_split("train")
        np.testing.assert_array_equal(np.load(path), data.normalize(images[data.calib_indices()]))


class TestQuantParams(unittest.TestCase):
    def test_activation_range_includes_zero(self):
        s, zp = ort_qdq.act_params(0.5, 2.0)       # widened to [0, 2]
        self.assertAlmostEqual(float(s), 2.0 / 255, places=7)
        self.assertEqual(zp, 0)
        s, zp = ort_qdq.act_params(-3.0, -1.0)     # widened to [-3, 0]
        self.assertEqual(zp, 255)
        s, zp = ort_qdq.act_params(-1.0, 1.0)
        self.assertEqual(zp, 127)                  # float32: 1 / (2/255) = 127.49999 -> 127, as ORT
        s, zp = ort_qdq.act_params(0.0, 0.0)
        self.assertEqual((float(s), zp), (1.0, 0))

    def test_symmetric_weights(self):
        w = np.array([[1.0, -0.5], [0.0, 0.0], [-2.0, 1.0]], np.float32)
        q, s = ort_qdq.sym_int8(w, axis=0)
        np.testing.assert_allclose(s, [1 / 127, 1.0, 2 / 127], rtol=1e-6)
        np.testing.assert_array_equal(q, [[127, -64], [0, 0], [-127, 64]])
        q, s = ort_qdq.sym_int8(w)
        self.assertAlmostEqual(float(s), 2 / 127, places=7)
        self.assertEqual(int(q.min()), -127)


def _tiny_model():
    """image -> Conv(+bias) -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> logits."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "fc_w"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "fc_b")]
    nodes = [helper.make_node("Conv", ["image", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1)]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 6, 6])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


class TestQDQ(unittest.TestCase):
    def setUp(self):
        self.model = _tiny_model()
        self.x = np.random.default_rng(1).standard_normal((8, 1, 6, 6)).astype(np.float32)
        self.ranges = ort_qdq.calibrate(self.model, self.x)
        self.qdq, self.stats = ort_qdq.quantize_qdq(self.model, self.ranges)
        onnx.checker.check_model(self.qdq, full_check=True)

    def test_structure(self):
        ops = [n.op_type for n in self.qdq.graph.node]
        self.assertNotIn("Relu", ops)              # folded into the Conv's output range
        self.assertEqual(self.stats["removed_activations"], 1)
        self.assertEqual(self.stats["int32_biases"], 2)
        inits = {i.name: numpy_helper.to_array(i) for i in self.qdq.graph.initializer}
        self.assertEqual(inits["w_quantized"].dtype, np.int8)
        self.assertEqual(inits["w_scale"].shape, (4,))
        self.assertEqual(inits["fc_w_scale"].shape, (3,))   # Gemm transB=1: axis 0
        self.assertEqual(inits["b_quantized"].dtype, np.int32)
        # bias scale = input scale x weight scale
        np.testing.assert_allclose(inits["b_scale"], inits["image_scale"] * inits["w_scale"], rtol=1e-6)
        # Conv output quantized with the Relu output's range: zero point 0
        self.assertEqual(int(inits["r_zero_point"]), 0)
        # the graph output is produced by a DequantizeLinear and keeps its name
        last = [n for n in self.qdq.graph.node if "logits" in n.output][0]
        self.assertEqual(last.op_type, "DequantizeLinear")
        self.assertEqual([o.name for o in self.qdq.graph.output], ["logits"])

    def test_ranges_are_min_max(self):
        lo, hi = self.ranges["image"]
        self.assertEqual((lo, hi), (float(self.x.min()), float(self.x.max())))

    @unittest.skipUnless(os.path.exists(os.path.join(ort_qdq.ROOT, "tools", "bench", "node_modules",
                                                     "onnxruntime-node")), "onnxruntime-node not installed")
    def test_runs_in_ort_close_to_fp32(self):
        with tempfile.TemporaryDirectory() as d:
            paths = {}
            for k, m in (("fp32", self.model), ("qdq", self.qdq)):
                paths[k] = os.path.join(d, k + ".onnx")
                onnx.save(m, paths[k])
            np.save(os.path.join(d, "x.npy"), self.x)
            np.save(os.path.join(d, "y.npy"), np.zeros(8, np.int64))
            out = {}
            for k, p in paths.items():
                res = subprocess.run(["node", ort_qdq.ORT_EVAL, p, "--images", os.path.join(d, "x.npy"), "--labels",
                                      os.path.join(d, "y.npy"), "--logits-out", os.path.join(d, k + ".npy")],
                                     capture_output=True, text=True)
                self.assertEqual(res.returncode, 0, res.stderr)
                out[k] = np.load(os.path.join(d, k + ".npy"))
            err = np.abs(out["fp32"] - out["qdq"]).max() / np.abs(out["fp32"]).max()
            self.assertLess(err, 0.05)
            self.assertGreater(err, 0.0)                  # it really is quantized


if __name__ == "__main__":
    unittest.main()
