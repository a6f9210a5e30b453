#!/usr/bin/env bash
# nn_conv.sh — conv2d kernel benchmark (bench/nn_conv.c) on ResNet18's shapes at batch 8, 84x84:
# forward and forward+backward GFLOP/s next to cblas_sgemm's rate on the same product, and
# PyTorch's conv2d on the same shapes in the same run (bench/nn_conv_torch.py) when
# python3-torch is installed (Debian: apt-get install python3-torch; bench/ installs nothing).
#
#   bench/nn_conv.sh [THREADS [REPEAT [--min]]]        (defaults 2, 7; --min: fastest run)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD:-$root/build}
python=${PYTHON:-/usr/bin/python3}
threads=${1:-2} repeat=${2:-7} min=${3:-}
make -s -C "$root" ${BUILD:+BUILD="$BUILD"} build "${BUILD:-build}/bench/nn_conv" >/dev/null
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
"$build/bench/nn_conv" --threads "$threads" --repeat "$repeat" $min >"$ours"
if "$python" -c 'import torch' 2>/dev/null; then
  OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads "$python" "$here/nn_conv_torch.py" --threads "$threads" \
    --repeat "$repeat" $min >"$theirs" || : >"$theirs"
  torch_version=$("$python" -c 'import torch; print(torch.__version__)')
fi
# our table, with PyTorch's times (same shapes, same run) and our speedup appended
awk -F'\t' -v tv="${torch_version:-}" '
  NR == FNR { tf[$1] = $2; tfb[$1] = $3; n++; next }
  /^layer  / { printf "%s %9s %9s %6s %6s\n", $0, "torch fwd", "fwd+bwd", "x fwd", "x both"; next }
  {
    name = substr($0, 1, 26); sub(/ +$/, "", name)
    if (name in tf) {
      split(substr($0, 27), f, " ")       # count fwd_ms gf fwdbwd_ms ...
      printf "%s %9.2f %9.2f %5.2fx %5.2fx\n", $0, 1000 * tf[name], 1000 * tfb[name], tf[name] * 1000 / f[2], tfb[name] * 1000 / f[4]
    } else print
  }
  END { if (n) printf "# torch: PyTorch %s conv2d on the same shapes in the same run (OMP_WAIT_POLICY=passive); x = torch time / ours\n", tv
        else print "# PyTorch (python3-torch) not installed: no comparison" }' "$theirs" "$ours"
