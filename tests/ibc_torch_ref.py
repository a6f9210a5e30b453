#!/usr/bin/python3
"""ibc_torch_ref.py — PyTorch references for Implicit BC's energy model and InfoNCE loss
(tests/unit/test_ibc.c).

The energy network is written here from real-stanford/diffusion_policy's IbcDfoLowdimPolicy
structure (dense0..dense4, ReLU and dropout after each hidden layer, the To observation vectors
flattened and concatenated with the flattened Ta x A actions, logits = the network's output,
cross-entropy with the positive at index 0), with DP's limits normaliser for the low-dimensional
observations and the actions. Dropout is a given multiplier per element (0 or 1/(1-p)) so that the
C side can apply the same masks. Parameters come from tests/torch_ref/make_refs.py's hash_fill
(ref_hash_fill in C). Files under tests/ibc_ref/<case>/ follow make_refs.py's conventions:

    lowdim   two low-dim keys (3 and 2 values), To 2, Ta 2, A 3, width 16, batch 3, 4 counter-
             examples: in.lowdim.<key> [B,To,D], in.action [B,To+Ta-1,A] raw, in.noise [B,Ta*A]
             (the positive's), in.counter [B,4,Ta*A] normalised, in.masks [4,B,5,16],
             stats.<feature>.{min,max}; out.candidates, out.logits (eval, no dropout),
             out.loss_eval, out.loss (with the masks) and grad.<param> of the latter.
    lowdim_gp  the same inputs, parameters and masks with the gradient penalty (weight 1e4,
             margin 0.005) added: out.grad_penalty, out.norms (||dE/da||_inf per candidate),
             out.loss and grad.<param> of the total.

Computation is in float64 from float32 inputs, parameters and normalised values (DP normalises
in float32).

Run: /usr/bin/python3 tests/ibc_torch_ref.py
"""
import importlib.util
import os
import shutil

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ibc_ref")

spec = importlib.util.spec_from_file_location("make_refs", os.path.join(HERE, "torch_ref", "make_refs.py"))
make_refs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_refs)


def save(case, kind, name, value):
    folder = os.path.join(OUT, case)
    os.makedirs(folder, exist_ok=True)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    np.save(os.path.join(folder, f"{kind}.{name}.npy"), np.ascontiguousarray(np.asarray(value, dtype=np.float32)))


class EnergyMLP(nn.Module):
    """DP's IbcDfo network: dense0..dense3 + ReLU + dropout (here: given multipliers), dense4."""

    def __init__(self, in_obs, in_act, width):
        super().__init__()
        self.dense0 = nn.Linear(in_obs + in_act, width)
        self.dense1 = nn.Linear(width, width)
        self.dense2 = nn.Linear(width, width)
        self.dense3 = nn.Linear(width, width)
        self.dense4 = nn.Linear(width, 1)

    def forward(self, obs, action, masks=None):
        B, N = action.shape[:2]
        s = obs.reshape(B, 1, -1).expand(-1, N, -1)
        x = torch.cat([s, action.reshape(B, N, -1)], dim=-1).reshape(B * N, -1)
        for l, dense in enumerate([self.dense0, self.dense1, self.dense2, self.dense3]):
            x = torch.relu(dense(x))
            if masks is not None:
                x = x * masks[l].reshape(B * N, -1)
        return self.dense4(x).reshape(B, N)


def limits(lo, hi):
    """DP's LinearNormalizer mode limits in float32: scale 2/(max-min), offset -1 - scale*min."""
    lo, hi = lo.astype(np.float32), hi.astype(np.float32)
    scale = (np.float32(2) / (hi - lo)).astype(np.float32)
    offset = (np.float32(-1) - scale * lo).astype(np.float32)
    return scale, offset


def lowdim_case():
    case = "lowdim"
    rng = np.random.default_rng(18)
    B, To, Ta, A, W, NEG = 3, 2, 2, 3, 16, 4
    keys = {"observation.a": 3, "observation.b": 2}
    raw, normed = {}, []
    for k, d in keys.items():
        x = rng.normal(size=(B, To, d)).astype(np.float32)
        lo, hi = (x.min(axis=(0, 1)) - 0.5).astype(np.float32), (x.max(axis=(0, 1)) + 0.5).astype(np.float32)
        scale, offset = limits(lo, hi)
        save(case, "in", "lowdim." + k, x)
        save(case, "stats", k + ".min", lo)
        save(case, "stats", k + ".max", hi)
        raw[k] = x
        normed.append((x * scale + offset).astype(np.float32))
    obs = np.concatenate(normed, axis=-1)  # [B, To, 5]
    action = rng.uniform(-0.8, 0.8, size=(B, To + Ta - 1, A)).astype(np.float32)
    alo, ahi = np.full(A, -1.0, np.float32), np.array([1.0, 0.5, 2.0], np.float32)
    scale, offset = limits(alo, ahi)
    save(case, "in", "action", action)
    save(case, "stats", "action.min", alo)
    save(case, "stats", "action.max", ahi)
    naction = (action * scale + offset).astype(np.float32)
    noise = (rng.normal(size=(B, Ta * A)) * 1e-4).astype(np.float32)
    counter = rng.uniform(-1, 1, size=(B, NEG, Ta * A)).astype(np.float32)
    save(case, "in", "noise", noise)
    save(case, "in", "counter", counter)
    positive = (naction[:, To - 1:To - 1 + Ta].reshape(B, Ta * A) + noise).astype(np.float32)
    candidates = np.concatenate([positive[:, None], counter], axis=1)  # [B, 5, Ta*A]
    save(case, "out", "candidates", candidates)
    keep = 0.9
    masks = (rng.uniform(size=(4, B, NEG + 1, W)) < keep).astype(np.float32) / np.float32(keep)
    save(case, "in", "masks", masks)

    torch.set_default_dtype(torch.float64)
    net = EnergyMLP(To * obs.shape[-1], Ta * A, W)
    make_refs.hash_fill(net)
    for name, p in net.named_parameters():
        save(case, "param", name, p)
    o = torch.from_numpy(obs.astype(np.float64))
    cand = torch.from_numpy(candidates.astype(np.float64))
    labels = torch.zeros(B, dtype=torch.int64)
    logits = net(o, cand)
    save(case, "out", "logits", logits)
    save(case, "out", "loss_eval", F.cross_entropy(logits, labels).reshape(1))
    loss = F.cross_entropy(net(o, cand, torch.from_numpy(masks.astype(np.float64))), labels)
    net.zero_grad()
    loss.backward()
    save(case, "out", "loss", loss.reshape(1))
    for name, p in net.named_parameters():
        save(case, "grad", name, p.grad)

    # google-research/ibc's gradient penalty (grad_norm_type inf, squared, final step only) at
    # the loss's candidates under the same masks; this small network's ||dE/da||_inf is about
    # 0.003 to 0.02, so a margin of 0.005 (some candidates below it, most above) and a weight
    # of 1e4 that lets the penalty's gradient dominate the parameters' gradients
    gp_case = "lowdim_gp"
    weight, margin = 1e4, 0.005
    m64 = torch.from_numpy(masks.astype(np.float64))
    c = cand.clone().requires_grad_(True)
    logits = net(o, c, m64)
    energy = -logits
    (de_da,) = torch.autograd.grad(energy.sum(), c, create_graph=True)
    norms = de_da.abs().amax(dim=-1)
    penalty = (torch.clamp(norms - margin, min=0.0) ** 2).mean()
    total = F.cross_entropy(logits, labels) + weight * penalty
    net.zero_grad()
    total.backward()
    save(gp_case, "out", "grad_penalty", penalty.reshape(1))
    save(gp_case, "out", "loss", total.reshape(1))
    save(gp_case, "out", "weight_margin", np.array([weight, margin]))
    save(gp_case, "out", "norms", norms)
    for name, p in net.named_parameters():
        save(gp_case, "grad", name, p.grad)


if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    lowdim_case()
    print("wrote", OUT)
