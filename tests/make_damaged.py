#!/usr/bin/python3
"""make_damaged.py — damaged inputs for the reliability tests, written with h5py the way a
careless writer or a flipped bit would leave them.

  make_damaged.py episodes DIR
      ACT and robomimic episodes whose datasets declare 2^40 frames while 20 are stored:
      act_chunks.hdf5 / rm_chunks.hdf5   chunked, only the first 20 frames' chunks written
      act_nostorage.hdf5 / rm_nostorage.hdf5   contiguous, never written (no storage at all)
      act_short.hdf5                     /action declares 30 frames, its 20 are stored
                                         (chunked, last chunk missing), qpos and images 30
  make_damaged.py checkpoint IN DIR
      copies of checkpoint IN, each damaged one way:
      nan_param.h5 (a NaN in a parameter), inf_param.h5 (an Inf), no_root_attrs.h5 (every root
      attribute removed), neg_int.h5 (/config chunk = "-1"), nan_float.h5 (/config dropout =
      "nan"), nan_stat.h5 (a NaN in /stats/action/std), huge_int.h5 (/config hidden_dim =
      "1073741824")
"""
import os
import shutil
import sys

import h5py
import numpy as np

DECLARED = 2 ** 40
STORED = 20


def chunked(group, name, frame_shape, dtype, rng):
    """A dataset declaring DECLARED frames in one-frame chunks, the first STORED written."""
    d = group.create_dataset(name, shape=(DECLARED,) + frame_shape, dtype=dtype, chunks=(1,) + frame_shape)
    if dtype == np.uint8:
        d[:STORED] = rng.integers(0, 256, size=(STORED,) + frame_shape, dtype=np.uint8)
    else:
        d[:STORED] = rng.standard_normal((STORED,) + frame_shape).astype(dtype)


def unwritten(group, name, frame_shape, dtype, rng):
    """A contiguous dataset declaring DECLARED frames with no storage allocated."""
    group.create_dataset(name, shape=(DECLARED,) + frame_shape, dtype=dtype)


def act_episode(path, make, rng):
    with h5py.File(path, "w") as f:
        f.attrs["sim"] = True
        make(f, "observations/qpos", (14,), np.float32, rng)
        make(f, "observations/images/top", (8, 10, 3), np.uint8, rng)
        make(f, "action", (14,), np.float32, rng)


def robomimic_file(path, make, rng):
    with h5py.File(path, "w") as f:
        g = f.create_group("data/demo_0")
        g.attrs["num_samples"] = STORED
        f["data"].attrs["total"] = STORED
        for key, width in (("robot0_eef_pos", 3), ("robot0_eef_quat", 4), ("robot0_gripper_qpos", 2)):
            make(g, "obs/" + key, (width,), np.float64, rng)
        make(g, "obs/agentview_image", (8, 8, 3), np.uint8, rng)
        make(g, "actions", (7,), np.float64, rng)


def cmd_episodes(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    act_episode(os.path.join(out, "act_chunks.hdf5"), chunked, rng)
    act_episode(os.path.join(out, "act_nostorage.hdf5"), unwritten, rng)
    robomimic_file(os.path.join(out, "rm_chunks.hdf5"), chunked, rng)
    robomimic_file(os.path.join(out, "rm_nostorage.hdf5"), unwritten, rng)
    with h5py.File(os.path.join(out, "act_short.hdf5"), "w") as f:
        f.attrs["sim"] = True
        f.create_dataset("observations/qpos", data=rng.standard_normal((30, 14)).astype(np.float32))
        f.create_dataset("observations/images/top", data=np.zeros((30, 8, 10, 3), np.uint8))
        a = f.create_dataset("action", shape=(30, 14), dtype=np.float32, chunks=(10, 14))
        a[:20] = rng.standard_normal((20, 14)).astype(np.float32)


def set_config(f, key, value):
    f["config"].attrs[key] = value


def cmd_checkpoint(src, out):
    os.makedirs(out, exist_ok=True)

    def damaged(name, change):
        path = os.path.join(out, name)
        shutil.copyfile(src, path)
        with h5py.File(path, "r+") as f:
            change(f)

    def poke(value):
        def change(f):
            name = sorted(f["params"].keys())[0]
            d = f["params"][name]
            x = d[()]
            x.flat[x.size // 2] = value
            d[...] = x
        return change

    def no_root_attrs(f):
        for k in list(f.attrs.keys()):
            del f.attrs[k]

    def nan_stat(f):
        d = f["stats/action/std"]
        x = d[()]
        x.flat[0] = np.nan
        d[...] = x

    damaged("nan_param.h5", poke(np.nan))
    damaged("inf_param.h5", poke(np.inf))
    damaged("no_root_attrs.h5", no_root_attrs)
    damaged("neg_int.h5", lambda f: set_config(f, "chunk", "-1"))
    damaged("nan_float.h5", lambda f: set_config(f, "dropout", "nan"))
    damaged("huge_int.h5", lambda f: set_config(f, "hidden_dim", "1073741824"))
    damaged("nan_stat.h5", nan_stat)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "episodes":
        cmd_episodes(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "checkpoint":
        cmd_checkpoint(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
