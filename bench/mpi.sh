#!/usr/bin/env bash
# mpi.sh — data-parallel training on one machine: `mpirun -np 2` with one thread per process
# against one process with two threads, for ACT's paper configuration (hidden 512, ff 3200, 4+4
# encoder layers, 7 decoder layers, chunk 100, FrozenBatchNorm ResNet18, one camera 84x84,
# batch 8) and DP's benchmark configuration (bench/dp.sh: UNet 256,512,1024, two cameras 84x84
# cropped to 76x76, To 2, horizon 16; batch DP_BATCH). It reports the step time (median of the
# steps from the third to the one before the last of every run: the first two fault memory in,
# the step arena's growth and its merged block, the last writes a checkpoint) and the share of the step that rank 0 spends in the gradient exchange
# (the log's exchange_s, waiting for the slower process included), the runs interleaved, then the
# bytes exchanged per step and, on paper, the step time and scaling efficiency on 2, 8 and 32
# nodes at 10 and 100 Gbit/s (bench/mpi_paper.awk states the assumptions).
#
#   bench/mpi.sh [STEPS [REPEAT]]          (defaults 5 and 3)
#   DP_BATCH=64 CONFIGS="act dp" bench/mpi.sh
#
# Benchmarks are not tests: on a shared 2-core machine the numbers are noisy; read medians.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
steps=${1:-5}
repeat=${2:-3}
dp_batch=${DP_BATCH:-16}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-$root/build}
bin=$build/bin

command -v mpirun >/dev/null || { echo "# mpi.sh: mpirun is not installed (openmpi-bin); nothing to measure"; exit 0; }
make -s -C "$root" ${BUILD:+BUILD="$BUILD"} build >/dev/null
ldd "$bin/act-train" | grep -q 'libmpi\.' || { echo "# mpi.sh: the trainers were built without MPI; nothing to measure"; exit 0; }
mpirun=(mpirun --oversubscribe --bind-to none -np 2)
[ "$(id -u)" = 0 ] && mpirun+=(--allow-run-as-root)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" "$root/tests/make_episodes.py" act "$tmp/act" --episodes 2 --frames 110 --cams top:84:84 >/dev/null
"$bin/h5slice" "$tmp"/act/*.hdf5 > "$tmp/act_frames.tar"
"$bin/normstats" "$tmp/act_frames.tar" > "$tmp/act_stats.tar"
"$bin/chunkify" -k 100 "$tmp/act_frames.tar" > "$tmp/act.tar"
"$python" "$root/tests/make_episodes.py" act "$tmp/dp" --episodes 2 --frames 40 \
  --cams agentview:84:84,robot0_eye_in_hand:84:84 >/dev/null
"$bin/h5slice" "$tmp"/dp/*.hdf5 > "$tmp/dp_frames.tar"
"$bin/normstats" "$tmp/dp_frames.tar" > "$tmp/dp_stats.tar"
"$bin/chunkify" -k 16 --obs-steps 2 --action-start "$tmp/dp_frames.tar" > "$tmp/dp.tar"

declare -A tool args
tool[act]=act-train
args[act]="--hidden-dim 512 --dim-feedforward 3200 --enc-layers 4 --dec-layers 7 --nheads 8 --chunk 100 --backbone-norm frozen --batch-size 8 --stats $tmp/act_stats.tar $tmp/act.tar"
tool[dp]=dp-train
args[dp]="--down-dims 256,512,1024 --batch-size $dp_batch --stats $tmp/dp_stats.tar $tmp/dp.tar"
common="--steps $steps --save-every $steps --val-batches 0 --log-every 1 -q"

echo "# data parallelism on one machine ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-unset}, commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo -))"
echo "# $steps steps a run, $repeat runs of each layout interleaved; step: median [min-max] of steps 3..$((steps - 1))"
printf "%-4s %-10s %9s %22s %16s %10s\n" config layout params "step s" "exchange share" "MB/step"
for config in ${CONFIGS:-act dp}; do
  : > "$tmp/$config.1p2t" ; : > "$tmp/$config.2p1t"
  for _ in $(seq "$repeat"); do
    rm -f "$tmp/log.jsonl"
    "$bin/${tool[$config]}" ${args[$config]} $common --threads 2 -o "$tmp/$config.h5" --log "$tmp/log.jsonl"
    jq -c "select(.step > 2 and .step < $steps)" "$tmp/log.jsonl" >> "$tmp/$config.1p2t"
    rm -f "$tmp/log.jsonl"
    "${mpirun[@]}" "$bin/${tool[$config]}" ${args[$config]} $common --threads 1 -o "$tmp/$config.h5" --log "$tmp/log.jsonl"
    jq -c "select(.step > 2 and .step < $steps)" "$tmp/log.jsonl" >> "$tmp/$config.2p1t"
  done
  params=$("$python" -c 'import sys, h5py; f = h5py.File(sys.argv[1], "r"); print(sum(f["params"][k].size for k in f["params"]))' "$tmp/$config.h5")
  for layout in 1p2t 2p1t; do
    jq -r '[.samples_per_s, (.exchange_s // 0)] | @tsv' "$tmp/$config.$layout" |
    awk -v config=$config -v layout=$layout -v params="$params" -v batch="$(grep -o -- '--batch-size [0-9]*' <<<"${args[$config]}" | cut -d' ' -f2)" '
      function median(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                                          return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
      { n++; s[n] = batch / $1; x[n] = $2 / (batch / $1); lo = (n == 1 || s[n] < lo) ? s[n] : lo; hi = s[n] > hi ? s[n] : hi }
      END { ms = median(s, n); mx = median(x, n)
            printf "%-4s %-10s %8.1fM %10.2f [%.2f-%.2f] %15s %10.0f\n", config, layout, params / 1e6, ms, lo, hi,
                   layout == "1p2t" ? "-" : sprintf("%.0f%%", 100 * mx), 4 * params / 1e6
            printf "%s %s %.6g %.6g\n", config, layout, ms, params > "/dev/stderr" }' 2>>"$tmp/summary"
  done
done
echo
awk -f "$here/mpi_paper.awk" "$tmp/summary"
