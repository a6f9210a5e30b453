#!/usr/bin/env bats
# man_examples.bats — the EXAMPLES of the man pages run as written, on small fixtures named as the
# pages name them (episodes/*.hdf5, image.hdf5, lift.hdf5, ckpt.h5, ...), so that a documented
# command cannot rot. Each literal block is one script: shell (bash -e -o pipefail), or Python
# when it starts with "import". Pages whose examples need long trainings (act-train, rollout,
# predict) are not run here; their tools are tested in act.bats and sim.bats.

bats_require_minimum_version 1.5.0

setup_file() {
    export PYTHON=${PYTHON:-/usr/bin/python3}
    export MAN="$BATS_TEST_DIRNAME/../man" FIX="$BATS_FILE_TMPDIR/fixtures"
    local mk="$BATS_TEST_DIRNAME/make_episodes.py"
    mkdir -p "$FIX"
    cd "$FIX"
    # ACT layout, one top camera at the size rollout renders, so a checkpoint trained on them runs
    # in rollout's transfer_cube
    "$PYTHON" "$mk" act episodes --episodes 3 --frames 12 --cams top:120:160 >/dev/null
    cp episodes/episode_0.hdf5 episode_0.hdf5
    # robomimic files with mask/train
    "$PYTHON" "$mk" robomimic image.hdf5 --lengths 6,5,7 --cams agentview:12:12 >/dev/null
    "$PYTHON" "$mk" robomimic demo.hdf5 --lengths 6,5,7 --cams agentview:12:12 >/dev/null
    "$PYTHON" "$mk" robomimic lift.hdf5 --lengths 4,5,6 --cams agentview:12:12,robot0_eye_in_hand:12:12 >/dev/null
    "$PYTHON" "$BATS_TEST_DIRNAME/make_frames.py" frames.tar --episodes 1 --frames 6 \
        --cams left_wrist:16:16,right_wrist:16:16,top:16:16
    h5slice -q episodes/*.hdf5 > stats-input.tar
    normstats stats-input.tar > stats.tar
    chunkify -k 100 stats-input.tar > train.tar
    act-train -q --chunk 100 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 --dec-layers 1 \
        --nheads 2 --latent-dim 4 --batch-size 2 --threads 1 --steps 0 --stats stats.tar -o ckpt.h5 train.tar
}

setup() {
    # a fresh copy of the fixtures for each page (the examples write files of the same names);
    # the checkpoint, which no example writes, is linked
    cd "$BATS_TEST_TMPDIR"
    for f in "$FIX"/*; do
        if [ "${f##*/}" = ckpt.h5 ]; then ln -s "$f" .; else cp -r "$f" .; fi
    done
}

# The literal blocks of a page's EXAMPLES section, mdoc escapes undone, each followed by a line
# "@@end@@".
examples() {
    awk '/^\.Sh / { ex = ($0 == ".Sh EXAMPLES") }
         ex && /^\.Bd -literal/ { block = 1; next }
         ex && /^\.Ed/ { if (block) print "@@end@@"; block = 0; next }
         block' "$1" | sed 's/\\e/\\/g; s/\\&//g; s/\\-/-/g'
}

# Run every block of man/$1 in the current directory; print each block and its output; fail on
# the first block that fails.
run_examples() {
    local page="$MAN/$1" block="" n=0
    [ -f "$page" ]
    while IFS= read -r line; do
        if [ "$line" != "@@end@@" ]; then block+="$line"$'\n'; continue; fi
        n=$((n + 1))
        echo "--- $1, example $n:"
        printf '%s' "$block"
        echo "--- output:"
        if [[ "$block" == import* ]]; then
            "$PYTHON" -c "$block" 2>&1 || { echo "--- failed (status $?)"; return 1; }
        else
            bash -e -o pipefail -c "$block" 2>&1 || { echo "--- failed (status $?)"; return 1; }
        fi
        block=""
    done < <(examples "$page")
    echo "--- $n examples"
    [ "$n" -gt 0 ]
}

@test "examples() extracts literal blocks and joins continued lines" {
    run examples "$MAN/man1/h5slice.1"
    [[ "$output" == *"h5slice --mask train --resize 84x84 \\"* ]]
    [ "$(grep -c '^@@end@@$' <<<"$output")" -eq 4 ]
}

@test "h5slice(1) EXAMPLES run" {
    run_examples man1/h5slice.1
    [ -s train.tar ] && [ -s stats.tar ]
}

@test "normstats(1) EXAMPLES run" {
    run_examples man1/normstats.1
    [ -s stats.json ]
}

@test "chunkify(1) EXAMPLES run" {
    run_examples man1/chunkify.1
    [ -s train.tar ]
}

@test "vidwrite(1) EXAMPLES run" {
    run_examples man1/vidwrite.1
    for v in ep0.mp4 demos.gif eval.mp4 wrists.mp4 ep.mp4 final.png; do [ -s "$v" ]; done
}

@test "ilt-stream(5) EXAMPLES run" {
    run_examples man5/ilt-stream.5
}

@test "ilt-checkpoint(5) EXAMPLES run" {
    run_examples man5/ilt-checkpoint.5
}
