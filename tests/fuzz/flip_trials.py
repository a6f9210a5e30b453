#!/usr/bin/python3
"""flip_trials.py — damaged-file trials: flip one random bit in the HDF5 metadata of a file
(any byte outside the datasets' raw data, found with h5py; with --data, a byte of raw data
instead; with --anywhere, any byte of any file, HDF5 or not), or with --truncate cut the file at
a random length (0 to its size - 1), run a tool on the copy and sort the outcome:

  rejected   exit status 1 with a message on stderr, nothing on stdout
  late       exit status 1 with a message, after part of the output was written
  same       exit status 0 and the same output as on the undamaged file (the bit was unused)
  silent     exit status 0 and a different output (a damaged file accepted: must not happen)
  crash      killed by a signal, a sanitizer report, or another exit status
  hang       still running after --timeout seconds

  flip_trials.py [--data|--anywhere|--truncate] [--trials N] [--seed S] [--timeout T] FILE -- COMMAND... {}

{} in COMMAND is replaced by the damaged copy's path. Prints one line per outcome kind with its
count, then the first message of each kind; exit status 1 if any trial crashed, hung or was
silent.
"""
import argparse
import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile

import h5py


def raw_data_ranges(path):
    """[start, end) byte ranges holding datasets' raw data (contiguous storage or chunks)."""
    ranges = []

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        dsid = obj.id
        if obj.chunks is None:
            offset = dsid.get_offset()
            if offset is not None:
                ranges.append((offset, offset + dsid.get_storage_size()))
            return
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            ranges.append((info.byte_offset, info.byte_offset + info.size))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return sorted(ranges)


def spans(path, data):
    """[start, end) spans of raw data (data) or of everything else."""
    size = os.path.getsize(path)
    raw, pos, out = [], 0, []
    for start, end in raw_data_ranges(path):
        start, end = max(start, pos), min(end, size)
        if start < end:
            raw.append((start, end))
            pos = end
    if data:
        return raw
    pos = 0
    for start, end in raw + [(size, size)]:
        if pos < start:
            out.append((pos, start))
        pos = max(pos, end)
    return out


def pick(spans_, rng):
    """A uniformly drawn byte offset within the spans."""
    k = rng.randrange(sum(end - start for start, end in spans_))
    for start, end in spans_:
        if k < end - start:
            return start + k
        k -= end - start


def run(command, path, timeout):
    argv = [path if a == "{}" else a for a in command]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "hang", None, b""
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="store_true", help="flip bits of raw data, not metadata")
    ap.add_argument("--anywhere", action="store_true", help="flip a bit of any byte (any file)")
    ap.add_argument("--truncate", action="store_true", help="cut the file short instead")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("file")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    rc, reference, err = run(command, a.file, a.timeout)
    if rc != 0:
        sys.exit("the undamaged file fails: status %s: %s" % (rc, err.decode(errors="replace")))
    size = os.path.getsize(a.file)
    where = [(0, size)] if a.anywhere or a.truncate else spans(a.file, a.data)
    total = sum(end - start for start, end in where)
    rng = random.Random(a.seed)
    counts, examples = collections.Counter(), {}
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "damaged" + os.path.splitext(a.file)[1])
        for _ in range(a.trials):
            shutil.copyfile(a.file, copy)
            offset, bit = pick(where, rng), rng.randrange(8)
            with open(copy, "r+b") as f:
                if a.truncate:
                    f.truncate(offset)
                else:
                    f.seek(offset)
                    byte = f.read(1)[0]
                    f.seek(offset)
                    f.write(bytes([byte ^ (1 << bit)]))
            rc, out, err = run(command, copy, a.timeout)
            sanitizer = b"Sanitizer" in err or b"runtime error" in err
            if rc == "hang":
                kind = "hang"
            elif sanitizer:
                kind = "crash"
            elif rc == 0:
                kind = "same" if out == reference else "silent"
            elif rc == 1 and err:
                kind = "late" if out else "rejected"
            else:
                kind = "crash"
            counts[kind] += 1
            message = err.decode(errors="replace").strip().splitlines()
            at = "cut at %d" % offset if a.truncate else "byte %d bit %d" % (offset, bit)
            examples.setdefault(kind, "%s: status %s: %s" % (at, rc, message[-1] if message else ""))
    what = "truncated" if a.truncate else "any" if a.anywhere else "raw data" if a.data else "metadata"
    print("%s: %d %s bytes of %d, %d trials" % (a.file, total, what, size, a.trials))
    for kind in ("rejected", "late", "same", "silent", "crash", "hang"):
        print("  %-8s %d" % (kind, counts[kind]))
    for kind, text in examples.items():
        print("  e.g. %s: %s" % (kind, text))
    return 1 if counts["silent"] or counts["crash"] or counts["hang"] else 0


if __name__ == "__main__":
    sys.exit(main())
