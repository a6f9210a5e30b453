#!/usr/bin/env bash
# triage.sh — sort the crash, timeout and out-of-memory inputs of `make fuzz`
# (build-fuzz/crashes/NAME-KIND-HASH) by where they fail: each input is run again through its
# libFuzzer binary and the first stack frame is reported with the object it lies in (our code
# in lib/, or a system library such as libhdf5), one line per input:
#   NAME KIND HASH OBJECT FRAME
# Usage: tests/fuzz/triage.sh [build-fuzz]
set -u
dir=${1:-build-fuzz}
for f in "$dir"/crashes/*; do
  [ -f "$f" ] || continue
  base=$(basename "$f")
  name=${base%%-*} rest=${base#*-}
  kind=${rest%%-*} hash=${rest#*-}
  log=$(HDF5_USE_FILE_LOCKING=FALSE ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
        timeout 60 "$dir/fuzzers/$name" -timeout=20 -rss_limit_mb=4096 "$f" 2>&1)
  # frames that are not libFuzzer's, the sanitizer's, a libc memory/string routine or (on a
  # timeout) the signal trampoline
  frames=$(grep -E '^ +#[0-9]+ 0x' <<<"$log" |
           grep -v -E ' in (fuzzer::|__sanitizer|__asan|__ubsan|__interceptor|[_a-z0-9]*(memcpy|memmove|memset|malloc|calloc|realloc|free|strlen|strdup|raise|abort)[_a-z0-9]*( |$))' |
           grep -v -E '^ +#[0-9]+ 0x[0-9a-f]+  \(/[^)]*libc\.so')
  top=$(head -1 <<<"$frames")
  object=ours
  case "$top" in *libhdf5*) object=libhdf5 ;; *libarchive*) object=libarchive ;; *libc.so*) object=libc ;; esac
  fn=$(grep -oE ' in [^ ]+' <<<"$top" | head -1 | cut -c5-)
  [ -n "$fn" ] || fn=$(grep -oE '\(/[^)]*\)' <<<"$top" | head -1 | sed -E 's|.*/||; s|\)||')
  [ -n "$fn" ] || fn=$(grep -m1 -oE 'runtime error: .*|ERROR: libFuzzer: [a-z-]+' <<<"$log")
  # the innermost frame of our own code: which of our calls reached it
  ours=$(grep -E ' in [^ ]+ /[^ ]*/(lib|tests)/' <<<"$frames" | head -1 |
         sed -E 's/.* in ([^ ]+) .*\/((lib|tests)\/[^ ]+:[0-9]+).*/\1 \2/')
  echo "$name $kind ${hash:0:12} $object ${fn:-?} via ${ours:-?}"
done
