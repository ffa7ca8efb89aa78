"""tern_export: export PyTorch models that use Tern's custom ONNX ops.

Domain ``tern`` version 1 defines three ops (reference semantics:
``spec/tern_ops.py`` beside the project's DESIGN.md):

    tern::SelectiveScan  Mamba's S6 scan       selective_scan(u, delta, A, B, C, D, z, delta_bias, h0)
    tern::LMU            LMU linear memory     lmu(u, A, B, m0)
    tern::LIF            multi-step LIF neuron lif(x, v0, tau, v_threshold, v_reset, soft_reset, time_axis)

Use the functions (or the ``LIF`` / ``LMUMemory`` modules) in a model's forward,
then export with ``export_onnx`` (or ``torch.onnx.export(..., custom_opsets=CUSTOM_OPSETS)``).
Inside ``with unrolled():`` the same model exports with standard ONNX ops only (a per-step
unroll, fine for short sequences); ``lower_tern_ops(model_proto)`` rewrites an exported graph's
tern nodes into standard ops (Scan / Conv), which scales to long sequences.
"""
import torch

from .lmu_math import lmu_impulse_response, lmu_matrices
from .lowering import lower_tern_ops
from .modules import LIF, LMUMemory
from .ops import (CUSTOM_OPSETS, TERN_DOMAIN, TERN_OPSET, LIFFunction, LIFProbe, LMUFunction,
                  SelectiveScanFunction, is_unrolled, lif, lif_probe, lif_reference, lif_unrolled,
                  lmu, lmu_reference, lmu_unrolled, selective_scan, selective_scan_reference,
                  selective_scan_unrolled, unrolled)

__all__ = [
    "CUSTOM_OPSETS", "TERN_DOMAIN", "TERN_OPSET", "LIF", "LMUMemory", "LIFFunction", "LMUFunction",
    "SelectiveScanFunction", "LIFProbe", "export_onnx", "is_unrolled", "lif", "lif_probe",
    "lif_reference", "lif_unrolled", "lmu", "lmu_impulse_response", "lmu_matrices",
    "lmu_reference", "lmu_unrolled", "lower_tern_ops", "selective_scan", "selective_scan_reference",
    "selective_scan_unrolled", "unrolled",
]


def export_onnx(model, args, f, *, opset_version=17, input_names=None, output_names=None,
                dynamic_axes=None, **kwargs):
    """torch.onnx.export with the tern opset registered and inference settings.

    The model should be in eval mode. Any torch.onnx.export keyword may be passed.
    """
    kwargs.setdefault("do_constant_folding", True)
    custom = dict(kwargs.pop("custom_opsets", None) or {})
    custom.update(CUSTOM_OPSETS)
    with torch.no_grad():
        torch.onnx.export(model, args, f, opset_version=opset_version, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes,
                          custom_opsets=custom, **kwargs)
