#!/usr/bin/python3
"""h5slice_ref.py — the Python reference for bench/h5slice.sh: what a Python user would write with
h5py + tarfile + numpy to do h5slice's and chunkify's jobs (same members, same names).

  h5slice_ref.py slice FILE...      per-frame samples of ACT episodes to stdout
  h5slice_ref.py chunkify K         stdin per-frame stream -> action chunks [K,A] to stdout
"""
import io
import re
import sys
import tarfile

import h5py
import numpy as np


def npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def put(tar, name, arr):
    data = npy(arr)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def slice_files(files):
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for path in files:
            ep = int(re.findall(r"\d+", path.rsplit("/", 1)[-1].rsplit(".", 1)[0])[-1])
            with h5py.File(path, "r") as f:
                qpos = f["observations/qpos"][:].astype(np.float32)
                qvel = f["observations/qvel"][:].astype(np.float32)
                action = f["action"][:].astype(np.float32)
                cams = {c: f["observations/images/" + c] for c in f["observations/images"]}
                for t in range(len(action)):
                    key = "ep%06d_t%06d" % (ep, t)
                    fields = {"episode_index": np.int64(ep), "frame_index": np.int64(t),
                              "observation.state": qpos[t], "observation.velocity": qvel[t], "action": action[t]}
                    for c, d in cams.items():
                        fields["observation.images." + c] = d[t]  # one chunk per frame
                    for name in sorted(fields):
                        put(tar, "%s.%s.npy" % (key, name), fields[name])


def samples(fileobj):
    key, fields = None, {}
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for m in tar:
            k, rest = m.name.split(".", 1)
            arr = np.load(io.BytesIO(tar.extractfile(m).read()))
            if key is not None and k != key:
                yield key, fields
                fields = {}
            key = k
            fields[rest[:-4]] = arr
    if key is not None:
        yield key, fields


def chunkify(k):
    def flush(tar, episode):
        actions = np.stack([s["action"] for _, s in episode])
        T = len(episode)
        padded = np.concatenate([actions, np.repeat(actions[-1:], k, axis=0)])
        for t, (key, s) in enumerate(episode):
            out = dict(s)
            out["action"] = padded[t:t + k]
            out["action_is_pad"] = np.arange(t, t + k) >= T
            for name in sorted(out):
                put(tar, "%s.%s.npy" % (key, name), out[name])

    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        episode = []
        for key, s in samples(sys.stdin.buffer):
            if episode and s["episode_index"] != episode[-1][1]["episode_index"]:
                flush(tar, episode)
                episode = []
            episode.append((key, s))
        if episode:
            flush(tar, episode)


if __name__ == "__main__":
    if sys.argv[1] == "slice":
        slice_files(sys.argv[2:])
    else:
        chunkify(int(sys.argv[2]))
