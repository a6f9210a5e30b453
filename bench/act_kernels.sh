#!/usr/bin/env bash
# act_kernels.sh — the ACT paper configuration's training step (84x84, batch 8, FrozenBatchNorm)
# and batch-1 inference on the engine's own product kernel, on OpenBLAS (ILT_KERNEL=openblas)
# pinned to its AVX2 kernels (OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512, as the project's
# build machines set them) and unpinned (both unset), and PyTorch (bench/act_torch.py) pinned
# and unpinned. The configurations run interleaved, one process each per round; each figure is
# the median over ROUNDS rounds of each process's median of REPEAT steps, by the wall clock and
# by the process's CPU time (all threads; on a shared machine, the work done whatever the other
# processes took). The load average is printed before each round.
#
#   bench/act_kernels.sh [THREADS [ROUNDS [REPEAT]]]        (defaults 2, 3 and 3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
threads=${1:-2}
rounds=${2:-3}
repeat=${3:-3}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-$root/build}
make -s -C "$root" ${BUILD:+BUILD="$BUILD"} "${BUILD:-build}/bench/act" >/dev/null
args="--hidden 512 --ff 3200 --enc 4 --dec 7 --chunk 100 --height 84 --width 84 --frozen 1"
have_torch=0
"$python" -c 'import torch, torchvision' 2>/dev/null && have_torch=1
configs=(ilt-own ilt-openblas-pinned ilt-openblas-unpinned)
[ $have_torch = 1 ] && configs+=(torch-pinned torch-unpinned)
pin=(OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512)
unpin=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
run_config() {
  case $1 in
    ilt-own) "$build/bench/act" $args --threads "$threads" --repeat "$repeat" ;;
    ilt-openblas-pinned) env "${pin[@]}" ILT_KERNEL=openblas "$build/bench/act" $args --threads "$threads" --repeat "$repeat" ;;
    ilt-openblas-unpinned) env "${unpin[@]}" ILT_KERNEL=openblas "$build/bench/act" $args --threads "$threads" --repeat "$repeat" ;;
    torch-pinned) env "${pin[@]}" OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$threads" "$python" "$here/act_torch.py" $args \
      --threads "$threads" --repeat "$repeat" 2>/dev/null ;;
    torch-unpinned) env "${unpin[@]}" OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$threads" "$python" "$here/act_torch.py" $args \
      --threads "$threads" --repeat "$repeat" 2>/dev/null ;;
  esac
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "# ACT paper config 84x84: train step batch 8 and inference batch 1, $threads threads, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo -), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
for r in $(seq "$rounds"); do
  echo "# round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
  for c in "${configs[@]}"; do run_config "$c" | sed "s/^/$c /" >> "$tmp"; done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{ n[$1 " " $2]++; v[$1 " " $2, n[$1 " " $2]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  function med(key,   i, j, m, t, a) {
    m = n[key]; if (!m) return "-"; for (i = 1; i <= m; i++) a[i] = v[key, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
  END {
    printf "%-22s %12s %12s %10s %10s\n", "config", "step ms", "step cpu ms", "infer ms", "infer cpu"
    for (i = 1; i <= k; i++) printf "%-22s %12s %12s %10s %10s\n", order[i], med(order[i] " train_step_ms"),
      med(order[i] " train_step_cpu_ms"), med(order[i] " infer_ms"), med(order[i] " infer_cpu_ms") }' "$tmp"
