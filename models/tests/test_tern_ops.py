"""tern_export against the reference semantics of spec/tern_ops.py, and its ONNX export.

Run: /usr/bin/python3 -m unittest discover models/tests
The spec file is looked up at $TERN_SPEC, then /work/shared/spec/tern_ops.py, then
../shared/spec/tern_ops.py beside the repository; the comparisons skip when absent.
"""
import importlib.util
import io
import os
import sys
import unittest
import warnings

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
sys.path.insert(0, MODELS)

import onnx_eval  # noqa: E402
import tern_export as te  # noqa: E402


def _load_spec():
    candidates = [os.environ.get("TERN_SPEC", ""), "/work/shared/spec/tern_ops.py",
                  os.path.join(MODELS, "..", "..", "shared", "spec", "tern_ops.py")]
    for path in candidates:
        if path and os.path.isfile(path):
            s = importlib.util.spec_from_file_location("tern_ops_spec", path)
            mod = importlib.util.module_from_spec(s)
            s.loader.exec_module(mod)
            return mod
    return None


SPEC = _load_spec()
need_spec = unittest.skipIf(SPEC is None, "spec/tern_ops.py not found (set TERN_SPEC)")


def rng(seed):
    return np.random.default_rng(seed)


def f32(a):
    return np.asarray(a, np.float32)


def t(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def scan_args(seed, b=2, L=9, d=5, n=4):
    r = rng(seed)
    return dict(u=f32(r.standard_normal((b, L, d))), delta=f32(r.standard_normal((b, L, d))),
                A=f32(-np.exp(r.standard_normal((d, n)))), B=f32(r.standard_normal((b, L, n))),
                C=f32(r.standard_normal((b, L, n))), D=f32(r.standard_normal(d)),
                z=f32(r.standard_normal((b, L, d))), delta_bias=f32(r.standard_normal(d)),
                h0=f32(r.standard_normal((b, d, n))))


class ReferenceMatchesSpec(unittest.TestCase):
    @need_spec
    def test_selective_scan_all_optional_combinations(self):
        base = scan_args(1)
        optional = ["D", "z", "delta_bias", "h0"]
        for mask in range(16):
            for softplus in (0, 1):
                kw = {k: base[k] for k in ("u", "delta", "A", "B", "C")}
                for i, k in enumerate(optional):
                    kw[k] = base[k] if mask & (1 << i) else None
                if not softplus:  # without softplus dt must be positive, or the scan blows up
                    kw["delta"] = np.abs(kw["delta"]) * np.float32(0.5)
                    if kw["delta_bias"] is not None:
                        kw["delta_bias"] = np.abs(kw["delta_bias"])
                y_ref, h_ref = SPEC.selective_scan(**kw, delta_softplus=softplus)
                y, h = te.selective_scan_reference(**{k: t(v) for k, v in kw.items()}, delta_softplus=softplus)
                with self.subTest(mask=mask, softplus=softplus):
                    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-5, atol=1e-6)
                    np.testing.assert_allclose(h.numpy(), h_ref, rtol=1e-5, atol=1e-6)

    @need_spec
    def test_selective_scan_softplus_threshold(self):
        kw = scan_args(2)
        kw["delta"] = kw["delta"] * 30.0  # crosses softplus' threshold of 20
        y_ref, _ = SPEC.selective_scan(**kw)
        y, _ = te.selective_scan_reference(**{k: t(v) for k, v in kw.items()})
        np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-5, atol=1e-5)

    @need_spec
    def test_lmu(self):
        A, B = SPEC.lmu_matrices(order=6, theta=10.0)
        r = rng(3)
        u = f32(r.standard_normal((2, 11, 3)))
        m0 = f32(r.standard_normal((2, 3, 6)))
        for init in (None, m0):
            m_ref, s_ref = SPEC.lmu(u, A, B, m0=init)
            m, s = te.lmu_reference(t(u), t(A), t(B), t(init))
            np.testing.assert_allclose(m.numpy(), m_ref, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(s.numpy(), s_ref, rtol=1e-5, atol=1e-6)

    @need_spec
    def test_lmu_matrices_copy_is_identical(self):
        for order, theta in [(1, 1.0), (6, 10.0), (64, 128.0), (256, 128.0)]:
            A_ref, B_ref = SPEC.lmu_matrices(order, theta)
            A, B = te.lmu_matrices(order, theta)
            self.assertTrue(np.array_equal(A, A_ref) and np.array_equal(B, B_ref), (order, theta))

    @need_spec
    def test_lif_exact(self):
        r = rng(4)
        x = f32(3 * r.standard_normal((2, 13, 4, 3)))
        for axis in (0, 1, 2, 3):
            for soft in (0, 1):
                for tau, thr, reset in [(2.0, 1.0, 0.0), (1.5, 0.5, 0.0), (3.0, 0.7, -0.2)]:
                    shape = list(x.shape)
                    del shape[axis]
                    for v0 in (None, f32(r.standard_normal(shape))):
                        s_ref, v_ref = SPEC.lif(x, v0, tau, thr, reset, soft, axis)
                        s, v = te.lif_reference(t(x), t(v0), tau, thr, reset, soft, axis)
                        with self.subTest(axis=axis, soft=soft, tau=tau, v0=v0 is not None):
                            self.assertTrue(np.array_equal(s.numpy(), s_ref))
                            np.testing.assert_allclose(v.numpy(), v_ref, rtol=0, atol=1e-6)
        s, _ = te.lif_reference(t(x), time_axis=1)
        self.assertTrue(set(np.unique(s.numpy())) <= {0.0, 1.0})

    def test_lif_negative_time_axis(self):
        x = torch.randn(2, 3, 8)
        self.assertTrue(torch.equal(te.lif(x, time_axis=-1), te.lif(x, time_axis=2)))


class StreamingStates(unittest.TestCase):
    def test_split_sequences_with_state(self):
        kw = {k: t(v) for k, v in scan_args(5, L=10).items()}
        kw.pop("h0")
        y, h = te.selective_scan(**kw, return_state=True)
        part = lambda a, s: a[:, s] if a.dim() == 3 and a.shape[1] == 10 else a
        y1, h1 = te.selective_scan(**{k: part(v, slice(0, 4)) for k, v in kw.items()}, return_state=True)
        y2, h2 = te.selective_scan(**{k: part(v, slice(4, 10)) for k, v in kw.items()}, h0=h1, return_state=True)
        torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(h2, h, rtol=1e-5, atol=1e-5)

        mem = te.LMUMemory(8, 12.0)
        u = torch.randn(2, 10, 3)
        m, mT = mem(u, return_state=True)
        m1, s1 = mem(u[:, :6], return_state=True)
        m2, s2 = mem(u[:, 6:], m0=s1, return_state=True)
        torch.testing.assert_close(torch.cat([m1, m2], 1), m, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(s2, mT, rtol=1e-5, atol=1e-5)

        neuron = te.LIF(time_axis=1)
        x = 3 * torch.randn(2, 10, 4)
        s, vT = neuron(x, return_state=True)
        s1, v1 = neuron(x[:, :3], return_state=True)
        s2, v2 = neuron(x[:, 3:], v0=v1, return_state=True)
        self.assertTrue(torch.equal(torch.cat([s1, s2], 1), s))
        torch.testing.assert_close(v2, vT)


class UnrolledMatchesReference(unittest.TestCase):
    def test_selective_scan(self):
        kw = {k: t(v) for k, v in scan_args(6).items()}
        for h0 in (None, kw["h0"]):
            args = dict(kw, h0=h0)
            y, h = te.selective_scan_reference(**args)
            yu, hu = te.selective_scan_unrolled(**args)
            torch.testing.assert_close(yu, y, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(hu, h, rtol=1e-5, atol=1e-5)

    def test_lmu(self):
        A, B = (torch.from_numpy(a) for a in te.lmu_matrices(16, 20.0))
        u = torch.randn(2, 25, 3)
        m0 = torch.randn(2, 3, 16)
        for init in (None, m0):
            m, s = te.lmu_reference(u, A, B, init)
            mu, su = te.lmu_unrolled(u, A, B, init)
            torch.testing.assert_close(mu, m, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(su, s, rtol=1e-4, atol=1e-5)

    def test_lif(self):
        g = torch.Generator().manual_seed(7)
        x = 2 * torch.randn(2, 6, 17, generator=g)
        for soft, reset in [(0, 0.0), (1, 0.0), (0, -0.25)]:
            for v0 in (None, torch.randn(2, 6, generator=g)):
                s, v = te.lif_reference(x, v0, 2.0, 1.0, reset, soft, 2)
                su, vu = te.lif_unrolled(x, v0, 2.0, 1.0, reset, soft, 2)
                # the unrolled form regroups h's arithmetic: equal except within rounding of the threshold
                self.assertLessEqual(int((su != s).sum()), 0)
                torch.testing.assert_close(vu, v, rtol=1e-5, atol=1e-5)


class Toy(torch.nn.Module):
    """One node of each op, with absent optional inputs and optional state outputs."""

    def __init__(self, with_state):
        super().__init__()
        self.with_state = with_state
        self.A = torch.nn.Parameter(-torch.rand(6, 4) - 0.5)
        self.z_scale = torch.nn.Parameter(torch.rand(6))
        self.mem = te.LMUMemory(5, 8.0)
        self.neuron = te.LIF(tau=2.0, v_threshold=0.8, time_axis=1)

    def forward(self, x):                       # x [b, L, 6]
        B, C = x[..., :4], x[..., 2:6]
        outs = []
        # D absent but z present: an interior empty input
        r = te.selective_scan(x, x * 0.5, self.A, B, C, z=x * self.z_scale, delta_softplus=1,
                              return_state=self.with_state)
        y = r[0] if self.with_state else r
        outs += list(r) if self.with_state else [r]
        r = self.mem(y[..., :2], return_state=self.with_state)
        outs += list(r) if self.with_state else [r]
        r = self.neuron(3 * y, return_state=self.with_state)
        outs += list(r) if self.with_state else [r]
        return tuple(outs)


def export_toy(model, x, unrolled=False):
    buf = io.BytesIO()
    n_out = 6 if model.with_state else 3
    names = ["out%d" % i for i in range(n_out)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if unrolled:
            with te.unrolled():
                torch.onnx.export(model, (x,), buf, opset_version=17, input_names=["x"], output_names=names)
        else:
            te.export_onnx(model, (x,), buf, opset_version=17, input_names=["x"], output_names=names,
                           dynamic_axes={"x": {0: "batch", 1: "seq"}})
    return onnx.load_from_string(buf.getvalue())


class ExportedNodes(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.x = torch.randn(2, 7, 6)

    def nodes(self, proto, op):
        return [n for n in proto.graph.node if n.domain == "tern" and n.op_type == op]

    def check_eval(self, proto, model):
        with torch.no_grad():
            want = model(self.x)
        got, stats = onnx_eval.run_model(proto, {"x": self.x.numpy()})
        for w, o in zip(want, proto.graph.output):
            np.testing.assert_allclose(got[o.name], w.numpy(), rtol=1e-5, atol=1e-5)
        return stats

    def test_nodes_without_state(self):
        model = Toy(False).eval()
        proto = export_toy(model, self.x)
        onnx.checker.check_model(proto, full_check=True)
        self.assertIn(("tern", 1), [(o.domain, o.version) for o in proto.opset_import])
        (scan,) = self.nodes(proto, "SelectiveScan")
        self.assertEqual(len(scan.input), 9)
        self.assertEqual(list(scan.input[5:]), ["", scan.input[6], "", ""])
        self.assertNotEqual(scan.input[6], "")
        self.assertEqual(len(scan.output), 1)
        self.assertEqual({a.name: onnx.helper.get_attribute_value(a) for a in scan.attribute},
                         {"delta_softplus": 1})
        (lmu,) = self.nodes(proto, "LMU")
        self.assertEqual((len(lmu.input), lmu.input[3], len(lmu.output)), (4, "", 1))
        (lif,) = self.nodes(proto, "LIF")
        self.assertEqual((len(lif.input), lif.input[1], len(lif.output)), (2, "", 1))
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in lif.attribute}
        self.assertEqual(attrs["time_axis"], 1)
        self.assertEqual(attrs["soft_reset"], 0)
        self.assertAlmostEqual(attrs["tau"], 2.0)
        self.assertAlmostEqual(attrs["v_threshold"], 0.8, places=6)
        self.assertAlmostEqual(attrs["v_reset"], 0.0)
        stats = self.check_eval(proto, model)
        self.assertIn("tern::SelectiveScan", stats["macs_by_op"])

    def test_nodes_with_state(self):
        model = Toy(True).eval()
        proto = export_toy(model, self.x)
        onnx.checker.check_model(proto, full_check=True)
        for op in ("SelectiveScan", "LMU", "LIF"):
            (node,) = self.nodes(proto, op)
            self.assertEqual(len(node.output), 2, op)
        self.check_eval(proto, model)

    def test_lowering_to_standard_ops(self):
        for with_state in (False, True):
            model = Toy(with_state).eval()
            proto = export_toy(model, self.x)
            for seq_len in (None, self.x.shape[1]):   # LMU as Scan, or as the impulse-response Conv
                with self.subTest(with_state=with_state, seq_len=seq_len):
                    lowered = te.lower_tern_ops(proto, seq_len=seq_len)
                    onnx.checker.check_model(lowered, full_check=True)
                    self.assertFalse([n for n in lowered.graph.node if n.domain])
                    self.assertNotIn("tern", [o.domain for o in lowered.opset_import])
                    self.assertEqual([i.name for i in lowered.graph.input], ["x"])
                    self.check_eval(lowered, model)

    def test_lowering_lmu_with_initial_state_and_soft_lif(self):
        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.mem = te.LMUMemory(6, 9.0)

            def forward(self, u, m0, v0):
                m, mT = self.mem(u, m0=m0, return_state=True)
                s, vT = te.lif(m.flatten(2) * 4, v0=v0, tau=1.5, v_threshold=0.7, v_reset=-0.1,
                               soft_reset=1, time_axis=1, return_state=True)
                return m, mT, s, vT
        model = M().eval()
        args = (torch.randn(2, 8, 3), torch.randn(2, 3, 6), torch.randn(2, 18))
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            te.export_onnx(model, args, buf, input_names=["u", "m0", "v0"], output_names=["m", "mT", "s", "vT"])
        lowered = te.lower_tern_ops(onnx.load_from_string(buf.getvalue()), seq_len=8)
        onnx.checker.check_model(lowered, full_check=True)
        with torch.no_grad():
            want = model(*args)
        got, _ = onnx_eval.run_model(lowered, {"u": args[0].numpy(), "m0": args[1].numpy(), "v0": args[2].numpy()})
        for w, name in zip(want, ["m", "mT", "s", "vT"]):
            np.testing.assert_allclose(got[name], w.numpy(), rtol=1e-5, atol=1e-5)

    def test_unrolled_has_standard_ops_only(self):
        model = Toy(True).eval()
        proto = export_toy(model, self.x, unrolled=True)
        onnx.checker.check_model(proto, full_check=True)
        self.assertFalse([n for n in proto.graph.node if n.domain])
        self.check_eval(proto, model)


if __name__ == "__main__":
    unittest.main()
