#!/usr/bin/env bats
# mpi.bats — gradient accumulation and data-parallel training over MPI on the shared training
# path (lib/train): `mpirun -np 2` gives the checkpoint of one process with --grad-accum 2 bit
# for bit (parameters, optimizer, EMA, run state) for act-train, dp-train and ibc-train, resume
# included; --grad-accum 1 equals no option; a killed or failing rank ends the job; --shard keeps
# each rank's share of the data. The MPI tests skip, saying why, without mpirun or when the
# trainers were built without MPI (make MPI=0); that build's refusal is tested instead. Last,
# evaluate.sh across machines (GNU parallel --sshlogin) on this one.

bats_require_minimum_version 1.5.0

ACT="--chunk 5 --hidden-dim 16 --dim-feedforward 32 --enc-layers 1 --dec-layers 2 --nheads 2 --latent-dim 4 --batch-size 4 --threads 1 -q"
DPT="--net transformer --n-layer 2 --n-head 2 --n-emb 16 --horizon 8 --action-steps 4 --crop 28x28 --batch-size 4 --threads 1 --eval-steps 2 -q"
IBC="--width 16 --negatives 8 --eval-samples 32 --action-steps 2 --crop 28x28 --batch-size 4 --threads 1 -q"

setup_file() {
  : "${PYTHON:=/usr/bin/python3}"
  export PYTHON
  d="$BATS_FILE_TMPDIR"
  "$PYTHON" "$ILT_TESTS/make_episodes.py" act "$d/eps" --episodes 4 --frames 12 --cams top:32:32 >/dev/null
  h5slice "$d"/eps/*.hdf5 > "$d/frames.tar"
  normstats "$d/frames.tar" > "$d/stats.tar"
  chunkify -k 5 "$d/frames.tar" > "$d/act.tar"
  chunkify -k 8 --obs-steps 2 --action-start "$d/frames.tar" > "$d/dp.tar"
}

setup() {
  d="$BATS_FILE_TMPDIR"
  t="$BATS_TEST_TMPDIR"
  # no single-copy (ptrace-based) transfers: containers commonly forbid them
  MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none -np 2)
  if [ "$(id -u)" = 0 ]; then MPIRUN+=(--allow-run-as-root); fi
}

built_with_mpi() { ldd "$(command -v act-train)" 2>/dev/null | grep -q 'libmpi\.'; }

need_mpi() {
  command -v mpirun >/dev/null || skip "mpirun is not installed (apt-get install openmpi-bin)"
  built_with_mpi || skip "the trainers were built without MPI (make MPI=0)"
}

# Every dataset and attribute of two checkpoints equal ("same"), else the first that differ.
same_checkpoint() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
def walk(g, out, pre=""):
    for k, v in g.attrs.items():
        out[pre + "@" + k] = v
    for k in g:
        if isinstance(g[k], h5py.Group):
            walk(g[k], out, pre + "/" + k)
        else:
            out[pre + "/" + k] = g[k][()]
a, b = {}, {}
walk(h5py.File(sys.argv[1], "r"), a)
walk(h5py.File(sys.argv[2], "r"), b)
assert set(a) == set(b), sorted(set(a) ^ set(b))[:5]
assert any(k.startswith("/params/") for k in a), "no parameters"
bad = [k for k in a if not np.array_equal(np.asarray(a[k]), np.asarray(b[k]))]
print("same" if not bad else "differ: " + " ".join(bad[:4]))
PY
}

@test "--grad-accum 1 gives the checkpoint of a run without the option, bit for bit; 2 trains in halves" {
  act-train $ACT --stats "$d/stats.tar" -o "$t/a.h5" --steps 4 --save-every 2 --random-shift 2 "$d/act.tar"
  act-train $ACT --stats "$d/stats.tar" -o "$t/b.h5" --steps 4 --save-every 2 --random-shift 2 --grad-accum 1 "$d/act.tar"
  run same_checkpoint "$t/a.h5" "$t/b.h5"
  echo "$output"
  [ "$output" = same ]
  act-train $ACT --stats "$d/stats.tar" -o "$t/c.h5" --steps 4 --save-every 2 --random-shift 2 --grad-accum 2 \
    --log "$t/c.jsonl" "$d/act.tar"
  run same_checkpoint "$t/a.h5" "$t/c.h5"
  [[ "$output" == differ* ]]   # another order of sums
  [ "$(jq -s 'map(select(.loss > 0)) | length' "$t/c.jsonl")" -ge 1 ]
}

@test "--grad-accum: bad values are usage errors" {
  run -2 --separate-stderr act-train $ACT --stats "$d/stats.tar" -o "$t/x.h5" --grad-accum 0 "$d/act.tar"
  [[ "$stderr" == *"--grad-accum"* ]]
  run -2 --separate-stderr act-train $ACT --stats "$d/stats.tar" -o "$t/x.h5" --grad-accum 5 "$d/act.tar"
  [[ "$stderr" == *"more micro-batches than the 4 samples"* ]]
  [ -z "$output" ]
  [ ! -e "$t/x.h5" ]
}

@test "act-train: mpirun -np 2 (resumed half-way) equals --grad-accum 2 bit for bit" {
  need_mpi
  act-train $ACT --stats "$d/stats.tar" -o "$t/one.h5" --steps 4 --save-every 2 --random-shift 2 --ema on \
    --grad-accum 2 "$d/act.tar"
  "${MPIRUN[@]}" act-train $ACT --stats "$d/stats.tar" -o "$t/two.h5" --steps 2 --save-every 2 --random-shift 2 \
    --ema on "$d/act.tar"
  "${MPIRUN[@]}" act-train $ACT --stats "$d/stats.tar" -o "$t/two.h5" --steps 4 --save-every 2 --random-shift 2 \
    --ema on --resume --log "$t/two.jsonl" --log-every 1 "$d/act.tar"
  [ "$(jq -s 'map(select(.exchange_s >= 0)) | length' "$t/two.jsonl")" -eq 2 ]   # rank 0 alone logs
  run same_checkpoint "$t/one.h5" "$t/two.h5"
  echo "$output"
  [ "$output" = same ]
  run same_checkpoint "$t/one.best.h5" "$t/two.best.h5"
  echo "best: $output"
  [ "$output" = same ]
}

# TRAINER ARGS...: 4 steps with --grad-accum 2 in one process, and under mpirun -np 2 as 2 steps
# then 2 more with --resume; prints "same" when the two checkpoints are equal bit for bit.
accum_against_mpi_resumed() {
  local trainer=$1; shift
  "$trainer" "$@" --stats "$d/stats.tar" -o "$t/one.h5" --steps 4 --save-every 2 --grad-accum 2 "$d/dp.tar"
  "${MPIRUN[@]}" "$trainer" "$@" --stats "$d/stats.tar" -o "$t/two.h5" --steps 2 --save-every 2 "$d/dp.tar"
  "${MPIRUN[@]}" "$trainer" "$@" --stats "$d/stats.tar" -o "$t/two.h5" --steps 4 --save-every 2 --resume "$d/dp.tar"
  same_checkpoint "$t/one.h5" "$t/two.h5"
}

@test "dp-train (transformer, dropout, images): mpirun -np 2 (resumed half-way) equals --grad-accum 2 bit for bit" {
  need_mpi
  run accum_against_mpi_resumed dp-train $DPT
  echo "$output"
  [ "${lines[-1]}" = same ]
}

@test "ibc-train (dropout, counter-examples, images): mpirun -np 2 (resumed half-way) equals --grad-accum 2 bit for bit" {
  need_mpi
  run accum_against_mpi_resumed ibc-train $IBC
  echo "$output"
  [ "${lines[-1]}" = same ]
}

@test "mpi: a rank killed mid-run ends the job with a non-zero status within seconds" {
  need_mpi
  "${MPIRUN[@]}" act-train $ACT --stats "$d/stats.tar" -o "$t/k.h5" --steps 1000000 --save-every 1000000 \
    --log "$t/k.jsonl" --log-every 1 "$d/act.tar" 2>"$t/k.err" &
  pid=$!
  for _ in $(seq 150); do [ -s "$t/k.jsonl" ] && break; sleep 0.2; done
  victim=
  for p in $(pgrep -P "$pid"); do
    if tr '\0' '\n' < "/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=1; then victim=$p; fi
  done
  echo "mpirun $pid, rank 1 $victim, log: $(wc -l < "$t/k.jsonl") lines"
  [ -n "$victim" ]
  start=$SECONDS
  kill -KILL "$victim"
  status=0
  wait "$pid" || status=$?
  elapsed=$((SECONDS - start))
  echo "status $status after $elapsed s"; cat "$t/k.err"
  [ "$status" -ne 0 ]
  [ "$elapsed" -le 15 ]
  [ ! -e "$t/k.h5" ]
}

@test "mpi: a rank that fails ends every process with its message and status 1" {
  need_mpi
  # rank 0 keeps episodes 0 and 2, rank 1 episodes 1 and 3: only rank 0 lacks a validation episode
  start=$SECONDS
  run -1 --separate-stderr "${MPIRUN[@]}" act-train $ACT --stats "$d/stats.tar" -o "$t/f.h5" --steps 4 --shard \
    --val-episodes 1 "$d/act.tar"
  echo "$stderr"
  [[ "$stderr" == *"act-train: rank 0 of 2: --shard: no validation episode among this process's 2 episodes"* ]]
  [ $((SECONDS - start)) -le 30 ]
  [ ! -e "$t/f.h5" ]
}

@test "mpi --shard: each rank keeps half of the episodes, in less memory than the whole data set" {
  need_mpi
  act-train ${ACT/-q/} --stats "$d/stats.tar" -o "$t/all.h5" --steps 2 --save-every 2 "$d/act.tar" 2>"$t/all.err"
  "${MPIRUN[@]}" act-train ${ACT/-q/} --stats "$d/stats.tar" -o "$t/s.h5" --steps 2 --save-every 2 --shard \
    --val-episodes 2,3 "$d/act.tar" 2>"$t/s.err"
  cat "$t/all.err" "$t/s.err"
  whole=$(sed -n 's/.* samples of 4 episodes (\([0-9.]*\) MiB).*/\1/p' "$t/all.err")
  grep -q "rank 0: 24 samples of 2 episodes" "$t/s.err"
  grep -q "rank 1: 24 samples of 2 episodes" "$t/s.err"
  for r in 0 1; do
    share=$(sed -n "s/.*rank $r: .* (\([0-9.]*\) MiB).*/\1/p" "$t/s.err")
    echo "rank $r: $share MiB of $whole"
    awk -v s="$share" -v w="$whole" 'BEGIN { exit !(s > 0 && s <= w / 2 + 0.05) }'
  done
  [ -s "$t/s.h5" ]
}

@test "built without MPI: a trainer started as one of several MPI processes says so and exits 1" {
  if built_with_mpi; then skip "the trainers were built with MPI (make MPI=0 builds the refusing ones)"; fi
  run -1 --separate-stderr env OMPI_COMM_WORLD_SIZE=2 act-train $ACT --stats "$d/stats.tar" -o "$t/x.h5" "$d/act.tar"
  [[ "$stderr" == *"built without MPI"* ]]
  [ ! -e "$t/x.h5" ]
}

@test "evaluate.sh -S: the rollouts through GNU parallel's --sshlogin (':' this machine), by absolute paths" {
  mkdir "$t/run"
  cd "$t/run"
  run "$ILT_TESTS/../pipelines/evaluate.sh" -o e.jsonl -p scripted -n 2 --seed 100000 -j 1 -S : -S 1/: -- \
    -t transfer_cube --image-size 24x32 --max-steps 10
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(head -n 2 e.jsonl | grep -o '"seed":[0-9]*' | tr '\n' ' ')" = '"seed":100000 "seed":100001 ' ]
  tail -n 1 e.jsonl | grep -q '"episodes":2'
}
