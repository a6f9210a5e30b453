#!/usr/bin/python3
"""read_stream.py — helpers for the io tests, using nothing but tarfile + numpy (the interop
promise of ilt-stream(5)).

  read_stream.py check-act STREAM DIR...      h5slice output equals the ACT files bit for bit
  read_stream.py check-robomimic STREAM FILE [--state KEYS] [--demos 0,1]
  read_stream.py write STREAM                 write a stream the way a Python user would
  read_stream.py dump STREAM                  print key, field, dtype, shape per member
"""
import io
import json
import sys
import tarfile

import numpy as np


def samples(path):
    """Yield (key, {field: array}) in stream order, grouping consecutive members by key."""
    key, fields = None, {}
    with tarfile.open(path, "r|") as tar:
        for m in tar:
            if not m.isfile():
                continue
            base = m.name
            k, rest = base.split(".", 1)
            assert rest.endswith(".npy"), m.name
            field = rest[: -len(".npy")]
            arr = np.load(io.BytesIO(tar.extractfile(m).read()), allow_pickle=False)
            if key is not None and k != key:
                yield key, fields
                fields = {}
            key = k
            fields[field] = arr
    if key is not None:
        yield key, fields


def fail(msg):
    print("MISMATCH: " + msg)
    sys.exit(1)


def same(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
        fail("%s: %s %s vs %s %s" % (what, a.dtype, a.shape, b.dtype, b.shape))


def check_act(stream, files):
    import h5py
    import re
    got = list(samples(stream))
    i = 0
    for path in files:
        ep = int(re.findall(r"\d+", path.rsplit("/", 1)[-1].rsplit(".", 1)[0])[-1])
        with h5py.File(path, "r") as f:
            T = f["action"].shape[0]
            for t in range(T):
                key, s = got[i]
                i += 1
                if key != "ep%06d_t%06d" % (ep, t):
                    fail("key %s, expected ep%06d_t%06d" % (key, ep, t))
                same(s["episode_index"], np.int64(ep), "episode_index")
                same(s["frame_index"], np.int64(t), "frame_index")
                same(s["observation.state"], f["observations/qpos"][t].astype(np.float32), key + " state")
                if "observations/qvel" in f:
                    same(s["observation.velocity"], f["observations/qvel"][t].astype(np.float32), key + " velocity")
                same(s["action"], f["action"][t].astype(np.float32), key + " action")
                for cam in f["observations/images"]:
                    same(s["observation.images." + cam], f["observations/images/" + cam][t], key + " " + cam)
                if sorted(s) != list(s):
                    fail("fields not sorted in %s" % key)
    if i != len(got):
        fail("%d samples, expected %d" % (len(got), i))
    print("ok %d samples" % i)


def check_robomimic(stream, path, state_keys, demos):
    import h5py
    got = list(samples(stream))
    i = 0
    with h5py.File(path, "r") as f:
        for d in demos:
            g = f["data/demo_%d" % d]
            T = g["actions"].shape[0]
            for t in range(T):
                key, s = got[i]
                i += 1
                if key != "ep%06d_t%06d" % (d, t):
                    fail("key %s, expected ep%06d_t%06d" % (key, d, t))
                state = np.concatenate([g["obs/" + k][t].reshape(-1) for k in state_keys]).astype(np.float32)
                same(s["observation.state"], state, key + " state")
                same(s["action"], g["actions"][t].astype(np.float32), key + " action")
                same(s["next.reward"], np.float32(g["rewards"][t]), key + " reward")
                same(s["next.done"], np.bool_(g["dones"][t] != 0), key + " done")
                for k in g["obs"]:
                    if k.endswith("_image"):
                        same(s["observation.images." + k[:-6]], g["obs/" + k][t], key + " " + k)
    if i != len(got):
        fail("%d samples, expected %d" % (len(got), i))
    print("ok %d samples" % i)


def write(path):
    """Two samples written with tarfile, fields in an unsorted order and of several dtypes."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for t in range(2):
            fields = {
                "action": np.arange(6, dtype=np.float32).reshape(2, 3) + t,
                "episode_index": np.int64(7),
                "frame_index": np.int64(t),
                "observation.images.top": np.full((2, 3, 3), 200 + t, np.uint8),
                "observation.state": np.array([1.5, -2.25], np.float64),
                "next.done": np.bool_(t == 1),
                "weights": np.array([1, 2, 3], np.int32),
            }
            for name, arr in fields.items():
                buf = io.BytesIO()
                np.save(buf, arr)
                data = buf.getvalue()
                info = tarfile.TarInfo("ep000007_t%06d.%s.npy" % (t, name))
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def dump(path):
    for key, s in samples(path):
        for name, a in s.items():
            print(key, name, a.dtype.str, list(a.shape), json.dumps(a.reshape(-1)[:4].tolist()))


def main():
    cmd = sys.argv[1]
    if cmd == "check-act":
        check_act(sys.argv[2], sys.argv[3:])
    elif cmd == "check-robomimic":
        args = sys.argv[4:]
        keys = "robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos".split(",")
        demos = None
        while args:
            if args[0] == "--state":
                keys = args[1].split(",")
            elif args[0] == "--demos":
                demos = [int(x) for x in args[1].split(",")]
            args = args[2:]
        import h5py
        if demos is None:
            with h5py.File(sys.argv[3], "r") as f:
                demos = sorted(int(k[5:]) for k in f["data"])
        check_robomimic(sys.argv[2], sys.argv[3], keys, demos)
    elif cmd == "write":
        write(sys.argv[2])
    elif cmd == "dump":
        dump(sys.argv[2])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
