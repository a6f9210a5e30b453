#!/usr/bin/env bats
# reliability.bats — damaged inputs are refused with a message naming what is wrong, nothing on
# stdout and no output file: episodes whose datasets declare frames that are not stored (ACT and
# robomimic), checkpoints with NaN/Inf values, missing root attributes, out-of-range
# configuration or unwritten chunks, statistics with NaN. The files come from make_damaged.py.

bats_require_minimum_version 1.5.0

TINY="--chunk 5 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 --dec-layers 2 --nheads 2 --latent-dim 4 --batch-size 4 --threads 1 -q"

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  "$PYTHON" "$ILT_TESTS/make_damaged.py" episodes "$d/bad"
  "$PYTHON" "$ILT_TESTS/make_episodes.py" act "$d/eps" --episodes 2 --frames 8 --cams top:32:32 >/dev/null
  h5slice -q "$d"/eps/*.hdf5 > "$d/frames.tar"
  normstats "$d/frames.tar" > "$d/stats.tar"
  chunkify -k 5 "$d/frames.tar" > "$d/train.tar"
  act-train $TINY --stats "$d/stats.tar" -o "$d/init.h5" --steps 0 "$d/train.tar"
}

setup() {
  d="$BATS_FILE_TMPDIR"
  t="$BATS_TEST_TMPDIR"
}

# h5slice FILE must fail with status 1, nothing on stdout, and stderr containing each argument.
refused_by_h5slice() {
  local file=$1; shift
  run -1 --separate-stderr h5slice -q "$file"
  [ -z "$output" ]
  for want in "$@"; do [[ "$stderr" == *"$want"* ]] || { echo "stderr lacks '$want': $stderr"; return 1; }; done
}

@test "h5slice: ACT episode declaring 2^40 frames with 20 chunks stored is refused, naming the dataset and both sizes" {
  refused_by_h5slice "$d/bad/act_chunks.hdf5" "act_chunks.hdf5: dataset /observations/qpos" \
    "declares [1099511627776,14] (61572651155456 bytes in 1099511627776 chunks) but stores 20 chunks (1120 bytes)"
}

@test "h5slice: ACT episode declaring 2^40 frames with no storage at all is refused" {
  refused_by_h5slice "$d/bad/act_nostorage.hdf5" "dataset /observations/qpos" \
    "declares [1099511627776,14] (61572651155456 bytes) but stores 0 bytes"
}

@test "h5slice: robomimic demo declaring 2^40 frames (chunked, 20 stored; or no storage) is refused" {
  refused_by_h5slice "$d/bad/rm_chunks.hdf5" "dataset /data/demo_0/obs/robot0_eef_pos" \
    "(26388279066624 bytes in 1099511627776 chunks) but stores 20 chunks (480 bytes)"
  refused_by_h5slice "$d/bad/rm_nostorage.hdf5" "dataset /data/demo_0/obs/robot0_eef_pos" "but stores 0 bytes"
}

@test "h5slice: an episode whose last chunk of /action was never written is refused" {
  refused_by_h5slice "$d/bad/act_short.hdf5" "dataset /action declares [30,14] (1680 bytes in 3 chunks) but stores 2 chunks (1120 bytes)"
}

@test "h5slice: the damaged episode among good ones leaves stdout empty" {
  run -1 --separate-stderr h5slice -q "$d"/eps/*.hdf5 "$d/bad/act_chunks.hdf5"
  [ -z "$output" ]
  [[ "$stderr" == *"act_chunks.hdf5: dataset /observations/qpos declares"* ]]
}

# predict -c (a copy of the tiny checkpoint damaged as CASE) must fail naming each argument.
refused_checkpoint() {
  local case=$1; shift
  "$PYTHON" "$ILT_TESTS/make_damaged.py" checkpoint "$d/init.h5" "$t/$case.h5" "$case"
  run -1 --separate-stderr predict -c "$t/$case.h5" "$d/train.tar"
  [ -z "$output" ]
  for want in "$@"; do [[ "$stderr" == *"$want"* ]] || { echo "stderr lacks '$want': $stderr"; return 1; }; done
}

@test "predict: the undamaged checkpoint loads (the damaged copies below differ from it in one way)" {
  run --separate-stderr predict -c "$d/init.h5" "$d/train.tar"
  [ "$status" -eq 0 ]
  [ -n "$output" ]
}

@test "predict: NaN or Inf in a parameter is an error naming the parameter and element" {
  refused_checkpoint nan_param "nan_param.h5: /params/" "holds NaN at element"
  refused_checkpoint inf_param "/params/" "holds Inf at element"
}

@test "predict: a checkpoint whose root attributes were removed is refused" {
  refused_checkpoint no_root_attrs "predict: $t/no_root_attrs.h5: not a policy checkpoint (no root attribute 'policy')"
}

@test "predict: integer configuration -1 or 2^30 and float configuration NaN are refused, naming the field" {
  refused_checkpoint neg_int "configuration 'chunk' = -1 is outside 1..65536"
  refused_checkpoint huge_int "configuration 'hidden_dim' = 1073741824 is outside 1..65536"
  refused_checkpoint nan_float "configuration 'dropout' = nan is outside [0, 1)"
}

@test "predict: NaN or zero in the checkpoint's statistics is refused" {
  refused_checkpoint nan_stat "/stats/action/std holds NaN at element 0"
  refused_checkpoint zero_std "/stats/action/std[0] is 0, a standard deviation must be positive"
}

@test "predict: a parameter with an unwritten chunk (fill values) is refused" {
  refused_checkpoint missing_chunk "/params does not match the model" "but stores 1 chunk"
}

@test "rollout: a policy checkpoint with a NaN parameter is refused before the first step" {
  "$PYTHON" "$ILT_TESTS/make_damaged.py" checkpoint "$d/init.h5" "$t/nan.h5" nan_param
  cd "$t"
  run -1 --separate-stderr rollout -t transfer_cube -p nan.h5 -n 1 --max-steps 2 -o rec -q
  [ -z "$output" ]
  [[ "$stderr" == *"nan.h5: /params/"*"holds NaN"* ]]
  [ ! -e rec/episode_0.hdf5 ]
}

@test "act-train: statistics with a NaN are refused and no checkpoint is written" {
  "$PYTHON" - "$d/stats.tar" "$t/nan.tar" <<'PY'
import io, sys, tarfile
import numpy as np
src, out = tarfile.open(sys.argv[1]), tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT)
for m in src.getmembers():
    data = src.extractfile(m).read()
    if m.name.endswith("action.std.npy"):
        a = np.load(io.BytesIO(data))
        a[2] = np.nan
        b = io.BytesIO()
        np.save(b, a)
        data = b.getvalue()
        m.size = len(data)
    out.addfile(m, io.BytesIO(data))
out.close()
PY
  run -1 --separate-stderr act-train $TINY --stats "$t/nan.tar" -o "$t/x.h5" --steps 1 "$d/train.tar"
  [ -z "$output" ]
  [[ "$stderr" == *"nan.tar: stats field action.std is NaN at element 2"* ]]
  [ -z "$(ls "$t" | grep -F x.h5)" ]
}

@test "h5slice: a damaged group header (its checksum fails) is an error, not a group without some of its features" {
  rollout -t lift -p scripted -n 2 --max-steps 24 --layout robomimic -q -o "$t/lift.hdf5" >/dev/null
  # one bit of the first link name "agentview_image" (in the checksummed header of demo_0/obs)
  "$PYTHON" - "$t/lift.hdf5" "$t/bad.hdf5" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(b"agentview_image")
assert i > 0
d[i] ^= 0x40
open(sys.argv[2], "wb").write(d)
PY
  refused_by_h5slice "$t/bad.hdf5" "bad.hdf5: cannot read /data/demo_0/obs/" "(corrupt file?)"
}
