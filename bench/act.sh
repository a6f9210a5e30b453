#!/usr/bin/env bash
# act.sh — ACT training-step and batch-1 inference time, ilt (bench/act.c) beside the same
# architecture in PyTorch (bench/act_torch.py) in the same run, for the paper's configuration at
# 84x84 (FrozenBatchNorm, as the paper's backbone) and the act-train "cpu" default at 84x84 and at
# the 120x160 that rollout records. Medians of REPEAT runs; the machine is shared, so read the
# numbers as noisy.
#
#   bench/act.sh [THREADS [REPEAT]]        (defaults 2 and 5)
#
# PyTorch is optional (Debian's python3-torch); without it the PyTorch columns say "-". It runs
# with OMP_WAIT_POLICY=passive and torch.set_num_threads(THREADS). With PyTorch the last lines give
# each workload's FLOPs and the least time they take at this machine's FMA peak (bench/floor):
# the best speedup any engine could show against PyTorch here is PyTorch's time over that floor.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
threads=${1:-2}
repeat=${2:-5}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-$root/build}

make -s -C "$root" ${BUILD:+BUILD="$BUILD"} build "${BUILD:-build}/bench/act" >/dev/null
have_torch=0
"$python" -c 'import torch, torchvision' 2>/dev/null && have_torch=1

configs=(
  "paper 84x84|--hidden 512 --ff 3200 --enc 4 --dec 7 --chunk 100 --height 84 --width 84 --frozen 1"
  "cpu default 84x84|--hidden 256 --ff 1024 --enc 2 --dec 4 --chunk 100 --height 84 --width 84"
  "cpu default 120x160|--hidden 256 --ff 1024 --enc 2 --dec 4 --chunk 100 --height 120 --width 160"
)
echo "# ACT: train step (batch 8, forward+backward+AdamW) and inference (batch 1), median of $repeat, $threads threads ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
printf "%-22s %12s %12s %8s %12s %12s %8s\n" config "ilt step ms" "torch ms" speedup "ilt infer ms" "torch ms" speedup
for entry in "${configs[@]}"; do
  label=${entry%%|*} args=${entry#*|}
  ours=$(OPENBLAS_NUM_THREADS=$threads "$build/bench/act" $args --threads "$threads" --repeat "$repeat")
  theirs=""
  if [ $have_torch = 1 ]; then
    theirs=$(OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads "$python" "$here/act_torch.py" $args --threads "$threads" \
      --repeat "$repeat" 2>/dev/null || true)
  fi
  awk -v label="$label" -v ours="$ours" -v theirs="$theirs" 'BEGIN {
    split(ours, o, "\n"); split(theirs, t, "\n")
    for (i in o) { split(o[i], f, " "); O[f[1]] = f[2] }
    for (i in t) { split(t[i], f, " "); T[f[1]] = f[2] }
    ts = ("train_step_ms" in T) ? T["train_step_ms"] : "-"; ti = ("infer_ms" in T) ? T["infer_ms"] : "-"
    ss = ts != "-" ? sprintf("%.2fx", ts / O["train_step_ms"]) : "-"
    si = ti != "-" ? sprintf("%.2fx", ti / O["infer_ms"]) : "-"
    printf "%-22s %12s %12s %8s %12s %12s %8s\n", label, O["train_step_ms"], ts, ss, O["infer_ms"], ti, si }'
done
if [ $have_torch = 1 ]; then   # how far from the machine's limit both sides are (bench/floor)
  labels="" gflops=""
  for entry in "${configs[@]}"; do
    label=${entry%%|*} args=${entry#*|}
    f=$("$python" "$here/act_torch.py" $args --threads "$threads" --flops 1)
    labels+="${labels:+,}$label train step,$label batch-1 inference"
    gflops+=" $(echo "$f" | awk '$1 == "train_step_gflop" { print $2 }') $(echo "$f" | awk '$1 == "infer_gflop" { print $2 }')"
  done
  "$here/floor" "$threads" "$labels" $gflops
fi
