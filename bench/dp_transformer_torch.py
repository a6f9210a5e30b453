#!/usr/bin/python3
"""dp_transformer_torch.py — PyTorch's time for what bench/dp_transformer.c measures: Diffusion
Policy's TransformerForDiffusion at its default size (8 layers, 4 heads, 256 features, horizon 10,
2 observation steps), one forward at batch 1 in inference mode and a training forward + backward
at batch 64 (dropout 0.3 on). The model is the reference of tests/torch_ref/make_refs.py.
Prints "name<TAB>median milliseconds<TAB>min milliseconds".

    /usr/bin/python3 bench/dp_transformer_torch.py [--threads N] [--repeat R]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "torch_ref"))
from make_refs import TransformerForDiffusion  # noqa: E402


def bench(name, fn, repeat):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"{name}\t{1e3 * times[len(times) // 2]:.3f}\t{1e3 * times[0]:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--action-dim", type=int, default=10)
    ap.add_argument("--obs-dim", type=int, default=137)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = TransformerForDiffusion(a.action_dim, a.obs_dim, 10, 2, n_layer=8, n_head=4, n_emb=256, p_drop_emb=0.0,
                                p_drop_attn=0.3)

    def infer():
        with torch.inference_mode():
            m(torch.randn(1, 10, a.action_dim), torch.randint(0, 100, (1,)), torch.randn(1, 2, a.obs_dim))

    def train():
        x = torch.randn(64, 10, a.action_dim)
        loss = torch.nn.functional.mse_loss(m(x, torch.randint(0, 100, (64,)), torch.randn(64, 2, a.obs_dim)), x)
        m.zero_grad()
        loss.backward()

    m.eval()
    bench("infer_b1", infer, a.repeat)
    m.train()
    bench("train_b64", train, max(3, a.repeat // 20))


if __name__ == "__main__":
    main()
