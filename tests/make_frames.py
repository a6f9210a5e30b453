#!/usr/bin/python3
"""make_frames.py — frame-stream fixtures for the vidwrite tests, written with nothing but tarfile
and numpy (the way a Python user would write a sample stream, see ilt-stream(5)).

  make_frames.py OUT [--episodes E] [--frames T] [--cams top:H:W,wrist:H:W] [--prefix observation.images.]
                     [--bad-size EP:T:CAM:H:W] [--float] [--truncate BYTES] [--no-index]

Every sample is "ep%06d_t%06d" with episode_index, frame_index, observation.state and one
uint8 (H,W,3) image per camera (a moving colour ramp). --bad-size gives one frame another size;
--float writes float32 images in [0,1]; --truncate cuts the archive to its first BYTES bytes.
"""
import argparse
import io
import tarfile

import numpy as np


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def image(h, w, ep, t, cam_index):
    y = np.arange(h, dtype=np.int64)[:, None]
    x = np.arange(w, dtype=np.int64)[None, :]
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = (x * 255 // max(w - 1, 1) + 8 * t) % 256
    img[..., 1] = (y * 255 // max(h - 1, 1) + 40 * ep) % 256
    img[..., 2] = (60 * cam_index + 3 * t) % 256
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--episodes", type=int, default=1)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--cams", default="top:48:64")
    ap.add_argument("--prefix", default="observation.images.")
    ap.add_argument("--bad-size", default=None)
    ap.add_argument("--float", action="store_true")
    ap.add_argument("--truncate", type=int, default=None)
    ap.add_argument("--no-index", action="store_true")
    a = ap.parse_args()
    cams = []
    for item in a.cams.split(","):
        name, h, w = item.split(":")
        cams.append((name, int(h), int(w)))
    bad = None
    if a.bad_size:
        ep, t, cam, h, w = a.bad_size.split(":")
        bad = (int(ep), int(t), cam, int(h), int(w))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for ep in range(a.episodes):
            for t in range(a.frames):
                key = "ep%06d_t%06d" % (ep, t)
                fields = {"observation.state": np.full(4, t, dtype=np.float32)}
                if not a.no_index:
                    fields["episode_index"] = np.array(ep, dtype=np.int64)
                    fields["frame_index"] = np.array(t, dtype=np.int64)
                for ci, (name, h, w) in enumerate(cams):
                    if bad and bad[0] == ep and bad[1] == t and bad[2] == name:
                        h, w = bad[3], bad[4]
                    img = image(h, w, ep, t, ci)
                    if a.float:
                        img = img.astype(np.float32) / 255.0
                    fields[a.prefix + name] = img
                for field in sorted(fields):
                    data = npy_bytes(fields[field])
                    info = tarfile.TarInfo("%s.%s.npy" % (key, field))
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    if a.truncate is not None:
        data = data[: a.truncate]
    with open(a.out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
