#!/usr/bin/env bash
# pipelines/evaluate.sh — evaluate one policy for N seeded episodes, one rollout per seed run in
# parallel with GNU parallel, resumable; writes the episode lines and rollout's summary line.
#
#   evaluate.sh -o OUT.jsonl -p POLICY -n N --seed S [-j JOBS] [--frames V] [--frame-size HxW]
#               [--stills] [-S LOGIN]... [--sshloginfile FILE] -- ROLLOUT-ARGS...
#
# Each seed's result goes to OUT.d/seed_<S>.json (atomically) so an interrupted evaluation
# resumes with the missing seeds; OUT.d is wiped when the policy file or the arguments changed.
# With --frames V the first V seeds also write their rendered frames to OUT.d/frames_<S>.tar;
# with --stills every seed writes the frames of its final state to OUT.d/final_<S>.tar; both at
# --frame-size (rollout's; default the policy's image size).
# OUT.jsonl holds the episode lines in seed order, then `rollout --summarize`'s summary line.
#
# Across machines: -S LOGIN (repeatable; "host", "user@host", "4/host" for 4 jobs there, ":" for
# this machine) and --sshloginfile FILE (one login a line) are GNU parallel's --sshlogin and
# --sshloginfile; -j JOBS is then the jobs per machine unless a login says otherwise. Every
# machine needs ssh without a password, this checkout built at the same path (rollout is run by
# its absolute path), and OUT's folder and POLICY on a file system shared at the same paths (e.g.
# NFS); paths in ROLLOUT-ARGS must be absolute. In a Slurm allocation:
#   evaluate.sh -S "$(scontrol show hostnames | paste -sd,)" ...
set -euo pipefail
prog=${0##*/}
out='' policy='' episodes='' seed='' jobs=${JOBS:-$(nproc)} frames=0 frame_size='' stills=0 hosts=()
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
    -S|--sshlogin) hosts+=(--sshlogin "$2"); shift 2 ;;
    --sshloginfile) hosts+=(--sshloginfile "$2"); shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$out" ] && [ -n "$policy" ] && [ -n "$episodes" ] && [ -n "$seed" ] ||
  die "usage: $prog -o OUT.jsonl -p POLICY -n N --seed S [-j JOBS] [--frames V] [--frame-size HxW] [--stills] [-S LOGIN]... [--sshloginfile FILE] -- ROLLOUT-ARGS..."

# absolute paths, which the same command line finds on every machine
abs() { case $1 in /*) printf %s "$1" ;; *) printf %s "$PWD/$1" ;; esac; }
rollout=$(command -v rollout) || die "rollout is not on PATH"
dir=$(abs "$out").d
[ "$policy" = scripted ] || policy=$(abs "$policy")
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
done | parallel -j "$jobs" ${hosts[@]+"${hosts[@]}"} --halt now,fail=1 \
  'if [ {} -lt '$((seed + frames))' ]; then f="--frames '"$dir"'/frames_{}.tar"; else f=; fi;
   if [ '$stills' = 1 ]; then f="$f --final-frames '"$dir"'/final_{}.tar"; fi;
   if [ -n "$f" ]; then f="$f '"$size"'"; fi;
   OPENBLAS_NUM_THREADS=1 '"$(printf %q "$rollout")"' -q -p '"$(printf %q "$policy")"' -n 1 --seed {} $f '"$(printf '%q ' "$@")"' \
     > '"$dir"'/seed_{}.tmp && grep -v "\"summary\"" '"$dir"'/seed_{}.tmp > '"$dir"'/seed_{}.new &&
   rm '"$dir"'/seed_{}.tmp && mv '"$dir"'/seed_{}.new '"$dir"'/seed_{}.json'

for s in $(seq "$seed" $((seed + episodes - 1))); do cat "$dir/seed_$s.json"; done > "$out.tmp"
rollout --summarize "$out.tmp" >> "$out.tmp"
mv "$out.tmp" "$out"
