#!/usr/bin/env bash
# engine.sh — training-block benchmark of the nn engine (bench/engine.c) against PyTorch
# (bench/engine_torch.py) in the same run: ResNet18 at 84x84, ACT-sized transformer encoder and
# decoder layers, Diffusion Policy UNet blocks; forward + backward, median of REPEAT runs.
#
#   bench/engine.sh [THREADS [REPEAT]]        (defaults 2 and 5)
#
# PyTorch is optional: Debian's python3-torch (apt-get install python3-torch); without it the
# PyTorch columns say "-". bench/ installs nothing. PyTorch runs with OMP_WAIT_POLICY=passive and
# torch.set_num_threads(THREADS) so that its OpenMP workers do not spin against OpenBLAS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
threads=${1:-2}
repeat=${2:-5}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-$root/build}

make -s -C "$root" ${BUILD:+BUILD="$BUILD"} build "${BUILD:-build}/bench/engine" "${BUILD:-build}/bench/gemm" >/dev/null

ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
OPENBLAS_NUM_THREADS=$threads "$build/bench/engine" --threads "$threads" --repeat "$repeat" >"$ours"
if "$python" -c 'import torch' 2>/dev/null; then
  OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads "$python" "$here/engine_torch.py" --threads "$threads" \
    --repeat "$repeat" >"$theirs" || : >"$theirs"
fi

# The floor under the decoder layer: its matrix products alone (bench/gemm.c), through the same
# split over the threads (what the layer takes beyond this is everything around the products),
# and the machine's sgemm rate in this run (a 2048^3 sgemm on OpenBLAS's threads), which "of sgemm" divides by.
gemm=$("$build/bench/gemm" --threads "$threads" --repeat "$repeat")
floor=$(echo "$gemm" | awk '/^total_ms/ { print $2, $6 }')
rate=$(echo "$gemm" | awk '/^square_ms/ { print $6 }')

echo "# engine: forward+backward, median of $repeat runs, $threads threads ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
awk -F'\t' -v rate="$rate" '
  NR == FNR { t[$1] = $2; tc[$1] = $4; next }
  { name[++n] = $1; ours[$1] = $2; flop[$1] = $3; oc[$1] = $4 }
  END {
    printf "%-38s %9s %8s %8s %9s %8s %8s   %9s %9s %8s\n", "workload", "ilt ms", "GFLOP/s", "of sgemm", "torch ms",
      "GFLOP/s", "speedup", "ilt cpu", "torch cpu", "cpu gain"
    for (i = 1; i <= n; i++) {
      k = name[i]
      share = rate > 0 ? sprintf("%7.0f%%", 100 * flop[k] / ours[k] / rate) : "-"
      if (k in t)
        printf "%-38s %9.1f %8.1f %8s %9.1f %8.1f %7.2fx   %9.1f %9.1f %7.2fx\n", k, 1000 * ours[k], flop[k] / ours[k],
          share, 1000 * t[k], flop[k] / t[k], t[k] / ours[k], 1000 * oc[k], 1000 * tc[k], tc[k] / oc[k]
      else if (oc[k] == "-")
        printf "%-38s %9.1f %8.1f %8s\n", k, 1000 * ours[k], flop[k] / ours[k], share
      else
        printf "%-38s %9.1f %8.1f %8s %9s %8s %8s   %9.1f\n", k, 1000 * ours[k], flop[k] / ours[k], share, "-", "-", "-",
          1000 * oc[k]
    }
  }' "$theirs" "$ours"
echo "# ms: median wall time of one forward+backward; cpu: median CPU ms summed over threads (less"
echo "# sensitive to other jobs on the machine); speedup = torch ms / ilt ms. Load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sgemm rate in this run: ${rate:-?} GFLOP/s (2048^3 on OpenBLAS's own threads; FACTS.md: 207 on 2 free cores);"
echo "# of sgemm = a workload's GFLOP/s over it (the issue's target for ResNet18 and the transformer layers: 60%)"
echo "# decoder layer sgemm floor: ${floor% *} ms for its products alone (${floor#* } GFLOP/s); bench/gemm for each product"
