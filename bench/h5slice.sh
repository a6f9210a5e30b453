#!/usr/bin/env bash
# bench/h5slice.sh — h5slice and `h5slice | chunkify -k 100` throughput against a Python
# h5py+tarfile script doing the same job (bench/h5slice_ref.py) on the same files in the same run.
# Dataset: 50 ACT episodes x 400 frames, one 120x160 camera (uncompressed, one frame per chunk,
# as ACT records them), 14-D qpos/qvel/action; built in a temporary directory and removed.
# Reports MB/s of samples written (bytes of the tar stream out of h5slice) and the ratio; medians
# of BENCH_RUNS runs (default 3). Environment: ILT_BIN (built tools), BENCH_EPISODES (default 50).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${ILT_BIN:-$here/../build/bin}
py=${PYTHON:-/usr/bin/python3}
runs=${BENCH_RUNS:-3}
episodes=${BENCH_EPISODES:-50}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" "$here/../tests/make_episodes.py" act "$tmp/ep" --episodes "$episodes" --frames 400 --cams top:120:160
files=("$tmp"/ep/*.hdf5)
stream_bytes=$("$bin/h5slice" -q "${files[@]}" | wc -c)

seconds() {  # seconds CMD... : wall time of one run
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' 
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

c_slice() { "$bin/h5slice" -q "${files[@]}" > /dev/null; }
py_slice() { "$py" "$here/h5slice_ref.py" slice "${files[@]}" > /dev/null; }
c_chunk() { "$bin/h5slice" -q "${files[@]}" | "$bin/chunkify" -k 100 > /dev/null; }
py_chunk() { "$py" "$here/h5slice_ref.py" slice "${files[@]}" | "$py" "$here/h5slice_ref.py" chunkify 100 > /dev/null; }

declare -A med
for job in c_slice py_slice c_chunk py_chunk; do
    med[$job]=$(for ((i = 0; i < runs; i++)); do seconds $job; done | median)
done

mb=$(awk -v b="$stream_bytes" 'BEGIN { print b / 1e6 }')
printf '# h5slice benchmark: %d episodes x 400 frames, 120x160 camera, %.0f MB of samples; median of %d runs\n' \
    "$episodes" "$mb" "$runs"
printf '| job | ilt (s) | ilt MB/s | Python h5py+tarfile (s) | Python MB/s | speedup |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: |\n'
row() {
    awk -v job="$1" -v c="$2" -v p="$3" -v mb="$mb" \
        'BEGIN { printf "| %s | %.2f | %.0f | %.2f | %.0f | %.1fx |\n", job, c, mb / c, p, mb / p, p / c }'
}
row 'h5slice > /dev/null' "${med[c_slice]}" "${med[py_slice]}"
row 'h5slice | chunkify -k 100 > /dev/null' "${med[c_chunk]}" "${med[py_chunk]}"
