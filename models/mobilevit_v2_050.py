"""MobileViT v2, width multiplier 0.5 (Mehta & Rastegari 2022, arXiv:2206.02680).

Follows apple/ml-cvnets: cvnets/models/classification/mobilevit_v2.py with
config/mobilevit_v2.py (width_multiplier 0.5), cvnets/modules/mobilevit_block.py
(MobileViTBlockv2), cvnets/modules/transformer.py (LinearAttnFFN) and
cvnets/layers/linear_attention.py (separable self-attention). "LayerNorm2D" is
nn.GroupNorm(num_groups=1) on [B, C, P, N] (cvnets LayerNorm2D_NCHW).

Deviation (op level only): ml-cvnets unfolds with F.unfold / F.fold (Im2Col/Col2Im,
which do not export); for non-overlapping patches that is exactly a Reshape to
[B, C, n_h, p_h, n_w, p_w], a rank-6 Transpose and a Reshape, which is what is
exported here (and inverted for folding). Opset 17: GroupNorm exports as
Reshape + InstanceNormalization + Reshape + Mul + Add (GroupNormalization is opset 18).
"""
import torch
import torch.nn.functional as F
from torch import nn

from _cvnets import GlobalPool, InvertedResidual, conv_layer
from common import (ModelSpec, calibrate_batchnorm_, image_input, make_divisible,
                    randomize_norm_affine_, seeded_build)

NAME = "mobilevit_v2_050"
WIDTH = 0.5


def get_configuration(width_multiplier=WIDTH):
    """ml-cvnets config/mobilevit_v2.py."""
    ffn_multiplier = 2
    mv2_exp_mult = 2
    layer_0_dim = max(16, min(64, 32 * width_multiplier))
    layer_0_dim = int(make_divisible(layer_0_dim, divisor=8, min_value=16))

    def mit(out, attn, blocks):
        return {"out_channels": int(make_divisible(out * width_multiplier, divisor=8)),
                "attn_unit_dim": int(make_divisible(attn * width_multiplier, divisor=8)),
                "ffn_multiplier": ffn_multiplier, "attn_blocks": blocks, "patch_h": 2,
                "patch_w": 2, "stride": 2, "mv_expand_ratio": mv2_exp_mult, "block_type": "mobilevit"}

    return {
        "layer0": {"img_channels": 3, "out_channels": layer_0_dim},
        "layer1": {"out_channels": int(make_divisible(64 * width_multiplier, divisor=16)),
                   "expand_ratio": mv2_exp_mult, "num_blocks": 1, "stride": 1, "block_type": "mv2"},
        "layer2": {"out_channels": int(make_divisible(128 * width_multiplier, divisor=8)),
                   "expand_ratio": mv2_exp_mult, "num_blocks": 2, "stride": 2, "block_type": "mv2"},
        "layer3": mit(256, 128, 2),
        "layer4": mit(384, 192, 4),
        "layer5": mit(512, 256, 3),
        "last_layer_exp_factor": 4,
        "image_size": 256,
        "num_classes": 1000,
    }


CONFIG = get_configuration()


def layer_norm_2d(num_features):
    """cvnets LayerNorm2D_NCHW: GroupNorm with a single group."""
    return nn.GroupNorm(num_groups=1, num_channels=num_features, eps=1e-5, affine=True)


class LinearSelfAttention(nn.Module):
    """Separable self-attention: context scores over patches N from a 1-channel query."""

    def __init__(self, embed_dim):
        super().__init__()
        self.qkv_proj = conv_layer(embed_dim, 1 + 2 * embed_dim, 1, bias=True, use_norm=False, use_act=False)
        self.out_proj = conv_layer(embed_dim, embed_dim, 1, bias=True, use_norm=False, use_act=False)
        self.embed_dim = embed_dim

    def forward(self, x):
        qkv = self.qkv_proj(x)                                   # [B, 1+2d, P, N]
        query, key, value = torch.split(qkv, [1, self.embed_dim, self.embed_dim], dim=1)
        context_scores = F.softmax(query, dim=-1)                # over N
        context_vector = key * context_scores
        context_vector = torch.sum(context_vector, dim=-1, keepdim=True)
        out = F.relu(value) * context_vector.expand_as(value)
        return self.out_proj(out)


class LinearAttnFFN(nn.Module):
    def __init__(self, embed_dim, ffn_latent_dim):
        super().__init__()
        self.pre_norm_attn = nn.Sequential(layer_norm_2d(embed_dim), LinearSelfAttention(embed_dim))
        self.pre_norm_ffn = nn.Sequential(
            layer_norm_2d(embed_dim),
            conv_layer(embed_dim, ffn_latent_dim, 1, bias=True, use_norm=False, use_act=True),
            conv_layer(ffn_latent_dim, embed_dim, 1, bias=True, use_norm=False, use_act=False),
        )

    def forward(self, x):
        x = x + self.pre_norm_attn(x)
        x = x + self.pre_norm_ffn(x)
        return x


class MobileViTBlockv2(nn.Module):
    def __init__(self, in_channels, attn_unit_dim, ffn_multiplier, n_attn_blocks, patch_h, patch_w):
        super().__init__()
        self.local_rep = nn.Sequential(
            conv_layer(in_channels, in_channels, 3, groups=in_channels),
            conv_layer(in_channels, attn_unit_dim, 1, use_norm=False, use_act=False),
        )
        ffn_dims = [int((ffn_multiplier * attn_unit_dim // 16) * 16)] * n_attn_blocks
        global_rep = [LinearAttnFFN(attn_unit_dim, d) for d in ffn_dims]
        global_rep.append(layer_norm_2d(attn_unit_dim))
        self.global_rep = nn.Sequential(*global_rep)
        self.conv_proj = conv_layer(attn_unit_dim, in_channels, 1, use_norm=True, use_act=False)
        self.patch_h, self.patch_w = patch_h, patch_w

    def unfolding(self, feature_map):
        # == F.unfold(kernel=stride=patch) reshaped to [B, C, P, N]
        b, c, h, w = feature_map.shape
        ph, pw = self.patch_h, self.patch_w
        nh, nw = h // ph, w // pw
        x = feature_map.reshape(b, c, nh, ph, nw, pw)
        x = x.permute(0, 1, 3, 5, 2, 4)                          # [B, C, ph, pw, nh, nw]
        return x.reshape(b, c, ph * pw, nh * nw), (h, w)

    def folding(self, patches, output_size):
        # == F.fold of [B, C*P, N] with kernel=stride=patch
        b, c, _, _ = patches.shape
        h, w = output_size
        ph, pw = self.patch_h, self.patch_w
        nh, nw = h // ph, w // pw
        x = patches.reshape(b, c, ph, pw, nh, nw)
        x = x.permute(0, 1, 4, 2, 5, 3)                          # [B, C, nh, ph, nw, pw]
        return x.reshape(b, c, h, w)

    def forward(self, x):
        fm = self.local_rep(x)
        patches, output_size = self.unfolding(fm)
        patches = self.global_rep(patches)
        fm = self.folding(patches, output_size)
        return self.conv_proj(fm)


class MobileViTv2(nn.Module):
    def __init__(self, cfg=CONFIG):
        super().__init__()
        self.conv_1 = conv_layer(cfg["layer0"]["img_channels"], cfg["layer0"]["out_channels"], 3, stride=2)
        in_ch = cfg["layer0"]["out_channels"]
        for i in range(1, 6):
            layer, in_ch = self._make_layer(in_ch, cfg[f"layer{i}"])
            setattr(self, f"layer_{i}", layer)
        self.conv_1x1_exp = nn.Identity()
        self.classifier = nn.Sequential(GlobalPool(), nn.Linear(in_ch, cfg["num_classes"], bias=True))

    @staticmethod
    def _make_layer(in_ch, cfg):
        blocks = []
        if cfg["block_type"] == "mv2":
            for i in range(cfg["num_blocks"]):
                stride = cfg["stride"] if i == 0 else 1
                blocks.append(InvertedResidual(in_ch, cfg["out_channels"], stride, cfg["expand_ratio"]))
                in_ch = cfg["out_channels"]
            return nn.Sequential(*blocks), in_ch
        if cfg["stride"] == 2:
            blocks.append(InvertedResidual(in_ch, cfg["out_channels"], 2, cfg["mv_expand_ratio"]))
            in_ch = cfg["out_channels"]
        blocks.append(MobileViTBlockv2(in_ch, cfg["attn_unit_dim"], cfg["ffn_multiplier"],
                                       cfg["attn_blocks"], cfg["patch_h"], cfg["patch_w"]))
        return nn.Sequential(*blocks), in_ch

    def forward(self, x):
        x = self.conv_1(x)
        for i in range(1, 6):
            x = getattr(self, f"layer_{i}")(x)
        x = self.conv_1x1_exp(x)
        return self.classifier(x)


def unfold_matches_cvnets(seed=0):
    """Self-check of the reshape/permute unfolding and folding against F.unfold / F.fold."""
    blk = MobileViTBlockv2(8, 8, 2, 1, 2, 2)
    x = torch.randn((2, 8, 6, 10), generator=torch.Generator().manual_seed(seed))
    p, size = blk.unfolding(x)
    ref = F.unfold(x, kernel_size=(2, 2), stride=(2, 2)).reshape(2, 8, 4, -1)
    back = F.fold(ref.reshape(2, 32, -1), output_size=size, kernel_size=(2, 2), stride=(2, 2))
    return bool(torch.equal(p, ref) and torch.equal(blk.folding(p, size), back) and torch.equal(back, x))


def build():
    model = seeded_build(2001, MobileViTv2)
    randomize_norm_affine_(model, 2002)
    calibrate_batchnorm_(model, *image_input(2003, 4, size=CONFIG["image_size"]))
    return model.eval()


def spec():
    return ModelSpec(
        name=NAME,
        opset=17,
        source="Mehta & Rastegari, Separable Self-attention for Mobile Vision Transformers "
               "(arXiv:2206.02680); apple/ml-cvnets mobilevit_v2.py + config/mobilevit_v2.py",
        config={"width_multiplier": WIDTH, **CONFIG, "activation": "SiLU", "norm": "BatchNorm2d",
                "attn_norm": "GroupNorm(num_groups=1) = LayerNorm2D",
                "unfold/fold": "Reshape + rank-6 Transpose + Reshape (== F.unfold/F.fold for "
                               "non-overlapping 2x2 patches)"},
        build=build,
        make_inputs=lambda seed, batch, seq_len=None: image_input(seed, batch, size=CONFIG["image_size"]),
        input_names=["image"],
        output_names=["logits"],
    )
