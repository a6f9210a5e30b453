#!/usr/bin/python3
"""read_stream.py — helpers for the io tests, using nothing but tarfile + numpy (the interop
promise of ilt-stream(5)).

  read_stream.py check-act STREAM DIR...      h5slice output equals the ACT files bit for bit
  read_stream.py check-robomimic STREAM FILE [--state KEYS] [--demos 0,1]
  read_stream.py write STREAM                 write a stream the way a Python user would
  read_stream.py dump STREAM                  print key, field, dtype, shape per member
  read_stream.py check-normstats STREAM STATS.json   normstats --json equals NumPy
  read_stream.py check-stats-stream STREAM STATS.tar normstats' stream equals NumPy (float32)
  read_stream.py check-chunkify IN OUT K PAD OBS_STEPS ACTION_START STRIDE
                                              chunkify output equals a straightforward reference
  read_stream.py write-offset STREAM N        N samples, action = 1e6 + noise (float64 [2])
  read_stream.py write-bad STREAM KIND        nan | complex | corrupt-header | fortran | out-of-order
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


def numpy_stats(stream):
    """LeRobot-style statistics with NumPy (float64, two-pass)."""
    cols = {}
    for _, s in samples(stream):
        for name, a in s.items():
            cols.setdefault(name, []).append(a)
    out = {}
    for name, arrs in cols.items():
        x = np.stack(arrs).astype(np.float64)
        if name.startswith("observation.images.") and arrs[0].dtype == np.uint8 and arrs[0].shape[-1] == 3:
            x = x.reshape(-1, 3) / 255.0
            st = {k: f(x, axis=0).reshape(3, 1, 1) for k, f in
                  (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))}
        else:
            st = {k: f(x, axis=0) for k, f in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))}
            st = {k: v.reshape(1) if v.ndim == 0 else v for k, v in st.items()}
        st["count"] = np.array([len(arrs)])
        out[name] = st
    return out


def check_close(got, want, rtol, atol, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        fail("%s: shape %s, expected %s" % (what, got.shape, want.shape))
    bad = np.abs(got - want) > atol + rtol * np.abs(want)
    if bad.any():
        i = np.argmax(bad)
        fail("%s: %r vs NumPy %r" % (what, got.reshape(-1)[i], want.reshape(-1)[i]))


def check_normstats(stream, stats_json, rtol):
    want = numpy_stats(stream)
    got = json.load(open(stats_json))
    if sorted(got) != sorted(want):
        fail("features %s, expected %s" % (sorted(got), sorted(want)))
    for name in want:
        for k in ("mean", "std", "min", "max", "count"):
            check_close(got[name][k], want[name][k], rtol, 1e-12, name + "." + k)
    print("ok %d features" % len(want))


def check_stats_stream(stream, stats_tar):
    want = numpy_stats(stream)
    got = list(samples(stats_tar))
    if len(got) != 1 or got[0][0] != "stats":
        fail("expected one sample with key stats")
    fields = got[0][1]
    for name in want:
        for k in ("mean", "std", "min", "max"):
            a = fields[name + "." + k]
            if a.dtype != np.float32:
                fail("%s.%s is %s" % (name, k, a.dtype))
            check_close(a, want[name][k], 1e-6, 1e-7, name + "." + k)
        same(fields[name + ".count"], want[name]["count"].astype(np.int64), name + ".count")
    if len(fields) != 5 * len(want):
        fail("%d fields, expected %d" % (len(fields), 5 * len(want)))
    print("ok")


def check_chunkify(inp, out, k, pad, n_obs, action_start, stride):
    """The reference: for each episode (consecutive samples), every stride-th frame t gets the
    actions of frames s..s+k-1 (s = t, or t-(n_obs-1) with action_start), rows outside the
    episode padded (nearest action, or zeros), and observation histories t-n_obs+1..t clamped."""
    k, n_obs, action_start, stride = int(k), int(n_obs), int(action_start), int(stride)
    episodes = []
    for key, s in samples(inp):
        if not episodes or episodes[-1][-1][1]["episode_index"] != s["episode_index"]:
            episodes.append([])
        episodes[-1].append((key, s))
    want = []
    for ep in episodes:
        T = len(ep)
        for t in range(0, T, stride):
            key, s = ep[t]
            o = {}
            start = t - (n_obs - 1) if action_start and n_obs > 1 else t
            rows, pads = [], []
            for j in range(k):
                u = start + j
                inside = 0 <= u < T
                pads.append(not inside)
                if inside:
                    rows.append(ep[u][1]["action"])
                elif pad == "zero":
                    rows.append(np.zeros_like(s["action"]))
                else:
                    rows.append(ep[min(max(u, 0), T - 1)][1]["action"])
            o["action"] = np.stack(rows)
            o["action_is_pad"] = np.array(pads, dtype=np.bool_)
            for name, a in s.items():
                if name == "action":
                    continue
                if n_obs > 0 and name.startswith("observation."):
                    o[name] = np.stack([ep[max(t - n_obs + 1 + j, 0)][1][name] for j in range(n_obs)])
                else:
                    o[name] = a
            want.append((key, o))
    got = list(samples(out))
    if len(got) != len(want):
        fail("%d samples, expected %d" % (len(got), len(want)))
    for (gk, g), (wk, w) in zip(got, want):
        if gk != wk or sorted(g) != sorted(w):
            fail("sample %s fields %s, expected %s %s" % (gk, sorted(g), wk, sorted(w)))
        for name in w:
            same(g[name], w[name], gk + " " + name)
    print("ok %d samples" % len(got))


def add_member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def write_offset(path, n):
    rng = np.random.default_rng(1)
    x = 1e6 + rng.standard_normal((int(n), 2)) * np.array([1e-3, 10.0])
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(int(n)):
            add_member(tar, "s%07d.action.npy" % i, npy_bytes(x[i]))


def write_bad(path, kind):
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for t in range(4):
            key = "ep000001_t%06d" % (t if kind != "out-of-order" else [0, 1, 3, 2][t])
            fr = int(key[-6:])
            state = np.arange(3, dtype=np.float32) + t
            if kind == "nan" and t == 2:
                state[1] = np.nan
            add_member(tar, key + ".episode_index.npy", npy_bytes(np.int64(1)))
            add_member(tar, key + ".frame_index.npy", npy_bytes(np.int64(fr)))
            add_member(tar, key + ".action.npy", npy_bytes(np.ones(2, np.float32)))
            if kind == "complex" and t == 1:
                add_member(tar, key + ".observation.state.npy", npy_bytes(state.astype(np.complex64)))
            elif kind == "fortran" and t == 1:
                add_member(tar, key + ".observation.state.npy", npy_bytes(np.asfortranarray(np.ones((2, 2), np.float32))))
            elif kind == "corrupt-header" and t == 1:
                data = bytearray(npy_bytes(state))
                data[10:16] = b"[garb!"
                add_member(tar, key + ".observation.state.npy", bytes(data))
            else:
                add_member(tar, key + ".observation.state.npy", npy_bytes(state))


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
    elif cmd == "check-normstats":
        check_normstats(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 1e-9)
    elif cmd == "check-stats-stream":
        check_stats_stream(sys.argv[2], sys.argv[3])
    elif cmd == "check-chunkify":
        check_chunkify(*sys.argv[2:9])
    elif cmd == "write-offset":
        write_offset(sys.argv[2], sys.argv[3])
    elif cmd == "write-bad":
        write_bad(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
