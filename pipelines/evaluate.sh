#!/usr/bin/env bash
# pipelines/evaluate.sh — evaluate one policy for N seeded episodes, one rollout per seed run in
# parallel with GNU parallel, resumable; writes the episode lines and rollout's summary line.
#
#   evaluate.sh -o OUT.jsonl -p POLICY -n N --seed S [-j JOBS] [--frames V] [--frame-size HxW]
#               [--stills] -- ROLLOUT-ARGS...
#
# Each seed's result goes to OUT.d/seed_<S>.json (atomically) so an interrupted evaluation
# resumes with the missing seeds; OUT.d is wiped when the policy file or the arguments changed.
# With --frames V the first V seeds also write their rendered frames to OUT.d/frames_<S>.tar;
# with --stills every seed writes the frames of its final state to OUT.d/final_<S>.tar; both at
# --frame-size (rollout's; default the policy's image size).
# OUT.jsonl holds the episode lines in seed order, then `rollout --summarize`'s summary line.
set -euo pipefail
prog=${0##*/}
out='' policy='' episodes='' seed='' jobs=${JOBS:-$(nproc)} frames=0 frame_size='' stills=0
die() { echo "$prog: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift 2 ;;
    -p) policy=$2; shift 2 ;;
    -n) episodes=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --frame-size) frame_size=$2; shift 2 ;;
    --stills) stills=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$out" ] && [ -n "$policy" ] && [ -n "$episodes" ] && [ -n "$seed" ] ||
  die "usage: $prog -o OUT.jsonl -p POLICY -n N --seed S [-j JOBS] [--frames V] [--frame-size HxW] [--stills] -- ROLLOUT-ARGS..."

dir=$out.d
# What the results in OUT.d were computed from: the policy's content and the arguments.
if [ "$policy" = scripted ]; then ident=scripted; else ident=$(md5sum < "$policy"); fi
ident="$ident $* frames=$frames frame_size=$frame_size stills=$stills"
size=${frame_size:+--frame-size $frame_size}
if [ ! -f "$dir/ident" ] || [ "$(cat "$dir/ident")" != "$ident" ]; then
  rm -rf "$dir"; mkdir -p "$dir"; printf '%s\n' "$ident" > "$dir/ident"
fi

# One job per missing seed; the first FRAMES seeds also stream their frames.
seq "$seed" $((seed + episodes - 1)) | while read -r s; do
  [ -e "$dir/seed_$s.json" ] || echo "$s"
done | OPENBLAS_NUM_THREADS=1 parallel -j "$jobs" --halt now,fail=1 \
  'if [ {} -lt '$((seed + frames))' ]; then f="--frames '"$dir"'/frames_{}.tar"; else f=; fi;
   if [ '$stills' = 1 ]; then f="$f --final-frames '"$dir"'/final_{}.tar"; fi;
   if [ -n "$f" ]; then f="$f '"$size"'"; fi;
   rollout -q -p '"$(printf %q "$policy")"' -n 1 --seed {} $f '"$(printf '%q ' "$@")"' \
     > '"$dir"'/seed_{}.tmp && grep -v "\"summary\"" '"$dir"'/seed_{}.tmp > '"$dir"'/seed_{}.new &&
   rm '"$dir"'/seed_{}.tmp && mv '"$dir"'/seed_{}.new '"$dir"'/seed_{}.json'

for s in $(seq "$seed" $((seed + episodes - 1))); do cat "$dir/seed_$s.json"; done > "$out.tmp"
rollout --summarize "$out.tmp" >> "$out.tmp"
mv "$out.tmp" "$out"
