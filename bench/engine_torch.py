#!/usr/bin/python3
"""engine_torch.py — the PyTorch side of bench/engine.sh: the same training blocks as
bench/engine.c (forward + backward, median of --repeat runs after one warm-up), printed as
"name<TAB>median seconds<TAB>GFLOP<TAB>median CPU seconds" (GFLOP column 0: engine.c's count
is used).

Run through bench/engine.sh, which sets OMP_WAIT_POLICY=passive; needs Debian's python3-torch
and python3-torchvision. The transformer layers and the UNet block are the ones
tests/torch_ref/make_refs.py checks the C modules against (DETR/ACT and Diffusion Policy).
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "torch_ref"))
from make_refs import CondResBlock1D, CondUnet1D, DecoderLayer, EncoderLayer  # noqa: E402


def timed_inference(name, module, forward, repeat):
    module.eval()
    times, cpus = [], []
    with torch.no_grad():
        for r in range(repeat + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            forward()
            if r > 0:
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
    module.train()
    print(f"{name}\t{statistics.median(times):.6f}\t0\t{statistics.median(cpus):.6f}", flush=True)


def timed(name, params, forward, repeat):
    out_grad = None
    times, cpus = [], []
    for r in range(repeat + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        for p in params:
            p.grad = None
        y = forward()
        if out_grad is None:
            out_grad = torch.randn_like(y)
        y.backward(out_grad)
        if r > 0:
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    print(f"{name}\t{statistics.median(times):.6f}\t0\t{statistics.median(cpus):.6f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, E, FF, HEADS, S, Q = 8, 512, 3200, 8, 11, 100

    work = []
    for name, norm in (("resnet18_frozenbn_b8_84x84", torchvision.ops.FrozenBatchNorm2d),
                       ("resnet18_groupnorm_b8_84x84", lambda c: torch.nn.GroupNorm(c // 16, c))):
        net = torchvision.models.resnet18(weights=None, norm_layer=norm)
        net.fc = torch.nn.Identity()
        body = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                                   net.layer4)
        x = torch.randn(B, 3, 84, 84)
        work.append((name, list(body.parameters()), lambda body=body, x=x: body(x)))
        if name.startswith("resnet18_frozenbn"):
            frozen_body = body

    net = torchvision.models.resnet18(weights=None, norm_layer=torchvision.ops.FrozenBatchNorm2d)
    act_body = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                                   net.layer4)
    for name, p in act_body.named_parameters():  # DETR's BackboneBase: only layer2..4 (5, 6, 7) train
        p.requires_grad_(name.split(".")[0] in ("5", "6", "7"))
    xa = torch.randn(B, 3, 84, 84)
    work.append(("resnet18_act_frozen_stem_b8_84x84", [p for p in act_body.parameters() if p.requires_grad],
                 lambda: act_body(xa)))

    enc = EncoderLayer(E, HEADS, FF, "relu", False)
    src, pos = torch.randn(S, B, E, requires_grad=True), torch.randn(S, B, E)
    work.append(("encoder_layer_b8_s11_d512_ff3200", list(enc.parameters()), lambda: enc(src, pos, None)))

    dec = DecoderLayer(E, HEADS, FF, "relu", False)
    tgt, memory = torch.randn(Q, B, E, requires_grad=True), torch.randn(S, B, E, requires_grad=True)
    mpos, qpos = torch.randn(S, B, E), torch.randn(Q, 1, E)
    work.append(("decoder_layer_b8_q100_s11_d512_ff3200", list(dec.parameters()),
                 lambda: dec(tgt, memory, mpos, qpos, None)))

    for name, c, length in (("unet_block_b64_c256_l16", 256, 16), ("unet_block_b64_c1024_l4", 1024, 4)):
        block = CondResBlock1D(c, c, 768, 5, 8, True)
        x, cond = torch.randn(64, c, length, requires_grad=True), torch.randn(64, 768, requires_grad=True)
        work.append((name, list(block.parameters()), lambda block=block, x=x, cond=cond: block(x, cond)))

    unet = CondUnet1D(10, 274, 256, [256, 512, 1024], 5, 8, True)
    sample, cond = torch.randn(64, 16, 10), torch.randn(64, 274)
    steps = torch.tensor([float(i * 37 % 100) for i in range(64)])
    work.append(("unet_full_b64_h16_256-512-1024", list(unet.parameters()), lambda: unet(sample, steps, cond)))

    for name, params, forward in work:
        if args.only in name:
            timed(name, params, forward, args.repeat)

    x1 = torch.randn(1, 3, 84, 84)
    inference = [("resnet18_frozenbn_b1_84x84_inference", frozen_body, lambda: frozen_body(x1)),
                 ("unet_full_b1_h16_inference", unet, lambda: unet(sample[:1], steps[:1], cond[:1]))]
    for name, module, forward in inference:
        if args.only in name:
            timed_inference(name, module, forward, args.repeat)


if __name__ == "__main__":
    main()
