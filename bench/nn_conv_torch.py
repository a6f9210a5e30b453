#!/usr/bin/env python3
"""PyTorch side of bench/nn_conv.sh: conv2d forward (no grad) and forward+backward (input and
weight gradients) on ResNet18's convolution shapes, batch 8 at 84x84. Prints
"layer<TAB>fwd seconds<TAB>fwd+bwd seconds" (median, or fastest with --min).
Run with OMP_WAIT_POLICY=passive (bench/nn_conv.sh does) so its OpenMP workers do not spin."""
import argparse, time
import torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--repeat", type=int, default=7)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--size", type=int, default=84)
p.add_argument("--min", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
S, B = a.size, a.batch
h1 = (S + 6 - 7) // 2 + 1
h2 = (h1 + 2 - 3) // 2 + 1
h3 = (h2 + 2 - 3) // 2 + 1
h4 = (h3 + 2 - 3) // 2 + 1
h5 = (h4 + 2 - 3) // 2 + 1
shapes = [  # same table as bench/nn_conv.c
    ("conv1 7x7 s2 3->64", 3, 64, 7, 2, 3, S), ("layer1 3x3 64->64", 64, 64, 3, 1, 1, h2),
    ("layer2.0 3x3 s2 64->128", 64, 128, 3, 2, 1, h2), ("layer2 3x3 128->128", 128, 128, 3, 1, 1, h3),
    ("layer2 down 1x1 s2", 64, 128, 1, 2, 0, h2), ("layer3.0 3x3 s2 128->256", 128, 256, 3, 2, 1, h3),
    ("layer3 3x3 256->256", 256, 256, 3, 1, 1, h4), ("layer3 down 1x1 s2", 128, 256, 1, 2, 0, h3),
    ("layer4.0 3x3 s2 256->512", 256, 512, 3, 2, 1, h4), ("layer4 3x3 512->512", 512, 512, 3, 1, 1, h5),
    ("layer4 down 1x1 s2", 256, 512, 1, 2, 0, h4)]
pick = (lambda t: min(t)) if a.min else (lambda t: sorted(t)[len(t) // 2])
for name, C, O, k, s, pad, H in shapes:
    conv = torch.nn.Conv2d(C, O, k, s, pad, bias=False)
    x = torch.randn(B, C, H, H)
    tf, tfb = [], []
    for r in range(a.repeat + 1):
        with torch.no_grad():
            t0 = time.perf_counter(); y = conv(x); t1 = time.perf_counter()
        xg = x.clone().requires_grad_(True)
        t2 = time.perf_counter()
        y = conv(xg)
        y.backward(y.detach())
        t3 = time.perf_counter()
        conv.weight.grad = None
        if r:
            tf.append(t1 - t0); tfb.append(t3 - t2)
    print(f"{name}\t{pick(tf):.6f}\t{pick(tfb):.6f}", flush=True)
