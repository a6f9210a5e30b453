#!/usr/bin/env bash
# dp.sh — Diffusion Policy training-step and batch-1 inference time (DDIM and DDPM), ilt
# (bench/dp.c) beside the same model in PyTorch (bench/dp_torch.py) in the same run, for robomimic
# lift's image configuration with the UNet at DP's default width (down_dims 256,512,1024) and at
# the paper's (512,1024,2048). Medians of REPEAT runs; the machine is shared, so read the numbers
# as noisy. Each configuration runs twice on both sides: with the environment as it is (it may pin
# OpenBLAS with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE) and with those two variables unset in that
# command (OpenBLAS at its best on this CPU, as on a user's machine). Our side also prints the
# memory-bandwidth floor of the batch-1 DDIM call (weights read per call over the measured read
# bandwidth).
#
#   bench/dp.sh [THREADS [REPEAT [BATCH]]]        (defaults 2, 3 and 64, DP's batch; 0: inference only)
#   DOWNS="256" bench/dp.sh ...                 (only the default width)
#
# PyTorch is optional (Debian's python3-torch); without it the PyTorch columns say "-". It runs
# with OMP_WAIT_POLICY=passive and torch.set_num_threads(THREADS). With PyTorch the last lines give
# each workload's FLOPs and the least time they take at this machine's FMA peak (bench/floor).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
threads=${1:-2}
repeat=${2:-3}
batch=${3:-64}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-$root/build}

make -s -C "$root" ${BUILD:+BUILD="$BUILD"} build "${BUILD:-build}/bench/dp" >/dev/null
have_torch=0
"$python" -c 'import torch, torchvision' 2>/dev/null && have_torch=1

echo "# Diffusion Policy (lift image: 2 cameras 84x84 -> 76x76, To 2, horizon 16): train step (batch $batch)" \
     "and batch-1 inference, median of $repeat, $threads threads ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo "# environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-unset}"
printf "%-18s %-8s %-16s %10s %10s %8s\n" unet openblas measure "ilt" "torch" speedup
for down in ${DOWNS:-256 512}; do
  args="--down $down --batch $batch --repeat $repeat --threads $threads"
  for openblas in env unset; do
    run=(env)
    [ $openblas = unset ] && run=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
    ours=$("${run[@]}" OPENBLAS_NUM_THREADS=$threads "$build/bench/dp" $args)
    theirs=""
    if [ $have_torch = 1 ]; then
      theirs=$("${run[@]}" OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads "$python" "$here/dp_torch.py" $args 2>/dev/null || true)
    fi
    awk -v label="$down,$((2 * down)),$((4 * down))" -v openblas=$openblas -v ours="$ours" -v theirs="$theirs" 'BEGIN {
      n = split(ours, o, "\n"); split(theirs, t, "\n")
      for (i in t) { split(t[i], f, " "); T[f[1]] = f[2] }
      for (i = 1; i <= n; i++) {
        split(o[i], f, " "); th = (f[1] in T) ? T[f[1]] : "-"
        printf "%-18s %-8s %-16s %10s %10s %8s\n", label, openblas, f[1], f[2], th, th != "-" ? sprintf("%.2fx", th / f[2]) : "-" } }'
  done
done
if [ $have_torch = 1 ]; then   # how far from the machine's limit both sides are (bench/floor)
  labels="" gflops=""
  for down in ${DOWNS:-256 512}; do
    f=$("$python" "$here/dp_torch.py" --down $down --batch $batch --threads $threads --ddim 10 --flops 1)
    if [ "$batch" -gt 0 ]; then
      labels+="${labels:+,}UNet $down train step (batch $batch)"
      gflops+=" $(echo "$f" | awk '$1 == "train_step_gflop" { print $2 }')"
    fi
    labels+="${labels:+,}UNet $down DDIM-10 (batch 1)"
    gflops+=" $(echo "$f" | awk '$1 == "ddim10_gflop" { print $2 }')"
  done
  "$here/floor" "$threads" "$labels" $gflops
fi
