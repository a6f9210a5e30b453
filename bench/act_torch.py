#!/usr/bin/python3
"""act_torch.py — the same ACT architecture in PyTorch (written for this benchmark after the
structure of tonyzhaozh/act's DETRVAE: CVAE encoder, torchvision ResNet18 to layer4, 1x1
projection, DETR sine positions, post-norm encoder/decoder with positions on queries and keys,
every decoder layer used), timed like bench/act.c: median training step (forward, backward,
AdamW) at a batch size and median batch-1 inference with z = 0. Random inputs, one camera.
Prints "train_step_ms X" and "infer_ms Y"; with --flops 1 instead the FLOPs of one training step's
and one inference's matrix products and convolutions (bench/torch_flops.py): "train_step_gflop X",
"infer_gflop Y". Run with OMP_WAIT_POLICY=passive."""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def sine_1d(n, d):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(d)[None, :]
    angle = pos / torch.pow(10000.0, (2 * (i // 2)).double() / d)
    table = torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()[None]


def sine_2d(d, h, w):
    half = d // 2
    y = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w) / (h + 1e-6) * 2 * math.pi
    x = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w) / (w + 1e-6) * 2 * math.pi
    dim_t = 10000 ** (2 * (torch.arange(half) // 2) / half)
    px, py = x[..., None] / dim_t, y[..., None] / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=3).flatten(2)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=3).flatten(2)
    return torch.cat((py, px), dim=2).permute(2, 0, 1)[None]


class EncLayer(nn.Module):
    def __init__(self, e, h, ff, p):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(e, h, dropout=p, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(e, ff), nn.Linear(ff, e)
        self.norm1, self.norm2 = nn.LayerNorm(e), nn.LayerNorm(e)
        self.drop = nn.Dropout(p)

    def forward(self, x, pos, pad=None):
        q = x + pos
        x = self.norm1(x + self.drop(self.self_attn(q, q, x, key_padding_mask=pad)[0]))
        return self.norm2(x + self.drop(self.linear2(self.drop(F.relu(self.linear1(x))))))


class DecLayer(nn.Module):
    def __init__(self, e, h, ff, p):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(e, h, dropout=p, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(e, h, dropout=p, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(e, ff), nn.Linear(ff, e)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(e), nn.LayerNorm(e), nn.LayerNorm(e)
        self.drop = nn.Dropout(p)

    def forward(self, t, mem, pos, qpos):
        q = t + qpos
        t = self.norm1(t + self.drop(self.self_attn(q, q, t)[0]))
        t = self.norm2(t + self.drop(self.multihead_attn(t + qpos, mem + pos, mem)[0]))
        return self.norm3(t + self.drop(self.linear2(self.drop(F.relu(self.linear1(t))))))


class ACT(nn.Module):
    def __init__(self, a):
        super().__init__()
        e, self.k, self.z = a.hidden, a.chunk, getattr(a, "latent", 32)
        h = getattr(a, "nheads", 8)
        norm = torchvision.ops.FrozenBatchNorm2d if a.frozen else (lambda c: nn.GroupNorm(c // 16, c))
        r = torchvision.models.resnet18(norm_layer=norm)
        self.body = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2, r.layer3, r.layer4)
        self.input_proj = nn.Conv2d(512, e, 1)
        self.enc = nn.ModuleList(EncLayer(e, h, a.ff, 0.1) for _ in range(a.enc))
        self.dec = nn.ModuleList(DecLayer(e, h, a.ff, 0.1) for _ in range(a.dec))
        self.cvae = nn.ModuleList(EncLayer(e, h, a.ff, 0.1) for _ in range(a.enc))
        self.dec_norm = nn.LayerNorm(e)
        self.action_head = nn.Linear(e, 14)
        self.query_embed = nn.Embedding(a.chunk, e)
        self.input_proj_robot_state = nn.Linear(14, e)
        self.cls_embed = nn.Embedding(1, e)
        self.encoder_action_proj, self.encoder_joint_proj = nn.Linear(14, e), nn.Linear(14, e)
        self.latent_proj, self.latent_out_proj = nn.Linear(e, 2 * self.z), nn.Linear(self.z, e)
        self.additional_pos_embed = nn.Embedding(2, e)
        self.register_buffer("pos_table", sine_1d(a.chunk + 2, e))

    def forward(self, qpos, image, actions=None, is_pad=None):
        bs = qpos.shape[0]
        if actions is not None:
            x = torch.cat([self.cls_embed.weight[None].expand(bs, 1, -1), self.encoder_joint_proj(qpos)[:, None],
                           self.encoder_action_proj(actions)], 1)
            pad = torch.cat([torch.zeros(bs, 2, dtype=torch.bool), is_pad], 1)
            for layer in self.cvae:
                x = layer(x, self.pos_table, pad)
            info = self.latent_proj(x[:, 0])
            mu, logvar = info[:, :self.z], info[:, self.z:]
            z = mu + (logvar / 2).exp() * torch.randn_like(mu)
        else:
            mu = logvar = None
            z = torch.zeros(bs, self.z)
        f = self.input_proj(self.body(image))
        pos = sine_2d(f.shape[1], f.shape[2], f.shape[3]).flatten(2).transpose(1, 2)
        src = torch.cat([self.latent_out_proj(z)[:, None], self.input_proj_robot_state(qpos)[:, None],
                         f.flatten(2).transpose(1, 2)], 1)
        pos = torch.cat([self.additional_pos_embed.weight[None], pos], 1)
        for layer in self.enc:
            src = layer(src, pos)
        t = torch.zeros(bs, self.k, src.shape[2])
        qpos_embed = self.query_embed.weight[None]
        for layer in self.dec:
            t = layer(t, src, pos, qpos_embed)
        return self.action_head(self.dec_norm(t)), mu, logvar


def main():
    p = argparse.ArgumentParser()
    for name, default in [("hidden", 256), ("ff", 1024), ("enc", 2), ("dec", 4), ("chunk", 100), ("height", 84),
                          ("width", 84), ("batch", 8), ("repeat", 5), ("threads", 2), ("frozen", 0),
                          ("train", 1),    # --train 0: the inference timing only (as bench/act.c)
                          ("flops", 0)]:   # --flops 1: count the FLOPs instead of timing
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = ACT(a)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-5, weight_decay=1e-4)
    qpos, img = torch.randn(a.batch, 14), torch.randn(a.batch, 3, a.height, a.width)
    act, pad = torch.randn(a.batch, a.chunk, 14), torch.zeros(a.batch, a.chunk, dtype=torch.bool)
    def step_loss():   # ACT's training loss: masked L1 + 10 KL
        a_hat, mu, logvar = m(qpos, img, act, pad)
        l1 = (F.l1_loss(act, a_hat, reduction="none") * ~pad[..., None]).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
        return l1 + 10 * kl

    if a.flops:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_flops import FlopCounter
        m.train()
        with FlopCounter() as c:
            step_loss().backward()
        print("train_step_gflop %.2f" % (c.flops / 1e9))
        m.eval()
        with torch.no_grad(), FlopCounter() as c:
            m(qpos[:1], img[:1])
        print("infer_gflop %.3f" % (c.flops / 1e9))
        return
    times, cpu = [], []
    m.train()
    for r in range(a.repeat + 1 if a.train else 0):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if r:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    times.sort()
    cpu.sort()
    if a.train:
        print("train_step_ms %.1f" % (1e3 * times[len(times) // 2]))
        print("train_step_cpu_ms %.1f" % (1e3 * cpu[len(cpu) // 2]))
    m.eval()
    times, cpu = [], []
    with torch.no_grad():
        for r in range(4 * a.repeat + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            m(qpos[:1], img[:1])
            if r:
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
    times.sort()
    cpu.sort()
    print("infer_ms %.1f" % (1e3 * times[len(times) // 2]))
    print("infer_cpu_ms %.1f" % (1e3 * cpu[len(cpu) // 2]))


if __name__ == "__main__":
    main()
