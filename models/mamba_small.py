"""A small Mamba language model (Gu & Dao 2023, arXiv:2312.00752).

Follows state-spaces/mamba: mamba_ssm/modules/mamba_simple.py (Mamba, its reference
non-fused path and its initialisation) and mamba_ssm/models/mixer_seq_simple.py
(MixerModel + tied LM head, pre-norm residual blocks with RMSNorm):

    tokens -> Embedding -> N x [ residual += ...; RMSNorm -> Mamba ] -> RMSNorm -> LM head (tied)
    Mamba: in_proj -> split x, z -> causal depthwise Conv1d(k=4, pad 3, keep first L) -> SiLU
           -> x_proj -> split dt, B, C -> dt_proj (weight only) -> tern::SelectiveScan
              (D skip, z gate, delta_bias = dt_proj.bias, delta_softplus = 1) -> out_proj

Channels-last throughout (the tern op is [b, L, d]), where the reference transposes to
[b, d, L] for its CUDA kernel; the depthwise conv runs on a transposed [b, d, L] view.
RMSNorm is written x * rsqrt(mean(x^2) + eps) * w, so it exports decomposed
(Pow, ReduceMean, Add, Sqrt, Div, Mul). Input: int64 token ids [batch, seq], both
symbolic. Configuration (ours): d_model 256, 4 layers, d_state 16, d_conv 4, expand 2,
dt_rank 16, vocab 4096.
"""
import math

import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

from common import ModelSpec, seeded_build
from tern_export import selective_scan

NAME = "mamba_small"
CONFIG = {"d_model": 256, "n_layer": 4, "vocab_size": 4096, "d_state": 16, "d_conv": 4, "expand": 2,
          "dt_rank": "ceil(d_model / 16) = 16", "dt_min": 0.001, "dt_max": 0.1, "dt_init_floor": 1e-4,
          "rms_norm_eps": 1e-5, "tie_embeddings": True}


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Mamba(nn.Module):
    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", dt_min=0.001,
                 dt_max=0.1, dt_init="random", dt_scale=1.0, dt_init_floor=1e-4, conv_bias=True,
                 bias=False):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, bias=conv_bias, kernel_size=d_conv,
                                groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + d_state * 2, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        # dt_proj init (mamba_simple.py): weight U(-s, s) with s = dt_rank^-0.5 * dt_scale,
        # bias = softplus^-1(dt), dt log-uniform in [dt_min, dt_max]
        dt_init_std = self.dt_rank ** -0.5 * dt_scale
        nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inv_dt)
        # S4D real initialisation
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

    def forward(self, hidden_states):
        """hidden_states [b, L, d_model] -> [b, L, d_model]."""
        xz = self.in_proj(hidden_states)                          # [b, L, 2*d_inner]
        A = -torch.exp(self.A_log)                                # [d_inner, d_state]
        x, z = torch.split(xz, [self.d_inner, self.d_inner], dim=-1)   # reference: chunk(2)
        x = self.conv1d(x.transpose(1, 2))[..., :-(self.d_conv - 1)]   # causal: first L outputs
        x = F.silu(x).transpose(1, 2)                             # [b, L, d_inner]
        x_dbl = self.x_proj(x)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)                    # bias goes in as delta_bias
        y = selective_scan(x, dt, A, B, C, D=self.D, z=z, delta_bias=self.dt_proj.bias,
                           delta_softplus=1)
        return self.out_proj(y)


class Block(nn.Module):
    def __init__(self, d_model, eps, **mixer_kwargs):
        super().__init__()
        self.mixer = Mamba(d_model, **mixer_kwargs)
        self.norm = RMSNorm(d_model, eps=eps)

    def forward(self, hidden_states, residual):
        residual = hidden_states + residual if residual is not None else hidden_states
        return self.mixer(self.norm(residual)), residual


class MambaLM(nn.Module):
    def __init__(self, d_model=256, n_layer=4, vocab_size=4096, eps=1e-5, d_state=16, d_conv=4, expand=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.layers = nn.ModuleList([Block(d_model, eps, d_state=d_state, d_conv=d_conv, expand=expand)
                                     for _ in range(n_layer)])
        self.norm_f = RMSNorm(d_model, eps=eps)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        # mixer_seq_simple._init_weights: embedding N(0, 0.02); out_proj rescaled by 1/sqrt(n_layer)
        nn.init.normal_(self.embedding.weight, std=0.02)
        with torch.no_grad():
            for layer in self.layers:
                nn.init.kaiming_uniform_(layer.mixer.out_proj.weight, a=math.sqrt(5))
                layer.mixer.out_proj.weight /= math.sqrt(n_layer)
        self.lm_head.weight = self.embedding.weight  # tie

    def forward(self, input_ids):
        hidden_states = self.embedding(input_ids)
        residual = None
        for layer in self.layers:
            hidden_states, residual = layer(hidden_states, residual)
        residual = hidden_states + residual
        hidden_states = self.norm_f(residual)
        return self.lm_head(hidden_states)


def build():
    model = seeded_build(8001, lambda: MambaLM(CONFIG["d_model"], CONFIG["n_layer"], CONFIG["vocab_size"],
                                               CONFIG["rms_norm_eps"], CONFIG["d_state"], CONFIG["d_conv"],
                                               CONFIG["expand"]))
    g = torch.Generator().manual_seed(8002)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, RMSNorm):
                m.weight.copy_(0.75 + 0.5 * torch.rand(m.weight.shape, generator=g))
            elif isinstance(m, Mamba):
                # trained-looking: A_log and D drift from their (layer-identical) inits
                m.A_log.add_(0.1 * torch.randn(m.A_log.shape, generator=g))
                m.D.copy_(1.0 + 0.2 * torch.randn(m.D.shape, generator=g))
    return model.eval()


def make_inputs(seed, batch, seq_len):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, CONFIG["vocab_size"], (batch, seq_len), generator=g, dtype=torch.int64),)


def retie_lm_head(model_proto):
    """Store the tied embedding once: the exporter folds lm_head's Transpose(E) into a second
    [d_model, vocab] initializer; replace it by a Transpose node of the embedding table."""
    graph = model_proto.graph
    inits = {i.name: i for i in graph.initializer}
    gathers = [n for n in graph.node if n.op_type == "Gather" and n.input[0] in inits]
    if not gathers:
        return model_proto
    emb_name = gathers[0].input[0]
    E = numpy_helper.to_array(inits[emb_name])
    for init in list(graph.initializer):
        if init.name == emb_name or tuple(init.dims) != E.T.shape:
            continue
        if (numpy_helper.to_array(init) == E.T).all():
            new_name = init.name
            graph.initializer.remove(init)
            node = helper.make_node("Transpose", [emb_name], [new_name], name="lm_head_tied_transpose",
                                    perm=[1, 0])
            graph.node.insert(0, node)
    return model_proto


def spec():
    return ModelSpec(
        name=NAME,
        opset=17,
        source="Gu & Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces "
               "(arXiv:2312.00752); state-spaces/mamba mamba_simple.py + mixer_seq_simple.py",
        config=CONFIG,
        build=build,
        make_inputs=make_inputs,
        input_names=["input_ids"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
        default_batch=2,
        default_seq_len=128,
        uses_tern=True,
        postprocess_onnx=retie_lm_head,
    )
