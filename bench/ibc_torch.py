#!/usr/bin/python3
"""ibc_torch.py — the PyTorch side of bench/ibc.sh: real-stanford/diffusion_policy's IbcDfo energy
network and its two timed uses, written from the reference's structure: predict_action's default
derivative-free optimisation at batch 1 with the observation features given (N samples x K
iterations: logits, softmax, multinomial resampling, N(0, 0.03) noise; one final draw), and
compute_loss's training step (positive + N(0, 1e-4), M uniform counter-examples, cross-entropy)
with backward and AdamW. DP's low-dimensional lift configuration: 19 low-dim values, To 2, Ta 1,
7-D actions. Prints "dfo_ms X" and "train_step_ms Y" (medians).

    ibc_torch.py [--width W] [--samples N] [--iterations K] [--batch B] [--negatives M]
                 [--repeat R] [--threads T]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class EnergyMLP(nn.Module):
    def __init__(self, in_obs, in_act, width, dropout=0.1):
        super().__init__()
        self.dense0 = nn.Linear(in_obs + in_act, width)
        self.drop0 = nn.Dropout(dropout)
        self.dense1 = nn.Linear(width, width)
        self.drop1 = nn.Dropout(dropout)
        self.dense2 = nn.Linear(width, width)
        self.drop2 = nn.Dropout(dropout)
        self.dense3 = nn.Linear(width, width)
        self.drop3 = nn.Dropout(dropout)
        self.dense4 = nn.Linear(width, 1)

    def forward(self, obs, action):
        B, N = action.shape[:2]
        s = obs.reshape(B, 1, -1).expand(-1, N, -1)
        x = torch.cat([s, action.reshape(B, N, -1)], dim=-1).reshape(B * N, -1)
        x = self.drop0(torch.relu(self.dense0(x)))
        x = self.drop1(torch.relu(self.dense1(x)))
        x = self.drop2(torch.relu(self.dense2(x)))
        x = self.drop3(torch.relu(self.dense3(x)))
        return self.dense4(x).reshape(B, N)


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def main():
    p = argparse.ArgumentParser()
    for name, default in (("width", 1024), ("samples", 1024), ("iterations", 5), ("batch", 64),
                          ("negatives", 1024), ("repeat", 5), ("threads", 2)):
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    To, Do, Ta, Da = 2, 19, 1, 7
    net = EnergyMLP(To * Do, Ta * Da, a.width)
    lo, hi = -torch.ones(Da), torch.ones(Da)
    if a.batch > 0:
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6)
        obs = torch.rand(a.batch, To, Do) * 2 - 1
        action = torch.rand(a.batch, Ta, Da) * 2 - 1
        net.train()
        times = []
        for r in range(a.repeat + 2):   # two warm-up runs, as bench/ibc.c
            t0 = time.perf_counter()
            positive = action + torch.normal(mean=0, std=1e-4, size=action.shape)
            counter = torch.distributions.Uniform(low=lo, high=hi).sample((a.batch, a.negatives, Ta))
            samples = torch.cat([positive.unsqueeze(1), counter], dim=1)
            loss = F.cross_entropy(net(obs, samples), torch.zeros(a.batch, dtype=torch.int64))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if r >= 2:
                times.append(time.perf_counter() - t0)
        print("train_step_ms %.1f" % (1e3 * median(times)))
    net.eval()
    features = torch.rand(1, To, Do) * 2 - 1
    times = []
    with torch.no_grad():
        for r in range(a.repeat + 1):
            t0 = time.perf_counter()
            samples = torch.distributions.Uniform(low=lo, high=hi).sample((1, a.samples, Ta))
            for i in range(a.iterations):
                prob = torch.softmax(net(features, samples), dim=-1)
                if i < a.iterations - 1:
                    idxs = torch.multinomial(prob, a.samples, replacement=True)
                    samples = samples[torch.arange(1).unsqueeze(-1), idxs]
                    samples += torch.normal(0.0, 3e-2, size=samples.shape)
            idxs = torch.multinomial(prob, num_samples=1, replacement=True)
            samples[torch.arange(1).unsqueeze(-1), idxs].squeeze(1)
            if r:
                times.append(time.perf_counter() - t0)
    print("dfo_ms %.2f" % (1e3 * median(times)))


if __name__ == "__main__":
    main()
