#!/usr/bin/env bash
# ibc.sh — Implicit BC: batch-1 derivative-free inference with the observation features given
# (1024 samples x 5 iterations through the 4 x 1024 MLP, DP's default; seed 002's 100 samples x 5)
# and the training step with 1024 counter-examples at batch 64, ilt (bench/ibc.c) beside DP's
# model in PyTorch (bench/ibc_torch.py) in the same run, with the machine's sgemm rate of this run
# (bench/gemm: 2048^3 on OpenBLAS's own threads). Each side runs twice: with the environment's
# OpenBLAS settings, and with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in that command only
# (a user's machine does not pin OpenBLAS to AVX2). Medians of REPEAT runs; the machine is shared,
# so read the numbers as noisy (the load average is printed).
#
#   bench/ibc.sh [THREADS [REPEAT [TRAIN_REPEAT]]]        (defaults 2, 5 and 2; TRAIN_REPEAT 0:
#                                                          no training step)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
threads=${1:-2}
repeat=${2:-5}
train_repeat=${3:-2}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-$root/build}
make -s -C "$root" ${BUILD:+BUILD="$BUILD"} "${BUILD:-build}/bench/ibc" "${BUILD:-build}/bench/gemm" >/dev/null
have_torch=0
"$python" -c 'import torch' 2>/dev/null && have_torch=1

echo "# IBC (lift low-dim: 38 features, 7-D actions, To 2, Ta 1), $threads threads, $(date -u +%Y-%m-%dT%H:%MZ)," \
     "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo -), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "# OpenBLAS as set: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-unset}"
printf "%-9s %-28s %10s %10s %8s %9s %9s\n" openblas measure "ilt ms" "torch ms" speedup "GFLOP/s" "of sgemm"
for mode in as-set unset; do
  envs=()
  [ $mode = unset ] && envs=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
  rate=$(env "${envs[@]}" OPENBLAS_NUM_THREADS="$threads" "$build/bench/gemm" --threads "$threads" --repeat 3 |
         awk '/^square_ms/ { print $6 }')
  echo "# load $(cut -d' ' -f1-3 /proc/loadavg); sgemm rate in this run ($mode): $rate GFLOP/s"
  for job in "dfo 1024x5:--samples 1024 --iterations 5 --batch 0 --repeat $repeat" \
             "dfo 100x5 (seed 002):--samples 100 --iterations 5 --batch 0 --repeat $repeat" \
             "train batch 64, 1024 neg:--batch 64 --negatives 1024 --samples 1 --iterations 1 --repeat $train_repeat"; do
    label=${job%%:*} args=${job#*:}
    case $label in train*) [ "$train_repeat" -gt 0 ] || continue; key=train_step_ms ;; *) key=dfo_ms ;; esac
    ours=$(env "${envs[@]}" OPENBLAS_NUM_THREADS="$threads" "$build/bench/ibc" $args --threads "$threads")
    theirs=""
    [ $have_torch = 1 ] && theirs=$(env "${envs[@]}" OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$threads" \
      "$python" "$here/ibc_torch.py" $args --threads "$threads" 2>/dev/null || true)
    awk -v mode=$mode -v label="$label" -v key=$key -v ours="$ours" -v theirs="$theirs" -v rate="$rate" 'BEGIN {
      n = split(ours, o, "\n"); for (i = 1; i <= n; i++) { split(o[i], f, " "); O[f[1]] = f[2]; if (f[1] == "dfo_ms") G = f[4] }
      n = split(theirs, t, "\n"); for (i = 1; i <= n; i++) { split(t[i], f, " "); T[f[1]] = f[2] }
      a = O[key]; b = (key in T) ? T[key] : "-"
      gf = key == "dfo_ms" ? sprintf("%.1f", G / (a / 1e3)) : "-"
      of = key == "dfo_ms" && rate > 0 ? sprintf("%.0f%%", 100 * G / (a / 1e3) / rate) : "-"
      printf "%-9s %-28s %10s %10s %8s %9s %9s\n", mode, label, a, b, b != "-" ? sprintf("%.2fx", b / a) : "-", gf, of }'
  done
done
