#!/usr/bin/env bash
# task-pictures.sh — `make task-pictures`: PNGs of each task's training camera at the first and
# the last step of a successful scripted episode, so that anyone can see what a scene looks like.
# Usage: task-pictures.sh OUTDIR [TASK...]   (rollout on PATH or in $ILT_BIN; needs python3-h5py)
set -euo pipefail
out=${1:?usage: task-pictures.sh OUTDIR [TASK...]}
shift
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(transfer_cube insertion lift)
export PATH="${ILT_BIN:+$ILT_BIN:}$PATH"
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for task in "${tasks[@]}"; do
  if ! rollout -t "$task" -p scripted --max-steps 1 -q >/dev/null 2>"$work/err"; then
    echo "task-pictures: skipping $task ($(head -c 200 "$work/err"))" >&2
    continue
  fi
  # The first successful seed among a few, recorded at 480x640 with the default camera.
  for seed in 0 1 2 3 4 5 6 7; do
    rm -rf "$work/$task"
    rollout -t "$task" -p scripted --seed $seed -n 1 --image-size 480x640 --only-success \
      -o "$work/$task" -q >/dev/null
    f=$(ls "$work/$task"/episode_*.hdf5 2>/dev/null | head -1 || true)
    [ -n "$f" ] && break
  done
  [ -n "$f" ] || { echo "task-pictures: no successful $task episode in seeds 0-7" >&2; exit 1; }
  "$PYTHON" - "$f" "$out" "$task" <<'PY'
import struct, sys, zlib
import h5py

def png(path, img):
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

path, out, task = sys.argv[1:]
with h5py.File(path, "r") as f:
    images = f["observations/images"]
    cam = list(images.keys())[0]
    for name, index in (("first", 0), ("last", images[cam].shape[0] - 1)):
        target = f"{out}/{task}_{cam}_{name}.png"
        png(target, images[cam][index])
        print(target)
PY
done
