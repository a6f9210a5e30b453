#!/usr/bin/env bats
# lift.bats — the single-arm lift task through rollout: the scripted expert succeeds, the same
# seed records identical episodes, robomimic recordings carry the robomimic observation keys,
# the two cameras stream to vidwrite, and the expert's gain and max_move are settings.

bats_require_minimum_version 1.5.0

setup() {
  PYTHON=${PYTHON:-/usr/bin/python3}
  T=$BATS_TEST_TMPDIR
}

@test "lift: the scripted expert lifts the cube on seeds 0-3" {
  run --separate-stderr rollout -q -t lift -p scripted -n 4 --seed 0 --max-steps 80 --image-size 32x32
  [ "$status" -eq 0 ]
  [ "$(grep -c '"success":true' <<<"$output")" -eq 4 ]
  grep -q '"summary":true.*"success_rate":1\.0000' <<<"$output"
}

@test "lift: the same seed records the same episode, bit for bit" {
  rollout -q -t lift -p scripted -n 1 --seed 17 --max-steps 60 --image-size 32x32 -o "$T/a" >/dev/null
  rollout -q -t lift -p scripted -n 1 --seed 17 --max-steps 60 --image-size 32x32 -o "$T/b" >/dev/null
  rollout -q -t lift -p scripted -n 1 --seed 18 --max-steps 60 --image-size 32x32 -o "$T/c" >/dev/null
  a=$(ls "$T"/a/*.hdf5) b=$(ls "$T"/b/*.hdf5) c=$(ls "$T"/c/*.hdf5)
  cmp "$a" "$b"
  run h5diff -q "$a" "$c"
  [ "$status" -eq 1 ]
}

@test "lift: robomimic recording has the robomimic observation keys and 7-D actions in [-1,1]" {
  rollout -q -t lift -p scripted -n 2 --max-steps 50 --image-size 32x32 \
    --cameras agentview,robot0_eye_in_hand --layout robomimic -o "$T/lift.hdf5" >/dev/null
  "$PYTHON" - "$T/lift.hdf5" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    demos = sorted(f["data"].keys())
    assert len(demos) == 2, demos
    d = f["data"][demos[0]]
    obs = d["obs"]
    for key, shape in [("robot0_eef_pos", (3,)), ("robot0_eef_quat", (4,)), ("robot0_gripper_qpos", (2,)),
                       ("robot0_joint_pos", (6,)), ("agentview_image", (32, 32, 3)),
                       ("robot0_eye_in_hand_image", (32, 32, 3))]:
        assert key in obs, (key, list(obs.keys()))
        assert obs[key].shape[1:] == shape, (key, obs[key].shape)
    a = d["actions"][()]
    assert a.shape == (50, 7), a.shape
    assert np.all(np.abs(a) <= 1), a.min()
    q = obs["robot0_eef_quat"][()]
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-4)
EOF
}

@test "lift: both cameras stream to vidwrite" {
  rollout -q -t lift -p scripted -n 1 --max-steps 20 --image-size 32x40 --cameras agentview,robot0_eye_in_hand \
    --frames - 2>/dev/null | vidwrite -q -o "$T/lift.mp4" --fps 20
  run ffprobe -v error -count_frames -select_streams v:0 \
    -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$T/lift.mp4"
  [ "$output" = "h264,80,32,20" ]
}

@test "lift: an unknown camera is a usage error naming the lift cameras" {
  run --separate-stderr rollout -q -t lift -p scripted -n 1 --max-steps 5 --cameras top --frames "$T/f.tar"
  [ "$status" -eq 2 ]
  [ -z "$output" ]
  [[ "$stderr" == *"agentview"* ]]
}

@test "lift: the expert's gain is a setting: gain=0.3 approaches over more steps and still lifts" {
  run --separate-stderr rollout -q -t lift -p scripted -n 3 --seed 1000 --stop-on-success --image-size 32x32
  [ "$status" -eq 0 ]
  default=$(grep -o '"steps":[0-9]*' <<<"$output" | head -3)
  run --separate-stderr rollout -q -t lift -p scripted -n 3 --seed 1000 --stop-on-success --image-size 32x32 \
    --policy-arg gain=0.3 --policy-arg max_move=0.35
  [ "$status" -eq 0 ]
  [ "$(grep -c '"success":true' <<<"$output")" -eq 3 ]
  gentle=$(grep -o '"steps":[0-9]*' <<<"$output" | head -3)
  paste <(cut -d: -f2 <<<"$default") <(cut -d: -f2 <<<"$gentle") | awk '{ if ($2 < $1 + 5) exit 1 }'
}

@test "lift: close_steps sets how long the closed hand holds still: each step fewer ends the episode a step sooner" {
  run --separate-stderr rollout -q -t lift -p scripted -n 3 --seed 1000 --stop-on-success --image-size 32x32
  [ "$status" -eq 0 ]
  held=$(grep -o '"steps":[0-9]*' <<<"$output" | cut -d: -f2)
  run --separate-stderr rollout -q -t lift -p scripted -n 3 --seed 1000 --stop-on-success --image-size 32x32 \
    --policy-arg close_steps=3
  [ "$status" -eq 0 ]
  [ "$(grep -c '"success":true' <<<"$output")" -eq 3 ]
  short=$(grep -o '"steps":[0-9]*' <<<"$output" | cut -d: -f2)
  paste <(echo "$held") <(echo "$short") | awk '{ if ($2 != $1 - 5) exit 1 }'
}

@test "lift: an expert setting it does not have, or out of range, is an error and records nothing" {
  for arg in bogus=1 gain=0 gain=1.5 gain=x gain close_steps=0 close_steps=2.5 close_steps=51; do
    run --separate-stderr rollout -q -t lift -p scripted -n 1 --max-steps 5 --image-size 32x32 \
      --policy-arg "$arg" -o "$T/e.hdf5" --layout robomimic
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"${arg%%=*}"* ]]
    [ ! -e "$T/e.hdf5" ]
  done
  run --separate-stderr rollout -q -t transfer_cube -p scripted -n 1 --max-steps 5 --policy-arg gain=0.3
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"no settings"* ]]
}

@test "lift_abs: the expert records 10-D absolute targets of the poses lift's expert steers to" {
  rollout -q -t lift -p scripted -n 2 --seed 40 --max-steps 60 --image-size 32x32 --layout robomimic \
    --policy-arg gain=0.3 -o "$T/delta.hdf5" >/dev/null
  run --separate-stderr rollout -q -t lift_abs -p scripted -n 2 --seed 40 --max-steps 60 --image-size 32x32 \
    --layout robomimic --policy-arg gain=0.3 -o "$T/abs.hdf5"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"task":"lift_abs"'* ]]
  "$PYTHON" - "$T/delta.hdf5" "$T/abs.hdf5" <<'EOF2'
import sys, h5py, numpy as np
d, a = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
for ep in ("demo_0", "demo_1"):
    da, aa = d["data"][ep]["actions"][()], a["data"][ep]["actions"][()]
    eef = d["data"][ep]["obs"]["robot0_eef_pos"][()]
    assert da.shape == (60, 7) and aa.shape == (60, 10), (da.shape, aa.shape)
    # position target = the hand's position + 5 cm per unit of the delta action
    assert np.abs(aa[:, :3] - (eef + 0.05 * da[:, :3])).max() < 1e-5
    # orientation columns are unit and orthogonal; the gripper is the same
    c1, c2 = aa[:, 3:6], aa[:, 6:9]
    assert np.abs(np.linalg.norm(c1, axis=1) - 1).max() < 1e-5 and np.abs((c1 * c2).sum(1)).max() < 1e-5
    assert np.array_equal(aa[:, 9], da[:, 6])
    # the hand moved the same way in both
    assert np.abs(a["data"][ep]["obs"]["robot0_eef_pos"][()] - eef).max() < 1e-5
EOF2
}

@test "rollout --action-noise: the task executes noisy actions, the recording keeps the expert's own" {
  common=(-q -t lift -p scripted -n 1 --seed 23 --max-steps 40 --image-size 32x32)
  rollout "${common[@]}" -o "$T/clean" >/dev/null
  rollout "${common[@]}" --action-noise 0 -o "$T/zero" >/dev/null
  rollout "${common[@]}" --action-noise 0.5,0.5,0.5,0.2,0.2,0.2,0 -o "$T/noisy" >/dev/null
  rollout "${common[@]}" --action-noise 0.5,0.5,0.5,0.2,0.2,0.2,0 -o "$T/again" >/dev/null
  cmp "$T"/clean/*.hdf5 "$T"/zero/*.hdf5      # zero noise executes the policy's action
  cmp "$T"/noisy/*.hdf5 "$T"/again/*.hdf5     # the noise is drawn from the episode's seed
  "$PYTHON" - "$T"/clean/*.hdf5 "$T"/noisy/*.hdf5 <<'EOF2'
import sys, h5py, numpy as np
c, n = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
ca, na = c["action"][()], n["action"][()]
cq, nq = c["observations/qpos"][()], n["observations/qpos"][()]
# the same first state and the expert's same answer to it; then the noise moves the arm elsewhere
assert np.array_equal(cq[0], nq[0]) and np.array_equal(ca[0], na[0])
assert np.abs(cq[5:] - nq[5:]).max() > 1e-3
# recorded actions are the expert's: within its step limit (0.35) and the gripper exactly +-1,
# which noise of standard deviation 0.5 would break at almost every step
assert np.abs(na[:, :6]).max() <= 0.35 + 1e-6, np.abs(na[:, :6]).max()
assert set(np.unique(na[:, 6])) <= {-1.0, 1.0}
EOF2
}

@test "rollout --action-noise: a wrong count or a negative value is a usage error and records nothing" {
  run --separate-stderr rollout -q -t lift -p scripted -n 1 --max-steps 5 --action-noise 0.1,0.1 -o "$T/x"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--action-noise: 2 values; lift has 7 action dimensions"* ]]
  run --separate-stderr rollout -q -t lift -p scripted -n 1 --max-steps 5 --action-noise -0.1 -o "$T/x"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--action-noise"* ]]
  [ ! -e "$T/x" ]
}
