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
