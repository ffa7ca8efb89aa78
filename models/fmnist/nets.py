"""Five small Fashion-MNIST classifiers for measuring int8 post-training quantization.

All take `image` [batch, 1, 28, 28] (normalised, see data.py) and return `logits` [batch, 10].

  mobilevit_fm       MobileViT-v1-style hybrid: conv stem, MV2 blocks, one MobileViT block
                     (3x3/1x1 local convs, unfold by Reshape + rank-6 Transpose, pre-norm
                     transformer with LayerNorm, softmax attention and SiLU MLP, fold, 1x1
                     projection, 3x3 fusion), BatchNorm + SiLU in every conv.
  efficientformer_fm EfficientFormer-style hybrid: conv stem, Meta4D blocks (pooling mixer
                     AvgPool3x3(count_include_pad=0) - x, 1x1-conv MLP with BN and GELU, layer
                     scale), conv downsample, one Meta3D block (LayerNorm, attention with a
                     learned relative-position bias table, GELU MLP, layer scale).
  lmu_fm             rows as a 28-step sequence: ReLU encoder, tern::LMU memory (order 16,
                     theta 28) of 16 channels, ReLU hidden layer on [memory; features],
                     LayerNorm, mean over time, linear head.
  spiking_lmu_fm     as lmu_fm with tern::LIF spiking neurons (after LayerNorm) producing the
                     encoder and hidden activations, so the int8 layers read exact 0/1 spikes.
  mamba_fm           rows as a sequence: linear embedding, two Mamba blocks (RMSNorm, in_proj,
                     causal depthwise conv, SiLU, x_proj, dt_proj, tern::SelectiveScan with D, z
                     gate and delta_bias, out_proj, residual), final RMSNorm, mean, head.

The recurrent ops have two forms (`training_forms()` context): during training the
differentiable equivalents (LMU as its causal impulse-response convolution, LIF with an
arctangent surrogate gradient, SelectiveScan unrolled); otherwise the tern_export ops, which
run the spec's references in eager mode and export as tern:: nodes. The forward values of
the two forms are the same math (LIF: the same expression order, so identical spikes).
"""
import contextlib
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tern_export as te  # noqa: E402

_TRAIN_FORMS = {"on": False}


@contextlib.contextmanager
def training_forms(enabled=True):
    old = _TRAIN_FORMS["on"]
    _TRAIN_FORMS["on"] = enabled
    try:
        yield
    finally:
        _TRAIN_FORMS["on"] = old


class _Spike(torch.autograd.Function):
    """Heaviside forward; arctangent surrogate gradient (spikingjelly ATan, alpha 2) backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        alpha = 2.0
        return grad * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def _lif_train(x, tau, v_threshold, time_axis=1):
    """tern::LIF (hard reset to 0) with the spec's update order; differentiable by surrogate."""
    steps = x.unbind(time_axis)          # unbind, not select: select's backward is O(L) per step
    v = torch.zeros_like(steps[0])
    spikes = []
    for xt in steps:
        h = v + (xt - (v - 0.0)) / tau
        s = _Spike.apply(h - v_threshold)
        v = h * (1.0 - s)
        spikes.append(s)
    return torch.stack(spikes, dim=time_axis)


class LIF(te.LIF):
    def forward(self, x, v0=None, return_state=False):
        if _TRAIN_FORMS["on"]:
            return _lif_train(x, self.tau, self.v_threshold, self.time_axis)
        return super().forward(x)


class LMUMemory(te.LMUMemory):
    def forward(self, u, m0=None, return_state=False):
        if _TRAIN_FORMS["on"]:
            return te.lmu_unrolled(u, self.A, self.B)[0]
        return super().forward(u)


def _scan_train(u, delta, A, B, C, D, z, delta_bias):
    """tern::SelectiveScan math (delta_softplus=1, no h0), differentiable and O(L) in backward."""
    dt = F.softplus(delta + delta_bias).unsqueeze(-1)              # [b, L, d, 1]
    dA = torch.exp(dt * A).unbind(1)                               # L x [b, d, n]
    dBu = (dt * B.unsqueeze(2) * u.unsqueeze(-1)).unbind(1)
    h, hs = None, []
    for a, bu in zip(dA, dBu):
        h = bu if h is None else a * h + bu
        hs.append(h)
    y = torch.matmul(torch.stack(hs, dim=1), C.unsqueeze(-1)).squeeze(-1)
    return (y + u * D) * F.silu(z)


def _selective_scan(u, delta, A, B, C, D, z, delta_bias):
    if _TRAIN_FORMS["on"]:
        return _scan_train(u, delta, A, B, C, D, z, delta_bias)
    return te.selective_scan(u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias, delta_softplus=1)


# --------------------------------------------------------------------------------------
# vision hybrids
# --------------------------------------------------------------------------------------

class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k=1, stride=1, groups=1, act=None):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class MV2(nn.Module):
    """MobileNetV2 inverted residual (ml-cvnets InvertedResidual): 1x1 expand, 3x3 dw, 1x1 project."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        self.block = nn.Sequential(ConvBN(cin, hid, 1, act=nn.SiLU),
                                   ConvBN(hid, hid, 3, stride, groups=hid, act=nn.SiLU),
                                   ConvBN(hid, cout, 1))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class Attention(nn.Module):
    """Multi-head softmax attention on [B, N, d]; optional learned bias per head and offset."""

    def __init__(self, dim, heads, tokens, resolution=None):
        super().__init__()
        self.dim, self.tokens = dim, tokens      # static, so reshapes export as constants
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.resolution = resolution
        if resolution is not None:       # EfficientFormer: bias table indexed by |dy|, |dx|
            pts = [(i, j) for i in range(resolution) for j in range(resolution)]
            offsets, idxs = {}, []
            for p1 in pts:
                for p2 in pts:
                    off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                    offsets.setdefault(off, len(offsets))
                    idxs.append(offsets[off])
            self.attention_biases = nn.Parameter(torch.zeros(heads, len(offsets)))
            n = len(pts)
            self.register_buffer("bias_idxs", torch.tensor(idxs, dtype=torch.int64).view(n, n))

    def forward(self, x):
        n, d = self.tokens, self.dim
        qkv = self.qkv(x).reshape(-1, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                          # [B, h, N, hd]
        attn = torch.matmul(q * self.scale, k.transpose(-2, -1))
        if self.resolution is not None:
            attn = attn + self.attention_biases[:, self.bias_idxs]
        attn = attn.softmax(dim=-1)
        y = torch.matmul(attn, v).transpose(1, 2).reshape(-1, n, d)
        return self.proj(y)


class TransformerLayer(nn.Module):
    """Pre-norm transformer (ml-cvnets TransformerEncoder): LN, MHSA, LN, MLP."""

    def __init__(self, dim, heads, mlp_dim, tokens, act=nn.SiLU):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, tokens)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), act(), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MobileViTBlock(nn.Module):
    """MobileViT v1 block (ml-cvnets MobileViTBlock) with 2x2 patches."""

    def __init__(self, channels, dim, depth, heads, mlp_dim, size, patch=2):
        super().__init__()
        self.local = nn.Sequential(ConvBN(channels, channels, 3, act=nn.SiLU),
                                   nn.Conv2d(channels, dim, 1, bias=False))
        self.transformer = nn.Sequential(*[TransformerLayer(dim, heads, mlp_dim, (size // patch) ** 2) for _ in range(depth)],
                                         nn.LayerNorm(dim))
        self.proj = ConvBN(dim, channels, 1, act=nn.SiLU)
        self.fusion = ConvBN(2 * channels, channels, 3, act=nn.SiLU)
        self.dim, self.patch, self.n = dim, patch, size // patch

    def forward(self, x):
        y = self.local(x)                                          # [B, d, H, W]
        d, p, n = self.dim, self.patch, self.n
        # unfold: [B, d, nh, ph, nw, pw] -> [B, ph, pw, nh, nw, d] -> [B*P, N, d]
        y = y.reshape(-1, d, n, p, n, p).permute(0, 3, 5, 2, 4, 1).reshape(-1, n * n, d)
        y = self.transformer(y)
        # fold: the inverse permutation
        y = y.reshape(-1, p, p, n, n, d).permute(0, 5, 3, 1, 4, 2).reshape(-1, d, n * p, n * p)
        y = self.proj(y)
        return self.fusion(torch.cat([x, y], dim=1))


class MobileViTFM(nn.Module):
    def __init__(self):
        super().__init__()
        # 28x28 -> 16x16: a stride-2 stem padded by 3 gives the MobileViT block an 8x8 map
        # that 2x2 patches tile (4 patch positions x 16 patches)
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 3, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.mv2 = nn.Sequential(MV2(16, 16, 1, 2), MV2(16, 24, 2, 2))  # 16 -> 8
        self.mvit = MobileViTBlock(24, 32, depth=2, heads=2, mlp_dim=64, size=8)
        self.down = MV2(24, 48, 2, 2)                                # 8 -> 4
        self.exp = ConvBN(48, 128, 1, act=nn.SiLU)
        self.head = nn.Linear(128, 10)

    def forward(self, image):
        x = self.exp(self.down(self.mvit(self.mv2(self.stem(image)))))
        return self.head(x.mean(dim=(2, 3)))


class Meta4D(nn.Module):
    """EfficientFormer Meta4D: pooling token mixer and 1x1-conv MLP (BN, GELU), layer scales."""

    def __init__(self, dim, mlp_ratio=3, ls_init=0.1):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        hid = dim * mlp_ratio
        self.mlp = nn.Sequential(nn.Conv2d(dim, hid, 1), nn.BatchNorm2d(hid), nn.GELU(),
                                 nn.Conv2d(hid, dim, 1), nn.BatchNorm2d(dim))
        self.ls1 = nn.Parameter(ls_init * torch.ones(dim, 1, 1))
        self.ls2 = nn.Parameter(ls_init * torch.ones(dim, 1, 1))

    def forward(self, x):
        x = x + self.ls1 * (self.pool(x) - x)
        return x + self.ls2 * self.mlp(x)


class Meta3D(nn.Module):
    """EfficientFormer Meta3D: LN, attention with bias table, LN, GELU MLP, layer scales."""

    def __init__(self, dim, heads, resolution, mlp_ratio=3, ls_init=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, resolution * resolution, resolution)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))
        self.ls1 = nn.Parameter(ls_init * torch.ones(dim))
        self.ls2 = nn.Parameter(ls_init * torch.ones(dim))

    def forward(self, x):
        x = x + self.ls1 * self.attn(self.norm1(x))
        return x + self.ls2 * self.mlp(self.norm2(x))


class EfficientFormerFM(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(ConvBN(1, 16, 3, 2, act=nn.ReLU), ConvBN(16, 24, 3, 1, act=nn.ReLU))  # 14x14
        self.stage1 = nn.Sequential(Meta4D(24), Meta4D(24))
        self.down = ConvBN(24, 48, 3, 2)                                # 7x7
        self.stage2 = Meta4D(48)
        self.meta3d = Meta3D(48, heads=2, resolution=7)
        self.norm = nn.LayerNorm(48)
        self.head = nn.Linear(48, 10)

    def forward(self, image):
        x = self.stage2(self.down(self.stage1(self.stem(image))))
        x = x.flatten(2).transpose(1, 2)                                # [B, 49, 48]
        x = self.norm(self.meta3d(x))
        return self.head(x.mean(dim=1))


# --------------------------------------------------------------------------------------
# recurrent models: the 28 rows are a 28-step sequence of 28-dim vectors
# --------------------------------------------------------------------------------------

ROWS = 28


class LMUFM(nn.Module):
    def __init__(self, enc=64, channels=16, order=16, theta=28.0, hidden=128):
        super().__init__()
        self.enc = nn.Linear(ROWS, enc)
        self.to_u = nn.Linear(enc, channels)
        self.memory = LMUMemory(order, theta)
        self.hidden = nn.Linear(channels * order + enc, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 10)
        self.mem_dim = channels * order

    def forward(self, image):
        x = image.squeeze(1)                                            # [B, L=28, 28]
        e = F.relu(self.enc(x))
        m = self.memory(self.to_u(e)).reshape(-1, ROWS, self.mem_dim)   # [B, L, c*n]
        h = self.norm(F.relu(self.hidden(torch.cat([m, e], dim=-1))))
        return self.head(h.mean(dim=1))


class SpikingLMUFM(nn.Module):
    def __init__(self, enc=128, channels=16, order=16, theta=28.0, hidden=192):
        super().__init__()
        self.enc = nn.Linear(ROWS, enc)
        self.norm1 = nn.LayerNorm(enc)
        self.lif1 = LIF(tau=2.0, v_threshold=1.0, time_axis=1)
        self.to_u = nn.Linear(enc, channels)
        self.memory = LMUMemory(order, theta)
        self.hidden = nn.Linear(channels * order + enc, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.lif2 = LIF(tau=2.0, v_threshold=1.0, time_axis=1)
        self.head = nn.Linear(hidden, 10)
        self.mem_dim = channels * order

    def forward(self, image):
        x = image.squeeze(1)                                            # [B, L, 28]
        s1 = self.lif1(self.norm1(self.enc(x)))                         # spikes [B, L, enc]
        m = self.memory(self.to_u(s1)).reshape(-1, ROWS, self.mem_dim)
        s2 = self.lif2(self.norm2(self.hidden(torch.cat([m, s1], dim=-1))))
        return self.head(s2.mean(dim=1))                                # spike rates -> logits


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Mamba(nn.Module):
    """state-spaces/mamba mamba_simple.Mamba (as models/mamba_small.py), small."""

    def __init__(self, d_model, d_state=8, d_conv=4, expand=2, dt_rank=4, dt_min=0.001, dt_max=0.1):
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state, self.d_conv, self.dt_rank = d_state, d_conv, dt_rank
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, self.d_inner, bias=True)
        std = dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, x):
        xz = self.in_proj(x)
        A = -torch.exp(self.A_log)
        x, z = torch.split(xz, [self.d_inner, self.d_inner], dim=-1)
        x = self.conv1d(x.transpose(1, 2))[..., :-(self.d_conv - 1)]
        x = F.silu(x).transpose(1, 2)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)
        y = _selective_scan(x, dt, A, B, C, self.D, z, self.dt_proj.bias)
        return self.out_proj(y)


class MambaFM(nn.Module):
    def __init__(self, d_model=48, n_layer=2):
        super().__init__()
        self.embed = nn.Linear(ROWS, d_model)
        self.norms = nn.ModuleList([RMSNorm(d_model) for _ in range(n_layer)])
        self.mixers = nn.ModuleList([Mamba(d_model) for _ in range(n_layer)])
        self.norm_f = RMSNorm(d_model)
        self.head = nn.Linear(d_model, 10)

    def forward(self, image):
        h = self.embed(image.squeeze(1))                                # [B, L, d]
        for norm, mixer in zip(self.norms, self.mixers):
            h = h + mixer(norm(h))
        return self.head(self.norm_f(h).mean(dim=1))


MODELS = {
    "mobilevit_fm": MobileViTFM,
    "efficientformer_fm": EfficientFormerFM,
    "lmu_fm": LMUFM,
    "spiking_lmu_fm": SpikingLMUFM,
    "mamba_fm": MambaFM,
}
TERN_MODELS = {"lmu_fm", "spiking_lmu_fm", "mamba_fm"}
