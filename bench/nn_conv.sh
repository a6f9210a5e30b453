#!/usr/bin/env bash
# nn_conv.sh — conv2d kernel benchmark (bench/nn_conv.c) on ResNet18's shapes at batch 8, 84x84:
# forward and forward+backward GFLOP/s next to cblas_sgemm's rate on the same product.
#
#   bench/nn_conv.sh [THREADS [REPEAT]]        (defaults 2 and 7)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD:-$root/build}
make -s -C "$root" build >/dev/null
mkdir -p "$build/bench"
cc -O2 -march=native -g -std=c11 -Wall -Wextra -Wno-unused-parameter -pthread -I"$root/lib" -D_GNU_SOURCE \
  $(pkg-config --cflags openblas) "$here/nn_conv.c" "$build/libilt.a" $(pkg-config --libs openblas) -lm \
  -o "$build/bench/nn_conv"
"$build/bench/nn_conv" --threads "${1:-2}" --repeat "${2:-7}"
