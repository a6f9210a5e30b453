#!/usr/bin/python3
"""make_episodes.py — write small HDF5 episode fixtures with h5py, the way the reference tools
write them (ACT's record_sim_episodes.py, robomimic's dataset files), for the io tests and the
h5slice benchmark. Values are deterministic for a given --seed.

  make_episodes.py act DIR [--episodes N] [--frames T] [--cams top:H:W,...] [--float64] [--gzip]
                           [--no-qvel] [--state-dim D] [--action-dim A]
  make_episodes.py robomimic FILE [--episodes N] [--frames T] [--cams agentview:H:W] [--float64]
                           [--gzip] [--lengths T0,T1,...]
  make_episodes.py bad DIR   (one file per bad-input case, see below)
"""
import argparse
import os
import sys

import h5py
import numpy as np


def cams_of(text):
    cams = []
    for item in filter(None, text.split(",")):
        name, h, w = item.split(":")
        cams.append((name, int(h), int(w)))
    return cams


def image_frames(rng, t, h, w):
    return rng.integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def write_act(path, rng, frames, cams, float64, gzip, qvel=True, state_dim=14, action_dim=14, sim=True):
    dtype = np.float64 if float64 else np.float32
    with h5py.File(path, "w") as root:
        root.attrs["sim"] = sim
        obs = root.create_group("observations")
        images = obs.create_group("images")
        for name, h, w in cams:
            kw = dict(compression="gzip", compression_opts=4) if gzip else {}
            images.create_dataset(name, data=image_frames(rng, frames, h, w), dtype="uint8",
                                  chunks=(1, h, w, 3), **kw)
        # large-magnitude and fine-grained values so float64 -> float32 rounding matters
        obs.create_dataset("qpos", data=(rng.standard_normal((frames, state_dim)) * 3).astype(dtype))
        if qvel:
            obs.create_dataset("qvel", data=rng.standard_normal((frames, state_dim)).astype(dtype))
        root.create_dataset("action", data=(rng.standard_normal((frames, action_dim)) + 0.1).astype(dtype))


def cmd_act(a):
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for i in range(a.episodes):
        write_act(os.path.join(a.out, "episode_%d.hdf5" % (a.first + i)), rng, a.frames, cams_of(a.cams),
                  a.float64, a.gzip, qvel=not a.no_qvel, state_dim=a.state_dim, action_dim=a.action_dim)


def cmd_robomimic(a):
    rng = np.random.default_rng(a.seed)
    dtype = np.float64 if a.float64 else np.float32
    lengths = [int(x) for x in a.lengths.split(",")] if a.lengths else [a.frames] * a.episodes
    with h5py.File(a.out, "w") as f:
        data = f.create_group("data")
        total = 0
        for i, t in enumerate(lengths):
            g = data.create_group("demo_%d" % i)
            g.attrs["num_samples"] = t
            total += t
            obs = g.create_group("obs")
            obs.create_dataset("robot0_eef_pos", data=rng.standard_normal((t, 3)).astype(dtype))
            obs.create_dataset("robot0_eef_quat", data=rng.standard_normal((t, 4)).astype(dtype))
            obs.create_dataset("robot0_gripper_qpos", data=rng.standard_normal((t, 2)).astype(dtype))
            obs.create_dataset("object", data=rng.standard_normal((t, 10)).astype(dtype))
            for name, h, w in cams_of(a.cams):
                kw = dict(compression="gzip", compression_opts=4) if a.gzip else {}
                obs.create_dataset(name + "_image", data=image_frames(rng, t, h, w), chunks=(1, h, w, 3), **kw)
            g.create_dataset("actions", data=rng.uniform(-1, 1, (t, 7)).astype(dtype))
            g.create_dataset("rewards", data=(np.arange(t) == t - 1).astype(np.float64))
            g.create_dataset("dones", data=(np.arange(t) == t - 1).astype(np.int64))
            g.create_dataset("states", data=rng.standard_normal((t, 32)))
        data.attrs["total"] = total
        data.attrs["env_args"] = '{"env_name": "Lift", "type": 1, "env_kwargs": {}}'
        n = len(lengths)
        train = ["demo_%d" % i for i in range(n) if i % 3 != 2]
        valid = ["demo_%d" % i for i in range(n) if i % 3 == 2]
        f.create_dataset("mask/train", data=np.array(train, dtype="S"))
        f.create_dataset("mask/valid", data=np.array(valid, dtype="S"))


def cmd_bad(a):
    """missing_dataset.hdf5 (no /action), lengths.hdf5 (qvel one frame short), not_hdf5.hdf5,
    truncated.hdf5 (an ACT episode cut in half), int_image.hdf5 (image stored as float)."""
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    d = a.out
    write_act(os.path.join(d, "good.hdf5"), rng, 20, [("top", 8, 10)], False, False)
    with h5py.File(os.path.join(d, "missing_dataset.hdf5"), "w") as f:
        f.attrs["sim"] = True
        f.create_dataset("observations/qpos", data=np.zeros((20, 14), np.float32))
        f.create_dataset("observations/images/top", data=np.zeros((20, 8, 10, 3), np.uint8))
    with h5py.File(os.path.join(d, "lengths.hdf5"), "w") as f:
        f.attrs["sim"] = True
        f.create_dataset("observations/qpos", data=np.zeros((20, 14), np.float32))
        f.create_dataset("observations/qvel", data=np.zeros((19, 14), np.float32))
        f.create_dataset("action", data=np.zeros((20, 14), np.float32))
    with open(os.path.join(d, "not_hdf5.hdf5"), "w") as f:
        f.write("this is not an HDF5 file\n" * 20)
    big = os.path.join(d, "big.hdf5")
    write_act(big, rng, 60, [("top", 48, 64)], False, False)
    blob = open(big, "rb").read()
    with open(os.path.join(d, "truncated.hdf5"), "wb") as f:
        f.write(blob[: len(blob) // 2])
    os.remove(big)
    with h5py.File(os.path.join(d, "float_image.hdf5"), "w") as f:
        f.attrs["sim"] = True
        f.create_dataset("observations/qpos", data=np.zeros((20, 14), np.float32))
        f.create_dataset("observations/images/top", data=np.zeros((20, 8, 10, 3), np.float32))
        f.create_dataset("action", data=np.zeros((20, 14), np.float32))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("act", "robomimic", "bad"):
        s = sub.add_parser(name)
        s.add_argument("out")
        s.add_argument("--episodes", type=int, default=3)
        s.add_argument("--first", type=int, default=0)
        s.add_argument("--frames", type=int, default=20)
        s.add_argument("--cams", default="top:12:16" if name == "act" else "agentview:12:16")
        s.add_argument("--float64", action="store_true")
        s.add_argument("--gzip", action="store_true")
        s.add_argument("--no-qvel", action="store_true")
        s.add_argument("--state-dim", type=int, default=14)
        s.add_argument("--action-dim", type=int, default=14)
        s.add_argument("--lengths", default="")
        s.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    {"act": cmd_act, "robomimic": cmd_robomimic, "bad": cmd_bad}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
