#!/usr/bin/python3
"""make_refs.py — PyTorch reference values for the nn modules' C unit tests.

Builds small deterministic PyTorch modules and writes, per case, a folder of small .npy files
(float32, C order) that tests/unit/test_nn_modules*.c compare against:

    <case>/in.<name>.npy      inputs (masks as float32: 1 = masked / padded)
    <case>/param.<name>.npy   parameters and buffers before the call, PyTorch names and layouts
    <case>/out.<name>.npy     outputs
    <case>/dout.<name>.npy    the gradient fed into the backward pass for that output
    <case>/gin.<name>.npy     gradients of the inputs
    <case>/grad.<name>.npy    gradients of the parameters
    <case>/buf.<name>.npy     buffers after the call (BatchNorm running statistics)
    <case>/names.txt          "name d0xd1x..." for every parameter and buffer (ResNet cases)

The ResNet18 cases are too large to store (11M parameters), so their parameters come from a
counter-based hash (hash_uniform below) that the C test reproduces bit for bit; only the
gradients of the small tensors and the first HEAD elements of the large ones are stored.

Run with Debian's PyTorch:  /usr/bin/python3 tests/torch_ref/make_refs.py
Dropout is off everywhere (p = 0). Computation is in float64 (see main()); files are float32.
"""
import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
HEAD = 1024  # elements of a large gradient that are stored



# ---------------------------------------------------------------- output helpers
def save(case, kind, name, value):
    folder = os.path.join(HERE, case)
    os.makedirs(folder, exist_ok=True)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
    np.save(os.path.join(folder, f"{kind}.{name}.npy"), value)


def save_params(case, module, prefix=""):
    for name, p in module.named_parameters():
        save(case, "param", prefix + name, p)
    for name, b in module.named_buffers():
        if b.dtype.is_floating_point:
            save(case, "param", prefix + name, b)


def save_grads(case, module, prefix="", head=None):
    for name, p in module.named_parameters():
        if p.grad is None:
            continue
        g = p.grad.detach().reshape(-1)
        if head is not None and g.numel() > 8 * head:
            save(case, "grad", prefix + name, g[:head])
        else:
            save(case, "grad", prefix + name, p.grad)


def save_buffers(case, module, prefix=""):
    for name, b in module.named_buffers():
        if b.dtype.is_floating_point:
            save(case, "buf", prefix + name, b)


def save_names(case, module, prefix=""):
    lines = []
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if not p.dtype.is_floating_point:
            continue
        lines.append(prefix + name + " " + "x".join(str(d) for d in p.shape))
    with open(os.path.join(HERE, case, "names.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def randn(*shape, scale=1.0):
    """Normal values rounded to float32 (computation runs in float64, saved files are float32)."""
    return (torch.randn(*shape) * scale).float().to(torch.get_default_dtype())


def leaf(t):
    return t.clone().requires_grad_(True)


def randomize(module, scale=0.3):
    """Give every parameter and float buffer non-trivial values (norm weights near 1, variances > 0)."""
    with torch.no_grad():
        for name, p in list(module.named_parameters()) + list(module.named_buffers()):
            if not p.dtype.is_floating_point:
                continue
            last = name.rsplit(".", 1)[-1]
            if last == "running_var":
                p.copy_(0.5 + torch.rand_like(p))
            elif last == "running_mean":
                p.copy_(0.2 * torch.randn_like(p))
            elif p.dim() == 1 and last == "weight":  # norm scales
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn_like(p) * (scale if p.dim() == 1 else 1 / math.sqrt(fan_in)))
            p.copy_(p.float())  # exactly representable in the float32 files


def run_case(case, module, inputs, outputs_fn, prefix=""):
    """inputs: dict name -> tensor (float ones get gradients); outputs_fn(**inputs) -> dict of outputs."""
    save_params(case, module, prefix)
    leaves = {}
    for k, v in inputs.items():
        if v.dtype.is_floating_point and not k.endswith("mask") and k != "timesteps":
            leaves[k] = leaf(v)
        else:
            leaves[k] = v
        save(case, "in", k, v.float())
    outs = outputs_fn(**leaves)
    total = 0
    for k, v in outs.items():
        save(case, "out", k, v)
        if v.requires_grad:
            d = randn(*v.shape)
            save(case, "dout", k, d)
            total = total + (v * d).sum()
    if isinstance(total, torch.Tensor):
        total.backward()
    for k, v in leaves.items():
        if isinstance(v, torch.Tensor) and v.grad is not None:
            save(case, "gin", k, v.grad)
    save_grads(case, module, prefix)
    save_buffers(case, module, prefix)


# ---------------------------------------------------------------- hash-filled parameters (ResNet)
def fnv1a32(text):
    h = 0x811C9DC5
    for c in text.encode():
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


def hash_uniform(name, n):
    """n float32 values in [-1, 1), a function of the name and the index only.
    C twin: tests/unit/npy_load.c ref_hash_uniform()."""
    i = np.arange(n, dtype=np.uint64)
    x = ((i * np.uint64(0x9E3779B9) + np.uint64(fnv1a32(name))) & np.uint64(0xFFFFFFFF)).astype(np.uint64)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(16)
    return ((x >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1)).astype(np.float32)


def hash_fill(module):
    """Rules (mirrored in C): running_var 1 + 0.5u; running_mean 0.1u; 1-D weight 1 + 0.1u;
    1-D bias 0.1u; other tensors u / sqrt(fan_in), fan_in = numel / shape[0]; all in float32."""
    with torch.no_grad():
        for name, p in list(module.named_parameters()) + list(module.named_buffers()):
            if not p.dtype.is_floating_point:
                continue
            u = hash_uniform(name, p.numel()).reshape(tuple(p.shape))
            last = name.rsplit(".", 1)[-1]
            f1 = np.float32
            if last == "running_var":
                v = f1(1) + f1(0.5) * u
            elif last == "running_mean":
                v = f1(0.1) * u
            elif p.dim() == 1 and last == "weight":
                v = f1(1) + f1(0.1) * u
            elif p.dim() == 1:
                v = f1(0.1) * u
            else:
                fan_in = p.numel() // p.shape[0]
                v = u * (f1(1) / np.sqrt(f1(fan_in)))
            p.copy_(torch.from_numpy(np.ascontiguousarray(v.astype(np.float32))))


# ---------------------------------------------------------------- modules as ACT and Diffusion Policy write them
class EncoderLayer(nn.Module):
    """DETR/ACT encoder layer: positions added to queries and keys, not to values."""

    def __init__(self, d, heads, ff, activation, pre_norm):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=0.0)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.act = F.relu if activation == "relu" else F.gelu
        self.pre_norm = pre_norm

    def forward(self, src, pos, key_padding_mask):
        if self.pre_norm:
            h = self.norm1(src)
            src = src + self.self_attn(h + pos, h + pos, h, key_padding_mask=key_padding_mask)[0]
            return src + self.linear2(self.act(self.linear1(self.norm2(src))))
        src = self.norm1(src + self.self_attn(src + pos, src + pos, src, key_padding_mask=key_padding_mask)[0])
        return self.norm2(src + self.linear2(self.act(self.linear1(src))))


class DecoderLayer(nn.Module):
    """DETR/ACT decoder layer: self-attention on queries (+query_pos), cross-attention to memory (+pos)."""

    def __init__(self, d, heads, ff, activation, pre_norm):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=0.0)
        self.multihead_attn = nn.MultiheadAttention(d, heads, dropout=0.0)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.act = F.relu if activation == "relu" else F.gelu
        self.pre_norm = pre_norm

    def forward(self, tgt, memory, pos, query_pos, memory_key_padding_mask):
        mkpm = memory_key_padding_mask
        if self.pre_norm:
            h = self.norm1(tgt)
            tgt = tgt + self.self_attn(h + query_pos, h + query_pos, h)[0]
            h = self.norm2(tgt)
            tgt = tgt + self.multihead_attn(h + query_pos, memory + pos, memory, key_padding_mask=mkpm)[0]
            return tgt + self.linear2(self.act(self.linear1(self.norm3(tgt))))
        tgt = self.norm1(tgt + self.self_attn(tgt + query_pos, tgt + query_pos, tgt)[0])
        tgt = self.norm2(tgt + self.multihead_attn(tgt + query_pos, memory + pos, memory, key_padding_mask=mkpm)[0])
        return self.norm3(tgt + self.linear2(self.act(self.linear1(tgt))))


class TransformerForDiffusion(nn.Module):
    """Diffusion Policy's TransformerForDiffusion as its transformer policies configure it
    (obs_as_cond, time_as_cond, causal_attn, n_cond_layers=0), from torch.nn's decoder as DP
    builds it: pre-norm GELU layers, no final decoder norm, additive float masks as buffers, and
    the empty _dummy_variable that DP's ModuleAttrMixin registers first."""

    def __init__(self, action_dim, obs_dim, horizon, n_obs_steps, n_layer, n_head, n_emb, p_drop_emb, p_drop_attn):
        super().__init__()
        self._dummy_variable = nn.Parameter()
        self.input_emb = nn.Linear(action_dim, n_emb)
        self.pos_emb = nn.Parameter(torch.zeros(1, horizon, n_emb))
        self.drop = nn.Dropout(p_drop_emb)
        self.n_emb = n_emb
        self.cond_obs_emb = nn.Linear(obs_dim, n_emb)
        self.cond_pos_emb = nn.Parameter(torch.zeros(1, 1 + n_obs_steps, n_emb))
        self.encoder = nn.Sequential(nn.Linear(n_emb, 4 * n_emb), nn.Mish(), nn.Linear(4 * n_emb, n_emb))
        layer = nn.TransformerDecoderLayer(d_model=n_emb, nhead=n_head, dim_feedforward=4 * n_emb,
                                           dropout=p_drop_attn, activation="gelu", batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(decoder_layer=layer, num_layers=n_layer)
        self.register_buffer("mask", torch.full((horizon, horizon), float("-inf")).triu(1))
        t = torch.arange(horizon)[:, None]
        s = torch.arange(1 + n_obs_steps)[None, :]
        allowed = t >= s - 1  # memory token 0 is the diffusion step
        self.register_buffer("memory_mask", torch.zeros(horizon, 1 + n_obs_steps).masked_fill(~allowed, float("-inf")))
        self.ln_f = nn.LayerNorm(n_emb)
        self.head = nn.Linear(n_emb, action_dim)

    def forward(self, sample, timesteps, cond):
        time = sinusoidal_embedding(timesteps, self.n_emb).to(sample.dtype)[:, None]
        memory = torch.cat([time, self.cond_obs_emb(cond)], dim=1) + self.cond_pos_emb
        memory = self.encoder(self.drop(memory))
        x = self.drop(self.input_emb(sample) + self.pos_emb)
        x = self.decoder(tgt=x, memory=memory, tgt_mask=self.mask, memory_mask=self.memory_mask)
        return self.head(self.ln_f(x))

    def decayed_names(self):
        """DP's get_optim_groups rule: weights of Linear and MultiheadAttention modules decay;
        biases, LayerNorm weights, pos_emb, cond_pos_emb and _dummy_variable do not."""
        decay = []
        for mn, m in self.named_modules():
            for pn, _ in m.named_parameters(recurse=False):
                if pn.endswith("weight") and isinstance(m, (nn.Linear, nn.MultiheadAttention)):
                    decay.append(f"{mn}.{pn}" if mn else pn)
        return sorted(decay)


class Conv1dBlock(nn.Module):
    """Diffusion Policy: Conv1d (same padding) -> GroupNorm -> Mish, parameters under block.0 / block.1."""

    def __init__(self, cin, cout, k, groups):
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2), nn.GroupNorm(groups, cout), nn.Mish())

    def forward(self, x):
        return self.block(x)


class CondResBlock1D(nn.Module):
    """Diffusion Policy ConditionalResidualBlock1D: FiLM from the condition between two Conv1dBlocks."""

    def __init__(self, cin, cout, cond_dim, k, groups, predict_scale):
        super().__init__()
        self.blocks = nn.ModuleList([Conv1dBlock(cin, cout, k, groups), Conv1dBlock(cout, cout, k, groups)])
        self.cout, self.predict_scale = cout, predict_scale
        self.cond_encoder = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, cout * 2 if predict_scale else cout))
        self.residual_conv = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, cond):
        out = self.blocks[0](x)
        film = self.cond_encoder(cond)
        if self.predict_scale:
            film = film.reshape(film.shape[0], 2, self.cout, 1)
            out = film[:, 0] * out + film[:, 1]
        else:
            out = out + film.unsqueeze(-1)
        return self.blocks[1](out) + self.residual_conv(x)


class CondUnet1D(nn.Module):
    """Diffusion Policy ConditionalUnet1D (global condition only): diffusion_step_encoder,
    down_modules [res, res, Downsample1d], mid_modules, up_modules [res, res, Upsample1d],
    final_conv [Conv1dBlock (8 groups, as DP's default), 1x1 Conv1d]."""

    def __init__(self, input_dim, global_cond_dim, dsed, down_dims, k, groups, predict_scale):
        super().__init__()
        dims = [input_dim] + list(down_dims)
        in_out = list(zip(dims[:-1], dims[1:]))
        cond_dim = dsed + global_cond_dim
        self.dsed = dsed
        self.diffusion_step_encoder = nn.Sequential(nn.Identity(), nn.Linear(dsed, dsed * 4), nn.Mish(),
                                                    nn.Linear(dsed * 4, dsed))
        block = lambda a, b: CondResBlock1D(a, b, cond_dim, k, groups, predict_scale)
        self.mid_modules = nn.ModuleList([block(dims[-1], dims[-1]), block(dims[-1], dims[-1])])
        self.down_modules = nn.ModuleList()
        for i, (a, b) in enumerate(in_out):
            last = i == len(in_out) - 1
            down = nn.Identity() if last else nn.Module()
            if not last:
                down.conv = nn.Conv1d(b, b, 3, 2, 1)
            self.down_modules.append(nn.ModuleList([block(a, b), block(b, b), down]))
        self.up_modules = nn.ModuleList()
        for a, b in reversed(in_out[1:]):
            up = nn.Module()
            up.conv = nn.ConvTranspose1d(a, a, 4, 2, 1)
            self.up_modules.append(nn.ModuleList([block(b * 2, a), block(a, a), up]))
        self.final_conv = nn.Sequential(Conv1dBlock(dims[1], dims[1], k, 8), nn.Conv1d(dims[1], input_dim, 1))

    def forward(self, sample, timesteps, global_cond):
        x = sample.transpose(1, 2)
        emb = sinusoidal_embedding(timesteps, self.dsed).to(sample.dtype)
        e = self.diffusion_step_encoder[1:](emb)
        g = torch.cat([e, global_cond], dim=-1)
        skips = []
        for res1, res2, down in self.down_modules:
            x = res2(res1(x, g), g)
            skips.append(x)
            x = down.conv(x) if hasattr(down, "conv") else x
        for res in self.mid_modules:
            x = res(x, g)
        for res1, res2, up in self.up_modules:
            x = torch.cat([x, skips.pop()], dim=1)
            x = up.conv(res2(res1(x, g), g))
        return self.final_conv(x).transpose(1, 2)


def sinusoidal_embedding(t, dim):
    """Diffusion Policy SinusoidalPosEmb: [sin(t w_i), cos(t w_i)], w_i = 10000^(-i/(dim/2-1))."""
    half = dim // 2
    w = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
    arg = t.float()[:, None] * w[None, :]
    return torch.cat([arg.sin(), arg.cos()], dim=-1)


# ---------------------------------------------------------------- the cases
def case_linear():
    m = nn.Linear(5, 3)
    randomize(m)
    run_case("linear", m, {"x": randn(4, 5)}, lambda x: {"y": m(x)})


def case_conv2d():
    m = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    randomize(m)
    run_case("conv2d", m, {"x": randn(2, 3, 7, 6)}, lambda x: {"y": m(x)})
    m = nn.Conv2d(3, 5, (3, 2), stride=1, padding=0, bias=False)
    randomize(m)
    run_case("conv2d_nobias", m, {"x": randn(2, 3, 5, 4)}, lambda x: {"y": m(x)})


def case_conv1d():
    m = nn.Conv1d(4, 6, 3, padding=1)
    randomize(m)
    run_case("conv1d", m, {"x": randn(2, 4, 8)}, lambda x: {"y": m(x)})
    m = nn.Conv1d(4, 4, 3, stride=2, padding=1)  # Diffusion Policy Downsample1d
    randomize(m)
    run_case("conv1d_down", m, {"x": randn(2, 4, 8)}, lambda x: {"y": m(x)})


def case_conv_transpose1d():
    m = nn.ConvTranspose1d(4, 4, 4, stride=2, padding=1)  # Diffusion Policy Upsample1d
    randomize(m)
    run_case("convt1d_up", m, {"x": randn(2, 4, 5)}, lambda x: {"y": m(x)})
    m = nn.ConvTranspose1d(3, 5, 3, stride=2, padding=0)
    randomize(m)
    run_case("convt1d", m, {"x": randn(2, 3, 4)}, lambda x: {"y": m(x)})


def case_mha():
    # sequence-first layout (L, N, E) as ACT uses; cross attention with distinct q, k, v
    E, H, L, S, N = 8, 2, 5, 6, 2
    m = nn.MultiheadAttention(E, H, dropout=0.0)
    randomize(m)
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[0, 4:] = True
    kpm[1, 0] = True
    am = torch.zeros(L, S, dtype=torch.bool)
    am[0, 1] = am[2, 3] = am[3, 0] = am[4, 5] = True  # True = not allowed (PyTorch's boolean convention)
    inputs = {"query": randn(L, N, E), "key": randn(S, N, E), "value": randn(S, N, E),
              "key_padding_mask": kpm, "attn_mask": am}
    run_case("mha", m, inputs, lambda query, key, value, key_padding_mask, attn_mask: {
        "y": m(query, key, value, key_padding_mask=key_padding_mask, attn_mask=attn_mask, need_weights=False)[0]})
    # additive float attention mask (PyTorch adds it to the scores) and key padding, q = k
    m3 = nn.MultiheadAttention(E, H, dropout=0.0)
    randomize(m3)
    fm = randn(L, L, scale=2.0)
    kpm3 = torch.zeros(N, L, dtype=torch.bool)
    kpm3[1, 3:] = True
    run_case("mha_float_mask", m3, {"x": randn(L, N, E), "v": randn(L, N, E), "attn_mask": fm,
                                    "key_padding_mask": kpm3},
             lambda x, v, attn_mask, key_padding_mask: {
                 "y": m3(x, x, v, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]})
    # no masks, self attention
    m2 = nn.MultiheadAttention(E, H, dropout=0.0)
    randomize(m2)
    run_case("mha_self", m2, {"x": randn(L, N, E)}, lambda x: {"y": m2(x, x, x, need_weights=False)[0]})


def case_norms():
    m = nn.GroupNorm(3, 6)
    randomize(m)
    run_case("groupnorm", m, {"x": randn(2, 6, 3, 3, scale=2.0) + 0.5}, lambda x: {"y": m(x)})
    m = nn.GroupNorm(2, 8)
    randomize(m)
    run_case("groupnorm1d", m, {"x": randn(2, 8, 5) + 1.0}, lambda x: {"y": m(x)})
    m = nn.LayerNorm(8)
    randomize(m)
    run_case("layernorm", m, {"x": randn(3, 4, 8, scale=1.5) + 0.3}, lambda x: {"y": m(x)})
    m = nn.BatchNorm2d(4, momentum=0.1)
    randomize(m)
    m.train()
    run_case("batchnorm_train", m, {"x": randn(3, 4, 5, 5, scale=1.7) + 0.4}, lambda x: {"y": m(x)})
    m = nn.BatchNorm2d(4)
    randomize(m)
    m.eval()
    run_case("batchnorm_eval", m, {"x": randn(3, 4, 5, 5) + 0.4}, lambda x: {"y": m(x)})
    m = torchvision.ops.FrozenBatchNorm2d(4)
    randomize(m)
    run_case("frozenbatchnorm", m, {"x": randn(2, 4, 3, 3)}, lambda x: {"y": m(x)})


def resnet(norm):
    if norm == "batchnorm":
        layer = nn.BatchNorm2d
    elif norm == "frozenbatchnorm":
        layer = torchvision.ops.FrozenBatchNorm2d
    else:
        layer = lambda c: nn.GroupNorm(c // 16, c)  # Diffusion Policy's replacement
    m = torchvision.models.resnet18(weights=None, norm_layer=layer)
    m.fc = nn.Identity()
    m.avgpool = nn.Identity()
    hash_fill(m)
    return m


def resnet_layer4(m, x):
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
        x = getattr(m, name)(x)
    return x


def case_resnet():
    for norm in ("batchnorm", "frozenbatchnorm", "groupnorm"):
        case = "resnet18_" + norm
        m = resnet(norm)
        m.train()
        folder = os.path.join(HERE, case)
        os.makedirs(folder, exist_ok=True)
        save_names(case, m)
        # BatchNorm in training mode needs enough values per channel at layer4 (2x2 here) for the
        # problem to be well conditioned in float32: at batch 2 float32 itself is off by 1.6%
        x = leaf(randn(8 if norm == "batchnorm" else 2, 3, 64, 64))
        save(case, "in", "x", x)
        y = resnet_layer4(m, x)
        d = randn(*y.shape)
        save(case, "out", "y", y)
        save(case, "dout", "y", d)
        (y * d).sum().backward()
        save(case, "gin", "x", x.grad)
        save_grads(case, m, head=HEAD)
        if norm == "batchnorm":
            for name in ("bn1.running_mean", "bn1.running_var", "layer4.1.bn2.running_var"):
                save(case, "buf", name, dict(m.named_buffers())[name])


def case_resnet_sequential():
    """robomimic ResNet18Conv names (nn.Sequential of resnet18's children minus avgpool, fc), as
    Diffusion Policy's image encoder has them with GroupNorm: names and shapes only."""
    case = "resnet18_sequential_groupnorm"
    net = torchvision.models.resnet18(weights=None, norm_layer=lambda c: nn.GroupNorm(c // 16, c))
    body = nn.Sequential(*list(net.children())[:-2])
    os.makedirs(os.path.join(HERE, case), exist_ok=True)
    save_names(case, body)


def case_transformer():
    d, heads, ff, S, T, N = 16, 4, 32, 7, 5, 2
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[1, 5:] = True
    for pre_norm, act in ((False, "relu"), (True, "gelu")):
        tag = "prenorm" if pre_norm else "postnorm"
        m = EncoderLayer(d, heads, ff, act, pre_norm)
        randomize(m)
        run_case("encoder_" + tag, m, {"src": randn(S, N, d), "pos": randn(S, N, d), "key_padding_mask": kpm},
                 lambda src, pos, key_padding_mask: {"y": m(src, pos, key_padding_mask)})
        m = DecoderLayer(d, heads, ff, act, pre_norm)
        randomize(m)
        run_case("decoder_" + tag, m,
                 {"tgt": randn(T, N, d), "memory": randn(S, N, d), "pos": randn(S, N, d),
                  "query_pos": randn(T, N, d), "memory_key_padding_mask": kpm},
                 lambda tgt, memory, pos, query_pos, memory_key_padding_mask:
                 {"y": m(tgt, memory, pos, query_pos, memory_key_padding_mask)})


def case_unet_block():
    for predict_scale, cin, tag in ((True, 4, "film_scale"), (False, 4, "film_bias"), (True, 8, "film_same")):
        m = CondResBlock1D(cin, 8, 6, 3, 4, predict_scale)
        randomize(m)
        run_case("condres1d_" + tag, m, {"x": randn(2, cin, 8), "cond": randn(2, 6)},
                 lambda x, cond: {"y": m(x, cond)})
    m = CondUnet1D(2, 6, 8, [8, 16], 3, 4, True)
    randomize(m)
    run_case("cond_unet1d", m, {"sample": randn(2, 8, 2), "timesteps": torch.tensor([3.0, 70.0]),
                                "global_cond": randn(2, 6)},
             lambda sample, timesteps, global_cond: {"y": m(sample, timesteps, global_cond)})
    t = torch.tensor([0, 1, 17, 99])
    save("step_embedding", "in", "t", t.float())
    save("step_embedding", "out", "y", sinusoidal_embedding(t, 16))


def case_transformer_diffusion():
    case = "transformer_diffusion"
    m = TransformerForDiffusion(action_dim=3, obs_dim=5, horizon=4, n_obs_steps=2, n_layer=2, n_head=2, n_emb=16,
                                p_drop_emb=0.0, p_drop_attn=0.0)
    masks = (m.mask.clone(), m.memory_mask.clone())
    randomize(m)
    with torch.no_grad():
        m.mask.copy_(masks[0])
        m.memory_mask.copy_(masks[1])
    run_case(case, m, {"sample": randn(2, 4, 3), "timesteps": torch.tensor([3.0, 70.0]), "cond": randn(2, 2, 5)},
             lambda sample, timesteps, cond: {"y": m(sample, timesteps, cond)})
    with open(os.path.join(HERE, case, "names.txt"), "w") as f:  # state_dict order
        for name, t in m.state_dict().items():
            f.write(name + " " + "x".join(str(d) for d in t.shape) + "\n")
    with open(os.path.join(HERE, case, "decay.txt"), "w") as f:
        f.write("\n".join(m.decayed_names()) + "\n")


class SmallModel(nn.Module):
    """ResNet18 (GroupNorm) -> 1x1 projection -> tokens + pos -> encoder layer -> decoder layer
    (3 queries) -> linear head; L1 loss. A whole-model reference for loss and gradients."""

    def __init__(self):
        super().__init__()
        self.backbone = resnet("groupnorm")
        self.input_proj = nn.Conv2d(512, 16, 1)
        self.encoder = EncoderLayer(16, 2, 32, "relu", False)
        self.decoder = DecoderLayer(16, 2, 32, "relu", False)
        self.query_embed = nn.Embedding(3, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x, pos, target):
        return F.l1_loss(self.predict(x, pos), target)

    def predict(self, x, pos):
        f = self.input_proj(resnet_layer4(self.backbone, x))  # N,16,2,2
        src = f.flatten(2).permute(2, 0, 1)  # 4,N,16
        pos = pos.unsqueeze(1).repeat(1, x.shape[0], 1)
        memory = self.encoder(src, pos, None)
        q = self.query_embed.weight.unsqueeze(1).repeat(1, x.shape[0], 1)
        h = self.decoder(torch.zeros_like(q), memory, pos, q, None)  # 3,N,16
        return self.head(h).transpose(0, 1)  # N,3,4


def case_small_model():
    case = "small_model"
    m = SmallModel()
    randomize(m.input_proj)
    randomize(m.encoder)
    randomize(m.decoder)
    randomize(m.query_embed)
    randomize(m.head)
    os.makedirs(os.path.join(HERE, case), exist_ok=True)
    for name, p in m.named_parameters():
        if not name.startswith("backbone."):
            save(case, "param", name, p)
    def grads(x, pos, target):
        m.zero_grad()
        m(x, pos, target).backward()
        return torch.cat([p.grad.reshape(-1) for p in m.parameters()])

    for attempt in range(20):
        x, pos = randn(2, 3, 64, 64), randn(4, 16)
        # targets at least 0.5 away from the prediction: L1's kink must not sit within float32 noise
        with torch.no_grad():
            pred = m.predict(x, pos)
            offset = (0.5 + torch.rand(2, 3, 4)) * torch.sign(torch.randn(2, 3, 4))
            target = (pred + offset).float().to(torch.get_default_dtype())
        # nor may a ReLU or max-pool tie: the gradients must not move when the input moves by
        # float32 rounding (a near-tie in one max-pool window moved them by 10% in float32)
        g = grads(x, pos, target)
        g2 = grads(x * (1 + 1e-5 * torch.randn_like(x)), pos, target)
        if ((g - g2).abs().max() / g.abs().max()) < 1e-3:
            break
    else:
        raise SystemExit("make_refs: no kink-free small-model input found")
    m.zero_grad()
    for k, v in (("x", x), ("pos", pos), ("target", target)):
        save(case, "in", k, v)
    loss = m(x, pos, target)
    save(case, "out", "loss", loss.reshape(1))
    loss.backward()
    save_grads(case, m, head=HEAD)


def main():
    # references are computed in float64 from float32-representable inputs and parameters, then
    # saved as float32: the C engine (float32) is compared with the exact values, not with
    # PyTorch's own float32 rounding (which in BatchNorm-trained ResNet18 is itself far off)
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in os.listdir(HERE):
        if os.path.isdir(os.path.join(HERE, name)) and not name.startswith("__"):
            shutil.rmtree(os.path.join(HERE, name))
    for seed, fn in enumerate((case_linear, case_conv2d, case_conv1d, case_conv_transpose1d, case_mha, case_norms,
               case_resnet, case_transformer, case_unet_block, case_small_model, case_resnet_sequential,
               case_transformer_diffusion)):
        torch.manual_seed(1000 + seed)
        fn()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(HERE) for f in fs)
    print(f"make_refs: wrote {total / 1e6:.2f} MB under {HERE}", file=sys.stderr)


if __name__ == "__main__":
    main()
