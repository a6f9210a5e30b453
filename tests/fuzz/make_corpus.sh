#!/usr/bin/env bash
# make_corpus.sh — write the fuzz harnesses' seed corpora (tests/fuzz/corpus/NAME/) with the
# project's own tools: rollout's recorded episode, h5slice/chunkify streams, normstats output,
# .npy members of a stream, test_checkpoint's checkpoint, test_safetensors' file, and make_episodes.py's ACT and
# robomimic fixtures. Needs the built tools: ILT_BIN=build/bin ILT_UNIT=build/tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ILT_BIN:?set ILT_BIN}" "${ILT_UNIT:?set ILT_UNIT}"
export PATH="$ILT_BIN:$PATH"
PYTHON=${PYTHON:-/usr/bin/python3}
out="$here/corpus"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the seeds are rewritten; the regression inputs (regress-*, crash inputs of past campaigns) stay
mkdir -p "$out"/{npy,stream,stats,episode,checkpoint,safetensors}

# episodes: rollout's writer (ACT layout), h5py's ACT with gzip images, robomimic with masks
(cd "$tmp" && rollout -t transfer_cube -p scripted -n 1 --max-steps 3 --image-size 8x8 --cameras top -o rec -q >/dev/null)
cp "$tmp"/rec/episode_*.hdf5 "$out/episode/act_rollout.hdf5"
"$PYTHON" "$here/../make_episodes.py" act "$tmp/act" --episodes 1 --frames 3 --cams top:4:4 --gzip --state-dim 3 --action-dim 3
cp "$tmp/act/episode_0.hdf5" "$out/episode/act_gzip.hdf5"
"$PYTHON" "$here/../make_episodes.py" robomimic "$out/episode/robomimic.hdf5" --lengths 3,2 --cams agentview:4:4

# streams and statistics
h5slice -q -t 0:2 "$out/episode/act_rollout.hdf5" > "$out/stream/h5slice.tar"
h5slice -q "$out/episode/robomimic.hdf5" > "$tmp/rm.tar"
h5slice -q -e 1 -f observation.state,action "$out/episode/robomimic.hdf5" | chunkify -k 2 > "$out/stream/chunkify.tar"
normstats "$tmp/rm.tar" > "$out/stats/robomimic.tar"
normstats "$out/stream/h5slice.tar" > "$out/stats/act.tar"

# .npy members of a stream: float32 vectors, uint8 image, int64, float32 and bool scalars
(cd "$tmp" && mkdir npy && cd npy && tar xf "$tmp/rm.tar")
for f in observation.state action observation.images.agentview episode_index next.done next.reward; do
  cp "$tmp/npy/ep000000_t000000.$f.npy" "$out/npy/$f.npy"
done

"$ILT_UNIT/test_checkpoint" --write "$out/checkpoint/test_checkpoint.h5"
"$ILT_UNIT/test_safetensors" --write "$out/safetensors/test_safetensors.safetensors"
du -sh "$out"/*
