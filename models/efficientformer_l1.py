"""EfficientFormer-L1 (Li et al., NeurIPS 2022, arXiv:2206.01191).

Follows snap-research/EfficientFormer models/efficientformer.py, efficientformer_l1:
widths [48, 96, 224, 448], depths [3, 2, 6, 4], vit_num=1. Conv stem (two 3x3/2 conv +
BN + ReLU), Meta4D blocks (token mixer AvgPool3x3(count_include_pad=False) - x, MLP of
1x1 convs with BN and GELU, layer scale), 3x3/2 conv + BN embeddings between stages,
then Flat and one Meta3D block (LayerNorm, multi-head attention with key_dim 32,
8 heads, attn_ratio 4 and learned attention biases over 7x7 relative offsets, GELU
Linear MLP, layer scale). Head: LayerNorm, token mean, head and distillation head
averaged (eval mode). 224x224, 1000 classes. Opset 17 (LayerNormalization, GELU as
Div/Erf/Add/Mul).

The attention bias table is gathered with the fixed index buffer inside forward
(as the training path does); constant folding turns it into the [8, 49, 49]
initializer the eval-mode cache ``self.ab`` holds.
"""
import itertools

import torch
from torch import nn

from common import (ModelSpec, calibrate_batchnorm_, image_input, randomize_biases_,
                    randomize_norm_affine_, seeded_build)

NAME = "efficientformer_l1"
WIDTHS = [48, 96, 224, 448]
DEPTHS = [3, 2, 6, 4]
VIT_NUM = 1


class Attention(nn.Module):
    def __init__(self, dim=384, key_dim=32, num_heads=8, attn_ratio=4, resolution=7):
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim ** -0.5
        self.key_dim = key_dim
        self.nh_kd = nh_kd = key_dim * num_heads
        self.d = int(attn_ratio * key_dim)
        self.dh = int(attn_ratio * key_dim) * num_heads
        h = self.dh + nh_kd * 2
        self.qkv = nn.Linear(dim, h)
        self.proj = nn.Linear(self.dh, dim)
        points = list(itertools.product(range(resolution), range(resolution)))
        N = len(points)
        attention_offsets, idxs = {}, []
        for p1 in points:
            for p2 in points:
                offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                if offset not in attention_offsets:
                    attention_offsets[offset] = len(attention_offsets)
                idxs.append(attention_offsets[offset])
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(attention_offsets)))
        self.register_buffer("attention_bias_idxs", torch.LongTensor(idxs).view(N, N))

    def forward(self, x):  # x (B, N, C)
        B, N, C = x.shape
        qkv = self.qkv(x)
        q, k, v = qkv.reshape(B, N, self.num_heads, -1).split([self.key_dim, self.key_dim, self.d], dim=3)
        q = q.permute(0, 2, 1, 3)
        k = k.permute(0, 2, 1, 3)
        v = v.permute(0, 2, 1, 3)
        attn = (q @ k.transpose(-2, -1)) * self.scale + self.attention_biases[:, self.attention_bias_idxs]
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, self.dh)
        return self.proj(x)


def stem(in_chs, out_chs):
    return nn.Sequential(
        nn.Conv2d(in_chs, out_chs // 2, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(out_chs // 2),
        nn.ReLU(),
        nn.Conv2d(out_chs // 2, out_chs, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(out_chs),
        nn.ReLU(),
    )


class Embedding(nn.Module):
    def __init__(self, patch_size=3, stride=2, padding=1, in_chans=3, embed_dim=768):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=stride, padding=padding)
        self.norm = nn.BatchNorm2d(embed_dim)

    def forward(self, x):
        return self.norm(self.proj(x))


class Flat(nn.Module):
    def forward(self, x):
        return x.flatten(2).transpose(1, 2)


class Pooling(nn.Module):
    def __init__(self, pool_size=3):
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class LinearMlp(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Mlp(nn.Module):
    """1x1-conv MLP with BN: fc1 -> norm1 -> GELU -> fc2 -> norm2."""

    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Conv2d(in_features, hidden_features, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden_features, in_features, 1)
        self.norm1 = nn.BatchNorm2d(hidden_features)
        self.norm2 = nn.BatchNorm2d(in_features)

    def forward(self, x):
        x = self.fc1(x)
        x = self.norm1(x)
        x = self.act(x)
        x = self.fc2(x)
        return self.norm2(x)


class Meta3D(nn.Module):
    def __init__(self, dim, mlp_ratio=4.0, layer_scale_init_value=1e-5):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mixer = Attention(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = LinearMlp(dim, int(dim * mlp_ratio))
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x):
        x = x + self.layer_scale_1.unsqueeze(0).unsqueeze(0) * self.token_mixer(self.norm1(x))
        x = x + self.layer_scale_2.unsqueeze(0).unsqueeze(0) * self.mlp(self.norm2(x))
        return x


class Meta4D(nn.Module):
    def __init__(self, dim, pool_size=3, mlp_ratio=4.0, layer_scale_init_value=1e-5):
        super().__init__()
        self.token_mixer = Pooling(pool_size)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x):
        x = x + self.layer_scale_1.unsqueeze(-1).unsqueeze(-1) * self.token_mixer(x)
        x = x + self.layer_scale_2.unsqueeze(-1).unsqueeze(-1) * self.mlp(x)
        return x


def meta_blocks(dim, index, layers, vit_num=1):
    blocks = []
    if index == 3 and vit_num == layers[index]:
        blocks.append(Flat())
    for block_idx in range(layers[index]):
        if index == 3 and layers[index] - block_idx <= vit_num:
            blocks.append(Meta3D(dim))
        else:
            blocks.append(Meta4D(dim))
            if index == 3 and layers[index] - block_idx - 1 == vit_num:
                blocks.append(Flat())
    return nn.Sequential(*blocks)


class EfficientFormer(nn.Module):
    def __init__(self, layers=DEPTHS, embed_dims=WIDTHS, num_classes=1000, vit_num=VIT_NUM):
        super().__init__()
        self.patch_embed = stem(3, embed_dims[0])
        network = []
        for i in range(len(layers)):
            network.append(meta_blocks(embed_dims[i], i, layers, vit_num=vit_num))
            if i >= len(layers) - 1:
                break
            network.append(Embedding(3, 2, 1, embed_dims[i], embed_dims[i + 1]))
        self.network = nn.ModuleList(network)
        self.norm = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes)
        self.dist_head = nn.Linear(embed_dims[-1], num_classes)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.patch_embed(x)
        for block in self.network:
            x = block(x)
        x = self.norm(x)
        # eval mode: average of the classification and distillation heads
        return (self.head(x.mean(-2)) + self.dist_head(x.mean(-2))) / 2


def build():
    model = seeded_build(3001, EfficientFormer)
    randomize_norm_affine_(model, 3002)
    randomize_biases_(model, 3005)
    g = torch.Generator().manual_seed(3004)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # trained-looking values instead of the 1e-5 / 0 training inits, so that every
            # block and the attention biases visibly contribute to the golden outputs
            if "layer_scale" in name:
                p.copy_(0.1 + 0.4 * torch.rand(p.shape, generator=g))
            elif name.endswith("attention_biases"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
    calibrate_batchnorm_(model, *image_input(3003, 4))
    return model.eval()


def spec():
    return ModelSpec(
        name=NAME,
        opset=17,
        source="Li et al., EfficientFormer: Vision Transformers at MobileNet Speed (NeurIPS 2022, "
               "arXiv:2206.01191); snap-research/EfficientFormer models/efficientformer.py efficientformer_l1",
        config={"widths": WIDTHS, "depths": DEPTHS, "vit_num": VIT_NUM, "mlp_ratio": 4, "pool_size": 3,
                "attention": {"key_dim": 32, "num_heads": 8, "attn_ratio": 4, "resolution": 7},
                "image_size": 224, "num_classes": 1000, "distillation_head": "averaged (eval)",
                "layer_scale": "random U(0.1, 0.5) instead of the 1e-5 training init",
                "attention_biases": "random N(0, 0.5^2) instead of the zero training init"},
        build=build,
        make_inputs=lambda seed, batch, seq_len=None: image_input(seed, batch),
        input_names=["image"],
        output_names=["logits"],
    )
