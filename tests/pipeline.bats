#!/usr/bin/env bats
# pipeline.bats — pipelines/act_sim.mk, evaluate.sh and sweep.sh at toy sizes (3 short demos at
# 24x32, a tiny model trained for 4 steps, 2 evaluation episodes): every declared output exists
# and is well formed, a second make does nothing, touching the stats retrains without
# re-recording, the sweep writes one row per grid point. The training tests skip while act-train
# is not built.

bats_require_minimum_version 1.5.0

setup_file() {
  export PIPELINES="${ILT_TESTS:-$BATS_TEST_DIRNAME}/../pipelines"
  export PYTHON=${PYTHON:-/usr/bin/python3}
  # Toy settings shared by every run (MAX_STEPS also shortens the evaluation episodes).
  export TOY="TASK=transfer_cube DEMOS=3 IMAGE_SIZE=24x32 MAX_STEPS=80 CHUNK=10 HIDDEN=32 FF=64
    ENC_LAYERS=1 DEC_LAYERS=1 BATCH=8 STEPS=4 EVAL_EPISODES=2 VIDEO_EPISODES=1 THREADS=1 JOBS=2"
}

setup() {
  T=$BATS_TEST_TMPDIR
  cd "$T"
}

need_act_train() {
  command -v act-train >/dev/null || skip "act-train is not built yet"
}

act_sim() { make --no-print-directory -f "$PIPELINES/act_sim.mk" $TOY "$@"; }

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }

# ---------------------------------------------------------------- data stages (no training)

@test "act_sim: record and stats at toy size; a second make does nothing" {
  run act_sim RUN_DIR=r stats
  [ "$status" -eq 0 ]
  [ "$(wc -l < r/episodes.list)" -eq 3 ]
  for s in 0 1 2; do [ -s r/episodes/episode_$s.hdf5 ]; done
  # record.jsonl: 3 episode lines and the summary
  [ "$(grep -c '"seed"' r/record.jsonl)" -eq 3 ]
  tail -n 1 r/record.jsonl | grep -q '"summary":true'
  tar tf r/stats.tar | grep -qx 'stats.action.mean.npy'
  tar tf r/stats.tar | grep -qx 'stats.observation.state.std.npy'
  $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["action"]["mean"]) == 14' r/stats.json
  run act_sim RUN_DIR=r stats
  [ "$status" -eq 0 ]
  [[ "$output" == *"Nothing to be done"* ]]
  run act_sim -q RUN_DIR=r r/stats.tar r/stats.json r/episodes.list
  [ "$status" -eq 0 ]
}

@test "act_sim: DEMOS=4 records only the new episode; IMAGE_SIZE starts over" {
  act_sim RUN_DIR=r record >/dev/null 2>&1
  touch -d '2001-01-01' r/episodes/episode_0.hdf5
  run act_sim RUN_DIR=r DEMOS=4 record
  [ "$status" -eq 0 ]
  [ "$(wc -l < r/episodes.list)" -eq 4 ]
  [ -s r/episodes/episode_3.hdf5 ]
  [ "$(stat -c %Y r/episodes/episode_0.hdf5)" = "$(date -d 2001-01-01 +%s)" ]
  run act_sim RUN_DIR=r DEMOS=4 IMAGE_SIZE=16x24 record
  [ "$status" -eq 0 ]
  [ "$(stat -c %Y r/episodes/episode_0.hdf5)" != "$(date -d 2001-01-01 +%s)" ]
  h5ls r/episodes/episode_0.hdf5/observations/images | grep -q '{80/Inf, 16, 24, 3}'
}

@test "evaluate.sh: scripted episodes in parallel, in seed order, resumable" {
  run "$PIPELINES/evaluate.sh" -o e.jsonl -p scripted -n 3 --seed 100000 -j 2 --frames 1 -- \
    -t transfer_cube --image-size 24x32 --max-steps 20
  [ "$status" -eq 0 ]
  [ "$(wc -l < e.jsonl)" -eq 4 ]
  [ "$(head -n 3 e.jsonl | grep -o '"seed":[0-9]*' | tr '\n' ' ')" = '"seed":100000 "seed":100001 "seed":100002 ' ]
  tail -n 1 e.jsonl | grep -q '"episodes":3'
  [ -s e.jsonl.d/frames_100000.tar ] && [ ! -e e.jsonl.d/frames_100001.tar ]
  # a second call with one result missing reruns only that seed
  touch -d '2001-01-01' e.jsonl.d/seed_100000.json
  rm e.jsonl.d/seed_100001.json
  run "$PIPELINES/evaluate.sh" -o e.jsonl -p scripted -n 3 --seed 100000 -j 2 --frames 1 -- \
    -t transfer_cube --image-size 24x32 --max-steps 20
  [ "$status" -eq 0 ]
  [ -s e.jsonl.d/seed_100001.json ]
  [ "$(stat -c %Y e.jsonl.d/seed_100000.json)" = "$(date -d 2001-01-01 +%s)" ]
  # other arguments: everything is redone
  run "$PIPELINES/evaluate.sh" -o e.jsonl -p scripted -n 3 --seed 100000 -j 2 -- \
    -t transfer_cube --image-size 24x32 --max-steps 21
  [ "$(stat -c %Y e.jsonl.d/seed_100000.json)" != "$(date -d 2001-01-01 +%s)" ]
  [ "$(grep -c '"steps":21' e.jsonl)" -eq 3 ]
}

@test "evaluate.sh: a failing rollout fails the evaluation and leaves no result file" {
  run "$PIPELINES/evaluate.sh" -o e.jsonl -p scripted -n 2 --seed 0 -j 2 -- -t no_such_task
  [ "$status" -ne 0 ]
  [ ! -e e.jsonl ]
  run "$PIPELINES/evaluate.sh" -o e.jsonl -p scripted
  [ "$status" -eq 2 ]
}

@test "sweep.sh: usage errors" {
  run "$PIPELINES/sweep.sh" CHUNK=10
  [ "$status" -eq 2 ]
  [[ "$output" == *"no grid"* ]]
  run "$PIPELINES/sweep.sh" --bogus
  [ "$status" -eq 2 ]
  run "$PIPELINES/sweep.sh" CHUNK="1 2" RUN_DIR=x
  [ "$status" -eq 2 ]
  run "$PIPELINES/sweep.sh" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"--sshlogin"* ]]
}

@test "sweep.sh: --dry-run lists one run per grid point, sharing the data when it can" {
  run "$PIPELINES/sweep.sh" -n -o s CHUNK="5 10" KL="1 10 100" STEPS=4
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 6 ]
  [[ "${lines[0]}" == *"CHUNK=5 KL=1 DATA_DIR=$T/s/data RUN_DIR=$T/s/CHUNK-5_KL-1"* ]]
  [[ "${lines[5]}" == *"RUN_DIR=$T/s/CHUNK-10_KL-100"* ]]
  run "$PIPELINES/sweep.sh" -n -o s DEMOS="2 3"
  [ "${#lines[@]}" -eq 2 ]
  [[ "$output" != *DATA_DIR* ]]
}

# ---------------------------------------------------------------- the whole pipeline

@test "act_sim: every output exists and is well formed; a second make does nothing" {
  need_act_train
  run act_sim RUN_DIR=r EVAL_EVERY=2
  echo "$output" | tail -n 30
  [ "$status" -eq 0 ]
  # checkpoints and logs
  [ -s r/ckpt.h5 ] && [ -s r/ckpt.best.h5 ] && [ -s r/ckpts/ckpt.step2.h5 ]
  h5ls r/ckpt.h5 >/dev/null
  grep -q '"step":4' r/train.jsonl
  awk '$1 > 0' r/train.time | grep -q .
  # evaluation: 2 episodes then the summary
  [ "$(grep -c '"seed":10000[01]' r/eval.jsonl)" -eq 2 ]
  tail -n 1 r/eval.jsonl | grep -q '"summary":true,.*"episodes":2'
  # success.tsv: the step-2 checkpoint and the final one
  [ "$(cut -f1 r/success.tsv | tr '\n' ' ')" = "2 4 " ]
  is_png r/loss.png
  is_png r/success.png
  [ "$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name -of csv=p=0 r/eval.mp4)" = h264 ]
  grep -q 'Success rate: [0-9.]*%' r/report.md
  grep -q 'Wilson interval' r/report.md
  grep -q '(eval.mp4)' r/report.md
  grep -q '(loss.png)' r/report.md
  grep -q '(success.png)' r/report.md
  grep -q '| CHUNK | 10 |' r/report.md
  # results.tsv: header and one row with the same number of fields
  [ "$(wc -l < r/results.tsv)" -eq 2 ]
  [ "$(awk -F'\t' '{ print NF }' r/results.tsv | uniq | wc -l)" -eq 1 ]
  # summary prints the success rate and the paths
  run act_sim RUN_DIR=r EVAL_EVERY=2 summary
  [[ "${lines[0]}" == "success rate: "* ]]
  [[ "$output" == *"video:  r/eval.mp4"* ]]
  [[ "$output" == *"report: r/report.md"* ]]
  # a second make does nothing
  run act_sim RUN_DIR=r EVAL_EVERY=2
  [ "$status" -eq 0 ]
  [ "$output" = "make: Nothing to be done for 'all'." ]
  run act_sim -q RUN_DIR=r EVAL_EVERY=2 r/report.md r/results.tsv r/eval.mp4 r/loss.png r/success.png
  [ "$status" -eq 0 ]

  # touching the stats retrains and re-evaluates but does not re-record
  touch -d '2001-01-01' r/episodes/episode_*.hdf5
  sleep 1; touch r/stats.tar
  run act_sim RUN_DIR=r EVAL_EVERY=2
  [ "$status" -eq 0 ]
  [[ "$output" == *"act_sim: training ACT"* ]]
  [[ "$output" == *"act_sim: evaluating"* ]]
  [[ "$output" != *"act_sim: recording"* ]]
  [ "$(stat -c %Y r/episodes/episode_0.hdf5)" = "$(date -d 2001-01-01 +%s)" ]
  [ r/report.md -nt r/stats.tar ]

  # changing an evaluation variable re-evaluates only
  run act_sim RUN_DIR=r EVAL_EVERY=2 EVAL_EPISODES=3
  [ "$status" -eq 0 ]
  [[ "$output" != *"act_sim: training"* ]]
  tail -n 1 r/eval.jsonl | grep -q '"episodes":3'
}

@test "sweep.sh: a 2-point grid with --sshlogin ':' (local), resumable; one row per point" {
  need_act_train
  run "$PIPELINES/sweep.sh" -o s -j 2 -S : $TOY CHUNK="5 10" THREADS=1 JOBS=1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(wc -l < s/sweep.tsv)" -eq 3 ]
  [ "$(head -n 1 s/sweep.tsv)" = "$(printf 'CHUNK\tval_loss\tsuccess_rate\tsuccess_lo\tsuccess_hi\ttrain_s\trun')" ]
  [ "$(cut -f1,7 s/sweep.tsv | tail -n 2 | tr '\t\n' ': ')" = "5:CHUNK-5 10:CHUNK-10 " ]
  [ "$(cut -f3-6 s/sweep.tsv | grep -c NA)" -eq 0 ]
  [ "$(grep -c '^| ' s/sweep.md)" -eq 4 ]
  is_png s/sweep.png
  [ -s s/data/stats.tar ] && [ ! -e s/CHUNK-5/episodes ]
  # rerun: the job log has both points, nothing runs again
  run "$PIPELINES/sweep.sh" -o s -j 2 -S : $TOY CHUNK="5 10" THREADS=1 JOBS=1
  [ "$status" -eq 0 ]
  [[ "$output" != *"CHUNK-5: success"* ]]
  [ "$(wc -l < s/joblog)" -eq 3 ]
}
