#!/usr/bin/env bats
# io.bats — h5slice, normstats, chunkify: values against h5py/NumPy, stream interop with Python
# (tarfile + numpy), episode files we write read by h5py, bad input, usage.

bats_require_minimum_version 1.5.0

setup_file() {
    export PYTHON=${PYTHON:-/usr/bin/python3}
    export F="$BATS_FILE_TMPDIR"
    export MK="$BATS_TEST_DIRNAME/make_episodes.py" RS="$BATS_TEST_DIRNAME/read_stream.py"
    # ACT: float64 datasets, gzip-compressed images chunked one frame per chunk, two cameras
    "$PYTHON" "$MK" act "$F/act" --episodes 3 --first 4 --frames 23 --cams top:12:16,wrist:6:8 --float64 --gzip
    # ACT: float32, uncompressed, no qvel, numbers 9 and 10 (10 sorts before 9 as text)
    "$PYTHON" "$MK" act "$F/act32" --episodes 2 --first 9 --frames 7 --cams top:10:12 --no-qvel --seed 3
    # robomimic with mask/train (demos 0,1,3,4) and mask/valid (2,5), unequal lengths
    "$PYTHON" "$MK" robomimic "$F/rm.hdf5" --lengths 5,7,3,9,4,6 --float64 --gzip --cams agentview:8:8,robot0_eye_in_hand:4:6
    "$PYTHON" "$MK" bad "$F/bad"
    h5slice "$F"/act/*.hdf5 > "$F/act.tar"
}

# ---------------------------------------------------------------- h5slice values

@test "h5slice: ACT float64+gzip files come out bit for bit (float64 -> float32), keys and fields sorted" {
    run "$PYTHON" "$RS" check-act "$F/act.tar" "$F"/act/episode_4.hdf5 "$F"/act/episode_5.hdf5 "$F"/act/episode_6.hdf5
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == "ok 69 samples" ]]
}

@test "h5slice: uncompressed float32 files without qvel; episode index from the file name" {
    h5slice "$F"/act32/*.hdf5 > "$BATS_TEST_TMPDIR/s.tar"
    run "$PYTHON" "$RS" check-act "$BATS_TEST_TMPDIR/s.tar" "$F"/act32/episode_10.hdf5 "$F"/act32/episode_9.hdf5
    echo "$output"
    [ "$status" -eq 0 ]
    run bash -c "tar tf '$BATS_TEST_TMPDIR/s.tar' | grep -c velocity"
    [ "$output" = 0 ]
}

@test "h5slice: robomimic --mask train gives demos 0,1,3,4 with state, images, reward, done" {
    h5slice --mask train "$F/rm.hdf5" > "$BATS_TEST_TMPDIR/s.tar"
    run "$PYTHON" "$RS" check-robomimic "$BATS_TEST_TMPDIR/s.tar" "$F/rm.hdf5" --demos 0,1,3,4
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == "ok 25 samples" ]]
}

@test "h5slice: robomimic --state picks and orders the low-dim keys" {
    h5slice -e 2,5 --state object,robot0_gripper_qpos "$F/rm.hdf5" > "$BATS_TEST_TMPDIR/s.tar"
    run "$PYTHON" "$RS" check-robomimic "$BATS_TEST_TMPDIR/s.tar" "$F/rm.hdf5" --demos 2,5 --state object,robot0_gripper_qpos
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "h5slice: -e, -t and -f select episodes, frames and features" {
    h5slice -e 5-6 -t 20:30 -f action,observation.images.wrist "$F"/act/*.hdf5 > "$BATS_TEST_TMPDIR/s.tar"
    run bash -c "tar tf '$BATS_TEST_TMPDIR/s.tar' | sed 's/\\..*//' | uniq | tr '\n' ' '"
    [ "$output" = "ep000005_t000020 ep000005_t000021 ep000005_t000022 ep000006_t000020 ep000006_t000021 ep000006_t000022 " ]
    run bash -c "tar tf '$BATS_TEST_TMPDIR/s.tar' | grep ep000005_t000020 | tr '\n' ' '"
    [ "$output" = "ep000005_t000020.action.npy ep000005_t000020.episode_index.npy ep000005_t000020.frame_index.npy ep000005_t000020.observation.images.wrist.npy " ]
}

@test "h5slice: --resize resamples every camera (area when shrinking)" {
    h5slice --resize 6x8 -f observation.images -t 0:1 -e 4 "$F"/act/*.hdf5 > "$BATS_TEST_TMPDIR/s.tar"
    run "$PYTHON" -c "
import sys; sys.path.insert(0, '$BATS_TEST_DIRNAME')
import read_stream, h5py, numpy as np
(key, s), = list(read_stream.samples('$BATS_TEST_TMPDIR/s.tar'))
top = s['observation.images.top']; wrist = s['observation.images.wrist']
assert top.shape == (6, 8, 3) and wrist.shape == (6, 8, 3), (top.shape, wrist.shape)
src = h5py.File('$F/act/episode_4.hdf5')['observations/images/top'][0].astype(np.float64)
want = src.reshape(6, 2, 8, 2, 3).mean(axis=(1, 3))
assert np.abs(top - want).max() <= 0.5 + 1e-3, np.abs(top - want).max()
same = h5py.File('$F/act/episode_4.hdf5')['observations/images/wrist'][0]
assert (wrist == same).all()   # already 6x8: untouched
print('ok')"
    echo "$output"
    [ "$output" = ok ]
}

# ---------------------------------------------------------------- interop with Python

@test "stream interop: Python (tarfile+numpy) reads what we write, we read what Python writes" {
    run bash -c "'$PYTHON' '$RS' dump '$F/act.tar' | head -3"
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "ep000004_t000000 action <f4 [14] "* ]]
    "$PYTHON" "$RS" write "$BATS_TEST_TMPDIR/py.tar"
    # our reader: chunkify copies every field through; Python checks the values it wrote
    chunkify -k 2 "$BATS_TEST_TMPDIR/py.tar" > "$BATS_TEST_TMPDIR/back.tar"
    run "$PYTHON" "$RS" dump "$BATS_TEST_TMPDIR/back.tar"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"ep000007_t000000 action <f4 [2, 2, 3] [0.0, 1.0, 2.0, 3.0]"* ]]
    [[ "$output" == *"ep000007_t000000 action_is_pad |b1 [2] [false, false]"* ]]
    [[ "$output" == *"ep000007_t000001 action_is_pad |b1 [2] [false, true]"* ]]
    [[ "$output" == *"ep000007_t000000 observation.state <f8 [2] [1.5, -2.25]"* ]]
    [[ "$output" == *"ep000007_t000001 observation.images.top |u1 [2, 3, 3] [201, 201, 201, 201]"* ]]
    [[ "$output" == *"ep000007_t000001 next.done |b1 [] [true]"* ]]
    [[ "$output" == *"ep000007_t000000 weights <i4 [3] [1, 2, 3]"* ]]
    run "$PYTHON" "$RS" check-chunkify "$BATS_TEST_TMPDIR/py.tar" "$BATS_TEST_TMPDIR/back.tar" 2 last 0 0 1
    [ "$status" -eq 0 ]
}

@test "stream: .npy members are 64-byte aligned v1.0 little-endian C order; tar lists it; streams concatenate" {
    run "$PYTHON" -c "
import tarfile
with tarfile.open('$F/act.tar') as t:
    for m in t.getmembers()[:12]:
        b = t.extractfile(m).read()
        hl = int.from_bytes(b[8:10], 'little')
        assert b[:8] == b'\x93NUMPY\x01\x00' and (10 + hl) % 64 == 0, m.name
        assert b\"'fortran_order': False\" in b[:10 + hl] and (b\"'<\" in b[:10 + hl] or b\"'|\" in b[:10 + hl])
print('ok')"
    [ "$output" = ok ]
    run bash -c "tar tvf '$F/act.tar' | head -1"
    [[ "$output" == *"ep000004_t000000.action.npy"* ]]
    cat "$F/act.tar" "$F/act.tar" | normstats --json > "$BATS_TEST_TMPDIR/two.json"
    grep -q '"count": \[138\]' "$BATS_TEST_TMPDIR/two.json"
}

# ---------------------------------------------------------------- normstats

@test "normstats: --json equals NumPy mean/std/min/max/count for every feature (images per channel)" {
    normstats --json "$F/act.tar" > "$BATS_TEST_TMPDIR/stats.json"
    run "$PYTHON" "$RS" check-normstats "$F/act.tar" "$BATS_TEST_TMPDIR/stats.json" 1e-9
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == "ok 7 features" ]]
}

@test "normstats: the stats stream (key stats, float32 fields) equals NumPy, reads from stdin" {
    normstats < "$F/act.tar" > "$BATS_TEST_TMPDIR/stats.tar"
    run "$PYTHON" "$RS" check-stats-stream "$F/act.tar" "$BATS_TEST_TMPDIR/stats.tar"
    echo "$output"
    [ "$status" -eq 0 ]
    run bash -c "tar tf '$BATS_TEST_TMPDIR/stats.tar' | grep observation.images.top"
    [ "${lines[0]}" = "stats.observation.images.top.count.npy" ]
}

@test "normstats: 20000 samples at offset 1e6 give NumPy's std to 1e-6 relative" {
    "$PYTHON" "$RS" write-offset "$BATS_TEST_TMPDIR/off.tar" 20000
    normstats --json "$BATS_TEST_TMPDIR/off.tar" > "$BATS_TEST_TMPDIR/off.json"
    run "$PYTHON" "$RS" check-normstats "$BATS_TEST_TMPDIR/off.tar" "$BATS_TEST_TMPDIR/off.json" 1e-6
    echo "$output"
    [ "$status" -eq 0 ]
}

# ---------------------------------------------------------------- chunkify

@test "chunkify: -k 5 --pad last equals the reference at both episode ends" {
    chunkify -k 5 "$F/act.tar" > "$BATS_TEST_TMPDIR/c.tar"
    run "$PYTHON" "$RS" check-chunkify "$F/act.tar" "$BATS_TEST_TMPDIR/c.tar" 5 last 0 0 1
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == "ok 69 samples" ]]
}

@test "chunkify: --pad zero, --obs-steps 2 --action-start, --stride 3 equal the reference" {
    chunkify -k 30 --pad zero --obs-steps 2 --action-start --stride 3 "$F/act.tar" > "$BATS_TEST_TMPDIR/c.tar"
    run "$PYTHON" "$RS" check-chunkify "$F/act.tar" "$BATS_TEST_TMPDIR/c.tar" 30 zero 2 1 3
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == "ok 24 samples" ]]
    h5slice --mask valid "$F/rm.hdf5" | chunkify -k 4 --obs-steps 3 > "$BATS_TEST_TMPDIR/r.tar"
    h5slice --mask valid "$F/rm.hdf5" > "$BATS_TEST_TMPDIR/rin.tar"
    run "$PYTHON" "$RS" check-chunkify "$BATS_TEST_TMPDIR/rin.tar" "$BATS_TEST_TMPDIR/r.tar" 4 last 3 0 1
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "pipeline: h5slice | chunkify | normstats runs on stdin/stdout" {
    run bash -c "h5slice -q '$F/rm.hdf5' | chunkify -k 3 | normstats --json"
    [ "$status" -eq 0 ]
    [[ "$output" == *'"action_is_pad": {'* ]]
    [[ "$output" == *'"count": [34]'* ]]
}

# ---------------------------------------------------------------- episodes we write, read by h5py

@test "episode writer: files open in h5py with the reference layouts (sim bool, chunks, env_args, masks)" {
    mkdir "$BATS_TEST_TMPDIR/ep"
    ILT_KEEP_EPISODES="$BATS_TEST_TMPDIR/ep" "$ILT_UNIT/test_episode_io" > /dev/null
    run "$PYTHON" -c "
import h5py, json, numpy as np
with h5py.File('$BATS_TEST_TMPDIR/ep/episode_7.hdf5') as f:
    assert f.attrs['sim'] == True and isinstance(f.attrs['sim'], np.bool_), repr(f.attrs['sim'])
    im = f['observations/images/top']
    assert im.shape == (300, 6, 8, 3) and im.dtype == np.uint8 and im.chunks == (1, 6, 8, 3) and im.compression == 'gzip'
    assert f['observations/qpos'].dtype == np.float32 and f['observations/qpos'][299, 1] == -299
    assert f['action'].shape == (300, 2) and f['action'].dtype == np.float64
with h5py.File('$BATS_TEST_TMPDIR/ep/demo.hdf5') as f:
    d = f['data']
    assert d.attrs['total'] == 15 and json.loads(d.attrs['env_args'])['env_name'] == 'Lift'
    assert [d['demo_%d' % i].attrs['num_samples'] for i in range(3)] == [4, 9, 2]
    assert d['demo_1/rewards'].shape == (9,) and d['demo_1/obs/agentview_image'].shape == (9, 4, 4, 3)
    assert [x.decode() for x in f['mask/train'][:]] == ['demo_0', 'demo_2']
print('ok')"
    echo "$output"
    [ "$output" = ok ]
    run ls "$BATS_TEST_TMPDIR/ep"
    [ "${#lines[@]}" -eq 2 ]   # no temporary files left
}

# ---------------------------------------------------------------- bad input: exit 1, empty stdout

bad() {  # bad EXPECTED_MESSAGE_PART command...
    local want=$1
    shift
    run --separate-stderr "$@"
    echo "status=$status stdout=${#output} stderr=$stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"$want"* ]]
}

@test "h5slice bad input: missing file, not HDF5, truncated HDF5" {
    bad "h5slice: $F/bad/nope.hdf5: cannot open: No such file" h5slice "$F/bad/nope.hdf5"
    bad "not an HDF5 file" h5slice "$F/bad/not_hdf5.hdf5"
    bad "truncated" h5slice "$F/bad/truncated.hdf5"
    bad "not an HDF5 file" h5slice "$F/bad/good.hdf5" "$F/bad/not_hdf5.hdf5"   # nothing written for the good one
}

@test "h5slice bad input: missing dataset, different lengths, float image, unknown feature, bad mask" {
    bad "missing_dataset.hdf5: missing dataset /action" h5slice "$F/bad/missing_dataset.hdf5"
    bad "/observations/qvel has 19 frames but /observations/qpos has 20" h5slice "$F/bad/lengths.hdf5"
    bad "/observations/images/top should be uint8 (T,H,W,3)" h5slice "$F/bad/float_image.hdf5"
    bad "has no feature observation.images.side" h5slice -f observation.images.side "$F/bad/good.hdf5"
    bad "no mask test" h5slice --mask test "$F/rm.hdf5"
    bad "rm.hdf5: missing dataset /data/demo_0/obs/robot0_joint_pos" h5slice --state robot0_joint_pos "$F/rm.hdf5"
    bad "no episode matches" h5slice -e 99 "$F/bad/good.hdf5"
    bad "good.hdf5: no group /data (not a robomimic file)" h5slice --layout robomimic "$F/bad/good.hdf5"
    bad "--mask needs a robomimic file" h5slice --mask train "$F/bad/good.hdf5"
    bad "episode 4 appears twice" h5slice "$F/act/episode_4.hdf5" "$F/act/episode_4.hdf5"
}

@test "stream bad input: truncated tar, corrupt .npy header, unsupported dtype, Fortran order" {
    head -c 30000 "$F/act.tar" > "$BATS_TEST_TMPDIR/cut.tar"
    bad "cut.tar: after member ep000004_t00000" normstats "$BATS_TEST_TMPDIR/cut.tar"
    bad "runcated tar archive" chunkify -k 3 "$BATS_TEST_TMPDIR/cut.tar"
    "$PYTHON" "$RS" write-bad "$BATS_TEST_TMPDIR/hdr.tar" corrupt-header
    bad "member ep000001_t000001.observation.state.npy: corrupt .npy header" normstats "$BATS_TEST_TMPDIR/hdr.tar"
    "$PYTHON" "$RS" write-bad "$BATS_TEST_TMPDIR/cx.tar" complex
    bad "unsupported .npy dtype '<c8'" chunkify "$BATS_TEST_TMPDIR/cx.tar"
    "$PYTHON" "$RS" write-bad "$BATS_TEST_TMPDIR/fo.tar" fortran
    bad "Fortran order" normstats "$BATS_TEST_TMPDIR/fo.tar"
    bad "cannot open: No such file" normstats "$BATS_TEST_TMPDIR/none.tar"
    printf 'not a tar stream at all\n' > "$BATS_TEST_TMPDIR/junk"
    bad "junk" normstats "$BATS_TEST_TMPDIR/junk"
}

@test "normstats bad input: NaN names feature, episode and frame; empty stream" {
    "$PYTHON" "$RS" write-bad "$BATS_TEST_TMPDIR/nan.tar" nan
    bad "NaN in feature observation.state at episode 1 frame 2" normstats "$BATS_TEST_TMPDIR/nan.tar"
    bad "no samples" normstats < /dev/null
}

@test "chunkify bad input: frames out of order, episodes not grouped" {
    "$PYTHON" "$RS" write-bad "$BATS_TEST_TMPDIR/ooo.tar" out-of-order
    bad "episode 1: frame 3 follows frame 1" chunkify -k 2 "$BATS_TEST_TMPDIR/ooo.tar"
    h5slice -q -e 4 "$F"/act/*.hdf5 > "$BATS_TEST_TMPDIR/e4.tar"
    h5slice -q -e 5 "$F"/act/*.hdf5 > "$BATS_TEST_TMPDIR/e5.tar"
    cat "$BATS_TEST_TMPDIR/e4.tar" "$BATS_TEST_TMPDIR/e5.tar" "$BATS_TEST_TMPDIR/e4.tar" > "$BATS_TEST_TMPDIR/mixed.tar"
    # the samples of episodes 4 and 5 before the error are already out; no end-of-archive follows
    run --separate-stderr chunkify -k 2 "$BATS_TEST_TMPDIR/mixed.tar"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"episode 4 frame 0 comes after episode 5: the input is not grouped by episode"* ]]
}

# ---------------------------------------------------------------- usage, help

@test "usage errors exit 2, --help goes to stdout, --version" {
    for tool in h5slice normstats chunkify; do
        run --separate-stderr "$tool" --bogus
        [ "$status" -eq 2 ] && [ -z "$output" ]
        run "$tool" --help
        [ "$status" -eq 0 ] && [[ "$output" == "Usage: $tool"* ]]
        run "$tool" --version
        [ "$status" -eq 0 ] && [[ "$output" == "$tool (ilt) "* ]]
    done
    run --separate-stderr h5slice
    [ "$status" -eq 2 ] && [[ "$stderr" == *"no input files"* ]]
    run --separate-stderr h5slice -e 3-1 x.hdf5
    [ "$status" -eq 2 ] && [[ "$stderr" == *"--episodes"* ]]
    run --separate-stderr h5slice --resize 0x5 x.hdf5
    [ "$status" -eq 2 ]
    run --separate-stderr chunkify -k 0
    [ "$status" -eq 2 ] && [[ "$stderr" == *"--chunk"* ]]
    run --separate-stderr chunkify --pad middle
    [ "$status" -eq 2 ]
    run --separate-stderr chunkify --action-start
    [ "$status" -eq 2 ]
}
