#!/usr/bin/env bash
# ilt.sh — the public library in a control loop (bench/ilt.c through include/ilt.h): time to open,
# memory held and the latency of a step that predicts (batch 1), for the cpu-default ACT (one
# 120x160 camera, transfer_cube's sizes; act-train's defaults) and the Diffusion Policy of the CPU
# recipe (pipelines/dp_sim.mk: lift, low-dimensional, UNet at DP's default width, DDIM 10 steps).
# The models are untrained (--steps 0): time and memory do not depend on the weights. Each runs
# with its weights packed in single and in half precision (rollout --weight-precision), alternating.
#
#   bench/ilt.sh [THREADS [STEPS]]        (defaults 2 and 10)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
threads=${1:-2}
steps=${2:-10}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-$root/build}
make -s -C "$root" ${BUILD:+BUILD="$BUILD"} build "${BUILD:-build}/bench/ilt" >/dev/null
export PATH="$build/bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$python" "$root/tests/make_episodes.py" act "$tmp/eps" --episodes 1 --frames 6 --cams top:120:160 >/dev/null
h5slice -q "$tmp"/eps/*.hdf5 > "$tmp/frames.tar"
normstats "$tmp/frames.tar" > "$tmp/stats.tar"
chunkify -k 100 "$tmp/frames.tar" | act-train -q --stats "$tmp/stats.tar" -o "$tmp/act.h5" --steps 0 -

rollout -t lift -p scripted -n 1 --max-steps 24 --layout robomimic -o "$tmp/lift.hdf5" -q >/dev/null
h5slice -q --obs object,robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos "$tmp/lift.hdf5" > "$tmp/lift.tar"
normstats "$tmp/lift.tar" > "$tmp/lift_stats.tar"
chunkify -k 16 --obs-steps 2 --action-start "$tmp/lift.tar" | dp-train -q --encoder lowdim \
  --lowdim observation.object,observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos \
  --stats "$tmp/lift_stats.tar" -o "$tmp/dp.h5" --steps 0 -

echo "# libilt: open, memory held, latency of a predicting step (batch 1, $threads threads, $steps steps after one warm-up)"
for weights in f32 f16; do
  "$build/bench/ilt" "$tmp/act.h5" "$steps" "$threads" 0 $weights
  "$build/bench/ilt" "$tmp/dp.h5" "$steps" "$threads" 10 $weights
done
