#!/usr/bin/python3
"""make_damaged.py — damaged inputs for the reliability tests, written with h5py the way a
careless writer or a flipped bit would leave them.

  make_damaged.py episodes DIR
      ACT and robomimic episodes whose datasets declare 2^40 frames while 20 are stored:
      act_chunks.hdf5 / rm_chunks.hdf5   chunked, only the first 20 frames' chunks written
      act_nostorage.hdf5 / rm_nostorage.hdf5   contiguous, never written (no storage at all)
      act_short.hdf5                     /action declares 30 frames, its 20 are stored
                                         (chunked, last chunk missing), qpos and images 30
  make_damaged.py checkpoint IN OUT CASE
      a copy of checkpoint IN damaged one way, CASE one of: nan_param (a NaN in a parameter),
      inf_param (an Inf), no_root_attrs (every root attribute removed), neg_int (/config chunk
      = "-1"), nan_float (/config dropout = "nan"), huge_int (/config hidden_dim =
      "1073741824"), nan_stat (a NaN in /stats/action/std), zero_std (/stats/action/std all 0),
      missing_chunk (a parameter rewritten chunked with its last chunk unwritten)
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


def first_param(f):
    return sorted(k for k in f["params"].keys() if f["params"][k].size > 1)[0]


def poke(value):
    def change(f):
        d = f["params"][first_param(f)]
        x = d[()]
        x.flat[x.size // 2] = value
        d[...] = x
    return change


def no_root_attrs(f):
    for k in list(f.attrs.keys()):
        del f.attrs[k]


def change_stat(value):
    def change(f):
        d = f["stats/action/std"]
        x = d[()]
        x.flat[0 if np.isnan(value) else slice(None)] = value
        d[...] = x
    return change


def missing_chunk(f):
    name = first_param(f)
    x = f["params"][name][()].reshape(-1)
    del f["params"][name]
    d = f["params"].create_dataset(name, shape=x.shape, dtype=np.float32, chunks=(max(1, x.size // 2),))
    d[: x.size // 2] = x[: x.size // 2]
    f["params"][name].attrs["kind"] = "parameter"


CHECKPOINT_CASES = {
    "nan_param": poke(np.nan),
    "inf_param": poke(np.inf),
    "no_root_attrs": no_root_attrs,
    "neg_int": lambda f: set_config(f, "chunk", "-1"),
    "nan_float": lambda f: set_config(f, "dropout", "nan"),
    "huge_int": lambda f: set_config(f, "hidden_dim", "1073741824"),
    "nan_stat": change_stat(np.nan),
    "zero_std": change_stat(0.0),
    "missing_chunk": missing_chunk,
}


def cmd_checkpoint(src, out, case):
    shutil.copyfile(src, out)
    with h5py.File(out, "r+") as f:
        CHECKPOINT_CASES[case](f)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "episodes":
        cmd_episodes(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "checkpoint" and sys.argv[4] in CHECKPOINT_CASES:
        cmd_checkpoint(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
