"""DeiT-tiny (Touvron et al., ICML 2021, arXiv:2012.12877), deit_tiny_patch16_224.

A plain ViT as in timm's vision_transformer.py: 16x16 patch embedding (Conv2d stride 16,
flatten, transpose), class token, learned position embedding, 12 pre-norm blocks
(LayerNorm eps 1e-6, multi-head attention with fused qkv + bias, 3 heads of 64, MLP
ratio 4 with exact (erf) GELU), final LayerNorm, linear head on the class token.
224x224, 1000 classes. Opset 17 (LayerNormalization). The batch dimension is
symbolic ("batch"), so the graph carries Shape-derived reshape targets and an Expand
of the class token.
"""
import torch
from torch import nn

from common import ModelSpec, image_input, randomize_norm_affine_, seeded_build

NAME = "deit_tiny"
CONFIG = {"img_size": 224, "patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3,
          "mlp_ratio": 4.0, "qkv_bias": True, "norm_eps": 1e-6, "num_classes": 1000}


class PatchEmbed(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # BCHW -> BNC


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, self.num_heads * self.head_dim)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, qkv_bias, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class VisionTransformer(nn.Module):
    def __init__(self, cfg=CONFIG):
        super().__init__()
        d = cfg["embed_dim"]
        self.patch_embed = PatchEmbed(cfg["img_size"], cfg["patch_size"], 3, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, d))
        self.blocks = nn.Sequential(*[Block(d, cfg["num_heads"], cfg["mlp_ratio"], cfg["qkv_bias"],
                                            cfg["norm_eps"]) for _ in range(cfg["depth"])])
        self.norm = nn.LayerNorm(d, eps=cfg["norm_eps"])
        self.head = nn.Linear(d, cfg["num_classes"])
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        # timm: cls_token.expand(B, -1, -1); expand_as exports as Shape + Expand without the
        # Equal/Where guard torch emits for -1 sizes (same result)
        cls_token = self.cls_token.expand_as(x[:, :1])
        x = torch.cat((cls_token, x), dim=1)
        x = x + self.pos_embed
        x = self.blocks(x)
        x = self.norm(x)
        return self.head(x[:, 0])


def build():
    model = seeded_build(4001, VisionTransformer)
    randomize_norm_affine_(model, 4002)
    with torch.no_grad():
        # biases zero-initialised by timm: give them values so the bias paths are exercised
        g = torch.Generator().manual_seed(4003)
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.bias.copy_(0.02 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


def spec():
    return ModelSpec(
        name=NAME,
        opset=17,
        source="Touvron et al., Training data-efficient image transformers (ICML 2021, "
               "arXiv:2012.12877); timm vision_transformer.py deit_tiny_patch16_224",
        config={**CONFIG, "activation": "GELU (erf)", "cls_token": True, "dist_token": False},
        build=build,
        make_inputs=lambda seed, batch, seq_len=None: image_input(seed, batch),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
    )
