#!/usr/bin/env bats
# pipeline.bats — pipelines/act_sim.mk, evaluate.sh and sweep.sh at toy sizes (3 short demos at
# 24x32, a tiny model trained for 4 steps, 2 evaluation episodes): every declared output exists
# and is well formed, a second make does nothing, touching the stats retrains without
# re-recording, the sweep writes one row per grid point. Tests skip (saying why) while act-train
# or rollout's ACT policy are not built yet.

bats_require_minimum_version 1.5.0

setup_file() {
  export PIPELINES="${ILT_TESTS:-$BATS_TEST_DIRNAME}/../pipelines"
  export PYTHON=${PYTHON:-/usr/bin/python3}
  # Toy settings shared by every run (MAX_STEPS also shortens the evaluation episodes).
  export TOY="TASK=transfer_cube DEMOS=3 IMAGE_SIZE=24x32 MAX_STEPS=80 CHUNK=10 HIDDEN=32 FF=64
    ENC_LAYERS=1 DEC_LAYERS=1 BATCH=8 STEPS=4 SAVE_EVERY=4 LOG_EVERY=1 EVAL_EPISODES=2
    VIDEO_EPISODES=1 THREADS=1 JOBS=2"
  # What is built yet: act-train, an ACT policy in rollout.
  export HAVE_ACT_TRAIN=0 HAVE_ROLLOUT_ACT=0
  command -v act-train >/dev/null || return 0
  HAVE_ACT_TRAIN=1
  local d=$BATS_FILE_TMPDIR/probe
  rollout -q -t transfer_cube -p scripted -n 1 --max-steps 4 --image-size 24x32 -o "$d" >/dev/null &&
    h5slice -q "$d"/*.hdf5 | chunkify -k 2 |
    act-train -q --stats <(h5slice -q "$d"/*.hdf5 | normstats) -o "$d/ckpt.h5" --steps 0 --chunk 2 \
      --hidden-dim 8 --dim-feedforward 8 --enc-layers 1 --dec-layers 1 --val-fraction 0 2>/dev/null &&
    rollout -q -t transfer_cube -p "$d/ckpt.h5" -n 1 --max-steps 2 --image-size 24x32 >/dev/null 2>&1 &&
    HAVE_ROLLOUT_ACT=1
  return 0
}

setup() {
  T=$BATS_TEST_TMPDIR
  cd "$T" || return
}

# Training through the pipeline is slow under ASan and adds nothing to the tools' own ASan tests.
need_act_train() {
  [ -z "${ILT_ASAN:-}" ] || skip "pipeline training runs on the normal build only"
  [ "$HAVE_ACT_TRAIN" = 1 ] || skip "act-train is not built yet"
}
need_rollout_act() {
  need_act_train
  [ "$HAVE_ROLLOUT_ACT" = 1 ] || skip "rollout cannot run an ACT checkpoint yet"
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

@test "help prints each pipeline's own header, not that of a file it includes" {
  for p in act_sim dp_sim ibc_sim; do
    run make --no-print-directory -f "$PIPELINES/$p.mk" help
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "pipelines/$p.mk — "* ]]
    [[ "$output" != *"?="* ]]
  done
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
  [ ! -e e.jsonl.d/final_100000.tar ]
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

@test "evaluate.sh: --stills keeps every episode's final frames, --frame-size sets their size" {
  run "$PIPELINES/evaluate.sh" -o e.jsonl -p scripted -n 2 --seed 7 -j 2 --frames 1 --frame-size 48x64 --stills -- \
    -t transfer_cube --image-size 24x32 --max-steps 10
  [ "$status" -eq 0 ]
  [ -s e.jsonl.d/final_7.tar ] && [ -s e.jsonl.d/final_8.tar ] && [ ! -e e.jsonl.d/frames_8.tar ]
  $PYTHON "${ILT_TESTS:-$BATS_TEST_DIRNAME}/read_stream.py" dump e.jsonl.d/frames_7.tar | grep -q 'observation.images.top |u1 \[48, 64, 3\]'
  $PYTHON "${ILT_TESTS:-$BATS_TEST_DIRNAME}/read_stream.py" dump e.jsonl.d/final_8.tar | grep -q 'ep000008_t000010 observation.images.top |u1 \[48, 64, 3\]'
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

@test "act_sim: training at toy size; a second make does nothing; touching the stats retrains, not re-records" {
  need_act_train
  run act_sim RUN_DIR=r train plots
  echo "$output" | tail -n 20
  [ "$status" -eq 0 ]
  [ -s r/ckpt.h5 ] && [ -s r/ckpt.best.h5 ] && [ ! -e r/train.work ]
  h5ls r/ckpt.h5 >/dev/null
  [ "$(grep -c '"step":' r/train.jsonl)" -eq 4 ]
  grep -q '"step":4,.*"val_loss":[0-9]' r/train.jsonl
  awk '$1 > 0' r/train.time | grep -q .
  is_png r/loss.png
  run act_sim RUN_DIR=r train plots
  [ "$status" -eq 0 ]
  [[ "$output" == *"Nothing to be done"* ]]
  run act_sim -q RUN_DIR=r r/ckpt.h5 r/loss.png
  [ "$status" -eq 0 ]

  touch -d '2001-01-01' r/episodes/episode_*.hdf5
  sleep 1; touch r/stats.tar
  run act_sim RUN_DIR=r train plots
  [ "$status" -eq 0 ]
  [[ "$output" == *"act_sim: training ACT"* ]]
  [[ "$output" != *"act_sim: recording"* ]]
  [ "$(stat -c %Y r/episodes/episode_0.hdf5)" = "$(date -d 2001-01-01 +%s)" ]
  [ r/ckpt.h5 -nt r/stats.tar ] && [ r/loss.png -nt r/stats.tar ]

  # a model variable retrains only
  run act_sim RUN_DIR=r CHUNK=5 train
  [ "$status" -eq 0 ]
  [[ "$output" == *"act-train"*"--chunk 5"* ]]
  [[ "$output" != *"act_sim: recording"* ]]
}

@test "act_sim: an interrupted training resumes from its last checkpoint, same losses" {
  need_act_train
  # An act-train that stops after 2 of the 4 steps, as if the run had been killed there.
  mkdir bin
  for t in "$(dirname "$(command -v act-train)")"/*; do ln -s "$t" bin/; done
  rm bin/act-train
  printf '#!/bin/sh\n%s "$@" --steps 2\nexit 1\n' "$(command -v act-train)" > bin/act-train
  chmod +x bin/act-train
  run act_sim RUN_DIR=r ILT_BIN="$T/bin" train
  [ "$status" -ne 0 ]
  [ ! -e r/ckpt.h5 ] && [ -s r/train.work/ckpt.h5 ]
  run act_sim RUN_DIR=r train
  [ "$status" -eq 0 ]
  [[ "$output" == *"act_sim: resuming training from r/train.work/ckpt.h5"* ]]
  [ ! -e r/train.work ]
  # the same losses as a run that was not interrupted
  act_sim RUN_DIR=u DATA_DIR=r train >/dev/null 2>&1
  [ "$(cut -d, -f1-4 r/train.jsonl)" = "$(cut -d, -f1-4 u/train.jsonl)" ]
  [ "$(grep -c '"step"' r/train.jsonl)" -eq 4 ]
}

@test "act_sim: EVAL_EVERY keeps the intermediate checkpoints, with the same losses" {
  need_act_train
  run act_sim RUN_DIR=r EVAL_EVERY=2 train
  [ "$status" -eq 0 ]
  [ -s r/ckpts/ckpt.step2.h5 ] && [ ! -e r/ckpts/ckpt.step4.h5 ]
  h5ls r/ckpts/ckpt.step2.h5 >/dev/null
  act_sim RUN_DIR=u DATA_DIR=r train >/dev/null 2>&1
  [ "$(cut -d, -f1-4 r/train.jsonl)" = "$(cut -d, -f1-4 u/train.jsonl)" ]
}

@test "act_sim: every output exists and is well formed; a second make does nothing" {
  need_rollout_act
  run act_sim RUN_DIR=r
  echo "$output" | tail -n 30
  [ "$status" -eq 0 ]
  # evaluation: 2 episodes then the summary
  [ "$(grep -c '"seed":10000[01]' r/eval.jsonl)" -eq 2 ]
  tail -n 1 r/eval.jsonl | grep -q '"summary":true,.*"episodes":2'
  is_png r/loss.png
  [ "$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name -of csv=p=0 r/eval.mp4)" = h264 ]
  grep -q 'Success rate: [0-9.]*%' r/report.md
  grep -q 'Wilson interval' r/report.md
  grep -q '(eval.mp4)' r/report.md
  grep -q '(loss.png)' r/report.md
  grep -q '| CHUNK | 10 |' r/report.md
  # the video at VIDEO_SIZE, not the policy's 24x32; a still per outcome, linked in the report
  [ "$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 r/eval.mp4)" = "320,240" ]
  [ "$(wc -l < r/stills.tsv)" -ge 1 ]
  while IFS=$'\t' read -r outcome seed file; do
    [[ "$outcome" == success || "$outcome" == failure ]] && is_png "r/$file"
    grep -q "seed $seed): \[$file\]($file)" r/report.md
  done < r/stills.tsv
  # results.tsv: header and one row with the same number of fields
  [ "$(wc -l < r/results.tsv)" -eq 2 ]
  [ "$(awk -F'\t' '{ print NF }' r/results.tsv | uniq | wc -l)" -eq 1 ]
  # summary prints the success rate and the paths
  run act_sim RUN_DIR=r summary
  [[ "${lines[0]}" == "success rate: "* ]]
  [[ "$output" == *"video:  r/eval.mp4"* ]]
  [[ "$output" == *"report: r/report.md"* ]]
  # a second make does nothing
  run act_sim RUN_DIR=r
  [ "$status" -eq 0 ]
  [ "$output" = "make: Nothing to be done for 'all'." ]
  run act_sim -q RUN_DIR=r r/report.md r/results.tsv r/eval.mp4 r/loss.png
  [ "$status" -eq 0 ]
  # an evaluation variable re-evaluates only
  run act_sim RUN_DIR=r EVAL_EPISODES=3
  [ "$status" -eq 0 ]
  [[ "$output" != *"act_sim: training"* ]]
  tail -n 1 r/eval.jsonl | grep -q '"episodes":3'
}

@test "act_sim: EVAL_EVERY evaluates the intermediate checkpoints (success.png)" {
  need_rollout_act
  run act_sim RUN_DIR=r EVAL_EVERY=2
  [ "$status" -eq 0 ]
  [ -s r/ckpts/ckpt.step2.h5 ]
  [ "$(cut -f1 r/success.tsv | tr '\n' ' ')" = "2 4 " ]
  is_png r/success.png
  grep -q '(success.png)' r/report.md
}

@test "sweep.sh: a 2-point grid with --sshlogin ':' (local), resumable; one row per point" {
  need_rollout_act
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

# ---------------------------------------------------------------- dp_sim.mk
@test "dp_sim: lift end to end at toy size on the shared stage rules; a second make does nothing" {
  [ -z "${ILT_ASAN:-}" ] || skip "pipeline training runs on the normal build only"
  dp_sim() {
    make --no-print-directory -f "$PIPELINES/dp_sim.mk" TASK=lift DEMOS=2 MAX_STEPS=24 HORIZON=8 ACTION_STEPS=4 \
      DOWN_DIMS=16,32 BATCH=4 STEPS=2 SAVE_EVERY=2 LOG_EVERY=1 EVAL_EPISODES=2 EVAL_STEPS=2 VIDEO_EPISODES=1 \
      THREADS=1 JOBS=2 TRAIN_ARGS="--step-embed 8 --eval-steps 2" "$@"
  }
  run dp_sim RUN_DIR=r
  echo "$output" | tail -n 30
  [ "$status" -eq 0 ]
  [[ "$output" == *"dp_sim: training Diffusion Policy (unet) for 2 steps"* ]]
  [ "$(cat r/episodes.list)" = r/episodes/demos.hdf5 ]
  [ "$(grep -c '"seed":10000[01]' r/eval.jsonl)" -eq 2 ]
  tail -n 1 r/eval.jsonl | grep -q '"summary":true,.*"episodes":2'
  grep -q '^# Diffusion Policy (unet) on lift' r/report.md
  grep -q 'by pipelines/dp_sim.mk' r/report.md
  is_png r/loss.png
  [ -s r/eval.mp4 ]
  "$PYTHON" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); assert f.attrs["policy"] in (b"diffusion","diffusion"); assert "ema" in f' r/ckpt.h5
  # lift's cube tilt is only shifted (range_eps 0.01)
  h5dump -a /config/lowdim_range_eps r/ckpt.h5 | grep -q '"0.00999999978"'
  run dp_sim RUN_DIR=r
  [ "$output" = "make: Nothing to be done for 'all'." ]
}

@test "dp_sim: EXPERT_ARGS reach the scripted expert and re-record; an unknown setting fails, nothing recorded" {
  rec() { make --no-print-directory -f "$PIPELINES/dp_sim.mk" TASK=lift DEMOS=1 MAX_STEPS=80 JOBS=1 RUN_DIR=r "$@" record; }
  steps() { grep -o '"steps":[0-9]*' r/record.jsonl | head -n 1; }
  run rec
  [ "$status" -eq 0 ]
  [ "$(steps)" = '"steps":28' ]
  # lift's expert at gain 0.3 approaches over more steps: the new setting re-records
  run rec EXPERT_ARGS=gain=0.3
  [ "$status" -eq 0 ]
  [ "$(steps)" = '"steps":36' ]
  grep -qx 'EXPERT_ARGS=gain=0.3' r/config/record.txt
  run rec EXPERT_ARGS=gain=0.3
  [[ "$output" == *"Nothing to be done"* ]]
  # RECORD_STEPS: the expert lifts on after its first success, every demonstration that long
  run rec EXPERT_ARGS=gain=0.3 RECORD_STEPS=50
  [ "$status" -eq 0 ]
  [ "$(steps)" = '"steps":50' ]
  grep -q '"success":true' r/record.jsonl
  run rec EXPERT_ARGS=speed=2
  [ "$status" -ne 0 ]
  [[ "$output" == *speed* ]]
  [ ! -e r/episodes.list ]
  [ ! -e r/episodes/demos.hdf5 ]
}

# ---------------------------------------------------------------- ibc_sim.mk
@test "dp_sim: lift with images defaults to the CPU recipes of docs/results.md (UNet, transformer); ibc_sim only to the data" {
  plan() { make --no-print-directory -n -f "$PIPELINES/dp_sim.mk" TASK=lift RUN_DIR=r "$@" train; }
  run plan ENCODER=hybrid
  [ "$status" -eq 0 ]
  [[ "$output" == *"--cameras agentview,robot0_eye_in_hand"*"--policy-arg gain=0.3"* ]]
  [[ "$output" == *"--lowdim observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos "* ]]
  [[ "$output" == *"--down-dims 128,256,512"*"--lr 3e-4 --warmup 200 --batch-size 32 --val-fraction 0.1"* ]]
  [[ "$output" == *"--steps 5000"* && "$output" != *"--p-drop-attn"* ]]
  # the transformer's: demonstrations of the expert at gain 0.15, warmup 500, dropout 0.1
  run plan ENCODER=hybrid NET=transformer
  [ "$status" -eq 0 ]
  [[ "$output" == *"--policy-arg gain=0.15"* ]]
  [[ "$output" == *"--p-drop-attn 0.1"*"--lr 3e-4 --warmup 500 --batch-size 32 --val-fraction 0.1"* ]]
  [[ "$output" != *"--down-dims"* && "$output" == *"--steps 5000"* ]]
  run plan ENCODER=hybrid NET=transformer EXPERT_GAIN=0.3 P_DROP_ATTN=0.3
  [ "$status" -eq 0 ]
  [[ "$output" == *"--policy-arg gain=0.3"* && "$output" == *"--p-drop-attn 0.3"* ]]
  # demonstrations end at the first success unless RECORD_STEPS sets their length
  [[ "$output" == *"--stop-on-success"* && "$output" != *"--max-steps"* ]]
  run plan ENCODER=hybrid RECORD_STEPS=70
  [ "$status" -eq 0 ]
  [[ "$output" == *"--layout robomimic"*"--max-steps 70"* && "$output" != *"--stop-on-success"* ]]
  # lift_abs (absolute actions) is recorded and observed as lift is
  run make --no-print-directory -n -f "$PIPELINES/dp_sim.mk" TASK=lift_abs RUN_DIR=r ENCODER=hybrid NET=transformer train
  [ "$status" -eq 0 ]
  [[ "$output" == *"--layout robomimic"*"-t lift_abs --cameras agentview,robot0_eye_in_hand"*"--policy-arg gain=0.15"* ]]
  [[ "$output" == *"--control-hz 20"*"--lowdim observation.robot0_eef_pos,"*"--lowdim-range-eps 0.01"* ]]
  # the low-dimensional recipe keeps the default expert, one camera and the object's pose
  run plan
  [ "$status" -eq 0 ]
  [[ "$output" != *"gain="* && "$output" != *"--down-dims"* ]]
  [[ "$output" == *"--cameras agentview "* && "$output" == *"--lowdim observation.object,"* ]]
  # ibc_sim records and observes lift with images the same way
  run make --no-print-directory -n -f "$PIPELINES/ibc_sim.mk" TASK=lift RUN_DIR=r ENCODER=hybrid train
  [ "$status" -eq 0 ]
  [[ "$output" == *"--cameras agentview,robot0_eye_in_hand"*"--policy-arg gain=0.3"* ]]
  [[ "$output" == *"--lowdim observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos "* ]]
}

@test "ibc_sim: lift end to end at toy size on the shared stage rules, Langevin inference; a second make does nothing" {
  [ -z "${ILT_ASAN:-}" ] || skip "pipeline training runs on the normal build only"
  ibc_sim() {
    make --no-print-directory -f "$PIPELINES/ibc_sim.mk" TASK=lift INFERENCE=langevin DEMOS=2 MAX_STEPS=24 \
      ACTION_STEPS=2 WIDTH=16 NEGATIVES=8 BATCH=4 STEPS=2 SAVE_EVERY=2 LOG_EVERY=1 EVAL_EPISODES=2 SAMPLES=16 \
      ITERATIONS=3 VIDEO_EPISODES=1 THREADS=1 JOBS=2 TRAIN_ARGS="--eval-samples 16" "$@"
  }
  run ibc_sim RUN_DIR=r
  echo "$output" | tail -n 30
  [ "$status" -eq 0 ]
  [[ "$output" == *"ibc_sim: training Implicit BC (langevin) for 2 steps"* ]]
  [ "$(cat r/episodes.list)" = r/episodes/demos.hdf5 ]
  [ "$(grep -c '"seed":10000[01]' r/eval.jsonl)" -eq 2 ]
  tail -n 1 r/eval.jsonl | grep -q '"summary":true,.*"episodes":2'
  grep -q '^# Implicit BC (langevin) on lift' r/report.md
  grep -q 'by pipelines/ibc_sim.mk' r/report.md
  grep -q '"train_action_mse":' r/train.jsonl
  grep -q '"grad_penalty":' r/train.jsonl
  h5dump -a /config/lowdim_range_eps r/ckpt.h5 | grep -q '"0.00999999978"'
  is_png r/loss.png
  [ -s r/eval.mp4 ]
  "$PYTHON" -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r"); assert f.attrs["policy"] in (b"ibc","ibc"); assert f["config"].attrs["n_action_steps"] in (b"2","2")' r/ckpt.h5
  run ibc_sim RUN_DIR=r
  [ "$output" = "make: Nothing to be done for 'all'." ]
}
