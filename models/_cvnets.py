"""Layers shared by the two MobileViT definitions, after apple/ml-cvnets.

ml-cvnets builds blocks from ``ConvLayer2d`` (conv, optional norm, optional act; conv
bias off by default, padding (k-1)/2) and ``InvertedResidual`` (MobileNetV2 block).
The MobileViT configs use BatchNorm2d and Swish (nn.SiLU) everywhere.
"""
import torch
from torch import nn

from common import make_divisible


def conv_layer(cin, cout, kernel_size, stride=1, groups=1, bias=False, use_norm=True,
               use_act=True):
    """ml-cvnets ConvLayer2d: Conv2d -> BatchNorm2d -> SiLU (as configured)."""
    block = nn.Sequential()
    block.add_module("conv", nn.Conv2d(cin, cout, kernel_size, stride, (kernel_size - 1) // 2,
                                       groups=groups, bias=bias))
    if use_norm:
        block.add_module("norm", nn.BatchNorm2d(cout))
    if use_act:
        block.add_module("act", nn.SiLU())
    return block


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand -> 3x3 depthwise (stride) -> 1x1 reduce, residual if shapes allow."""

    def __init__(self, cin, cout, stride, expand_ratio):
        super().__init__()
        hidden = make_divisible(int(round(cin * expand_ratio)), 8)
        block = nn.Sequential()
        if expand_ratio != 1:
            block.add_module("exp_1x1", conv_layer(cin, hidden, 1))
        block.add_module("conv_3x3", conv_layer(hidden, hidden, 3, stride=stride, groups=hidden))
        block.add_module("red_1x1", conv_layer(hidden, cout, 1, use_act=False))
        self.block = block
        self.use_res_connect = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.use_res_connect else self.block(x)


class GlobalPool(nn.Module):
    """ml-cvnets GlobalPool(pool_type="mean", keep_dim=False)."""

    def forward(self, x):
        return torch.mean(x, dim=[-2, -1], keepdim=False)
