#!/usr/bin/env bats
# train.bats — the shared training path (lib/train) through act-train: a tiny run's parameters
# against a committed hash (any change to the loop's order of random draws, batching, schedule,
# optimizer or checkpoints shows here; the bits are those of the engine's FMA tiles, which the
# avx512 and avx2 kernel variants share), the EMA, and the policy settings of predict and rollout.

bats_require_minimum_version 1.5.0

TINY="--chunk 5 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 --dec-layers 2 --nheads 2 --latent-dim 4 --batch-size 4 --threads 1 -q"

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  "$PYTHON" "$ILT_TESTS/make_episodes.py" act "$d/eps" --episodes 4 --frames 12 --cams top:32:32 >/dev/null
  h5slice "$d"/eps/*.hdf5 > "$d/frames.tar"
  normstats "$d/frames.tar" > "$d/stats.tar"
  chunkify -k 5 "$d/frames.tar" > "$d/train.tar"
}

setup() {
  d="$BATS_FILE_TMPDIR"
  t="$BATS_TEST_TMPDIR"
}

params_hash() {
  "$PYTHON" - "$1" <<'PY'
import sys, h5py, hashlib
f = h5py.File(sys.argv[1], "r")
h = hashlib.sha256()
for name in sorted(f["params"]):
    h.update(name.encode()); h.update(f["params"][name][()].tobytes())
print(h.hexdigest())
PY
}

@test "shared path: a tiny act-train run's parameters are the committed ones (tests/train_ref/act_tiny.sha256)" {
  act-train $TINY --stats "$d/stats.tar" -o "$t/a.h5" --steps 6 --save-every 3 --lr-schedule cosine --warmup 2 \
    --grad-clip 0.5 --random-shift 2 --lr-backbone 3e-5 --weight-decay 0.01 --val-episodes 1 "$d/train.tar"
  run params_hash "$t/a.h5"
  [ "$status" -eq 0 ]
  [ "$output" = "$(cat "$ILT_TESTS/train_ref/act_tiny.sha256")" ]
}

@test "shared path: --ema on keeps /ema beside /params, resumes exactly, and validates on the EMA weights" {
  act-train $TINY --stats "$d/stats.tar" -o "$t/a.h5" --steps 4 --save-every 2 --ema on --log "$t/a.jsonl" "$d/train.tar"
  act-train $TINY --stats "$d/stats.tar" -o "$t/b.h5" --steps 2 --save-every 2 --ema on "$d/train.tar"
  act-train $TINY --stats "$d/stats.tar" -o "$t/b.h5" --steps 4 --save-every 2 --ema on --resume "$d/train.tar"
  run "$PYTHON" - "$t/a.h5" "$t/b.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
assert "ema" in a and set(a["ema"]) == set(a["params"]), "no /ema with every parameter"
for g in ("params", "ema"):
    for n in a[g]:
        assert np.array_equal(a[g][n][()], b[g][n][()]), (g, n)
w = "model.action_head.weight"
assert not np.array_equal(a["ema"][w][()], a["params"][w][()]), "EMA equals the live weights"
print("ok")
PY
  [ "$output" = ok ]
  run act-train $TINY --stats "$d/stats.tar" -o "$t/b.h5" --steps 6 --resume "$d/train.tar"
  [ "$status" -eq 1 ]
  [[ "$output" == *"resume it with --ema on"* ]]
}

@test "shared path: --betas and --ema are checked; the help text lists the shared options" {
  run act-train --stats "$d/stats.tar" -o "$t/x.h5" --betas 0.9 "$d/train.tar"
  [ "$status" -eq 2 ]
  run act-train --stats "$d/stats.tar" -o "$t/x.h5" --ema maybe "$d/train.tar"
  [ "$status" -eq 2 ]
  [ ! -e "$t/x.h5" ]
  run act-train --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Training options"*"--ema on|off"*"--resume"* ]]
  [[ "$output" == *"--random-shift"* ]]
}

@test "predict and rollout: --policy-arg with a setting the policy does not know is an error naming it" {
  act-train $TINY --stats "$d/stats.tar" -o "$t/m.h5" --steps 0 "$d/train.tar"
  run --separate-stderr predict -c "$t/m.h5" --policy-arg ddim_steps=4 "$d/train.tar"
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *"ddim_steps: policy act has no such setting"* ]]
  run --separate-stderr predict -c "$t/m.h5" --policy-arg nokey "$d/train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"KEY=VALUE expected"* ]]
  run rollout -t transfer_cube -p "$t/m.h5" --image-size 32x32 --max-steps 2 -n 1 -q --policy-arg ddim_steps=4
  [ "$status" -eq 1 ]
  [[ "$output" == *"no such setting"* ]]
}
