#!/usr/bin/env bats
# checkpoint_exchange.bats — ckpt-convert and lib/io/safetensors.c: a LeRobot ACT built in PyTorch
# (tests/lerobot_act.py, LeRobot's module names and layout) comes in and predict gives PyTorch's
# chunks; ours goes out and PyTorch, loading LeRobot's way, gives predict's; round trips through
# both formats give every parameter, statistic and configuration entry back bit for bit; damaged
# safetensors files and unconvertible models are clear errors that leave nothing behind.

bats_require_minimum_version 1.5.0

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  "$PYTHON" "$ILT_TESTS/make_episodes.py" act "$d/eps" --episodes 2 --frames 8 --cams top:32:32 >/dev/null
  h5slice "$d"/eps/*.hdf5 > "$d/frames.tar"
  normstats "$d/frames.tar" > "$d/stats.tar"
  chunkify -k 5 "$d/frames.tar" > "$d/train.tar"
  # LeRobot's backbone has FrozenBatchNorm2d: ours must too to go out
  act-train --chunk 5 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 --dec-layers 2 --nheads 2 --latent-dim 4 \
    --batch-size 2 --threads 1 -q --backbone-norm frozen --stats "$d/stats.tar" -o "$d/ours.h5" --steps 2 "$d/train.tar"
  ckpt-convert -f act "$d/ours.h5" "$d/ours.safetensors"
  # a LeRobot ACT from PyTorch (the same random model twice: statistics in model.safetensors, and
  # in processor files), observations for it and PyTorch's chunks
  "$PYTHON" "$ILT_TESTS/lerobot_act.py" make "$d/pretrained_model"
  "$PYTHON" "$ILT_TESTS/lerobot_act.py" make "$d/processor_model" --processor
  "$PYTHON" "$ILT_TESTS/lerobot_act.py" stream "$d/pretrained_model" "$d/obs.tar"
  "$PYTHON" "$ILT_TESTS/lerobot_act.py" run "$d/pretrained_model" "$d/obs.tar" "$d/torch.npy"
  # Diffusion Policy with the hybrid image encoder (robomimic's VisualCore) and an IBC energy model
  chunkify -k 8 --obs-steps 2 --action-start "$d/frames.tar" > "$d/dp_train.tar"
  dp-train --encoder hybrid --cameras top --lowdim-range-eps 0.5 --crop 28x28 --keypoints 4 --feature-dim 8 --down-dims 16,32 --step-embed 8 \
    --horizon 8 --action-steps 4 --batch-size 2 --threads 1 --eval-steps 2 -q --stats "$d/stats.tar" -o "$d/dp.h5" \
    --steps 2 --control-hz 50 "$d/dp_train.tar"
  chunkify -k 2 --obs-steps 2 --action-start "$d/frames.tar" > "$d/ibc_train.tar"
  ibc-train --width 16 --negatives 8 --eval-samples 32 --batch-size 4 --threads 1 -q --lowdim observation.state --lowdim-norm maxabs \
    --stats "$d/stats.tar" -o "$d/ibc.h5" --steps 2 "$d/ibc_train.tar"
}

setup() {
  d="$BATS_FILE_TMPDIR"
  t="$BATS_TEST_TMPDIR"
}

# Parameters, statistics, configuration and step of two checkpoints are the same bit for bit.
same_checkpoint() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
assert set(a["params"]) == set(b["params"]), set(a["params"]) ^ set(b["params"])
bad = [k for k in a["params"] if not np.array_equal(a["params"][k][()], b["params"][k][()])]
assert not bad, bad
def walk(g, out, p=""):
    for k, v in g.items():
        if hasattr(v, "items"): walk(v, out, p + k + "/")
        else: out[p + k] = v[()]
    return out
sa, sb = walk(a["stats"], {}), walk(b["stats"], {})
assert set(sa) == set(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa), "stats"
ca, cb = dict(a["config"].attrs), dict(b["config"].attrs)
assert ca == cb, {k: (ca.get(k), cb.get(k)) for k in set(ca) | set(cb) if ca.get(k) != cb.get(k)}
assert a.attrs["step"] == b.attrs["step"] and a.attrs["policy"] == b.attrs["policy"]
print("same: %d parameters, %d statistics, %d configuration entries" % (len(a["params"]), len(sa), len(ca)))
PY
}

@test "a LeRobot ACT (PyTorch, two cameras, buffers in model.safetensors) comes in: predict gives PyTorch's chunks" {
  run ckpt-convert "$d/pretrained_model" "$t/act.h5"
  [ "$status" -eq 0 ] && [ -z "$output" ]
  predict -c "$t/act.h5" "$d/obs.tar" > "$t/pred.tar"
  run "$PYTHON" "$ILT_TESTS/lerobot_act.py" compare "$t/pred.tar" "$d/torch.npy"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == "shape (3, 6, 14)"* ]]
  # it runs as a policy too: config.json's cameras became the checkpoint's
  run rollout -t transfer_cube -p "$t/act.h5" --cameras top,left_wrist --image-size 64x64 --max-steps 2 -q
  [ "$status" -eq 1 ]
  [[ "$output" == *"the policy needs camera 'wrist'"* ]]
}

@test "a LeRobot ACT with its statistics in policy_preprocessor/postprocessor files comes in the same" {
  ls "$d/processor_model"
  ckpt-convert "$d/processor_model/config.json" "$t/act.h5"
  predict -c "$t/act.h5" "$d/obs.tar" > "$t/pred.tar"
  run "$PYTHON" "$ILT_TESTS/lerobot_act.py" compare "$t/pred.tar" "$d/torch.npy"
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "ours goes out as LeRobot's layout: PyTorch loads it strictly and gives predict's chunks" {
  ckpt-convert "$d/ours.h5" "$t/out"
  run ls "$t/out"
  [ "$output" = "$(printf 'config.json\nmodel.safetensors')" ]
  run jq -r '[.type, .chunk_size, .dim_model, .n_decoder_layers, .input_features["observation.images.top"].shape[1], .output_features.action.shape[0]] | @tsv' "$t/out/config.json"
  [ "$output" = "$(printf 'act\t5\t16\t2\t32\t14')" ]
  "$PYTHON" "$ILT_TESTS/lerobot_act.py" stream "$t/out" "$t/obs.tar"
  "$PYTHON" "$ILT_TESTS/lerobot_act.py" run "$t/out" "$t/obs.tar" "$t/torch.npy"
  predict -c "$d/ours.h5" "$t/obs.tar" > "$t/pred.tar"
  run "$PYTHON" "$ILT_TESTS/lerobot_act.py" compare "$t/pred.tar" "$t/torch.npy"
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "round trips: ours -> LeRobot -> ours and ours -> original names -> ours give the same checkpoint and predictions" {
  ckpt-convert "$d/ours.h5" "$t/lerobot"
  ckpt-convert "$t/lerobot" "$t/back1.h5"
  ckpt-convert "$d/ours.safetensors" "$t/back2.h5"
  run same_checkpoint "$d/ours.h5" "$t/back1.h5"
  echo "$output"
  [ "$status" -eq 0 ]
  run same_checkpoint "$d/ours.h5" "$t/back2.h5"
  [ "$status" -eq 0 ]
  predict -c "$d/ours.h5" "$d/train.tar" > "$t/a.tar"
  predict -c "$t/back1.h5" "$d/train.tar" > "$t/b.tar"
  cmp "$t/a.tar" "$t/b.tar"
  # the original names are ours: the file's tensors are /params' names
  run "$PYTHON" - "$d/ours.h5" "$d/ours.safetensors" <<'PY'
import sys, json, struct, h5py
h = json.loads(open(sys.argv[2], "rb").read()[8:8 + struct.unpack("<Q", open(sys.argv[2], "rb").read(8))[0]])
meta = h.pop("__metadata__")
assert set(h) == set(h5py.File(sys.argv[1], "r")["params"]), "names"
assert meta["format"] == "pt" and json.loads(meta["ilt.config"])["policy"] == "act"
print(len(h), "tensors")
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

# The weights a policy runs with (the EMA when there is one) of $1 are /params of $2, bit for bit.
same_weights() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
src = a["ema"] if "ema" in a else a["params"]
assert set(src) == set(b["params"]), set(src) ^ set(b["params"])
bad = [k for k in src if not np.array_equal(src[k][()], b["params"][k][()])]
assert not bad, bad
print("same: %d tensors" % len(src))
PY
}

@test "Diffusion Policy and IBC go out with DP's state_dict names: PyTorch loads them strictly, the normaliser is DP's" {
  ckpt-convert "$d/dp.h5" "$t/dp.safetensors"            # -f dp is the default for these kinds
  ckpt-convert -f dp "$d/ibc.h5" "$t/ibc.safetensors"
  run "$PYTHON" "$ILT_TESTS/dp_names.py" load "$t/dp.safetensors"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == "loaded strictly: 232 tensors (68 robomimic aliases), 3 normaliser entries" ]]
  run "$PYTHON" "$ILT_TESTS/dp_names.py" load "$t/ibc.safetensors"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == "loaded strictly: 10 tensors (0 robomimic aliases), 2 normaliser entries" ]]
  run --separate-stderr ckpt-convert -f lerobot "$d/dp.h5" "$t/x"
  [ "$status" -eq 1 ] && [ ! -e "$t/x" ] && [[ "$stderr" == *"a diffusion checkpoint: it converts to Diffusion Policy's names (format dp)"* ]]
}

@test "round trips: Diffusion Policy and IBC -> DP's names -> ours: the weights, predictions and a second export the same" {
  for k in dp ibc; do
    ckpt-convert "$d/$k.h5" "$t/$k.safetensors"
    ckpt-convert "$t/$k.safetensors" "$t/$k.back.h5"
    run same_weights "$d/$k.h5" "$t/$k.back.h5"
    echo "$k: $output"
    [ "$status" -eq 0 ]
    ckpt-convert "$t/$k.back.h5" "$t/$k.again.safetensors"
    cmp "$t/$k.safetensors" "$t/$k.again.safetensors"
  done
  predict -c "$d/dp.h5" --threads 1 "$d/dp_train.tar" > "$t/a.tar"
  predict -c "$t/dp.back.h5" --threads 1 "$d/dp_train.tar" > "$t/b.tar"
  cmp "$t/a.tar" "$t/b.tar"
  predict -c "$d/ibc.h5" --threads 1 --policy-arg samples=64 "$d/ibc_train.tar" > "$t/a.tar"
  predict -c "$t/ibc.back.h5" --threads 1 --policy-arg samples=64 "$d/ibc_train.tar" > "$t/b.tar"
  cmp "$t/a.tar" "$t/b.tar"
  run h5dump -a /config/control_hz "$t/dp.back.h5"
  [[ "$output" == *'"50"'* ]]
}

@test "DP's names: an unknown tensor, a differing alias, another normaliser, a missing tensor, no configuration: clear errors" {
  ckpt-convert "$d/dp.h5" "$t/dp.safetensors"
  for kind in extra alias scale missing noconfig; do
    "$PYTHON" "$ILT_TESTS/dp_names.py" damage "$t/dp.safetensors" "$t/bad.safetensors" $kind
    run --separate-stderr ckpt-convert "$t/bad.safetensors" "$t/out.h5"
    echo "$kind: $stderr"
    [ "$status" -eq 1 ] && [ -z "$output" ] && [ ! -e "$t/out.h5" ]
    [[ "$stderr" == "ckpt-convert: $t/bad.safetensors: "* ]]
    case $kind in
      extra) [[ "$stderr" == *"unexpected model.extra.weight"* ]] ;;
      alias) [[ "$stderr" == *"'obs_encoder.obs_nets.top_image.nets.0.nets.0.weight' differs from 'obs_encoder.obs_nets.top_image.backbone.nets.0.weight'"* ]] ;;
      scale) [[ "$stderr" == *"normalizer.params_dict.action.scale[0] = "*"but action's normaliser of these limits gives"* ]] ;;
      missing) [[ "$stderr" == *"/params does not match the model (1 difference): missing model."* ]] ;;
      noconfig) [[ "$stderr" == *"no ilt.config metadata"* ]] ;;
    esac
  done
  run bash -c "ls '$t' | grep -E '\.h5|\.tmp\.'"
  echo "left behind: $output"
  [ -z "$output" ]
}

# Damage ours.safetensors in one way; print the damaged file's path.
damage() {
  "$PYTHON" - "$d/ours.safetensors" "$t/bad.safetensors" "$1" <<'PY'
import sys, json, struct
src, dst, kind = sys.argv[1:4]
data = open(src, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
h, body = json.loads(data[8:8 + n]), data[8 + n:]
name = sorted(k for k in h if k != "__metadata__")[0]
if kind == "huge-header":
    out = struct.pack("<Q", 200 << 20) + data[8:]
elif kind == "short":
    out = data[:5]
elif kind == "truncated":
    out = data[:len(data) - 100]
elif kind == "not-json":
    out = struct.pack("<Q", 8) + b"{not js}" + body
else:
    if kind == "overlap":
        other = sorted(k for k in h if k != "__metadata__")[1]
        h[other]["data_offsets"] = [h[name]["data_offsets"][0], h[name]["data_offsets"][0] + (h[other]["data_offsets"][1] - h[other]["data_offsets"][0])]
    elif kind == "dtype":
        h[name]["dtype"] = "F8_E4M3"
    elif kind == "past-end":
        h[name]["data_offsets"] = [len(body) + 4, len(body) + 4 + h[name]["data_offsets"][1] - h[name]["data_offsets"][0]]
    elif kind == "shape":
        h[name]["shape"] = [7] + h[name]["shape"]
    elif kind == "missing":
        del h[name]
    text = json.dumps(h).encode()
    text += b" " * (-len(text) % 8)
    out = struct.pack("<Q", len(text)) + text + body
open(dst, "wb").write(out)
print(name)
PY
}

@test "damaged safetensors files: each a clear error, status 1, no checkpoint written" {
  for kind in huge-header short truncated not-json overlap dtype past-end shape missing; do
    name=$(damage $kind)
    run --separate-stderr ckpt-convert "$t/bad.safetensors" "$t/out.h5"
    echo "$kind: $stderr"
    [ "$status" -eq 1 ] && [ -z "$output" ] && [ ! -e "$t/out.h5" ]
    [[ "$stderr" == "ckpt-convert: $t/bad.safetensors: "* ]]
    case $kind in
      huge-header) [[ "$stderr" == *"more than safetensors' limit of 100 MB"* ]] ;;
      short) [[ "$stderr" == *"too short for a safetensors header length"* ]] ;;
      truncated) [[ "$stderr" == *"run past the end of the data"* ]] ;;
      not-json) [[ "$stderr" == *"the header is not valid JSON"* ]] ;;
      overlap) [[ "$stderr" == *"overlap"* ]] ;;
      dtype) [[ "$stderr" == *"unknown dtype 'F8_E4M3'"* ]] ;;
      past-end) [[ "$stderr" == *"'$name': data_offsets"*"run past the end"* ]] ;;
      shape) [[ "$stderr" == *"'$name': data_offsets"*"its F32 shape needs"* ]] ;;
      missing) [[ "$stderr" == *"missing tensors: $name"* ]] ;;
    esac
  done
  run bash -c "ls '$t' | grep -E '\.h5|\.tmp\.'"
  echo "left behind: $output"
  [ -z "$output" ]
}

@test "unconvertible models: GroupNorm backbone to LeRobot, environment state from LeRobot; usage errors" {
  act-train --chunk 5 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 --dec-layers 1 --nheads 2 --latent-dim 4 \
    --batch-size 2 --threads 1 -q --stats "$d/stats.tar" -o "$t/group.h5" --steps 0 "$d/train.tar"
  run --separate-stderr ckpt-convert "$t/group.h5" "$t/out"
  [ "$status" -eq 1 ] && [ ! -e "$t/out" ]
  [[ "$stderr" == *"backbone uses GroupNorm"*"--backbone-norm frozen"* ]]
  ckpt-convert "$d/ours.h5" "$t/m"
  jq '.input_features["observation.environment_state"] = {"type": "ENV", "shape": [6]}' "$t/m/config.json" > "$t/c.json"
  mv "$t/c.json" "$t/m/config.json"
  run --separate-stderr ckpt-convert "$t/m" "$t/x.h5"
  [ "$status" -eq 1 ] && [ ! -e "$t/x.h5" ]
  [[ "$stderr" == *"input feature 'observation.environment_state' (ENV) cannot be converted"* ]]
  run --separate-stderr ckpt-convert "$t/nowhere" "$t/x.h5"
  [ "$status" -eq 1 ] && [[ "$stderr" == *"nowhere: No such file or directory"* ]]
  run -2 ckpt-convert "$d/ours.h5"
  run -2 ckpt-convert -f onnx "$d/ours.h5" "$t/y"
  [[ "$output" == *"'onnx' is not lerobot, act or dp"* ]]
}
