#!/usr/bin/env python3
"""Reference values for tests/unit/test_nn_optim.c from PyTorch: AdamW with two parameter
groups (one without weight decay), clip_grad_norm_, a cosine schedule with linear warmup
(diffusers' get_cosine_schedule_with_warmup as a LambdaLR), and Diffusion Policy's EMA
decay. Inputs are closed-form (sin/cos of the index) so the C test rebuilds them exactly.
Run: /usr/bin/python3 tests/nn_optim_ref.py  (writes tests/nn_optim_ref/*.npy)"""
import math, os
import numpy as np
import torch

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_optim_ref")
os.makedirs(out, exist_ok=True)

def init(n, k):   # must match test_nn_optim.c
    return np.array([math.sin(0.37 * i + k) for i in range(n)], dtype=np.float32)

def grad(n, k, t):
    return np.array([math.cos(0.23 * i * (t + 1) + k) * (1.5 if t % 2 else 0.4) for i in range(n)], dtype=np.float32)

STEPS, WARMUP = 6, 2
w = torch.nn.Parameter(torch.from_numpy(init(12, 0.0).reshape(3, 4)))
b = torch.nn.Parameter(torch.from_numpy(init(4, 1.0)))
opt = torch.optim.AdamW([{"params": [w], "lr": 1e-2, "weight_decay": 0.1},
                         {"params": [b], "lr": 3e-3, "weight_decay": 0.0}], betas=(0.9, 0.999), eps=1e-8)
def cosine(step):
    if step < WARMUP:
        return step / max(1, WARMUP)
    progress = (step - WARMUP) / max(1, STEPS - WARMUP)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
norms, factors = [], []
for t in range(STEPS):
    w.grad = torch.from_numpy(grad(12, 0.0, t).reshape(3, 4))
    b.grad = torch.from_numpy(grad(4, 1.0, t))
    norms.append(float(torch.nn.utils.clip_grad_norm_([w, b], 1.0)))
    factors.append(cosine(t))
    opt.step()
    sched.step()
np.save(os.path.join(out, "w.npy"), w.detach().numpy().astype(np.float32))
np.save(os.path.join(out, "b.npy"), b.detach().numpy().astype(np.float32))
np.save(os.path.join(out, "grad_norms.npy"), np.array(norms, dtype=np.float32))
np.save(os.path.join(out, "lr_factors.npy"), np.array(factors, dtype=np.float32))

# Diffusion Policy EMAModel(power=0.75): decay used at update k (0-based)
def ema_decay(k, power=0.75):
    step = max(0, k - 0 - 1)
    value = 1 - (1 + step / 1.0) ** -power
    return 0.0 if step <= 0 else max(0.0, min(value, 0.9999))
np.save(os.path.join(out, "ema_decay.npy"), np.array([ema_decay(k) for k in range(8)] + [ema_decay(10**6)], dtype=np.float32))

# Constant position tables, written from the reference formulas (ACT/DETR PositionEmbeddingSine
# with normalize=True, ACT's get_sinusoid_encoding_table, Diffusion Policy's SinusoidalPosEmb).
def detr_sine(dim, h, w, temperature=10000):
    npf = dim // 2
    ones = torch.ones(1, h, w)
    y = ones.cumsum(1, dtype=torch.float32)
    x = ones.cumsum(2, dtype=torch.float32)
    eps, scale = 1e-6, 2 * math.pi
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(npf, dtype=torch.float32)
    dim_t = temperature ** (2 * (dim_t // 2) / npf)
    px, py = x[:, :, :, None] / dim_t, y[:, :, :, None] / dim_t
    px = torch.stack((px[:, :, :, 0::2].sin(), px[:, :, :, 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[:, :, :, 0::2].sin(), py[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)

def sinusoid_table(n_position, d_hid):
    t = np.array([[pos / np.power(10000, 2 * (j // 2) / d_hid) for j in range(d_hid)] for pos in range(n_position)])
    t[:, 0::2] = np.sin(t[:, 0::2])
    t[:, 1::2] = np.cos(t[:, 1::2])
    return t

def dp_step_emb(t, dim):
    half = dim // 2
    e = math.log(10000) / (half - 1)
    e = torch.exp(torch.arange(half) * -e)
    e = t[:, None] * e[None, :]
    return torch.cat((e.sin(), e.cos()), dim=-1)

np.save(os.path.join(out, "sine_pos_2d.npy"), detr_sine(16, 3, 5).numpy().astype(np.float32))
np.save(os.path.join(out, "sine_table_1d.npy"), sinusoid_table(7, 10).astype(np.float32))
np.save(os.path.join(out, "sinusoidal_pos_emb.npy"),
        dp_step_emb(torch.tensor([0.0, 10.0, 999.0]), 16).numpy().astype(np.float32))
