#!/usr/bin/env bash
# kernels.sh — the machine's fp32 FMA peak per register width, each register tile alone (its
# operands in L1: the most a product on it could reach), and the engine's matrix product (nn_gemm)
# on ACT, ResNet18-im2col and UNet training shapes beside OpenBLAS, on 1 and 2 threads, and the
# batch-1 inference products against weights packed once (nn_gemm_packed): the engine's 512-bit
# and 256-bit tiles (ILT_KERNEL=avx512 / avx2) and OpenBLAS's
# sgemm under the same slicing (ILT_KERNEL=openblas) pinned to its AVX2 kernels
# (OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512, as the project's build machines set them) and
# unpinned (both unset: OpenBLAS picks its kernels from the CPU, as on a user's machine).
# The configurations run interleaved, ROUNDS rounds of one process each; each figure is the
# median over the rounds of each process's median of 5 calls, by the wall clock and by the CPU
# time the process got (bench/kernels.c). The load average before each round is printed: the
# machine is shared, and under load only the CPU-time figures mean much.
#
#   bench/kernels.sh [ROUNDS]        (default 3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rounds=${1:-3}
build=${BUILD:-$root/build}
make -s -C "$root" ${BUILD:+BUILD="$BUILD"} "${BUILD:-build}/bench/kernels" >/dev/null
bin=$build/bench/kernels
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

configs=(avx512 avx2 openblas-pinned openblas-unpinned)
run_config() {  # config threads
  case $1 in
    avx512|avx2) ILT_KERNEL=$1 "$bin" products --threads "$2" ;;
    openblas-pinned) ILT_KERNEL=openblas OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 "$bin" products --threads "$2" ;;
    openblas-unpinned) env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ILT_KERNEL=openblas "$bin" products --threads "$2" ;;
  esac
}

echo "# kernels: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') (family $(grep -m1 'cpu family' /proc/cpuinfo | sed 's/.*: //'), model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/.*: //')), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo -)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in 1 2; do "$bin" peak --threads "$t"; done > "$tmp/peak"
awk '{ printf "# FMA peak, %s-bit registers, %s thread(s): %s GFLOP/s wall clock, %s by CPU time\n", $2, $3, $4, $5 }' "$tmp/peak"
# Each tile alone, its operands in L1 (one thread): the most a product on it could reach here.
for v in avx512 avx2; do
  ILT_KERNEL=$v "$bin" tile | awk -v v=$v -v w=$([ $v = avx512 ] && echo 512 || echo 256) '
    NR == FNR { if ($2 == w && $3 == 1) pk = $4; next }
    pk != "" { printf "# %s tile %s, kc %s, operands in L1: %s GFLOP/s, %.0f%% of the %s-bit peak\n", v, $2, $3, $4, 100 * $4 / pk, w }' "$tmp/peak" -
done
for r in $(seq "$rounds"); do
  echo "# round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
  for t in 1 2; do
    for c in "${configs[@]}"; do
      run_config "$c" "$t" | sed "s/^/$c $t|/" >> "$tmp/runs"
    done
    for v in avx512 avx2; do ILT_KERNEL=$v "$bin" packed --threads "$t" | sed "s/^/$v $t|/" >> "$tmp/packed"; done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# GFLOP/s medians over the rounds. One thread: by the wall clock (w) and by CPU time (c: what
# the code runs at while it has the core; other processes on a shared machine lower it much
# less). Two threads: by the wall clock only (a pool thread that other processes keep off its
# core leaves its share to the other thread, and the CPU time then says nothing about two
# cores). The share is the engine's 512-bit rate over the 512-bit FMA peak by the same clock.
awk -F'|' -v peakfile="$tmp/peak" '
  BEGIN { while ((getline l < peakfile) > 0) { split(l, p, " "); pw[p[2] " " p[3]] = p[4]; pc[p[2] " " p[3]] = p[5] } }
  { split($1, ct, " "); split($3, v, " "); key = $2 SUBSEP ct[2] SUBSEP ct[1]; n[key]++; w[key, n[key]] = v[6]; c[key, n[key]] = v[7]
    if (!($2 in seen)) { seen[$2] = 1; order[++names] = $2; shape[$2] = v[1] "x" v[2] "x" v[3] " " (v[4] ? "T" : "N") (v[5] ? "T" : "N") } }
  function med(key, which,   i, j, k, t, a) {
    k = n[key]; for (i = 1; i <= k; i++) a[i] = which == "w" ? w[key, i] : c[key, i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  END {
    printf "\n# 1 thread, GFLOP/s; 512-bit peak %s wall clock, %s by CPU time\n", pw["512 1"], pc["512 1"]
    printf "%-23s %-17s %15s %15s %7s %7s %7s %7s\n", "product", "MxNxK op", "avx512 w (%pk)", "avx512 c (%pk)", "avx2 c", "obpin c", "obunp c", "obunp w"
    for (i = 1; i <= names; i++) {
      nm = order[i]; k = nm SUBSEP 1 SUBSEP; ow = med(k "avx512", "w"); oc = med(k "avx512", "c")
      printf "%-23s %-17s %7.1f (%3.0f%%) %7.1f (%3.0f%%) %7.1f %7.1f %7.1f %7.1f\n", nm, shape[nm], ow, 100 * ow / pw["512 1"],
        oc, 100 * oc / pc["512 1"], med(k "avx2", "c"), med(k "openblas-pinned", "c"), med(k "openblas-unpinned", "c"),
        med(k "openblas-unpinned", "w")
    }
    printf "\n# 2 threads, GFLOP/s by the wall clock; 512-bit peak %s\n", pw["512 2"]
    printf "%-23s %-17s %15s %7s %7s %7s\n", "product", "MxNxK op", "avx512 w (%pk)", "avx2 w", "obpin w", "obunp w"
    for (i = 1; i <= names; i++) {
      nm = order[i]; k = nm SUBSEP 2 SUBSEP; ow = med(k "avx512", "w")
      printf "%-23s %-17s %7.1f (%3.0f%%) %7.1f %7.1f %7.1f\n", nm, shape[nm], ow, 100 * ow / pw["512 2"], med(k "avx2", "w"),
        med(k "openblas-pinned", "w"), med(k "openblas-unpinned", "w")
    }
  }' "$tmp/runs"
# the packed products: medians over the rounds, 1 thread by CPU time, 2 threads by the wall clock
awk -F'|' -v peakfile="$tmp/peak" '
  BEGIN { while ((getline l < peakfile) > 0) { split(l, p, " "); pw[p[2] " " p[3]] = p[4]; pc[p[2] " " p[3]] = p[5] } }
  { split($1, ct, " "); split($3, v, " "); key = $2 SUBSEP ct[2] SUBSEP ct[1]; n[key]++; w[key, n[key]] = v[4]; c[key, n[key]] = v[5]
    if (!($2 in seen)) { seen[$2] = 1; order[++names] = $2; shape[$2] = v[1] "x" v[2] "x" v[3] } }
  function med(key, which,   i, j, k, t, a) {
    k = n[key]; for (i = 1; i <= k; i++) a[i] = which == "w" ? w[key, i] : c[key, i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  END {
    printf "\n# packed weights (batch-1 inference), GFLOP/s: 1 thread by CPU time, 2 threads by the wall clock\n"
    printf "%-23s %-14s %15s %7s %15s %7s\n", "product", "MxNxK", "avx512 1c (%pk)", "avx2 1c", "avx512 2w (%pk)", "avx2 2w"
    for (i = 1; i <= names; i++) {
      nm = order[i]; c1 = med(nm SUBSEP 1 SUBSEP "avx512", "c"); w2 = med(nm SUBSEP 2 SUBSEP "avx512", "w")
      printf "%-23s %-14s %7.1f (%3.0f%%) %7.1f %7.1f (%3.0f%%) %7.1f\n", nm, shape[nm], c1, 100 * c1 / pc["512 1"],
        med(nm SUBSEP 1 SUBSEP "avx2", "c"), w2, 100 * w2 / pw["512 2"], med(nm SUBSEP 2 SUBSEP "avx2", "w")
    }
  }' "$tmp/packed"
