#!/usr/bin/env bats
# ibc.bats — ibc-train, predict and rollout with Implicit BC checkpoints on tiny models: DP's
# names, determinism, resume == straight through, the log (train_action_mse), bad input (no
# observation history, action size against the statistics, a constant action dimension), predict's
# actions, settings and loss, and rollout on lift with a low-dimensional model (Ta actions per query).

bats_require_minimum_version 1.5.0

TINY="--width 16 --negatives 8 --eval-samples 32 --batch-size 4 --threads 1 -q"
LOW="observation.object,observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos"

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  # images: ACT-layout fixtures, top camera 32x32
  "$PYTHON" "$ILT_TESTS/make_episodes.py" act "$d/eps" --episodes 2 --frames 8 --cams top:32:32 >/dev/null
  h5slice "$d"/eps/*.hdf5 > "$d/frames.tar"
  normstats "$d/frames.tar" > "$d/stats.tar"
  chunkify -k 2 --obs-steps 2 --action-start "$d/frames.tar" > "$d/train.tar"
  # low-dimensional: two short scripted lift episodes, the named observations as fields
  rollout -t lift -p scripted -n 2 --max-steps 24 --layout robomimic -o "$d/lift.hdf5" -q >/dev/null
  h5slice --obs object,robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos "$d/lift.hdf5" > "$d/lift_frames.tar"
  normstats "$d/lift_frames.tar" > "$d/lift_stats.tar"
  chunkify -k 3 --obs-steps 2 --action-start "$d/lift_frames.tar" > "$d/lift_train.tar"
  ibc-train $TINY --lowdim "$LOW" --action-steps 2 --stats "$d/lift_stats.tar" -o "$d/low.h5" --steps 4 \
    --save-every 2 "$d/lift_train.tar"
}

setup() {
  d="$BATS_FILE_TMPDIR"
  t="$BATS_TEST_TMPDIR"
}

same_params() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
assert set(a["params"]) == set(b["params"])
for n in a["params"]:
    assert np.array_equal(a["params"][n][()], b["params"][n][()]), n
print("same")
PY
}

@test "ibc-train: DP's names dense0..dense4, no EMA, the limits and configuration; the hybrid image encoder" {
  run "$PYTHON" - "$d/low.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
p = f["params"]
assert f.attrs["policy"] in (b"ibc", "ibc")
assert sorted(p) == sorted(f"dense{i}.{k}" for i in range(5) for k in ("weight", "bias")), sorted(p)
# To 2 steps x 19 low-dim values + Ta 2 x A 7
assert p["dense0.weight"].shape == (16, 2 * 19 + 2 * 7), p["dense0.weight"].shape
assert p["dense4.weight"].shape == (1, 16)
assert "ema" not in f
assert "min" in f["stats/action"] and "max" in f["stats/observation.object"]
c = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["config"].attrs.items()}
print(c["obs_encoder"], c["n_obs_steps"], c["n_action_steps"], c["horizon"], c["mlp_width"], c["sampler"],
      c["pred_n_samples"], c["train.betas.0"], c["train.weight_decay"])
PY
  [ "$status" -eq 0 ]
  [ "$output" = "lowdim 2 2 3 16 dfo 1024 0.95 1e-06" ]
  ibc-train $TINY --encoder hybrid --crop 28x28 --lowdim none --stats "$d/stats.tar" -o "$t/img.h5" --steps 2 \
    --save-every 2 "$d/train.tar"
  run "$PYTHON" - "$t/img.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
p = f["params"]
assert "obs_encoder.obs_nets.top_image.backbone.nets.0.weight" in p
assert p["dense0.weight"].shape[1] == 2 * 64 + 1 * 14, p["dense0.weight"].shape
c = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["config"].attrs.items()}
print(c["obs_encoder"], c["crop_height"])
PY
  [ "$status" -eq 0 ]
  [ "$output" = "hybrid 28" ]
}

@test "ibc-train: same seed, same checkpoint; --resume equals an uninterrupted run; the log" {
  A="$TINY --lowdim $LOW --stats $d/lift_stats.tar --save-every 2"
  ibc-train $A -o "$t/a.h5" --steps 4 --log "$t/a.jsonl" "$d/lift_train.tar"
  ibc-train $A -o "$t/b.h5" --steps 2 "$d/lift_train.tar"
  ibc-train $A -o "$t/b.h5" --steps 4 --resume "$d/lift_train.tar"
  run same_params "$t/a.h5" "$t/b.h5"
  [ "$output" = same ]
  ibc-train $A -o "$t/c.h5" --steps 4 "$d/lift_train.tar"
  cmp <(same_params "$t/a.h5" "$t/c.h5") <(echo same)
  ibc-train $A -o "$t/e.h5" --steps 4 --seed 1 "$d/lift_train.tar"
  run same_params "$t/a.h5" "$t/e.h5"
  [ "$status" -ne 0 ]
  grep -q '"train_action_mse":' "$t/a.jsonl"
  grep -q '"val_loss":' "$t/a.jsonl"
  grep -q '"positive_rank":' "$t/a.jsonl"
}

@test "ibc-train: --grad-penalty adds the penalty to the loss, logs its terms, changes the weights; bad values" {
  A="$TINY --lowdim $LOW --stats $d/lift_stats.tar --save-every 2 --steps 4"
  ibc-train $A -o "$t/a.h5" --log "$t/a.jsonl" "$d/lift_train.tar"
  ibc-train $A -o "$t/p.h5" --log "$t/p.jsonl" --grad-penalty 100 --grad-margin 0 "$d/lift_train.tar"
  run same_params "$t/a.h5" "$t/p.h5"
  [ "$status" -ne 0 ]
  ! grep -q '"grad_penalty":' "$t/a.jsonl"
  # every training line: loss = info_nce + 100 x grad_penalty, the penalty positive with margin 0
  jq -e -s '[.[] | select(.grad_penalty != null)] | length > 0 and
    all(.grad_penalty > 0 and ((.loss - .info_nce - 100 * .grad_penalty) | fabs) < 1e-3 * .loss)' "$t/p.jsonl"
  run --separate-stderr ibc-train $A -o "$t/x.h5" --grad-penalty -1 "$d/lift_train.tar"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--grad-penalty"* ]]
  [ ! -e "$t/x.h5" ]
}

@test "ibc-train: bad input is a clear error, exit 1, no checkpoint" {
  chunkify -k 2 "$d/lift_frames.tar" > "$t/nohist.tar"
  run --separate-stderr ibc-train $TINY --lowdim "$LOW" --stats "$d/lift_stats.tar" -o "$t/x.h5" --steps 1 "$t/nohist.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"observation.object is float32 [10]; with --obs-steps 2 it must be [2,D]"* ]]
  [ ! -e "$t/x.h5" ]
  run --separate-stderr ibc-train $TINY --encoder hybrid --lowdim none --stats "$d/lift_stats.tar" -o "$t/x.h5" \
    --steps 1 "$d/train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"lift_stats.tar"*"limits of 'action' have 7 values, 14 expected"* ]]
  [ ! -e "$t/x.h5" ]
  run --separate-stderr ibc-train $TINY --lowdim "$LOW" --action-steps 3 --stats "$d/lift_stats.tar" -o "$t/x.h5" \
    --steps 1 "$d/lift_train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"action sequences have 3 rows; the horizon 4 needs at least that many"* ]]
  [ ! -e "$t/x.h5" ]
  # a constant action dimension in the statistics
  "$PYTHON" - "$d/lift_stats.tar" "$t/flat.tar" <<'PY'
import io, sys, tarfile
import numpy as np
src, dst = tarfile.open(sys.argv[1]), tarfile.open(sys.argv[2], "w")
for m in src.getmembers():
    data = src.extractfile(m).read()
    if m.name == "stats.action.max.npy":
        lo = np.load(io.BytesIO(src.extractfile("stats.action.min.npy").read()))
        hi = np.load(io.BytesIO(data))
        hi[6] = lo[6]
        out = io.BytesIO(); np.save(out, hi); data = out.getvalue()
        m.size = len(data)
    dst.addfile(m, io.BytesIO(data))
dst.close()
PY
  run --separate-stderr ibc-train $TINY --lowdim "$LOW" --stats "$t/flat.tar" -o "$t/x.h5" --steps 1 "$d/lift_train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"flat.tar: IBC: action[6] has range 0"* ]]
  [ ! -e "$t/x.h5" ]
  run ibc-train --sampler gradient --stats "$d/lift_stats.tar" -o "$t/x.h5" "$d/lift_train.tar"
  [ "$status" -eq 2 ]
}

@test "predict on an IBC checkpoint: Ta actions per sample, seeded, every sampler, the InfoNCE loss, settings checked" {
  predict -c "$d/low.h5" --threads 1 --policy-arg samples=64 "$d/lift_train.tar" > "$t/a.tar"
  predict -c "$d/low.h5" --threads 1 --policy-arg samples=64 "$d/lift_train.tar" > "$t/b.tar"
  cmp "$t/a.tar" "$t/b.tar"
  predict -c "$d/low.h5" --threads 1 --policy-arg samples=64 --seed 5 "$d/lift_train.tar" > "$t/c.tar"
  ! cmp -s "$t/a.tar" "$t/c.tar"
  run "$PYTHON" "$ILT_TESTS/read_stream.py" dump "$t/a.tar"
  [[ "$output" == *"action <f4 [2, 7]"* ]]
  for s in dfo dfo-argmax ibc-dfo langevin; do
    run predict -c "$d/low.h5" --loss --action-start --policy-arg sampler=$s --policy-arg samples=32 \
      --policy-arg iterations=3 "$d/lift_train.tar"
    [ "$status" -eq 0 ]
    [[ "$output" == *'"episode":"all"'*'"mse":'*'"info_nce":'* ]]
  done
  run --separate-stderr predict -c "$d/low.h5" --policy-arg sampler=gradient "$d/lift_train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"sampler 'gradient' is not dfo, dfo-argmax, ibc-dfo or langevin"* ]]
  run --separate-stderr predict -c "$d/low.h5" --policy-arg steps=2 "$d/lift_train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"policy ibc has no such setting (it has: sampler, samples, iterations, noise)"* ]]
}

@test "rollout runs an IBC checkpoint on lift, Ta actions per query, reproducibly for a seed" {
  rollout -t lift -p "$d/low.h5" --max-steps 6 -n 2 -q --policy-arg samples=64 -o "$t/a.hdf5" --layout robomimic > "$t/a.jsonl"
  rollout -t lift -p "$d/low.h5" --max-steps 6 -n 2 -q --policy-arg samples=64 -o "$t/b.hdf5" --layout robomimic > "$t/b.jsonl"
  grep -q '"summary":true' "$t/a.jsonl"
  grep -q '"policy":"ibc"' "$t/a.jsonl"
  run "$PYTHON" - "$t/a.hdf5" "$t/b.hdf5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
for demo in ("demo_0", "demo_1"):
    x, y = a["data"][demo]["actions"][()], b["data"][demo]["actions"][()]
    assert x.shape == (6, 7) and np.array_equal(x, y), demo
assert not np.array_equal(a["data/demo_0/actions"][()], a["data/demo_1/actions"][()])
print("ok")
PY
  [ "$output" = ok ]
}

@test "ibc-train: an image model's checkpoint keeps its image width apart from the MLP's (mlp_width): --resume and predict load it" {
  ibc-train $TINY --encoder hybrid --crop 28x28 --lowdim none --stats "$d/stats.tar" -o "$t/a.h5" --steps 1 --save-every 1 "$d/train.tar"
  ibc-train $TINY --encoder hybrid --crop 28x28 --lowdim none --stats "$d/stats.tar" -o "$t/a.h5" --steps 2 --save-every 1 --resume "$d/train.tar"
  ibc-train $TINY --encoder hybrid --crop 28x28 --lowdim none --stats "$d/stats.tar" -o "$t/b.h5" --steps 2 --save-every 1 "$d/train.tar"
  cmp "$t/a.h5" "$t/b.h5"
  run --separate-stderr predict -c "$t/a.h5" "$d/train.tar"
  [ "$status" -eq 0 ]
  [ -n "$output" ]
  [ "$(h5dump -a /config/width "$t/a.h5" | grep -o '"32"')" = '"32"' ]
}
