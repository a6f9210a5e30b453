#!/usr/bin/env bats
# survival.bats — what a kill or a full disk leaves behind. Trainers killed with SIGKILL at random
# moments (tests/kill-trials.sh, ILT_KILL_TRIALS trials each, 3 by default): every checkpoint on
# disk loads and --resume ends with the same bytes as an uninterrupted run. A checkpoint write
# onto a full file system (a small tmpfs; skipped where mount is not permitted): a clear error,
# the previous checkpoint intact, no temporary. rollout interrupted while recording: the finished
# episodes intact, nothing half-written under a final name.

bats_require_minimum_version 1.5.0

LOW="observation.object,observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos"

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  rollout -t lift -p scripted -n 2 --max-steps 24 --layout robomimic -o "$d/lift.hdf5" -q >/dev/null
  h5slice -q --obs object,robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos "$d/lift.hdf5" > "$d/lift.tar"
  normstats "$d/lift.tar" > "$d/stats.tar"
  chunkify -k 3 --obs-steps 2 --action-start "$d/lift.tar" > "$d/ibc.tar"
}

setup() {
  d="$BATS_FILE_TMPDIR"
  t="$BATS_TEST_TMPDIR"
}

teardown() {
  if [ -n "${mnt:-}" ]; then umount "$mnt" 2>/dev/null || true; fi
}

# kill-trials.sh on one trainer: its summary line must report no failure of any kind.
kill_trials() {
  run --separate-stderr bash "$ILT_TESTS/kill-trials.sh" -n "${ILT_KILL_TRIALS:-3}" -s "${ILT_KILL_SEED:-1}" -d "$t/k" "$1"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"$1-train: ${ILT_KILL_TRIALS:-3} trials"*": 0 unloadable, 0 differing after --resume, 0 temporaries left"* ]]
}

@test "act-train killed with SIGKILL at random moments: checkpoints load, --resume gives the same bytes" {
  kill_trials act
}

@test "dp-train killed with SIGKILL at random moments: checkpoints load, --resume gives the same bytes" {
  kill_trials dp
}

@test "ibc-train killed with SIGKILL at random moments: checkpoints load, --resume gives the same bytes" {
  kill_trials ibc
}

IBC="ibc-train --lowdim $LOW --action-steps 2 --width 16 --negatives 8 --eval-samples 32 --batch-size 4 --threads 1 -q"

@test "a stale temporary of a dead writer is removed by the next run; a live writer's is left alone" {
  sleep 30 & live=$!
  ( exit 0 ) & dead=$!
  wait $dead
  touch "$t/c.h5.tmp.$dead" "$t/c.step2.h5.tmp.$dead" "$t/c.h5.tmp.$live" "$t/notes.tmp.$dead"
  $IBC --stats "$d/stats.tar" -o "$t/c.h5" --steps 1 "$d/ibc.tar"
  kill $live
  [ -e "$t/c.h5" ]
  [ ! -e "$t/c.h5.tmp.$dead" ]
  [ ! -e "$t/c.step2.h5.tmp.$dead" ]
  [ -e "$t/c.h5.tmp.$live" ]
  [ -e "$t/notes.tmp.$dead" ]
}

@test "checkpoint onto a full file system: a clear error, the previous checkpoint intact, no temporary" {
  # the step-1 checkpoint as a run of 2 steps writes it (kept copy: the same bytes as the latest)
  mkdir -p "$t/ref"
  $IBC --stats "$d/stats.tar" -o "$t/ref/c.h5" --steps 2 --save-every 1 --keep-every 1 "$d/ibc.tar"
  mnt="$t/mnt"
  mkdir -p "$mnt"
  mount -t tmpfs -o size=40k tmpfs "$mnt" 2>/dev/null || skip "mount -t tmpfs is not permitted here"
  umount "$mnt"
  at_close=0 at_write=0
  # 20..96 kB: the disk fills during the first or the second save, creating the file, in a
  # dataset or at the close (76 kB here)
  for kb in $(seq 20 4 96); do
    mount -t tmpfs -o size=${kb}k tmpfs "$mnt"
    run --separate-stderr $IBC --stats "$d/stats.tar" -o "$mnt/c.h5" --steps 2 --save-every 1 "$d/ibc.tar"
    echo "$kb kB: status $status: $stderr; left: $(ls -A "$mnt" | tr '\n' ' ')"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ibc-train: $mnt/"*": No space left on device" ]]
    [[ "$stderr" == *"cannot finish writing"* ]] && at_close=$((at_close + 1)) || at_write=$((at_write + 1))
    [ -z "$(ls -A "$mnt" | grep '\.tmp\.' || true)" ]
    if [ -e "$mnt/c.h5" ]; then cmp "$mnt/c.h5" "$t/ref/c.step1.h5"; fi
    for f in "$mnt"/*.h5; do [ -e "$f" ] || continue; predict -c "$f" "$d/ibc.tar" > /dev/null; done
    umount "$mnt"
  done
  echo "failed at the close $at_close times, in a write $at_write times"
  [ "$at_close" -gt 0 ]
}

# rollout recording transfer_cube episodes of 60 steps into $t/$1 (ACT layout) or the robomimic
# file $t/$1.hdf5, in the background with SIGINT not ignored; waits until $2 episodes are done.
record_in_background() {
  local layout=(-o "$t/$1")
  [ "$3" = robomimic ] && layout=(-o "$t/$1.hdf5" --layout robomimic)
  env --default-signal=INT rollout -t transfer_cube -p scripted -n 500 --max-steps 60 --image-size 32x32 -q \
    "${layout[@]}" > "$t/$1.jsonl" 2> "$t/$1.err" &
  pid=$!
  for i in $(seq 600); do [ "$(wc -l < "$t/$1.jsonl")" -ge "$2" ] && break; sleep 0.05; done
  [ "$(wc -l < "$t/$1.jsonl")" -ge "$2" ]
}

@test "rollout interrupted by SIGINT, SIGTERM or SIGHUP while recording: the finished episodes intact, no temporary, killed by the signal" {
  for sig in INT TERM HUP; do
    record_in_background $sig 2 act
    kill -$sig $pid
    st=0; wait $pid || st=$?
    cat "$t/$sig.err"
    [ "$st" -eq $((128 + $(kill -l $sig))) ]
    [[ "$(cat "$t/$sig.err")" == *"interrupted by SIG$sig"* ]]
    [ -z "$(ls -A "$t/$sig" | grep -v '^episode_[0-9]*\.hdf5$' || true)" ]   # no temporary
    n=$(ls "$t/$sig" | wc -l)
    [ "$n" -ge 2 ] && [ "$n" -lt 500 ]
    [ "$n" -eq "$(grep -c '"episode"' "$t/$sig.jsonl")" ]   # each reported episode is on disk
    h5slice -q "$t/$sig"/*.hdf5 > "$t/$sig.tar"          # and reads back whole (checksums)
    [ "$(tar tf "$t/$sig.tar" | grep -c '\.action\.npy$')" -eq $((n * 60)) ]
  done
}

@test "rollout interrupted while recording a robomimic file: the file holds the finished demos; with SIGKILL nothing is under its name" {
  record_in_background rm 2 robomimic
  kill -TERM $pid
  st=0; wait $pid || st=$?
  [ "$st" -eq 143 ]
  n=$(grep -c '"episode"' "$t/rm.jsonl")
  [ "$(h5slice -q "$t/rm.hdf5" | tar t | grep -c '\.action\.npy$')" -eq $((n * 60)) ]
  [ -z "$(ls -A "$t" | grep '\.tmp\.' || true)" ]
  record_in_background rm9 2 robomimic
  kill -9 $pid
  wait $pid || true
  [ ! -e "$t/rm9.hdf5" ]
  [ -n "$(ls -A "$t" | grep '^rm9\.hdf5\.tmp\.' || true)" ]
  rollout -t transfer_cube -p scripted -n 1 --max-steps 5 --image-size 32x32 -q -o "$t/rm9.hdf5" --layout robomimic > /dev/null
  [ -z "$(ls -A "$t" | grep '\.tmp\.' || true)" ]   # the next run removed the killed one's temporary
}

@test "rollout killed with SIGKILL while recording: the finished episodes intact; the next run removes the temporary" {
  record_in_background k9 2 act
  kill -9 $pid
  wait $pid || true
  n=$(ls "$t/k9" | grep -c '^episode_[0-9]*\.hdf5$')
  [ "$n" -ge 2 ]
  h5slice -q "$t/k9"/episode_*.hdf5 > /dev/null
  [ "$(ls -A "$t/k9" | grep -v '^episode_[0-9]*\.hdf5$' | grep -c '^episode_[0-9]*\.hdf5\.tmp\.[0-9]*$' || true)" -le 1 ]
  rollout -t transfer_cube -p scripted -n 1 --seed 1000 --max-steps 5 --image-size 32x32 -q -o "$t/k9" > /dev/null
  [ -z "$(ls -A "$t/k9" | grep -v '^episode_[0-9]*\.hdf5$' || true)" ]
  [ "$(ls "$t/k9" | wc -l)" -eq $((n + 1)) ]
}
