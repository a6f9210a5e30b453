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

# "WALL CPU": wall seconds of the episodes (rollout's summary) and CPU seconds of the process
# (user+sys, less sensitive to other load on the machine)
run_times() {
  /usr/bin/time -f "%U %S" -o "$work/time" rollout "$@" -q > "$work/out"
  printf '%s %s\n' "$(tail -1 "$work/out" | sed -n 's/.*"wall_s":\([0-9.]*\).*/\1/p')" \
    "$(awk '{print $1 + $2}' "$work/time")"
}
median() { sort -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
row() {  # task mode episodes "wall cpu"
  awk -v t="$1" -v m="$2" -v n="$3" -v w="${4% *}" -v c="${4#* }" 'BEGIN {
    printf "| %s | %s | %d | %.0f | %.0f | %.0f |\n", t, m, n, n*400/w, n*4000/w, n*400/c }'
}

echo "## Simulation (2 cores, shared; medians of $REPEAT runs)"
echo
echo "| task | mode | episodes | control steps/s (wall) | physics steps/s (wall) | control steps per CPU second |"
echo "| --- | --- | --- | --- | --- | --- |"
for task in transfer_cube insertion; do
  n=5
  row $task physics $n "$(for r in $(seq "$REPEAT"); do run_times -t $task -p scripted -n $n; done | median)"
  n=2
  row $task "physics + render top 120x160" $n \
    "$(for r in $(seq "$REPEAT"); do run_times -t $task -p scripted -n $n --frames /dev/null; done | median)"
done
echo

start=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$work/time" \
  parallel -j2 rollout -t transfer_cube -p scripted -o "$work/demos" -n 25 --seed {} -q ::: 0 25 > "$work/record.jsonl"
end=$(date +%s.%N)
cpu=$(awk '{print $1 + $2}' "$work/time")
summary=$(rollout --summarize "$work/record.jsonl")
size=$(du -sm "$work/demos" | cut -f1)
awk -v s="$start" -v e="$end" -v mb="$size" -v cpu="$cpu" 'BEGIN {
  printf "Record 50 transfer_cube expert episodes (top 120x160, gzip 1), parallel -j2: %.1f s wall (target < 180 s), %.1f CPU s, %d MB\n", e-s, cpu, mb }'
echo "$summary" | sed -n 's/.*"successes":\([0-9]*\).*/expert successes: \1 of 50/p'
