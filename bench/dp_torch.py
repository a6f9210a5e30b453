#!/usr/bin/python3
"""dp_torch.py — the Diffusion Policy model of bench/dp.c in PyTorch, timed the same way: median
training step (per-sample timesteps and noise, random crops, forward, backward, AdamW) at a batch
size and median batch-1 inference (observation encoding with the centre crop, then DDIM and DDPM
denoising with diffusers 0.11.1's step formulas). The modules are tests/dp_torch_ref.py's (robomimic's
hybrid encoder, DP's ConditionalUnet1D); robomimic lift's image configuration: two 84x84 cameras
cropped to 76x76, 9 low-dim values, 7-D actions, To 2, horizon 16. Random inputs.
Prints "train_step_ms X" (not with --batch 0: inference only), "ddim<N>_ms Y" and "ddpm<N>_ms Z";
with --flops 1 instead the FLOPs of one training step's and one DDIM-N call's matrix products and
convolutions (bench/torch_flops.py): "train_step_gflop X", "ddim<N>_gflop Y".
Run with OMP_WAIT_POLICY=passive."""
import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("dp_torch_ref", os.path.join(here, "..", "tests", "dp_torch_ref.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


def main():
    ap = argparse.ArgumentParser()
    for k, v in (("down", 256), ("batch", 8), ("repeat", 3), ("threads", 2), ("ddim", 10), ("ddpm", 100), ("flops", 0)):
        ap.add_argument("--" + k, type=int, default=v)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cams, To, Hz, A, H, crop, low = ["agentview", "robot0_eye_in_hand"], 2, 16, 7, 84, 76, 9
    enc = ref.HybridEncoder(cams, crop, crop, 32, 64)
    D = 64 * len(cams) + low
    unet = ref.make_refs.CondUnet1D(A, To * D, 128, [a.down, 2 * a.down, 4 * a.down], 5, 8, True)
    policy = ref.Policy(enc, unet)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4, betas=(0.95, 0.999), eps=1e-8, weight_decay=1e-6)
    ac = ref.alphas_cumprod()
    betas = ref.betas()
    B = max(a.batch, 1)   # --batch 0: inference only, as bench/dp.c
    images = torch.rand(B, To, len(cams), 3, H, H) * 2 - 1
    lowdim = torch.rand(B * To, low) * 2 - 1
    action = torch.rand(B, Hz, A) * 2 - 1

    def encode(imgs, lowdim, train):
        n = imgs.shape[0] * To
        x = {}
        for k, c in enumerate(cams):
            im = imgs[:, :, k].reshape(n, 3, H, H)
            if train:
                oy, ox = (torch.rand(n) * (H - crop)).long(), (torch.rand(n) * (H - crop)).long()
                im = torch.stack([im[i, :, oy[i]:oy[i] + crop, ox[i]:ox[i] + crop] for i in range(n)])
            else:
                o = round((H - crop) / 2)
                im = im[:, :, o:o + crop, o:o + crop]
            x[c] = im
        return enc(x, lowdim).reshape(imgs.shape[0], -1)

    def step_loss():   # DP's training loss: random crops, per-sample timesteps and noise, epsilon MSE
        cond = encode(images, lowdim, True)
        t = torch.randint(0, 100, (B,))
        eps = torch.randn(B, Hz, A)
        noisy = ac[t].sqrt()[:, None, None] * action + (1 - ac[t]).sqrt()[:, None, None] * eps
        return F.mse_loss(unet(noisy, t.float(), cond), eps)

    if a.flops:   # one training step and one DDIM call, counted instead of timed
        sys.path.insert(0, here)
        from torch_flops import FlopCounter
        if a.batch > 0:
            with FlopCounter() as c:
                step_loss().backward()
            print("train_step_gflop %.2f" % (c.flops / 1e9))
        policy.eval()
        with torch.no_grad(), FlopCounter() as c:
            cond = encode(images[:1], lowdim[:To], False)
            for t in range(a.ddim):
                unet(torch.randn(1, Hz, A), torch.tensor([float(t)]), cond)
        print("ddim%d_gflop %.3f" % (a.ddim, c.flops / 1e9))
        return
    times = []
    for r in range(a.repeat + 2 if a.batch > 0 else 0):   # two warm-up runs, as bench/dp.c
        t0 = time.perf_counter()
        loss = step_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if r >= 2:
            times.append(time.perf_counter() - t0)
    if a.batch > 0:
        print("train_step_ms %.1f" % (1e3 * np.median(times)))

    policy.eval()
    T = 100
    with torch.no_grad():
        for sampler, n in (("ddim", a.ddim), ("ddpm", a.ddpm)):
            ratio = T // n
            steps = list(range(0, T, ratio))[::-1] if sampler == "ddpm" else [i * ratio for i in range(n)][::-1]
            times = []
            for r in range(a.repeat + 1):
                t0 = time.perf_counter()
                cond = encode(images[:1], lowdim[:To], False)
                x = torch.randn(1, Hz, A)
                for t in steps:
                    out = unet(x, torch.tensor([float(t)]), cond)
                    prev = t - ratio if sampler == "ddim" else t - 1
                    ab, abp = ac[t], (ac[prev] if prev >= 0 else torch.tensor(1.0))
                    x0 = ((x - (1 - ab).sqrt() * out) / ab.sqrt()).clamp(-1, 1)
                    if sampler == "ddim":
                        x = abp.sqrt() * x0 + (1 - abp).sqrt() * out
                    else:
                        mean = (abp.sqrt() * betas[t] / (1 - ab)) * x0 + ((1 - betas[t]).sqrt() * (1 - abp) / (1 - ab)) * x
                        x = mean + (((1 - abp) / (1 - ab) * betas[t]).clamp(min=1e-20).sqrt() * torch.randn_like(x) if t > 0 else 0)
                if r:
                    times.append(time.perf_counter() - t0)
            print("%s%d_ms %.1f" % (sampler, n, 1e3 * np.median(times)))


if __name__ == "__main__":
    main()
