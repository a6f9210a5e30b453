#!/usr/bin/env bats
# checkpoint.bats — a checkpoint written by lib/io/checkpoint.c opens with h5py: PyTorch names
# and layouts under /params, optimizer moments, EMA, step, configuration and statistics.

bats_require_minimum_version 1.5.0

setup() {
  : "${ILT_UNIT:?}" "${PYTHON:=/usr/bin/python3}"
  ckpt="$BATS_TEST_TMPDIR/ckpt.h5"
}

@test "checkpoint: h5py reads names, shapes, dtypes, kinds, optimizer state, EMA, config, stats" {
  run "$ILT_UNIT/test_checkpoint" --write "$ckpt"
  [ "$status" -eq 0 ]
  run "$PYTHON" - "$ckpt" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
p = f["params"]
expect = {"backbone.conv1.weight": (4, 3, 3, 3), "backbone.conv1.bias": (4,), "backbone.bn1.weight": (4,),
          "backbone.bn1.bias": (4,), "backbone.bn1.running_mean": (4,), "backbone.bn1.running_var": (4,),
          "head.weight": (3, 100), "head.bias": (3,), "scale": (1,)}
assert set(p.keys()) == set(expect), sorted(p.keys())
for k, shape in expect.items():
    assert p[k].shape == shape, (k, p[k].shape)
    assert p[k].dtype == np.float32, (k, p[k].dtype)
    assert np.isfinite(p[k][()]).all()
kind = lambda k: p[k].attrs["kind"].decode() if isinstance(p[k].attrs["kind"], bytes) else p[k].attrs["kind"]
assert kind("backbone.bn1.running_var") == "buffer" and kind("scale") == "frozen" and kind("head.weight") == "parameter"
assert set(f["optim/exp_avg"].keys()) == set(expect) - {"backbone.bn1.running_mean", "backbone.bn1.running_var", "scale"}
assert f["optim/exp_avg_sq/head.weight"].shape == (3, 100)
assert int(f["optim"].attrs["step"]) == 2 and int(f.attrs["step"]) == 2
assert set(f["ema"].keys()) == set(expect)
assert f["config"].attrs["chunk_size"] in ("100", b"100")
assert np.allclose(f["stats/qpos/std"][()], [1, 2, 3])
assert f.attrs["format"] in ("ilt-checkpoint-1", b"ilt-checkpoint-1")
print("ok")
PY
  [ "$status" -eq 0 ]
  [ "$output" = "ok" ]
}

@test "checkpoint: h5ls lists /params with PyTorch names" {
  command -v h5ls >/dev/null || skip "h5ls not installed"
  "$ILT_UNIT/test_checkpoint" --write "$ckpt"
  run h5ls "$ckpt/params"
  [ "$status" -eq 0 ]
  [[ "$output" == *"backbone.bn1.running_var"* ]]
  [[ "$output" == *"head.weight"*"{3, 100}"* ]]
}

@test "checkpoint: an unwritable path fails and leaves nothing" {
  run "$ILT_UNIT/test_checkpoint" --write "$BATS_TEST_TMPDIR/missing/dir/ckpt.h5"
  [ "$status" -eq 1 ]
  [[ "$output" == *"missing/dir/ckpt.h5"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/missing" ]
}

@test "checkpoint: a file altered with h5py loads back, or fails naming every difference and the dtype" {
  "$ILT_UNIT/test_checkpoint" --write "$ckpt"
  run "$ILT_UNIT/test_checkpoint" --read "$ckpt"
  [ "$status" -eq 0 ]
  [ "$output" = "step 2" ]
  "$PYTHON" - "$ckpt" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    p = f["params"]
    bias = p["head.bias"][()]
    del p["head.bias"]
    p.create_dataset("head.bias", data=bias.astype(np.float64))
    del p["backbone.conv1.bias"]
    p.create_dataset("extra.weight", data=np.zeros((2, 2), np.float32))
    w = p["head.weight"][()]
    del p["head.weight"]
    p.create_dataset("head.weight", data=w.T.copy())
PY
  run --separate-stderr "$ILT_UNIT/test_checkpoint" --read "$ckpt"
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *"4 differences"* ]]
  [[ "$stderr" == *"missing backbone.conv1.bias [4]"* ]]
  [[ "$stderr" == *"unexpected extra.weight"* ]]
  [[ "$stderr" == *"head.bias is float 8-byte in the file, float32 expected"* ]]
  [[ "$stderr" == *"head.weight has shape [100,3] in the file, [3,100] expected"* ]]
}

@test "checkpoint: a truncated file is an error, not a crash" {
  "$ILT_UNIT/test_checkpoint" --write "$ckpt"
  head -c 3000 "$ckpt" > "$BATS_TEST_TMPDIR/short.h5"
  run --separate-stderr "$ILT_UNIT/test_checkpoint" --read "$BATS_TEST_TMPDIR/short.h5"
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *"short.h5"* ]]
}
