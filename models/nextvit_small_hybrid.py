"""A small Next-ViT-style hybrid (Li et al., Next-ViT, arXiv:2207.05501).

The blocks are bytedance/Next-ViT classification/nextvit.py, unchanged:
  * NCB (Next Convolution Block): PatchEmbed (AvgPool2x2/2 ceil_mode + 1x1 conv + BN when
    downsampling), MHCA (multi-head convolutional attention: grouped 3x3 conv with one
    group per 32-channel head, BN, ReLU, 1x1 projection) residual, then BN + Conv-MLP
    (1x1, ReLU, 1x1) residual.
  * NTB (Next Transformer Block): BN -> E-MHSA (q/k/v/proj Linear; keys and values from
    an AvgPool1d spatial reduction of sr_ratio^2 followed by BatchNorm1d) on 75% of the
    channels, then a 1x1 projection + MHCA on the rest, concatenated, then BN + Conv-MLP.
  * stem of four 3x3 Conv-BN-ReLU (strides 2,1,1,2), final BN, global average pool, Linear.
BatchNorm everywhere, eps 1e-5, as in the paper. The pre-norm BNs are kept as separate
BatchNormalization nodes (the reference folds them into the next Linear/Conv only for
deployment via merge_bn; the unmerged network computes the same function).

Configuration (ours: Next-ViT-S is 31.7M parameters, too large here). The Next Hybrid
Strategy is kept: each stage is NCBs followed by one NTB, stage 3 as the [NCB x4, NTB]
pattern; head_dim 32, mix_block_ratio 0.75, sr_ratios [8, 4, 2, 1], mlp ratios 3 (NCB)
and 2 (NTB), 224x224 input, 1000 classes:
    stem      [32, 16, 32]
    stage 1   NCB 64                         (stride 1)   56x56
    stage 2   NCB 96, NTB 128                (stride 2)   28x28, sr 4
    stage 3   NCB 160 x4, NTB 192            (stride 2)   14x14, sr 2
    stage 4   NTB 320                        (stride 2)    7x7,  sr 1
"""
from functools import partial

import torch
from torch import nn

from common import (ModelSpec, calibrate_batchnorm_, image_input, make_divisible, randomize_biases_,
                    randomize_norm_affine_, seeded_build)

NAME = "nextvit_small_hybrid"
NORM_EPS = 1e-5
CONFIG = {
    "stem_chs": [32, 16, 32],
    "stage_out_channels": [[64], [96, 128], [160, 160, 160, 160, 192], [320]],
    "stage_block_types": [["NCB"], ["NCB", "NTB"], ["NCB", "NCB", "NCB", "NCB", "NTB"], ["NTB"]],
    "strides": [1, 2, 2, 2],
    "sr_ratios": [8, 4, 2, 1],
    "head_dim": 32,
    "mix_block_ratio": 0.75,
    "ncb_mlp_ratio": 3,
    "ntb_mlp_ratio": 2,
    "image_size": 224,
    "num_classes": 1000,
}


class ConvBNReLU(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride,
                              padding=1, groups=groups, bias=False)
        self.norm = nn.BatchNorm2d(out_channels, eps=NORM_EPS)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class PatchEmbed(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        norm_layer = partial(nn.BatchNorm2d, eps=NORM_EPS)
        if stride == 2:
            self.avgpool = nn.AvgPool2d((2, 2), stride=2, ceil_mode=True, count_include_pad=False)
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False)
            self.norm = norm_layer(out_channels)
        elif in_channels != out_channels:
            self.avgpool = nn.Identity()
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False)
            self.norm = norm_layer(out_channels)
        else:
            self.avgpool = nn.Identity()
            self.conv = nn.Identity()
            self.norm = nn.Identity()

    def forward(self, x):
        return self.norm(self.conv(self.avgpool(x)))


class MHCA(nn.Module):
    """Multi-Head Convolutional Attention."""

    def __init__(self, out_channels, head_dim):
        super().__init__()
        self.group_conv3x3 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1,
                                       groups=out_channels // head_dim, bias=False)
        self.norm = nn.BatchNorm2d(out_channels, eps=NORM_EPS)
        self.act = nn.ReLU(inplace=True)
        self.projection = nn.Conv2d(out_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, x):
        return self.projection(self.act(self.norm(self.group_conv3x3(x))))


class Mlp(nn.Module):
    def __init__(self, in_features, out_features=None, mlp_ratio=None, bias=True):
        super().__init__()
        out_features = out_features or in_features
        hidden_dim = make_divisible(in_features * mlp_ratio, 32)
        self.conv1 = nn.Conv2d(in_features, hidden_dim, kernel_size=1, bias=bias)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(hidden_dim, out_features, kernel_size=1, bias=bias)

    def forward(self, x):
        return self.conv2(self.act(self.conv1(x)))


class NCB(nn.Module):
    """Next Convolution Block."""

    def __init__(self, in_channels, out_channels, stride=1, head_dim=32, mlp_ratio=3):
        super().__init__()
        assert out_channels % head_dim == 0
        self.patch_embed = PatchEmbed(in_channels, out_channels, stride)
        self.mhca = MHCA(out_channels, head_dim)
        self.norm = nn.BatchNorm2d(out_channels, eps=NORM_EPS)
        self.mlp = Mlp(out_channels, mlp_ratio=mlp_ratio, bias=True)

    def forward(self, x):
        x = self.patch_embed(x)
        x = x + self.mhca(x)
        out = self.norm(x)
        return x + self.mlp(out)


class E_MHSA(nn.Module):
    """Efficient Multi-Head Self Attention (spatial reduction by average pooling)."""

    def __init__(self, dim, out_dim=None, head_dim=32, qkv_bias=True, sr_ratio=1):
        super().__init__()
        self.dim = dim
        self.out_dim = out_dim if out_dim is not None else dim
        self.num_heads = self.dim // head_dim
        self.scale = head_dim ** -0.5
        self.q = nn.Linear(dim, self.dim, bias=qkv_bias)
        self.k = nn.Linear(dim, self.dim, bias=qkv_bias)
        self.v = nn.Linear(dim, self.dim, bias=qkv_bias)
        self.proj = nn.Linear(self.dim, self.out_dim)
        self.sr_ratio = sr_ratio
        self.N_ratio = sr_ratio ** 2
        if sr_ratio > 1:
            self.sr = nn.AvgPool1d(kernel_size=self.N_ratio, stride=self.N_ratio)
            self.norm = nn.BatchNorm1d(dim, eps=NORM_EPS)

    def forward(self, x):
        B, N, C = x.shape
        q = self.q(x)
        q = q.reshape(B, N, self.num_heads, int(C // self.num_heads)).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            x_ = x.transpose(1, 2)
            x_ = self.sr(x_)
            x_ = self.norm(x_)
            x_ = x_.transpose(1, 2)
        else:
            x_ = x
        k = self.k(x_)
        k = k.reshape(B, -1, self.num_heads, int(C // self.num_heads)).permute(0, 2, 3, 1)
        v = self.v(x_)
        v = v.reshape(B, -1, self.num_heads, int(C // self.num_heads)).permute(0, 2, 1, 3)
        attn = (q @ k) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class NTB(nn.Module):
    """Next Transformer Block."""

    def __init__(self, in_channels, out_channels, stride=1, sr_ratio=1, mlp_ratio=2, head_dim=32,
                 mix_block_ratio=0.75):
        super().__init__()
        self.mhsa_out_channels = make_divisible(int(out_channels * mix_block_ratio), 32)
        self.mhca_out_channels = out_channels - self.mhsa_out_channels
        self.patch_embed = PatchEmbed(in_channels, self.mhsa_out_channels, stride)
        self.norm1 = nn.BatchNorm2d(self.mhsa_out_channels, eps=NORM_EPS)
        self.e_mhsa = E_MHSA(self.mhsa_out_channels, head_dim=head_dim, sr_ratio=sr_ratio)
        self.projection = PatchEmbed(self.mhsa_out_channels, self.mhca_out_channels, stride=1)
        self.mhca = MHCA(self.mhca_out_channels, head_dim=head_dim)
        self.norm2 = nn.BatchNorm2d(out_channels, eps=NORM_EPS)
        self.mlp = Mlp(out_channels, mlp_ratio=mlp_ratio)

    def forward(self, x):
        x = self.patch_embed(x)
        B, C, H, W = x.shape
        out = self.norm1(x)
        out = out.flatten(2).transpose(1, 2)                      # b c h w -> b (h w) c
        out = self.e_mhsa(out)
        x = x + out.transpose(1, 2).reshape(B, C, H, W)           # b (h w) c -> b c h w
        out = self.projection(x)
        out = out + self.mhca(out)
        x = torch.cat([x, out], dim=1)
        out = self.norm2(x)
        return x + self.mlp(out)


class NextViT(nn.Module):
    def __init__(self, cfg=CONFIG):
        super().__init__()
        s = cfg["stem_chs"]
        self.stem = nn.Sequential(
            ConvBNReLU(3, s[0], kernel_size=3, stride=2),
            ConvBNReLU(s[0], s[1], kernel_size=3, stride=1),
            ConvBNReLU(s[1], s[2], kernel_size=3, stride=1),
            ConvBNReLU(s[2], s[2], kernel_size=3, stride=2),
        )
        input_channel = s[2]
        features = []
        for stage_id, (chs, types) in enumerate(zip(cfg["stage_out_channels"], cfg["stage_block_types"])):
            for block_id, (out_ch, kind) in enumerate(zip(chs, types)):
                stride = 2 if cfg["strides"][stage_id] == 2 and block_id == 0 else 1
                if kind == "NCB":
                    features.append(NCB(input_channel, out_ch, stride=stride, head_dim=cfg["head_dim"],
                                        mlp_ratio=cfg["ncb_mlp_ratio"]))
                else:
                    features.append(NTB(input_channel, out_ch, stride=stride,
                                        sr_ratio=cfg["sr_ratios"][stage_id], mlp_ratio=cfg["ntb_mlp_ratio"],
                                        head_dim=cfg["head_dim"], mix_block_ratio=cfg["mix_block_ratio"]))
                input_channel = out_ch
        self.features = nn.Sequential(*features)
        self.norm = nn.BatchNorm2d(input_channel, eps=NORM_EPS)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.proj_head = nn.Sequential(nn.Linear(input_channel, cfg["num_classes"]))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.stem(x)
        x = self.features(x)
        x = self.norm(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.proj_head(x)


def build():
    model = seeded_build(5001, NextViT)
    randomize_norm_affine_(model, 5002)
    randomize_biases_(model, 5004)
    calibrate_batchnorm_(model, *image_input(5003, 4, size=CONFIG["image_size"]))
    return model.eval()


def spec():
    return ModelSpec(
        name=NAME,
        opset=17,
        source="Li et al., Next-ViT: Next Generation Vision Transformer for Efficient Deployment in "
               "Realistic Industrial Scenarios (arXiv:2207.05501); bytedance/Next-ViT "
               "classification/nextvit.py blocks, smaller configuration of our own",
        config=CONFIG,
        build=build,
        make_inputs=lambda seed, batch, seq_len=None: image_input(seed, batch, size=CONFIG["image_size"]),
        input_names=["image"],
        output_names=["logits"],
    )
