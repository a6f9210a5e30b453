#!/usr/bin/env bats
# sim.bats — rollout with the bimanual tasks: the scripted experts succeed, the same seed records
# the same episode, recordings read back through h5slice and h5py, checkpoints that are not
# policies are clear errors, results summarize with a Wilson interval.

bats_require_minimum_version 1.5.0

setup() {
  cd "$BATS_TEST_TMPDIR"
}

py() { "$PYTHON" "$@"; }

@test "rollout --help and --version" {
  run -0 rollout --help
  [[ "$output" == *"Usage: rollout"* ]]
  run -0 rollout --version
  [[ "$output" == *"rollout"* ]]
}

@test "transfer_cube expert succeeds (strict) on seeds 0-3" {
  run -0 --separate-stderr rollout -t transfer_cube -p scripted -n 4 -q
  [ "$(grep -c '"success":true' <<<"$output")" -eq 4 ]
  last=$(tail -1 <<<"$output")
  [[ "$last" == *'"summary":true'* ]]
  [[ "$last" == *'"success_strict_rate":1.0000,"success_lenient_rate":1.0000'* ]]
  [[ "$last" == *'"stage_rates":[1.0000,1.0000,1.0000,1.0000]'* ]]
}

@test "insertion expert succeeds on seeds 10-12" {
  run -0 --separate-stderr rollout -t insertion -p scripted --seed 10 -n 3 -q
  [ "$(grep -c '"success":true' <<<"$output")" -eq 3 ]
  grep -q '"seed":12' <<<"$output"
}

@test "--stop-on-success ends an episode at its first successful step" {
  run -0 --separate-stderr rollout -t transfer_cube -p scripted --seed 1 --stop-on-success -q
  steps=$(head -1 <<<"$output" | sed 's/.*"steps":\([0-9]*\).*/\1/')
  [ "$steps" -gt 200 ] && [ "$steps" -lt 400 ]
  [[ "$(head -1 <<<"$output")" == *'"success":true'* ]]
}

@test "result lines are JSON with the documented fields" {
  run -0 --separate-stderr rollout -t transfer_cube -p scripted --seed 7 -n 2 --max-steps 20 -q
  printf '%s\n' "$output" > results.jsonl
  py - <<'EOF'
import json
lines = [json.loads(l) for l in open("results.jsonl")]
assert len(lines) == 3, lines
for i, l in enumerate(lines[:2]):
    assert l["seed"] == 7 + i and l["episode"] == i and l["steps"] == 20, l
    assert l["success"] is False and l["max_reward"] == 0 and l["reward_stages"] == 4, l
s = lines[2]
assert s["summary"] and s["episodes"] == 2 and s["success_rate"] == 0, s
assert abs(s["success_ci95"][1] - 0.6576) < 1e-3, s   # Wilson upper bound for 0/2
EOF
}

@test "the same seed records identical episodes and frame streams" {
  for d in a b; do
    rollout -t transfer_cube -p scripted --seed 3 -n 1 --max-steps 25 --image-size 48x64 \
      --cameras top,left_wrist -o "$d" --frames "$d.tar" -q > "$d.jsonl"
  done
  [ -f a/episode_3.hdf5 ]
  cmp a/episode_3.hdf5 b/episode_3.hdf5   # byte for byte (no HDF5 timestamps)
  cmp a.tar b.tar
  # the result lines differ only in wall time
  diff <(sed 's/"wall_s":[0-9.]*//' a.jsonl) <(sed 's/"wall_s":[0-9.]*//' b.jsonl)
  # another seed gives another episode
  rollout -t transfer_cube -p scripted --seed 4 -n 1 --max-steps 25 --image-size 48x64 \
    --cameras top,left_wrist -o c -q > /dev/null
  run -1 h5diff -q a/episode_3.hdf5 c/episode_4.hdf5
}

@test "ACT recording: layout, shapes, and h5slice reads it back" {
  rollout -t insertion -p scripted -n 2 --max-steps 12 --image-size 24x32 --cameras top,angle -o eps -q > /dev/null
  py - <<'EOF'
import h5py
for i in (0, 1):
    with h5py.File(f"eps/episode_{i}.hdf5", "r") as f:
        assert f.attrs["sim"] == True
        assert f["observations/qpos"].shape == (12, 14) and f["observations/qvel"].shape == (12, 14)
        assert f["action"].shape == (12, 14) and f["action"].dtype == "float32"
        assert f["observations/images/top"].shape == (12, 24, 32, 3)
        assert f["observations/images/angle"].dtype == "uint8"
        assert f["observations/images/top"][0].std() > 1   # something was rendered
        # top row first: the angle camera sees the dark background above the table
        angle = f["observations/images/angle"][0].astype(float)
        assert angle[0].mean() + 40 < angle[-1].mean(), (angle[0].mean(), angle[-1].mean())
EOF
  h5slice -q eps/episode_0.hdf5 eps/episode_1.hdf5 > stream.tar
  [ "$(tar tf stream.tar | grep -c 'observation.images.top.npy')" -eq 24 ]
  py "$ILT_TESTS/read_stream.py" check-act stream.tar eps/episode_0.hdf5 eps/episode_1.hdf5
}

@test "robomimic recording: one file, demos, attributes, h5slice reads it" {
  rollout -t transfer_cube -p scripted -n 2 --max-steps 10 --image-size 24x32 --layout robomimic -o demos.hdf5 -q > /dev/null
  py - <<'EOF'
import h5py, json
with h5py.File("demos.hdf5", "r") as f:
    d = f["data"]
    assert d.attrs["total"] == 20
    env = json.loads(d.attrs["env_args"])
    assert env["env_name"] == "transfer_cube", env
    for i in (0, 1):
        g = d[f"demo_{i}"]
        assert g.attrs["num_samples"] == 10
        assert g["actions"].shape == (10, 14)
        assert g["obs/qpos"].shape == (10, 14)
        assert g["obs/top_image"].shape == (10, 24, 32, 3)
        assert g["rewards"].shape == (10,) and g["dones"][-1] == 1 and g["dones"][0] == 0
        assert g["states"].shape[0] == 10
EOF
  h5slice -q --state qpos demos.hdf5 > stream.tar
  [ "$(tar tf stream.tar | grep -c '\.action\.npy')" -eq 20 ]
}

@test "--only-success keeps successful episodes only" {
  run -0 --separate-stderr rollout -t transfer_cube -p scripted -n 2 --max-steps 30 --image-size 24x32 -o none --only-success -q
  [ -d none ]
  [ -z "$(ls none)" ]
  run -0 --separate-stderr rollout -t transfer_cube -p scripted --seed 5 -n 1 --image-size 24x32 -o kept --only-success -q
  [ -f kept/episode_5.hdf5 ]
  [ -z "$(ls kept | grep -v '^episode_5.hdf5$')" ]
}

@test "--frames - streams the frames on stdout and the results on stderr" {
  rollout -t transfer_cube -p scripted -n 2 --max-steps 5 --image-size 30x40 --frames - -q > frames.tar 2> results.jsonl
  [ "$(tar tf frames.tar | grep -c 'observation.images.top.npy')" -eq 10 ]
  tar tf frames.tar | grep -q '^ep000001_t000004.frame_index.npy$'
  [ "$(grep -c '"summary":true' results.jsonl)" -eq 1 ]
  py "$ILT_TESTS/read_stream.py" dump frames.tar | grep -q 'ep000001_t000004 observation.images.top |u1 \[30, 40, 3\]'
}

@test "--frame-size renders the frames larger and leaves the policy's images exactly as they were" {
  rollout -q -t transfer_cube -p scripted -n 1 --seed 3 --max-steps 6 --image-size 30x40 -o a > /dev/null
  rollout -q -t transfer_cube -p scripted -n 1 --seed 3 --max-steps 6 --image-size 30x40 -o b \
    --frames f.tar --frame-size 60x80 --final-frames fin.tar > /dev/null
  py -c "
import h5py, numpy as np
a = h5py.File('a/episode_3.hdf5')['observations/images/top'][:]
b = h5py.File('b/episode_3.hdf5')['observations/images/top'][:]
assert a.shape == (6, 30, 40, 3) and np.array_equal(a, b)"
  py "$ILT_TESTS/read_stream.py" dump f.tar | grep -q 'ep000003_t000005 observation.images.top |u1 \[60, 80, 3\]'
  [ "$(tar tf f.tar | grep -c 'observation.images.top.npy')" -eq 6 ]
  # the final state: one sample per episode, after the last step, with the stage and success
  [ "$(tar tf fin.tar | grep -c 'observation.images.top.npy')" -eq 1 ]
  tar tf fin.tar | grep -qx 'ep000003_t000006.reward_stage.npy'
  tar tf fin.tar | grep -qx 'ep000003_t000006.success.npy'
  run rollout -q -t transfer_cube -p scripted -n 1 --frame-size 60x80
  [ "$status" -eq 2 ] && [[ "$output" == *"--frame-size needs --frames or --final-frames"* ]]
  run rollout -q -t transfer_cube -p scripted -n 1 --frames x.tar --frame-size 0x80
  [ "$status" -eq 2 ]
}

@test "480x640 rendering works" {
  rollout -t insertion -p scripted -n 1 --max-steps 2 --image-size 480x640 --cameras top -o big -q > /dev/null
  py -c "
import h5py
im = h5py.File('big/episode_0.hdf5')['observations/images/top']
assert im.shape == (2, 480, 640, 3), im.shape
assert im[0].std() > 1
"
}

@test "a truncated or foreign checkpoint is a clear error" {
  py - <<'EOF'
import h5py, numpy as np
with h5py.File("weights.h5", "w") as f:          # HDF5, but not a policy checkpoint
    f["params/w"] = np.zeros((64, 64), np.float32)
with h5py.File("other.h5", "w") as f:            # names a policy kind nobody registered
    f.attrs["policy"] = "bogus"
    f["params/w"] = np.zeros((64, 64), np.float32)
data = open("other.h5", "rb").read()
open("truncated.h5", "wb").write(data[: len(data) // 3])
open("text.h5", "w").write("this is not a checkpoint\n")
EOF
  run -1 --separate-stderr rollout -t transfer_cube -p truncated.h5 -q
  [ -z "$output" ]
  [[ "$stderr" == *"rollout: truncated.h5: "* ]]
  run -1 --separate-stderr rollout -t transfer_cube -p text.h5 -q
  [ -z "$output" ]
  [[ "$stderr" == *"text.h5: not an HDF5 file"* ]]
  run -1 --separate-stderr rollout -t transfer_cube -p weights.h5 -q
  [ -z "$output" ]
  [[ "$stderr" == *"weights.h5: not a policy checkpoint"* ]]
  run -1 --separate-stderr rollout -t transfer_cube -p other.h5 -q
  [ -z "$output" ]
  [[ "$stderr" == *"policy kind 'bogus' is not known"* ]]
  run -1 --separate-stderr rollout -t transfer_cube -p missing.h5 -q
  [ -z "$output" ]
  [[ "$stderr" == *"missing.h5"* ]]
}

@test "usage errors exit 2 with nothing on stdout" {
  run -2 --separate-stderr rollout -t no_such_task -p scripted
  [ -z "$output" ]
  [[ "$stderr" == *"no task named 'no_such_task'"* ]]
  run -2 --separate-stderr rollout -t transfer_cube -p scripted --cameras top,nowhere -o x
  [ -z "$output" ]
  [[ "$stderr" == *"no camera 'nowhere'"* ]]
  run -2 --separate-stderr rollout -t transfer_cube -p scripted --image-size 0x10
  [ -z "$output" ]
  run -2 --separate-stderr rollout -t transfer_cube
  [ -z "$output" ]
  run -2 --separate-stderr rollout -t transfer_cube -p scripted --only-success
  [ -z "$output" ]
  run -2 --separate-stderr rollout -t transfer_cube -p scripted --layout hdf9
  [ -z "$output" ]
  run -2 --separate-stderr rollout -t transfer_cube -p scripted --temporal-agg --chunk-exec 2
  [ -z "$output" ]
  run -2 --separate-stderr rollout -t transfer_cube -p scripted --temporal-agg=x
  [ -z "$output" ]
  [ ! -e x ]
}

@test "--summarize combines result files (as GNU parallel writes them)" {
  rollout -t transfer_cube -p scripted --seed 0 -n 2 -q > r0.jsonl
  rollout -t transfer_cube -p scripted --seed 2 -n 1 --max-steps 50 -q > r1.jsonl
  run -0 --separate-stderr rollout --summarize r0.jsonl r1.jsonl
  [[ "$output" == *'"episodes":3,"successes":2,"success_rate":0.6667'* ]]
  # Wilson 95% interval for 2 of 3
  [[ "$output" == *'"success_ci95":[0.2077,0.9385]'* ]]
  [[ "$output" == *'"stage_rates":[0.6667,0.6667,0.6667,0.6667]'* ]]
  run -0 --separate-stderr bash -c 'cat r0.jsonl r1.jsonl | rollout --summarize'
  [[ "$output" == *'"episodes":3,"successes":2'* ]]
  echo 'not json' > bad.jsonl
  run -1 --separate-stderr rollout --summarize bad.jsonl
  [ -z "$output" ]
  [[ "$stderr" == *"bad.jsonl, line 1"* ]]
}
