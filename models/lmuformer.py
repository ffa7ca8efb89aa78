"""LMUFormer (Liu, Datta, Li, Beerel; ICLR 2024, arXiv:2402.04882), non-spiking.

Follows zeyuliu1037/LMUFormer src/lmu_rnn.py ``lmu_rnn_conv1d`` with the Speech Commands
config src/gsc.yml (dim 256, 128 mel-bin input channels, 1 block, mlp_ratio 4, 35 classes,
LMU memory 256 with theta 128): about 1.6M parameters as in the paper's table.

    x [b, seq, 128] -> permute -> Tokenizer: 4 x (Conv1d k3 no-bias -> ReLU -> BN1d), x += rpe_conv(x)
    Block: x += LMU(x);  x += ConvFFN(x)
        LMU: u = ReLU(W_u x) (1 channel) -> m = tern::LMU(u) (order 256) ->
             h = ReLU(W_h [m; x]) -> 1x1 Conv1d -> BN1d
        ConvFFN: 1x1 Conv1d -> BN1d -> GELU -> 1x1 Conv1d -> BN1d -> ReLU
    head: Linear over channels per step, mean over the sequence -> [b, 35]

The reference computes the LTI memory with an FFT against the impulse response; here it
is the tern::LMU op (same (A, B), zero initial state, same result). Input [batch, seq,
features], batch and seq symbolic.
"""
import torch
from torch import nn

from common import ModelSpec, calibrate_batchnorm_, randomize_biases_, randomize_norm_affine_, seeded_build
from tern_export import LMUMemory

NAME = "lmuformer"
CONFIG = {"in_channels": 128, "dim": 256, "depth": 1, "mlp_ratio": 4, "num_classes": 35,
          "memory_size": 256, "theta": 128, "tokenizer_conv_layers": 4, "act_type": "relu"}


class Tokenizer(nn.Module):
    def __init__(self, in_channels=128, embed_dims=256, n_conv_layers=4):
        super().__init__()
        chans = [in_channels] + [embed_dims] * n_conv_layers
        self.conv_layers = nn.Sequential(*[
            nn.Sequential(
                nn.Conv1d(chans[i], chans[i + 1], kernel_size=3, stride=1, padding=1, bias=False),
                nn.ReLU(),
                nn.BatchNorm1d(chans[i + 1]),
            ) for i in range(n_conv_layers)])
        self.rpe_conv = nn.Conv1d(embed_dims, embed_dims, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x):
        x = x.permute(0, 2, 1)          # B, N, C -> B, C, N
        x = self.conv_layers(x)
        return x + self.rpe_conv(x)


class LMUFFTCell(nn.Module):
    """Parallel LMU cell: u = f_u(W_u x); m = LTI memory of u; h = f_h(W_h [m; x])."""

    def __init__(self, input_size, hidden_size, memory_size, theta):
        super().__init__()
        self.W_u = nn.Linear(input_size, 1)
        self.f_u = nn.ReLU()
        self.W_h = nn.Linear(memory_size + input_size, hidden_size)
        self.f_h = nn.ReLU()
        self.memory = LMUMemory(memory_size, theta)

    def forward(self, x):               # x [B, N, C]
        u = self.f_u(self.W_u(x))       # [B, N, 1]
        m = self.memory(u)              # [B, N, 1, memory]
        m = m.flatten(2)                # [B, N, memory]
        h = self.f_h(self.W_h(torch.cat((m, x), dim=-1)))
        return h


class LMU(nn.Module):
    def __init__(self, dim, memory_size, theta):
        super().__init__()
        self.lmu = LMUFFTCell(dim, dim, memory_size, theta)
        self.proj_conv = nn.Conv1d(dim, dim, kernel_size=1, stride=1)
        self.proj_bn = nn.BatchNorm1d(dim)

    def forward(self, x):               # [B, C, N]
        h = self.lmu(x.transpose(-1, -2))
        return self.proj_bn(self.proj_conv(h.transpose(-1, -2)))


class ConvFFN(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1_conv = nn.Conv1d(in_features, hidden_features, kernel_size=1, stride=1)
        self.fc1_bn = nn.BatchNorm1d(hidden_features)
        self.fc1_lif = nn.GELU()
        self.fc2_conv = nn.Conv1d(hidden_features, in_features, kernel_size=1, stride=1)
        self.fc2_bn = nn.BatchNorm1d(in_features)
        self.fc2_lif = nn.ReLU()

    def forward(self, x):
        x = self.fc1_lif(self.fc1_bn(self.fc1_conv(x)))
        return self.fc2_lif(self.fc2_bn(self.fc2_conv(x)))


class Block(nn.Module):
    def __init__(self, dim, mlp_ratio, memory_size, theta):
        super().__init__()
        self.attn = LMU(dim, memory_size, theta)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class ConvLMU(nn.Module):
    def __init__(self, cfg=CONFIG):
        super().__init__()
        d = cfg["dim"]
        self.patch_embed = Tokenizer(cfg["in_channels"], d, cfg["tokenizer_conv_layers"])
        self.block = nn.ModuleList([Block(d, cfg["mlp_ratio"], cfg["memory_size"], cfg["theta"])
                                    for _ in range(cfg["depth"])])
        self.head = nn.Linear(d, cfg["num_classes"])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):               # x [B, N, C_in]
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        x = self.head(x.permute(0, 2, 1))   # B, C, N -> B, N, C -> B, N, classes
        return x.mean(dim=1)


def make_inputs(seed, batch, seq_len):
    """Log-mel-like features: standard normal (the reference normalises its fbanks)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn((batch, seq_len, CONFIG["in_channels"]), generator=g),)


def build():
    model = seeded_build(6001, ConvLMU)
    randomize_norm_affine_(model, 6002)
    randomize_biases_(model, 6005)
    g = torch.Generator().manual_seed(6004)
    with torch.no_grad():
        # trunc_normal(0.02) weights with zero bias make u = ReLU(W_u x) nearly 0; give the
        # memory input a realistic drive so the LMU path matters in the golden outputs
        cell = model.block[0].attn.lmu
        cell.W_u.weight.normal_(0.0, 0.1, generator=g)
        cell.W_u.bias.fill_(0.1)
    calibrate_batchnorm_(model, *make_inputs(6003, 4, 128))
    return model.eval()


def spec():
    return ModelSpec(
        name=NAME,
        opset=17,
        source="Liu et al., LMUFormer: Low Complexity Yet Powerful Spiking Model With Legendre Memory "
               "Units (ICLR 2024, arXiv:2402.04882); zeyuliu1037/LMUFormer lmu_rnn.py lmu_rnn_conv1d, gsc.yml",
        config=CONFIG,
        build=build,
        make_inputs=make_inputs,
        input_names=["features"],
        output_names=["logits"],
        dynamic_axes={"features": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
        default_batch=2,
        default_seq_len=128,
        uses_tern=True,
    )
