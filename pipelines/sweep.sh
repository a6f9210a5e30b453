#!/usr/bin/env bash
# pipelines/sweep.sh — a grid of pipeline runs (act_sim.mk, dp_sim.mk, ibc_sim.mk) with GNU parallel, one run directory per grid
# point, collected into one table (TSV and Markdown) and a plot.
#
#   pipelines/sweep.sh [OPTIONS] VAR="v1 v2 ..." [VAR=value ...]
#
# A VAR with several values (separated by spaces) is an axis of the grid; a VAR with one value is
# passed to every run. Example:
#
#   pipelines/sweep.sh -o runs/sweep-chunk CHUNK="10 50 100" KL="1 10" DEMOS=50 STEPS=4000
#
# runs the 6 points CHUNK-10_KL-1 ... CHUNK-100_KL-10 under runs/sweep-chunk/ and writes
#   sweep.tsv   one row per grid point: the axes, val_loss, success_rate, success_lo,
#               success_hi, train_s, run (run directory); NA where a run failed
#   sweep.md    the same as a Markdown table
#   sweep.png   success rate (95% Wilson interval) and lowest validation loss per grid point
#   joblog      GNU parallel's job log; <point>/make.log each run's output
# When no axis changes the recorded data (TASK DEMOS RECORD_SEED CAMERAS IMAGE_SIZE MAX_STEPS),
# the episodes and statistics are made once, in DIR/data, before the runs start.
#
# Options:
#   -o DIR            sweep directory (default runs/sweep)
#   -p, --pipeline P  the pipeline: act_sim (default), dp_sim or ibc_sim
#   -j N              runs at the same time (default 1: each run uses the whole machine through
#                     THREADS and JOBS; with -j N consider THREADS=1 JOBS=1)
#   -S, --sshlogin L  passed to parallel (repeatable): spread the runs over machines. Every machine
#                     needs this checkout, built, at the same path, and the sweep directory on a
#                     shared file system at the same path (e.g. NFS); ':' is the local machine.
#   --resume-failed   also rerun the grid points whose run failed (default: --resume skips every
#                     point the job log lists as done, failed or not)
#   -n, --dry-run     print the runs' commands and exit
#   -h, --help        this text
#
# Interrupting and rerunning the same command resumes: parallel skips the finished points
# (--joblog/--resume) and each pipeline run resumes inside its own directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prog=${0##*/}
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "$prog: $*" >&2; exit 2; }

dir=runs/sweep jobs=1 dry=0 resume=--resume pipeline=act_sim
ssh=()
axes=() fixed=()
declare -A axis_values
while [ $# -gt 0 ]; do
  case $1 in
    -o) [ $# -ge 2 ] || die "-o needs a directory"; dir=$2; shift 2 ;;
    -j) [ $# -ge 2 ] || die "-j needs a number"; jobs=$2; shift 2 ;;
    -p|--pipeline) [ $# -ge 2 ] || die "$1 needs a pipeline name"; pipeline=$2; shift 2 ;;
    -S|--sshlogin) [ $# -ge 2 ] || die "$1 needs a login"; ssh+=(--sshlogin "$2"); shift 2 ;;
    --resume-failed) resume=--resume-failed; shift ;;
    -n|--dry-run) dry=1; shift ;;
    -h|--help) usage; exit 0 ;;
    [A-Z_]*=*)
      name=${1%%=*} value=${1#*=}
      [[ $name =~ ^[A-Z_][A-Z0-9_]*$ ]] || die "bad variable name '$name'"
      read -r -a words <<<"$value"
      # a later assignment of the same variable replaces an earlier one
      keep=(); for a in "${axes[@]}"; do [ "$a" = "$name" ] || keep+=("$a"); done; axes=("${keep[@]}")
      keep=(); for f in "${fixed[@]}"; do [ "${f%%=*}" = "$name" ] || keep+=("$f"); done; fixed=("${keep[@]}")
      if [ ${#words[@]} -gt 1 ]; then axes+=("$name"); axis_values[$name]=$value
      else fixed+=("$name=$value"); fi
      shift ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[ ${#axes[@]} -gt 0 ] || die "no grid: give at least one VAR=\"v1 v2 ...\" with several values"
for v in RUN_DIR DATA_DIR; do
  for a in "${axes[@]}" "${fixed[@]%%=*}"; do [ "$a" != $v ] || die "$v is set by the sweep"; done
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$here/$pipeline.mk" ] || die "no pipeline '$pipeline' (act_sim, dp_sim, ibc_sim)"
make=(make --no-print-directory -f "$here/$pipeline.mk")

# ---------------------------------------------------------------- the grid
# points: "NAME<TAB>VAR=v VAR=v" lines, the last axis varying fastest.
points=("")
for a in "${axes[@]}"; do
  read -r -a values <<<"${axis_values[$a]}"
  next=()
  for p in "${points[@]}"; do for v in "${values[@]}"; do next+=("${p:+$p }$a=$v"); done; done
  points=("${next[@]}")
done
name_of() { local n=${1// /_}; echo "${n//=/-}"; }

# Shared data when no axis touches the recording.
data_vars=" TASK DEMOS RECORD_SEED CAMERAS IMAGE_SIZE MAX_STEPS "
shared=1
for a in "${axes[@]}"; do [[ $data_vars == *" $a "* ]] && shared=0; done
data=()
[ $shared = 1 ] && data=("DATA_DIR=$dir/data")

q() { printf '%q ' "$@"; }
: > "$dir/jobs.tmp"
for p in "${points[@]}"; do
  run=$dir/$(name_of "$p")
  read -r -a pv <<<"$p"
  cmd="cd $(q "$PWD") && mkdir -p $(q "$run") && $(q "${make[@]}" "${fixed[@]}" "${pv[@]}" "${data[@]}" RUN_DIR="$run")"
  echo "$cmd > $(q "$run/make.log") 2>&1 && echo $(q "$(name_of "$p"):") \$(awk -f $(q "$here/jsonl.awk") -f $(q "$here/summary.awk") -v mode=line $(q "$run/eval.jsonl"))" >> "$dir/jobs.tmp"
done
mv "$dir/jobs.tmp" "$dir/jobs"
if [ $dry = 1 ]; then cat "$dir/jobs"; exit 0; fi

# ---------------------------------------------------------------- run
if [ $shared = 1 ]; then
  echo "$prog: recording the shared data in $dir/data"
  "${make[@]}" "${fixed[@]}" "${data[@]}" RUN_DIR="$dir/data" stats > "$dir/data.log" 2>&1 ||
    { tail -n 20 "$dir/data.log" >&2; echo "$prog: recording failed, see $dir/data.log" >&2; exit 1; }
fi
echo "$prog: ${#points[@]} runs in $dir (${#axes[@]} axes: ${axes[*]}), $jobs at a time"
status=0
parallel -j "$jobs" "${ssh[@]}" --joblog "$dir/joblog" "$resume" < "$dir/jobs" || status=$?

# ---------------------------------------------------------------- collect
cols=(val_loss success_rate success_lo success_hi train_s)
{
  printf '%s\t' "${axes[@]}" "${cols[@]}"; printf 'run\n'
  for p in "${points[@]}"; do
    name=$(name_of "$p") res=$dir/$name/results.tsv
    read -r -a pv <<<"$p"
    printf '%s\t' "${pv[@]#*=}"
    if [ -s "$res" ]; then
      awk -F'\t' -v want="${cols[*]}" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
        NR == 2 { n = split(want, w, " "); for (i = 1; i <= n; i++) printf "%s\t", (w[i] in col) ? $col[w[i]] : "NA" }' "$res"
    else
      printf 'NA\t%.0s' "${cols[@]}"
    fi
    printf '%s\n' "$name"
  done
} > "$dir/sweep.tsv.tmp"
mv "$dir/sweep.tsv.tmp" "$dir/sweep.tsv"

awk -F'\t' 'NR == 1 { printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n|"
                      for (i = 1; i <= NF; i++) printf " --- |"; printf "\n"; next }
            { printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }' \
  "$dir/sweep.tsv" > "$dir/sweep.md.tmp"
mv "$dir/sweep.md.tmp" "$dir/sweep.md"

first=$((${#axes[@]} + 1))
count_numbers() { awk -F'\t' -v c="$1" 'NR > 1 && $c != "NA" { n++ } END { print n + 0 }' "$dir/sweep.tsv"; }
if [ "$(count_numbers $((first + 1)))" -gt 0 ]; then
  has_val=$(( $(count_numbers "$first") > 0 ))
  gnuplot -e "in='$dir/sweep.tsv'; out='$dir/sweep.png.tmp'; first=$first; has_val=$has_val; name='sweep: ${axes[*]}'" \
    "$here/sweep.gp" && mv "$dir/sweep.png.tmp" "$dir/sweep.png"
else
  echo "$prog: no run has a success rate; no plot" >&2
fi

cat "$dir/sweep.md"
echo "$prog: table $dir/sweep.tsv, $dir/sweep.md; plot $dir/sweep.png"
[ $status = 0 ] || echo "$prog: $status run(s) failed; see $dir/joblog and <point>/make.log" >&2
exit $((status > 0))
