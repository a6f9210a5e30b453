#!/usr/bin/env bash
# pipelines/train.sh — the training stage of the simulation pipelines (sim_stages.mk): h5slice |
# chunkify | TRAINER in a work directory that an interrupted run resumes from, then the outputs
# moved into the run directory.
#
#   train.sh -o RUN_DIR --stats STATS.tar --episodes LIST --trainer TOOL [--slice "H5SLICE-ARGS"]
#            --chunkify "CHUNKIFY-ARGS" --steps N [--keep-every E] [--ident FILE...] -- TRAINER-OPTIONS...
#
# Writes RUN_DIR/ckpt.h5 (last; written last), ckpt.best.h5, train.jsonl, train.time (wall
# seconds, summed over resumed parts) and, with --keep-every E, ckpts/ckpt.step<S>.h5 for S = E,
# 2E, ... below N. Work happens in RUN_DIR/train.work; it is resumed (act-train --resume) when
# its inputs (the --ident files' content, the episode list and the statistics) are those of this
# call, and removed at the end. When the trainer has no --keep-every, the intermediate checkpoints
# come from training in parts that each resume the last (exact with a constant learning rate).
set -euo pipefail
prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 2; }
run='' stats='' episodes='' trainer='' slice='' chunkify='' steps='' keep='' ident_files=()
say=${PIPELINE:-train.sh}
while [ $# -gt 0 ]; do
  case $1 in
    -o) run=$2; shift 2 ;;
    --stats) stats=$2; shift 2 ;;
    --episodes) episodes=$2; shift 2 ;;
    --trainer) trainer=$2; shift 2 ;;
    --slice) slice=$2; shift 2 ;;
    --chunkify) chunkify=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --keep-every) keep=$2; shift 2 ;;
    --ident) ident_files+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$run" ] && [ -n "$stats" ] && [ -n "$episodes" ] && [ -n "$trainer" ] && [ -n "$chunkify" ] && [ -n "$steps" ] ||
  die "usage: $prog -o RUN_DIR --stats STATS --episodes LIST --trainer TOOL --chunkify ARGS --steps N [--keep-every E] -- OPTIONS"

w=$run/train.work
ident="$(cat "${ident_files[@]}" "$episodes"; md5sum < "$stats")"
if [ ! -f "$w/ident" ] || [ "$(cat "$w/ident")" != "$ident" ]; then rm -rf "$w"; fi
mkdir -p "$w"
printf '%s\n' "$ident" > "$w/ident"

# the trainer to STEP, resuming the work checkpoint when there is one; wall time appended to w/time.
train_to() {
  local resume=() start files
  if [ -e "$w/ckpt.h5" ]; then resume=(--resume); echo "$say: resuming training from $w/ckpt.h5"; fi
  echo "h5slice -q $slice EPISODES | chunkify $chunkify | $trainer --stats $stats -o $w/ckpt.h5 --log $w/train.jsonl --steps $* ${resume[*]}"
  start=$(date +%s.%N)
  mapfile -t files < "$episodes"
  # shellcheck disable=SC2086 # the argument strings are word lists
  h5slice -q $slice "${files[@]}" | chunkify $chunkify |
    "$trainer" --stats "$stats" -o "$w/ckpt.h5" --log "$w/train.jsonl" --steps "$@" "${resume[@]}"
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }' >> "$w/time"
}

if [ -z "$keep" ]; then
  train_to "$steps" "$@"
elif "$trainer" --help | grep -q -- --keep-every; then
  train_to "$steps" --keep-every "$keep" "$@"
else
  for s in $(seq "$keep" "$keep" $((steps - 1))) "$steps"; do
    [ -e "$w/part$s" ] && continue
    train_to "$s" "$@"
    [ "$s" -lt "$steps" ] && cp "$w/ckpt.h5" "$w/ckpt.step$s.h5"
    touch "$w/part$s"
  done
fi

awk '{ t += $1 } END { printf "%.1f\n", t }' "$w/time" > "$run/train.time"
rm -rf "$run/ckpts"
mkdir -p "$run/ckpts"
for f in "$w"/*.step*.h5; do [ -e "$f" ] && mv "$f" "$run/ckpts/"; done
mv "$w/train.jsonl" "$run/train.jsonl"
if [ -e "$w/ckpt.best.h5" ]; then mv "$w/ckpt.best.h5" "$run/ckpt.best.h5"; else cp "$w/ckpt.h5" "$run/ckpt.best.h5"; fi
mv "$w/ckpt.h5" "$run/ckpt.h5"
touch "$run/ckpt.h5"
rm -rf "$w"
