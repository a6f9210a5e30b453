#!/usr/bin/env bash
# bench/sim.sh — simulation throughput: control steps per second for physics alone and for
# physics plus rendering one camera at the default size (120x160), per task, and the wall time
# to record 50 transfer_cube expert episodes on 2 cores (GNU parallel, two processes).
# One control step is 10 physics steps of 0.002 s. Medians of REPEAT runs (default 3); the
# machine is shared, so the numbers are noisy. No Python reference exists for our scenes.
set -euo pipefail
export PATH="${ILT_BIN:+$ILT_BIN:}$PATH"
REPEAT=${REPEAT:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# wall seconds of the episodes themselves, from rollout's summary line
run_wall() { rollout "$@" -q | tail -1 | sed -n 's/.*"wall_s":\([0-9.]*\).*/\1/p'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "## Simulation (2 cores, shared; medians of $REPEAT runs)"
echo
echo "| task | mode | episodes | control steps/s | physics steps/s |"
echo "| --- | --- | --- | --- | --- |"
for task in transfer_cube insertion; do
  n=5
  w=$(for r in $(seq "$REPEAT"); do run_wall -t $task -p scripted -n $n; done | median)
  awk -v t=$task -v n=$n -v w="$w" 'BEGIN {printf "| %s | physics | %d | %.0f | %.0f |\n", t, n, n*400/w, n*4000/w}'
  n=2
  w=$(for r in $(seq "$REPEAT"); do run_wall -t $task -p scripted -n $n --frames /dev/null; done | median)
  awk -v t=$task -v n=$n -v w="$w" 'BEGIN {printf "| %s | physics + render top 120x160 | %d | %.0f | %.0f |\n", t, n, n*400/w, n*4000/w}'
done
echo

start=$(date +%s.%N)
parallel -j2 rollout -t transfer_cube -p scripted -o "$work/demos" -n 25 --seed {} -q ::: 0 25 > "$work/record.jsonl"
end=$(date +%s.%N)
summary=$(rollout --summarize "$work/record.jsonl")
size=$(du -sm "$work/demos" | cut -f1)
awk -v s="$start" -v e="$end" -v mb="$size" 'BEGIN {
  printf "Record 50 transfer_cube expert episodes (top 120x160, gzip 1), parallel -j2: %.1f s wall (target < 180 s), %d MB\n", e-s, mb }'
echo "$summary" | sed -n 's/.*"successes":\([0-9]*\).*/expert successes: \1 of 50/p'
