"""MobileViT v1, XX-small (Mehta & Rastegari, ICLR 2022, arXiv:2110.02178).

Follows apple/ml-cvnets: cvnets/models/classification/mobilevit.py with
config/mobilevit.py mode "xx_small", cvnets/modules/mobilevit_block.py
(MobileViTBlock: unfolding/folding by reshape+transpose), cvnets/modules/transformer.py
(pre-norm TransformerEncoder) and cvnets/layers/multi_head_attention.py
(forward_default). 256x256 input, 1000 classes, BatchNorm2d + SiLU, LayerNorm in the
transformers. Exported at opset 13, so LayerNorm arrives decomposed
(ReduceMean / Sub / Pow / Add / Sqrt / Div / Mul / Add).
"""
import math

import torch
from torch import nn

from _cvnets import GlobalPool, InvertedResidual, conv_layer
from common import (ModelSpec, calibrate_batchnorm_, image_input, randomize_norm_affine_,
                    seeded_build)

NAME = "mobilevit_v1_xxs"

# ml-cvnets config/mobilevit.py, mode "xx_small" (num_heads defaults to 4, head_dim unset)
CONFIG = {
    "layer1": {"out_channels": 16, "expand_ratio": 2, "num_blocks": 1, "stride": 1, "block_type": "mv2"},
    "layer2": {"out_channels": 24, "expand_ratio": 2, "num_blocks": 3, "stride": 2, "block_type": "mv2"},
    "layer3": {"out_channels": 48, "transformer_channels": 64, "ffn_dim": 128, "transformer_blocks": 2,
               "patch_h": 2, "patch_w": 2, "stride": 2, "mv_expand_ratio": 2, "num_heads": 4,
               "block_type": "mobilevit"},
    "layer4": {"out_channels": 64, "transformer_channels": 80, "ffn_dim": 160, "transformer_blocks": 4,
               "patch_h": 2, "patch_w": 2, "stride": 2, "mv_expand_ratio": 2, "num_heads": 4,
               "block_type": "mobilevit"},
    "layer5": {"out_channels": 80, "transformer_channels": 96, "ffn_dim": 192, "transformer_blocks": 3,
               "patch_h": 2, "patch_w": 2, "stride": 2, "mv_expand_ratio": 2, "num_heads": 4,
               "block_type": "mobilevit"},
    "last_layer_exp_factor": 4,
    "image_size": 256,
    "num_classes": 1000,
}


class MultiHeadAttention(nn.Module):
    """cvnets MultiHeadAttention.forward_default (batch first, fused qkv projection)."""

    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.qkv_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=True)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=True)
        self.head_dim = embed_dim // num_heads
        self.scaling = self.head_dim ** -0.5
        self.softmax = nn.Softmax(dim=-1)
        self.num_heads = num_heads

    def forward(self, x_q):
        b_sz, S_len, in_channels = x_q.shape
        # [N, S, C] --> [N, S, 3, h, c] --> [N, h, 3, S, c]
        qkv = self.qkv_proj(x_q).reshape(b_sz, S_len, 3, self.num_heads, -1)
        qkv = qkv.transpose(1, 3).contiguous()
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        query = query * self.scaling
        key = key.transpose(-1, -2)
        attn = torch.matmul(query, key)
        attn = self.softmax(attn)
        out = torch.matmul(attn, value)
        out = out.transpose(1, 2).reshape(b_sz, S_len, -1)
        return self.out_proj(out)


class TransformerEncoder(nn.Module):
    """Pre-norm transformer layer: x + MHA(LN(x)); x + FFN(LN(x)), FFN = Linear-SiLU-Linear."""

    def __init__(self, embed_dim, ffn_latent_dim, num_heads):
        super().__init__()
        self.pre_norm_mha = nn.Sequential(nn.LayerNorm(embed_dim), MultiHeadAttention(embed_dim, num_heads))
        self.pre_norm_ffn = nn.Sequential(
            nn.LayerNorm(embed_dim),
            nn.Linear(embed_dim, ffn_latent_dim, bias=True),
            nn.SiLU(),
            nn.Linear(ffn_latent_dim, embed_dim, bias=True),
        )

    def forward(self, x):
        x = x + self.pre_norm_mha(x)
        x = x + self.pre_norm_ffn(x)
        return x


class MobileViTBlock(nn.Module):
    def __init__(self, in_channels, transformer_dim, ffn_dim, n_transformer_blocks, head_dim,
                 patch_h, patch_w, conv_ksize=3):
        super().__init__()
        self.local_rep = nn.Sequential()
        self.local_rep.add_module("conv_3x3", conv_layer(in_channels, in_channels, conv_ksize))
        self.local_rep.add_module("conv_1x1", conv_layer(in_channels, transformer_dim, 1,
                                                         use_norm=False, use_act=False))
        num_heads = transformer_dim // head_dim
        global_rep = [TransformerEncoder(transformer_dim, ffn_dim, num_heads)
                      for _ in range(n_transformer_blocks)]
        global_rep.append(nn.LayerNorm(transformer_dim))
        self.global_rep = nn.Sequential(*global_rep)
        self.conv_proj = conv_layer(transformer_dim, in_channels, 1)
        self.fusion = conv_layer(2 * in_channels, in_channels, conv_ksize)
        self.patch_h, self.patch_w = patch_h, patch_w
        self.patch_area = patch_h * patch_w

    def unfolding(self, feature_map):
        patch_w, patch_h = self.patch_w, self.patch_h
        patch_area = int(patch_w * patch_h)
        batch_size, in_channels, orig_h, orig_w = feature_map.shape
        new_h = int(math.ceil(orig_h / patch_h) * patch_h)
        new_w = int(math.ceil(orig_w / patch_w) * patch_w)
        assert new_h == orig_h and new_w == orig_w, "sizes here are multiples of the patch"
        num_patch_w = new_w // patch_w
        num_patch_h = new_h // patch_h
        num_patches = num_patch_h * num_patch_w
        # [B, C, H, W] --> [B * C * n_h, p_h, n_w, p_w]
        reshaped_fm = feature_map.reshape(batch_size * in_channels * num_patch_h, patch_h,
                                          num_patch_w, patch_w)
        # [B * C * n_h, p_h, n_w, p_w] --> [B * C * n_h, n_w, p_h, p_w]
        transposed_fm = reshaped_fm.transpose(1, 2)
        # --> [B, C, N, P]
        reshaped_fm = transposed_fm.reshape(batch_size, in_channels, num_patches, patch_area)
        # [B, C, N, P] --> [B, P, N, C]
        transposed_fm = reshaped_fm.transpose(1, 3)
        # [B, P, N, C] --> [BP, N, C]
        patches = transposed_fm.reshape(batch_size * patch_area, num_patches, -1)
        info = {"batch_size": batch_size, "total_patches": num_patches,
                "num_patches_h": num_patch_h, "num_patches_w": num_patch_w}
        return patches, info

    def folding(self, patches, info):
        # [BP, N, C] --> [B, P, N, C]
        patches = patches.contiguous().view(info["batch_size"], self.patch_area,
                                            info["total_patches"], -1)
        batch_size, pixels, num_patches, channels = patches.size()
        num_patch_h, num_patch_w = info["num_patches_h"], info["num_patches_w"]
        # [B, P, N, C] --> [B, C, N, P]
        patches = patches.transpose(1, 3)
        # [B, C, N, P] --> [B*C*n_h, n_w, p_h, p_w]
        feature_map = patches.reshape(batch_size * channels * num_patch_h, num_patch_w,
                                      self.patch_h, self.patch_w)
        # [B*C*n_h, n_w, p_h, p_w] --> [B*C*n_h, p_h, n_w, p_w]
        feature_map = feature_map.transpose(1, 2)
        # --> [B, C, H, W]
        return feature_map.reshape(batch_size, channels, num_patch_h * self.patch_h,
                                   num_patch_w * self.patch_w)

    def forward(self, x):
        res = x
        fm = self.local_rep(x)
        patches, info = self.unfolding(fm)
        for transformer_layer in self.global_rep:
            patches = transformer_layer(patches)
        fm = self.folding(patches, info)
        fm = self.conv_proj(fm)
        return self.fusion(torch.cat((res, fm), dim=1))


class MobileViT(nn.Module):
    def __init__(self, cfg=CONFIG):
        super().__init__()
        self.conv_1 = conv_layer(3, 16, 3, stride=2)
        in_ch = 16
        for i in range(1, 6):
            layer, in_ch = self._make_layer(in_ch, cfg[f"layer{i}"])
            setattr(self, f"layer_{i}", layer)
        exp_channels = min(cfg["last_layer_exp_factor"] * in_ch, 960)
        self.conv_1x1_exp = conv_layer(in_ch, exp_channels, 1)
        self.classifier = nn.Sequential()
        self.classifier.add_module("global_pool", GlobalPool())
        self.classifier.add_module("fc", nn.Linear(exp_channels, cfg["num_classes"], bias=True))

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
        head_dim = cfg["transformer_channels"] // cfg["num_heads"]
        blocks.append(MobileViTBlock(in_ch, cfg["transformer_channels"], cfg["ffn_dim"],
                                     cfg["transformer_blocks"], head_dim, cfg["patch_h"], cfg["patch_w"]))
        return nn.Sequential(*blocks), in_ch

    def forward(self, x):
        x = self.conv_1(x)
        x = self.layer_1(x)
        x = self.layer_2(x)
        x = self.layer_3(x)
        x = self.layer_4(x)
        x = self.layer_5(x)
        x = self.conv_1x1_exp(x)
        return self.classifier(x)


def build():
    model = seeded_build(1001, MobileViT)
    randomize_norm_affine_(model, 1002)
    calibrate_batchnorm_(model, *image_input(1003, 4, size=CONFIG["image_size"]))
    return model.eval()


def spec():
    return ModelSpec(
        name=NAME,
        opset=13,
        source="Mehta & Rastegari, MobileViT (ICLR 2022, arXiv:2110.02178); apple/ml-cvnets "
               "mobilevit.py + config/mobilevit.py mode xx_small",
        config={"mode": "xx_small", **CONFIG, "activation": "SiLU", "norm": "BatchNorm2d",
                "transformer_norm": "LayerNorm (decomposed at opset 13)",
                "unfold/fold": "Reshape/Transpose (ml-cvnets MobileViTBlock.unfolding/folding)"},
        build=build,
        make_inputs=lambda seed, batch, seq_len=None: image_input(seed, batch, size=CONFIG["image_size"]),
        input_names=["image"],
        output_names=["logits"],
    )
