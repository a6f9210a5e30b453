#!/usr/bin/env bash
# damage-trials.sh — flip_trials.py over every reader the tools use, on files the project's tools
# and h5py write: bit flips in HDF5 metadata and raw data, bit flips anywhere in a tar stream,
# and files cut short. Prints flip_trials.py's report per (tool, file, damage); the counts go in
# docs/results.md. Needs the built tools on PATH and Debian's python3 with h5py.
#
#   tests/fuzz/damage-trials.sh [-n TRIALS] [DIR]       (TRIALS per kind, 200 by default)
set -u
trials=200
[ "${1:-}" = -n ] && { trials=$2; shift 2; }
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
cd "$dir" || exit 1
LOW="observation.object,observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos"

rollout -t transfer_cube -p scripted -n 1 --max-steps 20 --image-size 32x32 -q -o act_ep >/dev/null
rollout -t lift -p scripted -n 2 --max-steps 24 --layout robomimic -q -o lift.hdf5 >/dev/null
"$PYTHON" "$here/../make_episodes.py" act h5py_ep --episodes 1 --frames 20 --cams top:32:32 >/dev/null
h5slice -q h5py_ep/*.hdf5 > frames.tar
h5slice -q --obs object,robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos lift.hdf5 > lift.tar
normstats lift.tar > lift_stats.tar
chunkify -k 3 --obs-steps 2 --action-start lift.tar > ibc.tar
ibc-train --lowdim "$LOW" --action-steps 2 --width 16 --negatives 8 --eval-samples 32 --batch-size 4 --threads 1 -q \
  --stats lift_stats.tar -o ibc.h5 --steps 2 ibc.tar

trial() { "$PYTHON" "$here/flip_trials.py" --trials "$trials" --timeout 20 "$@"; echo; }
for f in act_ep/episode_0.hdf5 h5py_ep/episode_0.hdf5 lift.hdf5; do
  for kind in "" --data --truncate; do trial $kind "$f" -- h5slice -q {}; done
done
for kind in "" --data --truncate; do trial $kind ibc.h5 -- predict -c {} ibc.tar; done
for kind in --anywhere --truncate; do
  trial $kind frames.tar -- normstats {}
  # the statistics loader of the trainers: the statistics a zero-step run puts in its checkpoint
  trial $kind lift_stats.tar -- sh -c 'ibc-train --lowdim "$0" --action-steps 2 --width 16 --negatives 8 \
    --eval-samples 32 --batch-size 4 --threads 1 -q --stats "$1" -o "$1.h5" --steps 0 ibc.tar &&
    h5dump -g /stats "$1.h5" | tail -n +2; st=$?; rm -f "$1.h5"; exit $st' "$LOW" {}
done
