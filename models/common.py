"""Shared pieces of the model zoo: the per-model spec and deterministic weight setup.

Every ``models/<name>.py`` exposes ``spec() -> ModelSpec``; ``export.py`` drives them.
"""
import dataclasses
from typing import Callable, Dict, List, Optional

import torch
from torch import nn


@dataclasses.dataclass
class ModelSpec:
    name: str
    opset: int
    source: str                      # paper and reference code the definition follows
    config: Dict                     # the configuration exported (sizes, options, deviations)
    build: Callable[[], nn.Module]   # deterministic: same weights on every call, eval mode
    make_inputs: Callable            # (seed, batch, seq_len) -> tuple of tensors
    input_names: List[str]
    output_names: List[str]
    dynamic_axes: Dict[str, Dict[int, str]] = dataclasses.field(default_factory=dict)
    default_batch: int = 1
    default_seq_len: Optional[int] = None     # recurrent models only
    uses_tern: bool = False                    # graph contains tern:: ops
    spiking: bool = False
    # optional hook run once on the built model with the golden inputs (spiking models
    # use it to move pre-LIF biases so no neuron sits within the margin of its threshold)
    prepare_golden: Optional[Callable] = None
    # optional hook on the exported onnx.ModelProto (e.g. re-tie shared weights)
    postprocess_onnx: Optional[Callable] = None


def make_divisible(v, divisor=8, min_value=None):
    """Round v to a multiple of divisor, not going down by more than 10% (TF-slim rule)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def seeded_build(seed, ctor):
    """Construct a module under a fixed torch seed (module init draws from the global RNG)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = ctor()
    finally:
        torch.random.set_rng_state(state)
    return model


_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


def randomize_norm_affine_(model, seed, weight_range=(0.75, 1.25), bias_std=0.1):
    """Random (seeded) affine parameters for every norm layer, so tests exercise them.

    Freshly initialised norms have weight 1, bias 0, which a wrong implementation could
    pass by accident; trained networks never look like that.
    """
    g = torch.Generator().manual_seed(seed)
    lo, hi = weight_range
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
                m.weight.copy_(lo + (hi - lo) * torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(bias_std * torch.randn(m.bias.shape, generator=g))
    return model


@torch.no_grad()
def calibrate_batchnorm_(model, *inputs):
    """Set BatchNorm running statistics to the statistics of one calibration batch.

    Random weights with default running stats (mean 0, var 1) drift activations far
    from unit scale over many layers; after calibration every BN output is roughly
    normalised, as in a trained network. Deterministic for fixed inputs.
    """
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration forward
    model.train()
    try:
        model(*inputs)
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.eval()
    return model


def count_params(model):
    return int(sum(p.numel() for p in model.parameters()))


def image_input(seed, batch, channels=3, size=224):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn((batch, channels, size, size), generator=g),)


def randomize_biases_(model, seed, std=0.02):
    """Small random biases for every Linear/Conv that has one.

    Reference inits often zero the biases (trunc_normal weights + zero bias); zero biases
    leave bias handling untested and make identical initializers that the exporter then
    deduplicates into Identity nodes.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)) and m.bias is not None:
                m.bias.copy_(std * torch.randn(m.bias.shape, generator=g))
    return model
