#!/usr/bin/python3
"""dp_probe.py — what a trained Diffusion Policy with the hybrid image encoder reads from its
cameras, measured in PyTorch on the checkpoint's weights (loaded through `ckpt-convert -f dp`
into the modules of tests/dp_torch_ref.py, whose outputs the unit tests hold equal to ours).

For each demonstration of a robomimic-layout file (`rollout --layout robomimic`), at frames 0 and
8 (centre crop, as in evaluation):

  decodability   R^2 of a ridge regression from the image features (the encoder's output, and
                 the spatial-softmax keypoints before its Linear) to the object's x and y and its
                 yaw (as cos and sin of 4 x yaw: a cube looks the same every 90 degrees), fitted
                 on the first 150 demonstrations and scored on the rest; beside it the same for an
                 encoder at PyTorch's initialisation (seed 0): what training kept or lost
  actions        DDIM sampling (10 steps, one noise draw shared by every demonstration) of the
                 first window (observation history padded with frame 0, as at reset): per action
                 dimension, the correlation across demonstrations between the mean of the
                 executed actions (rows To-1 .. To+Ta-2) and the recorded ones
  image swap     the same sampling with each demonstration's image features replaced by the
                 next one's (robot state and noise kept): the mean absolute change per action
                 dimension, i.e. how much the action depends on the images

Run: /usr/bin/python3 bench/dp_probe.py CKPT.h5 DEMOS.hdf5 [--ckpt-convert PATH]
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("dp_names", os.path.join(HERE, "..", "tests", "dp_names.py"))
names = importlib.util.module_from_spec(spec)
spec.loader.exec_module(names)   # the checkpoint reader and module builder of the exchange tests
ref = names.ref


def build(cfg, state):
    """tests/dp_names.py's modules for cfg, with state's weights (None: PyTorch's initialisation)."""
    policy = names.build(cfg)
    if state is not None:
        policy.load_state_dict({k: v for k, v in state.items() if not k.startswith("normalizer.")}, strict=True)
    policy.eval()
    To = int(cfg["n_obs_steps"])
    net = policy.model
    if cfg["net"] == "transformer":
        call = lambda x, t, f: net(x, t, f.reshape(x.shape[0], To, f.shape[1] // To))
    else:
        call = lambda x, t, f: net(x, t, f)
    return policy, policy.obs_encoder, call, cfg["cameras"].split(",")


def ridge_r2(X, Y, ntr):
    X = np.concatenate([X, np.ones((len(X), 1))], 1)
    A = X[:ntr]
    lam = 1e-3 * np.trace(A.T @ A) / A.shape[1]
    W = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ Y[:ntr])
    P, R = X[ntr:] @ W, Y[ntr:]
    return 1 - ((P - R) ** 2).sum(0) / ((R - R.mean(0)) ** 2).sum(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("demos")
    ap.add_argument("--ckpt-convert", default=os.path.join(HERE, "..", "build", "bin", "ckpt-convert"))
    ap.add_argument("--train", type=int, default=150, help="demonstrations the regressions are fitted on")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        st = os.path.join(tmp, "policy.safetensors")
        subprocess.run([args.ckpt_convert, "-f", "dp", args.checkpoint, st], check=True)
        tensors, meta = names.read(st)
    state = {k: torch.from_numpy(v) for k, v in tensors.items()}
    cfg = json.loads(meta["ilt.config"])
    if cfg.get("obs_encoder") != "hybrid":
        sys.exit("dp_probe: the checkpoint's encoder is %s, not hybrid" % cfg.get("obs_encoder"))
    policy, enc, call, cams = build(cfg, state)
    torch.manual_seed(0)
    _, enc0, _, _ = build(cfg, None)
    keys = [k.split(".", 1)[1] for k in cfg["lowdim_keys"].split(",")]
    lscale = torch.cat([state["normalizer.params_dict.%s.scale" % k] for k in keys])
    loffset = torch.cat([state["normalizer.params_dict.%s.offset" % k] for k in keys])
    ascale, aoffset = state["normalizer.params_dict.action.scale"], state["normalizer.params_dict.action.offset"]
    To, Hz, A, Ta = (int(cfg[k]) for k in ("n_obs_steps", "horizon", "action_dim", "n_action_steps"))
    H, W, ch, cw = (int(cfg[k]) for k in ("height", "width", "crop_height", "crop_width"))
    oy, ox = int(round((H - ch) / 2)), int(round((W - cw) / 2))

    f = h5py.File(args.demos, "r")
    demos = sorted(f["data"].keys(), key=lambda s: int(s.split("_")[1]))
    frames = {0: {c: [] for c in cams}, 8: {c: [] for c in cams}}
    obj, low, act = {0: [], 8: []}, [], []
    for d in demos:
        g = f["data"][d]
        for t in frames:
            for c in cams:
                frames[t][c].append(g["obs"][c + "_image"][t])
            o = g["obs"]["object"][t]
            yaw = 2 * np.arctan2(o[5], o[6])              # the quaternion is x, y, z, w
            obj[t].append([o[0], o[1], np.cos(4 * yaw), np.sin(4 * yaw)])
        low.append(np.concatenate([g["obs"][k][0] for k in keys]))
        a = g["actions"][:Hz]
        act.append(np.concatenate([np.repeat(a[:1], To - 1, 0), a])[:Hz])   # rows from t = -(To-1)
    n = len(demos)
    if n <= args.train + 10:
        sys.exit("dp_probe: %d demonstrations, need more than %d" % (n, args.train + 10))

    def images(t, c):
        return ref.image_float(np.array(frames[t][c]))[:, :, oy:oy + ch, ox:ox + cw]

    def encode(e, t, keypoints=False):
        out = []
        with torch.no_grad():
            for c in cams:
                vc = e.obs_nets[c + "_image"]
                x = images(t, c)
                out.append(vc.pool(vc.backbone(x)).reshape(n, -1) if keypoints else torch.relu(vc(x)))
        return torch.cat(out, 1).numpy()

    print("# %s: %d demonstrations, regressions fitted on %d" % (args.checkpoint, n, args.train))
    print("%-42s %8s %8s %8s" % ("object pose decoded from", "R2 x", "R2 y", "R2 yaw"))
    for name, e in (("trained", enc), ("initial (PyTorch init, seed 0)", enc0)):
        for what, kpt in (("features", False), ("keypoints", True)):
            X = np.concatenate([encode(e, 0, kpt), encode(e, 8, kpt)])
            Y = np.concatenate([np.array(obj[0]), np.array(obj[8])])
            idx = np.concatenate([np.arange(n), np.arange(n)])
            order = np.argsort(idx, kind="stable")   # both frames of a demonstration on one side of the split
            r2 = ridge_r2(X[order], Y[order], 2 * args.train)
            print("%-42s %8.3f %8.3f %8.3f" % (name + " " + what, r2[0], r2[1], (r2[2] + r2[3]) / 2))

    with torch.no_grad():
        feats = torch.from_numpy(encode(enc, 0))
        lowd = torch.from_numpy(np.array(low)).float() * lscale + loffset
        step = torch.cat([feats, lowd], 1)
        cond = step.repeat(1, To)                      # the history padded with frame 0
        swapped = torch.cat([feats.roll(1, 0), lowd], 1).repeat(1, To)
        ac = ref.alphas_cumprod()
        g = torch.Generator().manual_seed(0)
        x_T = torch.randn(1, Hz, A, generator=g).expand(n, Hz, A)

        def ddim(c):
            x = x_T.clone()
            for t in range(90, -1, -10):
                out = call(x, torch.full((n,), float(t)), c)
                ab, abp = ac[t], ac[t - 10] if t >= 10 else torch.tensor(1.0)
                x0 = ((x - (1 - ab).sqrt() * out) / ab.sqrt()).clamp(-1, 1)
                x = abp.sqrt() * x0 + (1 - abp).sqrt() * out
            return (x - aoffset) / ascale

        pred, pred_swapped = ddim(cond), ddim(swapped)
    rows = slice(To - 1, To - 1 + Ta)
    truth = torch.from_numpy(np.array(act)).float()
    print("%-10s %12s %12s %14s" % ("action", "corr", "true std", "image swap"))
    for d in range(A):
        p, t = pred[:, rows, d].mean(1).numpy(), truth[:, rows, d].mean(1).numpy()
        corr = np.corrcoef(p, t)[0, 1] if p.std() > 0 and t.std() > 0 else float("nan")
        change = (pred_swapped - pred)[:, rows, d].abs().mean().item()
        print("%-10d %12.3f %12.4f %14.4f" % (d, corr, t.std(), change))


if __name__ == "__main__":
    main()
