#!/usr/bin/env bats
# fuzz.bats — every fuzz harness (tests/fuzz/fuzz_*.c) over its committed corpus: the seeds made
# by the project's tools and every input a fuzzing campaign found crashing, each run once through
# the harness by its regression runner (build/tests/fuzz_NAME, built with the ordinary compiler;
# under make check-asan with the sanitizers). make fuzz runs the campaigns themselves.

bats_require_minimum_version 1.5.0

regress() {
  local name=$1 corpus="$ILT_TESTS/fuzz/corpus/$1"
  local files
  files=$(find "$corpus" -type f | wc -l)
  [ "$files" -ge 1 ]
  run --separate-stderr "$ILT_UNIT/fuzz_$name" "$corpus"
  echo "$output $stderr"
  [ "$status" -eq 0 ]
  [ "$output" = "ok $files inputs" ]
}

@test "fuzz regression: .npy decoder" { regress npy; }
@test "fuzz regression: tar sample stream reader" { regress stream; }
@test "fuzz regression: statistics loader" { regress stats; }
@test "fuzz regression: HDF5 episode reader (ACT and robomimic)" { regress episode; }
@test "fuzz regression: checkpoint loader" { regress checkpoint; }
@test "fuzz regression: safetensors reader" { regress safetensors; }
