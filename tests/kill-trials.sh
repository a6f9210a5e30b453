#!/usr/bin/env bash
# kill-trials.sh — kill -9 a trainer at random moments and check what it leaves: every checkpoint
# on disk loads (predict), and --resume (or a fresh start when no latest checkpoint exists yet)
# ends with the same files, byte for byte, as a run that was never interrupted; no temporary is
# left after the resumed run. predict runs each checkpoint on the data's first sample.
#
#   tests/kill-trials.sh [-n TRIALS] [-s SEED] [-d DIR] [act|dp|ibc ...]
#
# Per trainer (tiny models; act: ACT on 32x32 images, dp and ibc: low-dimensional lift data): one
# uninterrupted run of 4 steps with a checkpoint every step and a kept one every 2 (CKPT.h5,
# CKPT.best.h5, CKPT.step2.h5) timed; then TRIALS runs each killed after a delay drawn uniformly in
# [0, that time], checked and resumed. One line per trial, then a summary per trainer:
#   act-train: 20 trials: 0 unloadable, 0 differing after --resume (killed before the first
#   checkpoint 3, while writing one 5, between 12)
# Exit status 1 if any trial found an unloadable checkpoint, a difference or a leftover temporary.
# Needs the built tools on PATH and PYTHON (Debian's python3 with h5py: fixtures).
set -u
trials=20 seed=1 dir=
while getopts n:s:d: opt; do
  case $opt in
    n) trials=$OPTARG ;;
    s) seed=$OPTARG ;;
    d) dir=$OPTARG ;;
    *) echo "usage: kill-trials.sh [-n TRIALS] [-s SEED] [-d DIR] [act|dp|ibc ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- act dp ibc
here=$(cd "$(dirname "$0")" && pwd)
: "${PYTHON:=/usr/bin/python3}"
[ -n "$dir" ] || { dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT; }
mkdir -p "$dir"
RANDOM=$seed

LOW="observation.object,observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos"
RUN="--steps 4 --save-every 1 --keep-every 2 --threads 1 -q"

fixtures() {
  local d=$dir/data
  [ -e "$d/done" ] && return 0
  mkdir -p "$d"
  "$PYTHON" "$here/make_episodes.py" act "$d/eps" --episodes 2 --frames 8 --cams top:32:32 >/dev/null &&
    h5slice -q "$d"/eps/*.hdf5 > "$d/frames.tar" &&
    normstats "$d/frames.tar" > "$d/stats.tar" &&
    chunkify -k 5 "$d/frames.tar" > "$d/act.tar" &&
    rollout -t lift -p scripted -n 2 --max-steps 24 --layout robomimic -o "$d/lift.hdf5" -q >/dev/null &&
    h5slice -q --obs object,robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos "$d/lift.hdf5" > "$d/lift.tar" &&
    normstats "$d/lift.tar" > "$d/lift_stats.tar" &&
    chunkify -k 8 --obs-steps 2 --action-start "$d/lift.tar" > "$d/dp.tar" &&
    chunkify -k 3 --obs-steps 2 --action-start "$d/lift.tar" > "$d/ibc.tar" &&
    for t in act dp ibc; do first_sample "$d/$t.tar" "$d/$t.one.tar" || return 1; done &&
    touch "$d/done"
}

# The first sample of a stream: enough for predict to load a checkpoint and run it once.
first_sample() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, tarfile
src, out = tarfile.open(sys.argv[1]), tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT)
key = None
for m in src.getmembers():
    k = m.name.split(".", 1)[0]
    if key not in (None, k):
        break
    key = k
    out.addfile(m, src.extractfile(m))
out.close()
PY
}

# The trainer's command line without -o and --resume.
command_of() {
  local d=$dir/data
  case $1 in
    act) echo "act-train --chunk 5 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 --dec-layers 2 --nheads 2
               --latent-dim 4 --batch-size 4 $RUN --stats $d/stats.tar $d/act.tar" ;;
    dp) echo "dp-train --encoder lowdim --lowdim $LOW --down-dims 16,32 --step-embed 8 --horizon 8 --action-steps 4
              --batch-size 4 --eval-steps 2 --ema on $RUN --stats $d/lift_stats.tar $d/dp.tar" ;;
    ibc) echo "ibc-train --lowdim $LOW --action-steps 2 --width 16 --negatives 8 --eval-samples 32 --batch-size 4
               $RUN --stats $d/lift_stats.tar $d/ibc.tar" ;;
  esac
}

input_of() { echo "$dir/data/$1.one.tar"; }

now() { date +%s.%N; }

failures=0
fixtures || { echo "kill-trials: cannot make the fixtures" >&2; exit 1; }
for trainer in "$@"; do
  cmd=$(command_of "$trainer")
  [ -n "$cmd" ] || { echo "kill-trials: unknown trainer $trainer (act, dp, ibc)" >&2; exit 2; }
  ref=$dir/$trainer/ref
  rm -rf "$dir/$trainer"; mkdir -p "$ref"
  t0=$(now)
  # shellcheck disable=SC2086
  $cmd -o "$ref/c.h5" || { echo "kill-trials: the uninterrupted $trainer run failed" >&2; exit 1; }
  t1=$(now)
  wall=$(echo "$t1 - $t0" | bc -l)
  refs=$(cd "$ref" && ls)
  unloadable=0 differing=0 leftover=0 before=0 writing=0 between=0
  for i in $(seq "$trials"); do
    run=$dir/$trainer/trial$i
    mkdir -p "$run"
    delay=$(echo "$wall * $RANDOM / 32767" | bc -l)
    # shellcheck disable=SC2086
    $cmd -o "$run/c.h5" 2>/dev/null &
    pid=$!
    sleep "$delay"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    left=$(cd "$run" && ls)
    if ls "$run" | grep -q '\.tmp\.'; then state=writing; writing=$((writing + 1))
    elif [ ! -e "$run/c.h5" ]; then state=before; before=$((before + 1))
    else state=between; between=$((between + 1)); fi
    bad=
    for f in "$run"/*.h5; do
      [ -e "$f" ] || continue
      predict -c "$f" "$(input_of "$trainer")" > /dev/null 2> "$run/predict.err" ||
        { bad="$bad unloadable:$(basename "$f")"; unloadable=$((unloadable + 1)); }
    done
    if [ -e "$run/c.h5" ]; then
      # shellcheck disable=SC2086
      $cmd -o "$run/c.h5" --resume 2> "$run/resume.err"
    else
      # shellcheck disable=SC2086
      $cmd -o "$run/c.h5" 2> "$run/resume.err"
    fi || bad="$bad resume-failed"
    for f in $refs; do
      cmp -s "$ref/$f" "$run/$f" || { bad="$bad differs:$f"; differing=$((differing + 1)); }
    done
    if ls "$run" | grep -q '\.tmp\.'; then bad="$bad leftover-temporary"; leftover=$((leftover + 1)); fi
    printf '%s trial %d: killed after %.2f s (%s: %s)%s\n' "$trainer" "$i" "$delay" "$state" \
      "$(echo $left | tr -d '\n')" "${bad:- ok}"
    [ -z "$bad" ] && rm -rf "$run"
    [ -z "$bad" ] || failures=$((failures + 1))
  done
  printf '%s-train: %d trials, uninterrupted run %.1f s: %d unloadable, %d differing after --resume, %d temporaries left (killed before the first checkpoint %d, while writing one %d, between %d)\n' \
    "$trainer" "$trials" "$wall" "$unloadable" "$differing" "$leftover" "$before" "$writing" "$between"
done
[ "$failures" -eq 0 ]
