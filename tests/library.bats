#!/usr/bin/env bats
# library.bats — the public library: make install-lib into a DESTDIR tree (libilt.so.0 with its
# soname, ilt.h, ilt.pc, the man3 pages), examples/robot_loop.c built against it with pkg-config
# alone, its actions equal to rollout's bit for bit for an ACT and a Diffusion Policy checkpoint,
# and the C interface (tests/ilt_api.c): two policies in one process, errors as return codes.

bats_require_minimum_version 1.5.0

LOW="observation.object,observation.robot0_eef_pos,observation.robot0_eef_quat,observation.robot0_gripper_qpos"

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  [ -n "${ILT_ASAN:-}" ] && return 0
  root="$BATS_TEST_DIRNAME/.."
  make --no-print-directory -s -C "$root" BUILD="$(cd "$ILT_BIN/.." && pwd)" install-lib DESTDIR="$d/root" PREFIX=/usr \
    > "$d/install.log" 2>&1
  export PKG_CONFIG_PATH="$d/root/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$d/root"
  cc -Wall -Wextra -Werror "$root/examples/robot_loop.c" $(pkg-config --cflags --libs ilt) -o "$d/robot_loop"
  cc -Wall -Wextra -Werror "$ILT_TESTS/ilt_api.c" $(pkg-config --cflags --libs ilt) -pthread -o "$d/ilt_api"
  # ACT: a tiny model on 32x32 images of the top camera (transfer_cube's state and action sizes)
  "$PYTHON" "$ILT_TESTS/make_episodes.py" act "$d/eps" --episodes 2 --frames 8 --cams top:32:32 >/dev/null
  h5slice "$d"/eps/*.hdf5 > "$d/frames.tar"
  normstats "$d/frames.tar" > "$d/stats.tar"
  chunkify -k 5 "$d/frames.tar" | act-train --chunk 5 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 \
    --dec-layers 1 --nheads 2 --latent-dim 4 --batch-size 2 --threads 1 -q --stats "$d/stats.tar" -o "$d/act.h5" --steps 2 -
  # Diffusion Policy: low-dimensional lift, DDIM with 3 steps by default
  rollout -t lift -p scripted -n 2 --max-steps 24 --layout robomimic -o "$d/lift.hdf5" -q >/dev/null
  h5slice --obs object,robot0_eef_pos,robot0_eef_quat,robot0_gripper_qpos "$d/lift.hdf5" > "$d/lift_frames.tar"
  normstats "$d/lift_frames.tar" > "$d/lift_stats.tar"
  chunkify -k 8 --obs-steps 2 --action-start "$d/lift_frames.tar" | dp-train --down-dims 16,32 --step-embed 8 \
    --horizon 8 --action-steps 4 --batch-size 4 --threads 1 --eval-steps 2 -q --encoder lowdim --lowdim "$LOW" \
    --sampler ddim --inference-steps 3 --stats "$d/lift_stats.tar" -o "$d/dp.h5" --steps 2 --control-hz 20 -
  # Implicit BC: the same data, two actions per query
  chunkify -k 3 --obs-steps 2 --action-start "$d/lift_frames.tar" | ibc-train --width 16 --negatives 8 \
    --eval-samples 32 --samples 64 --action-steps 2 --batch-size 4 --threads 1 -q --lowdim "$LOW" \
    --stats "$d/lift_stats.tar" -o "$d/ibc.h5" --steps 2 -
}

setup() {
  d="$BATS_FILE_TMPDIR"
  t="$BATS_TEST_TMPDIR"
  [ -z "${ILT_ASAN:-}" ] || skip "the installed library is the normal build's (the sanitizer build's needs its runtime)"
  export LD_LIBRARY_PATH="$d/root/usr/lib"
}

# An episode recorded by rollout -> the raw observations robot_loop reads (in ilt_describe's
# order: state, named observations, images) and the actions rollout executed, one line each.
episode_to_raw() {
  "$PYTHON" - "$@" <<'PY'
import sys, h5py, numpy as np
path, ckpt, raw, actions = sys.argv[1:5]
c = h5py.File(ckpt, "r")["config"].attrs
text = lambda k: (c[k].decode() if isinstance(c[k], bytes) else c[k]) if k in c else ""
f = h5py.File(path, "r")
if "data" in f:                          # robomimic: DP's low-dimensional keys, in their order
    g = f["data/demo_0"]
    fields = [g["obs/" + k.replace("observation.", "")] for k in text("lowdim_keys").split(",")]
    images, act = [], g["actions"][()]
else:                                    # ACT layout: qpos, then each camera
    fields = [f["observations/qpos"]]
    images = [f["observations/images/" + cam] for cam in text("cameras").split(",") if cam]
    act = f["action"][()]
with open(raw, "wb") as out:
    for t in range(act.shape[0]):
        for x in fields: out.write(np.asarray(x[t], "<f4").tobytes())
        for x in images: out.write(np.ascontiguousarray(x[t], np.uint8).tobytes())
np.savetxt(actions, act, fmt="%.9g")
PY
}

same_actions() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, numpy as np
a, b = (np.loadtxt(p, dtype=np.float32, ndmin=2) for p in sys.argv[1:3])
print(a.shape, b.shape, "max difference", float(abs(a - b).max()) if a.shape == b.shape else "-")
assert a.shape == b.shape and a.shape[0] > 0 and np.array_equal(a, b)
PY
}

@test "make install-lib: libilt.so.0 with its soname, ilt.h, ilt.pc, man3 pages; only ilt_* exported" {
  cat "$d/install.log"
  [ -f "$d/root/usr/lib/libilt.so.0.1.0" ] && [ -L "$d/root/usr/lib/libilt.so.0" ] && [ -L "$d/root/usr/lib/libilt.so" ]
  [ -f "$d/root/usr/include/ilt.h" ]
  ls "$d/root/usr/share/man/man3/"
  [ -f "$d/root/usr/share/man/man3/ilt_open.3" ] && [ -f "$d/root/usr/share/man/man3/ilt_step.3" ]
  run objdump -p "$d/root/usr/lib/libilt.so.0.1.0"
  [[ "$output" == *"SONAME               libilt.so.0"* ]]
  [[ "$output" != *"NEEDED               libmujoco"* ]]
  run pkg-config --modversion ilt
  [ "$output" = "0.1.0" ]
  run bash -c "nm -D --defined-only '$d/root/usr/lib/libilt.so.0.1.0' | awk '\$2 == \"T\" {print \$3}' | grep -v '^ilt_'"
  echo "other exported functions: $output"
  [ -z "$output" ]
  run ldd "$d/robot_loop"
  [[ "$output" == *"libilt.so.0 => $d/root/usr/lib/libilt.so.0"* ]]
}

@test "make uninstall removes what install-lib installed" {
  cp -a "$d/root" "$t/root"
  make --no-print-directory -s -C "$BATS_TEST_DIRNAME/.." uninstall DESTDIR="$t/root" PREFIX=/usr
  run find "$t/root" -type f -o -type l
  echo "$output"
  [ -z "$output" ]
}

@test "robot_loop (installed library) gives rollout's actions bit for bit: ACT" {
  rollout -t transfer_cube -p "$d/act.h5" --image-size 32x32 --cameras top --max-steps 12 --seed 5 -o "$t/rec" -q >/dev/null
  episode_to_raw "$t/rec/episode_5.hdf5" "$d/act.h5" "$t/obs.raw" "$t/rollout.txt"
  "$d/robot_loop" "$d/act.h5" 5 0 < "$t/obs.raw" > "$t/loop.txt"
  run same_actions "$t/loop.txt" "$t/rollout.txt"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == "(12, 14) (12, 14) max difference 0.0" ]]
}

@test "robot_loop (installed library) gives rollout's actions bit for bit: Diffusion Policy with its seed" {
  rollout -t lift -p "$d/dp.h5" --max-steps 12 --seed 9 --layout robomimic -o "$t/rec.hdf5" -q >/dev/null
  episode_to_raw "$t/rec.hdf5" "$d/dp.h5" "$t/obs.raw" "$t/rollout.txt"
  "$d/robot_loop" "$d/dp.h5" 9 0 < "$t/obs.raw" > "$t/loop.txt"
  run same_actions "$t/loop.txt" "$t/rollout.txt"
  echo "$output"
  [ "$status" -eq 0 ]
  # another seed draws other noise
  "$d/robot_loop" "$d/dp.h5" 10 0 < "$t/obs.raw" > "$t/other.txt"
  run same_actions "$t/other.txt" "$t/rollout.txt"
  [ "$status" -ne 0 ]
}

@test "robot_loop with half-precision weights (ilt_options.half_weights) gives rollout --weight-precision f16's actions bit for bit" {
  rollout -t lift -p "$d/dp.h5" --max-steps 12 --seed 9 --layout robomimic -o "$t/rec.hdf5" -q \
    --weight-precision f16 >/dev/null
  episode_to_raw "$t/rec.hdf5" "$d/dp.h5" "$t/obs.raw" "$t/rollout.txt"
  "$d/robot_loop" "$d/dp.h5" 9 0 f16 < "$t/obs.raw" > "$t/loop.txt"
  run same_actions "$t/loop.txt" "$t/rollout.txt"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"max difference 0.0" ]]
  "$d/robot_loop" "$d/dp.h5" 9 0 f32 < "$t/obs.raw" > "$t/single.txt"   # single precision: other bits
  run same_actions "$t/single.txt" "$t/rollout.txt"
  [ "$status" -ne 0 ]
}

@test "robot_loop (installed library) gives rollout's actions bit for bit: Implicit BC, DFO and Langevin" {
  rollout -t lift -p "$d/ibc.h5" --max-steps 12 --seed 4 --layout robomimic -o "$t/rec.hdf5" -q >/dev/null
  episode_to_raw "$t/rec.hdf5" "$d/ibc.h5" "$t/obs.raw" "$t/rollout.txt"
  "$d/robot_loop" "$d/ibc.h5" 4 0 < "$t/obs.raw" > "$t/loop.txt"
  run same_actions "$t/loop.txt" "$t/rollout.txt"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == "(12, 7) (12, 7) max difference 0.0" ]]
  # Langevin's gradients with respect to the actions, with the weights' gradients freed
  rollout -t lift -p "$d/ibc.h5" --max-steps 4 --seed 4 --layout robomimic -o "$t/lang.hdf5" -q \
    --policy-arg sampler=langevin --policy-arg iterations=5 >/dev/null
  "$PYTHON" -c "import h5py, numpy as np, sys; a = h5py.File(sys.argv[1])['data/demo_0/actions'][()]; assert a.shape == (4, 7) and np.isfinite(a).all()" "$t/lang.hdf5"
}

@test "the checkpoint's control rate (--control-hz) reaches ilt_describe and paces robot_loop" {
  run h5dump -a /config/control_hz "$d/dp.h5"
  [[ "$output" == *'"20"'* ]]
  run h5dump -a /config/control_hz "$d/act.h5"
  [ "$status" -ne 0 ]   # trained without --control-hz: no rate, robot_loop runs as fast as it can
  head -c $((19 * 4)) /dev/zero > "$t/one.raw"
  for i in 1 2 3 4 5; do cat "$t/one.raw"; done > "$t/five.raw"
  start=$(date +%s%N)
  "$d/robot_loop" "$d/dp.h5" 0 < "$t/five.raw" > "$t/out.txt"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "5 steps at the checkpoint's 20 Hz: $ms ms"
  [ "$(wc -l < "$t/out.txt")" -eq 5 ]
  [ "$ms" -ge 200 ]
}

@test "robot_loop keeps the rate it is given" {
  head -c $((14 * 4 + 32 * 32 * 3)) /dev/zero > "$t/one.raw"
  for i in 1 2 3 4 5; do cat "$t/one.raw"; done > "$t/five.raw"
  start=$(date +%s%N)
  "$d/robot_loop" "$d/act.h5" 0 10 < "$t/five.raw" > "$t/out.txt"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "5 steps at 10 Hz: $ms ms"
  [ "$(wc -l < "$t/out.txt")" -eq 5 ]
  [ "$ms" -ge 450 ]
}

@test "robot_loop: a bad checkpoint is a clear error" {
  echo "not a checkpoint" > "$t/bad.h5"
  run --separate-stderr "$d/robot_loop" "$t/bad.h5" < /dev/null
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == "robot_loop: $t/bad.h5: not an HDF5 file"* ]]
}

@test "the C interface (tests/ilt_api.c): two policies in one process, two threads, errors" {
  echo "not a checkpoint" > "$t/bad.h5"
  run "$d/ilt_api" "$d/act.h5" "$d/dp.h5" "$t/bad.h5"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"1..18"* ]]
  [[ "$output" != *"not ok"* ]]
}
