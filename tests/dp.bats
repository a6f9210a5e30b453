#!/usr/bin/env bats
# dp.bats — dp-train, predict and rollout with Diffusion Policy checkpoints on tiny models:
# determinism, resume == straight through (EMA included), the log, bad input (no observation
# history, action size against the statistics, a missing camera), predict's chunks and settings,
# and rollout on lift with a low-dimensional policy (history padding, Ta actions per query).

bats_require_minimum_version 1.5.0

TINY="--down-dims 16,32 --step-embed 8 --horizon 8 --action-steps 4 --batch-size 4 --threads 1 --eval-steps 2 -q"
LOW="observation.object,observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos"

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  # images: ACT-layout fixtures, top camera 32x32
  "$PYTHON" "$ILT_TESTS/make_episodes.py" act "$d/eps" --episodes 3 --frames 12 --cams top:32:32 >/dev/null
  h5slice "$d"/eps/*.hdf5 > "$d/frames.tar"
  normstats "$d/frames.tar" > "$d/stats.tar"
  chunkify -k 8 --obs-steps 2 --action-start "$d/frames.tar" > "$d/train.tar"
  # low-dimensional: two short scripted lift episodes, the named observations as fields
  rollout -t lift -p scripted -n 2 --max-steps 24 --layout robomimic -o "$d/lift.hdf5" -q >/dev/null
  h5slice --obs object,robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos "$d/lift.hdf5" > "$d/lift_frames.tar"
  normstats "$d/lift_frames.tar" > "$d/lift_stats.tar"
  chunkify -k 8 --obs-steps 2 --action-start "$d/lift_frames.tar" > "$d/lift_train.tar"
  dp-train $TINY --encoder lowdim --lowdim "$LOW" --stats "$d/lift_stats.tar" -o "$d/low.h5" --steps 4 \
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
for g in ("params", "ema"):
    assert set(a[g]) == set(b[g]), g
    for n in a[g]:
        assert np.array_equal(a[g][n][()], b[g][n][()]), (g, n)
print("same")
PY
}

@test "dp-train: hybrid image model, DP's names, /ema beside /params, the limits and configuration" {
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/img.h5" --steps 2 --save-every 2 "$d/train.tar"
  run "$PYTHON" - "$t/img.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
p = f["params"]
assert f.attrs["policy"] in (b"diffusion", "diffusion")
assert "obs_encoder.obs_nets.top_image.backbone.nets.0.weight" in p
assert p["obs_encoder.obs_nets.top_image.pool.nets.weight"].shape == (32, 512, 1, 1)
assert p["obs_encoder.obs_nets.top_image.nets.3.weight"].shape == (64, 64)
assert any(k.startswith("model.down_modules.") for k in p)
assert set(f["ema"]) == set(p)
assert "min" in f["stats/action"] and "max" in f["stats/action"]
cfg = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["config"].attrs.items()}
print(cfg["crop_height"], cfg["n_obs_steps"], cfg["horizon"])
PY
  [ "$status" -eq 0 ]
  [ "$output" = "28 2 8" ]
}

@test "dp-train --encoder-lr: the observation encoder's own learning rate (0 keeps it at its initial weights)" {
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/init.h5" --steps 0 "$d/train.tar"
  dp-train $TINY --crop 28x28 --encoder-lr 0 --stats "$d/stats.tar" -o "$t/frozen.h5" --steps 3 --save-every 3 "$d/train.tar"
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/all.h5" --steps 3 --save-every 3 "$d/train.tar"
  run "$PYTHON" - "$t/init.h5" "$t/frozen.h5" "$t/all.h5" <<'PY'
import sys, h5py, numpy as np
init, frozen, trained = (h5py.File(p, "r") for p in sys.argv[1:4])
def moved(a, b, prefix):
    return sum(not np.array_equal(a["params"][n][()], b["params"][n][()]) for n in a["params"] if n.startswith(prefix))
cfg = lambda f: f["config"].attrs["train.encoder_lr"].decode()
print(moved(init, frozen, "obs_encoder."), moved(init, frozen, "model.") > 0,
      moved(init, trained, "obs_encoder.") > 0, cfg(frozen), cfg(trained))
PY
  [ "$status" -eq 0 ]
  [ "$output" = "0 True True 0 0.0001" ]
  run --separate-stderr dp-train --encoder-lr -1 --stats "$d/stats.tar" -o "$t/x.h5" "$d/train.tar"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"encoder-lr"* ]]
}

@test "dp-train --action-norm: identity and maxabs as DP's normalisers, recorded, required, exported; identity refuses actions outside [-1, 1]" {
  for mode in identity maxabs; do
    dp-train $TINY --encoder lowdim --lowdim "$LOW" --action-norm $mode --stats "$d/lift_stats.tar" -o "$t/$mode.h5" \
      --steps 2 "$d/lift_train.tar"
    h5dump -a /config/action_norm "$t/$mode.h5" | grep -q "\"$mode\""
    h5dump -a /config/requires "$t/$mode.h5" | grep -q '"action_norm"'
    ckpt-convert "$t/$mode.h5" "$t/$mode.safetensors"
    ckpt-convert "$t/$mode.safetensors" "$t/$mode.back.h5"
    predict -c "$t/$mode.h5" --threads 1 --policy-arg sampler=ddim --policy-arg steps=2 "$d/lift_train.tar" > "$t/a.tar"
    predict -c "$t/$mode.back.h5" --threads 1 --policy-arg sampler=ddim --policy-arg steps=2 "$d/lift_train.tar" > "$t/b.tar"
    cmp "$t/a.tar" "$t/b.tar"
  done
  ckpt-convert "$d/low.h5" "$t/limits.safetensors"
  run "$PYTHON" - "$t/identity.safetensors" "$t/maxabs.safetensors" "$t/limits.safetensors" "$d/lift_stats.tar" <<'PY'
import sys, json, struct, tarfile, io, numpy as np
def action(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    get = lambda k: np.frombuffer(raw[8 + n + head[k]["data_offsets"][0]:8 + n + head[k]["data_offsets"][1]], "<f4")
    p = "normalizer.params_dict.action."
    return get(p + "scale"), get(p + "offset")
stats = tarfile.open(sys.argv[4])
load = lambda name: np.load(io.BytesIO(stats.extractfile(name).read()))
lo, hi = load("stats.action.min.npy"), load("stats.action.max.npy")
(si, oi), (sm, om), (sl, ol) = (action(p) for p in sys.argv[1:4])
top = max(np.abs(lo).max(), np.abs(hi).max())
print(np.all(si == 1) and np.all(oi == 0), np.allclose(sm, 1 / top) and np.all(om == 0),
      np.allclose(sl * lo + ol, -1, atol=1e-5) and not np.allclose(sl, 1))
PY
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "True True True" ]
  # the image fixtures' joint actions leave [-1, 1]
  run --separate-stderr dp-train $TINY --crop 28x28 --action-norm identity --stats "$d/stats.tar" -o "$t/x.h5" --steps 1 "$d/train.tar"
  echo "$stderr"
  [ "$status" -eq 1 ] && [ ! -e "$t/x.h5" ]
  [[ "$stderr" == *"action normalisation identity: action["*"outside the [-1, 1] the samplers clip to"* ]]
  run --separate-stderr dp-train --action-norm unit --stats "$d/stats.tar" -o "$t/x.h5" "$d/train.tar"
  [ "$status" -eq 2 ] && [[ "$stderr" == *"--action-norm: 'unit' is not limits, identity or maxabs"* ]]
}

@test "dp-train: same seed, same checkpoint; --resume equals an uninterrupted run (EMA included); the log" {
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/a.h5" --steps 4 --save-every 2 --log "$t/a.jsonl" "$d/train.tar"
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/b.h5" --steps 2 --save-every 2 "$d/train.tar"
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/b.h5" --steps 4 --save-every 2 --resume "$d/train.tar"
  run same_params "$t/a.h5" "$t/b.h5"
  [ "$output" = same ]
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/c.h5" --steps 4 --save-every 2 "$d/train.tar"
  cmp <(same_params "$t/a.h5" "$t/c.h5") <(echo same)
  grep -q '"train_action_mse":' "$t/a.jsonl"
  grep -q '"val_loss":' "$t/a.jsonl"
}

@test "a setting older readers do not know is listed in /config/requires; a reader that does not know one refuses" {
  dp-train $TINY --encoder lowdim --lowdim "$LOW" --lowdim-range-eps 0.01 --stats "$d/lift_stats.tar" -o "$t/eps.h5" \
    --steps 1 "$d/lift_train.tar"
  h5dump -a /config/requires "$t/eps.h5" | grep -q '"lowdim_range_eps"'
  predict -c "$t/eps.h5" --threads 1 --policy-arg sampler=ddim --policy-arg steps=2 "$d/lift_train.tar" > /dev/null
  # what a later version would write: one more setting this version does not read
  "$PYTHON" - "$t/eps.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    c = f["config"].attrs
    c["future_setting"] = "1"
    c["requires"] = "lowdim_range_eps,future_setting"
PY
  run --separate-stderr predict -c "$t/eps.h5" --threads 1 "$d/lift_train.tar"
  echo "$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"eps.h5: the model relies on configuration 'future_setting' = '1', which this version of ilt does not know"* ]]
  [ -z "$output" ]
  # DP's default normaliser: nothing required
  run h5dump -a /config/requires "$d/low.h5"
  [ "$status" -ne 0 ]
}

@test "dp-train: bad input is a clear error naming the field and shapes, exit 1, no checkpoint" {
  chunkify -k 8 "$d/frames.tar" > "$t/nohist.tar"
  run --separate-stderr dp-train $TINY --stats "$d/stats.tar" -o "$t/x.h5" --steps 1 "$t/nohist.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"observation.images.top is uint8 [32,32,3]; with --obs-steps 2 it must be [2,H,W,3]"* ]]
  [ ! -e "$t/x.h5" ]
  run --separate-stderr dp-train $TINY --stats "$d/lift_stats.tar" -o "$t/x.h5" --steps 1 "$d/train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"lift_stats.tar"*"action"* ]]
  [ ! -e "$t/x.h5" ]
  run --separate-stderr dp-train $TINY --cameras wrist --stats "$d/stats.tar" -o "$t/x.h5" --steps 1 "$d/train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"observation.images.wrist"* ]]
  run --separate-stderr dp-train $TINY --horizon 12 --stats "$d/stats.tar" -o "$t/x.h5" --steps 1 "$d/train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"action sequences have 8 rows; the horizon 12"* ]]
  [ ! -e "$t/x.h5" ]
  run dp-train --net cnn --stats "$d/stats.tar" -o "$t/x.h5" "$d/train.tar"
  [ "$status" -eq 2 ]
}

@test "dp-train: a loss that turns non-finite stops with the step named, the last checkpoint intact" {
  dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/n.h5" --steps 2 --save-every 2 "$d/train.tar"
  cp "$t/n.h5" "$t/n.before.h5"
  run --separate-stderr dp-train $TINY --crop 28x28 --stats "$d/stats.tar" -o "$t/n.h5" --steps 40 --save-every 2 \
    --lr 10 --weight-decay 10 --resume "$d/train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"step "*"the loss is not finite"* ]]
  "$PYTHON" -c 'import h5py,sys; h5py.File(sys.argv[1],"r")["params"]' "$t/n.h5"
  [ -z "$(ls "$t" | grep -v '^n\.\(before\.\)\?h5$\|^n.best.h5$\|^separate-stderr')" ]   # no temporary left
}

@test "predict on a Diffusion Policy checkpoint: one chunk per sample, seeded, settings checked" {
  predict -c "$d/low.h5" --threads 1 --policy-arg sampler=ddim --policy-arg steps=2 "$d/lift_train.tar" > "$t/a.tar"
  predict -c "$d/low.h5" --threads 1 --policy-arg sampler=ddim --policy-arg steps=2 "$d/lift_train.tar" > "$t/b.tar"
  cmp "$t/a.tar" "$t/b.tar"
  run "$PYTHON" "$ILT_TESTS/read_stream.py" dump "$t/a.tar"
  [[ "$output" == *"action <f4 [7, 7]"* ]]
  run predict -c "$d/low.h5" --loss --action-start --policy-arg sampler=ddim --policy-arg steps=2 "$d/lift_train.tar"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"episode":"all"'*'"mse":'*'"denoising_mse":'* ]]
  run --separate-stderr predict -c "$d/low.h5" --policy-arg steps=1000 "$d/lift_train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"steps"* ]]
  run --separate-stderr predict -c "$d/low.h5" --policy-arg temperature=2 "$d/lift_train.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"policy diffusion has no such setting (it has: sampler, steps)"* ]]
}

@test "predict --weight-precision f16: the same chunks within binary16's rounding, not the same bits; a bad value is a usage error" {
  predict -c "$d/low.h5" --threads 1 --policy-arg sampler=ddim --policy-arg steps=2 "$d/lift_train.tar" > "$t/f32.tar"
  predict -c "$d/low.h5" --threads 1 --policy-arg sampler=ddim --policy-arg steps=2 --weight-precision f16 \
    "$d/lift_train.tar" > "$t/f16.tar"
  run "$PYTHON" - "$t/f32.tar" "$t/f16.tar" <<'PY'
import sys, tarfile, io, numpy as np
def arrays(path):
    with tarfile.open(path) as tar:
        return [np.load(io.BytesIO(tar.extractfile(m).read())) for m in tar if m.name.endswith("action.npy")]
a, b = arrays(sys.argv[1]), arrays(sys.argv[2])
assert len(a) == len(b) > 0
diff = max(float(np.abs(x - y).max()) for x, y in zip(a, b))
scale = max(float(np.abs(x).max()) for x in a)
assert 0 < diff < 1e-2 * scale, (diff, scale)
print("ok")
PY
  [ "$output" = ok ]
  run --separate-stderr predict -c "$d/low.h5" --weight-precision f8 "$d/lift_train.tar"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--weight-precision: expected f32 or f16, not 'f8'"* ]]
  run --separate-stderr rollout -t lift -p "$d/low.h5" -n 1 --max-steps 2 --weight-precision half
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"expected f32 or f16"* ]]
}

@test "rollout runs a Diffusion Policy checkpoint on lift, reproducibly for a seed" {
  rollout -t lift -p "$d/low.h5" --max-steps 12 -n 2 -q --policy-arg sampler=ddim --policy-arg steps=2 \
    -o "$t/a.hdf5" --layout robomimic > "$t/a.jsonl"
  rollout -t lift -p "$d/low.h5" --max-steps 12 -n 2 -q --policy-arg sampler=ddim --policy-arg steps=2 \
    -o "$t/b.hdf5" --layout robomimic > "$t/b.jsonl"
  grep -q '"summary":true' "$t/a.jsonl"
  run "$PYTHON" - "$t/a.hdf5" "$t/b.hdf5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
for demo in ("demo_0", "demo_1"):
    x, y = a["data"][demo]["actions"][()], b["data"][demo]["actions"][()]
    assert x.shape == (12, 7) and np.array_equal(x, y), demo
assert not np.array_equal(a["data/demo_0/actions"][()], a["data/demo_1/actions"][()])
print("ok")
PY
  [ "$output" = ok ]
}

@test "dp-train --net transformer: DP-T's names and optimizer defaults; --resume equals an uninterrupted run" {
  T="--net transformer --horizon 8 --encoder lowdim --lowdim $LOW --n-layer 2 --n-head 2 --n-emb 16 --action-steps 4 --batch-size 4 --threads 1 --eval-steps 2 -q"
  dp-train $T --stats "$d/lift_stats.tar" -o "$t/a.h5" --steps 4 --save-every 2 "$d/lift_train.tar"
  dp-train $T --stats "$d/lift_stats.tar" -o "$t/b.h5" --steps 2 --save-every 2 "$d/lift_train.tar"
  dp-train $T --stats "$d/lift_stats.tar" -o "$t/b.h5" --steps 4 --save-every 2 --resume "$d/lift_train.tar"
  run same_params "$t/a.h5" "$t/b.h5"
  [ "$output" = same ]
  run "$PYTHON" - "$t/a.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
p = f["params"]
c = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["config"].attrs.items()}
for k in ("model.mask", "model.memory_mask", "model._dummy_variable", "model.pos_emb", "model.cond_pos_emb",
          "model.decoder.layers.1.multihead_attn.in_proj_weight", "model.ln_f.weight", "model.head.weight"):
    assert k in p, k
print(c["horizon"], c["train.weight_decay"], c["train.betas.1"], c["train.warmup"])
PY
  [ "$output" = "8 0.001 0.95 1000" ]
  run predict -c "$t/a.h5" --policy-arg sampler=ddim --policy-arg steps=2 --loss --action-start "$d/lift_train.tar"
  [ "$status" -eq 0 ]
}
