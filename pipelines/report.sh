#!/usr/bin/env bash
# pipelines/report.sh — write RUN_DIR/report.md and RUN_DIR/results.tsv for a simulation pipeline's run.
#
#   report.sh RUN_DIR [DATA_DIR]
#
# Reads the stage configurations (config/*.txt), record.jsonl, train.jsonl, train.time,
# eval.jsonl and success.tsv (when there) and writes, atomically:
#   report.md    configuration, training time, losses, success rate with its 95% Wilson interval,
#                per-stage rates, links to the video and plots
#   results.tsv  a header and one row: every configuration variable, then val_loss (lowest),
#                val_loss_step, train_loss (last), success_rate, success_lo, success_hi,
#                eval_episodes, stage_rates, train_s (what sweep.sh collects)
# Environment: LOSS_FIELD, VAL_LOSS_FIELD name train.jsonl's fields (default loss, val_loss);
# POLICY_LABEL and PIPELINE name the policy and the pipeline (default ACT, act_sim).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:?usage: report.sh RUN_DIR [DATA_DIR]}
data=${2:-$run}
loss_field=${LOSS_FIELD:-loss}
val_field=${VAL_LOSS_FIELD:-val_loss}
jq_awk() { awk -f "$here/jsonl.awk" "$@"; }

# ---------------------------------------------------------------- gather
config_files=("$data/config/record.txt" "$data/config/demos.txt" "$run/config/train.txt" "$run/config/eval.txt")
# VAR=value lines, first occurrence of each variable wins (CAMERAS is in several stages).
config=$(cat "${config_files[@]}" | awk -F= '!seen[$1]++')

summary=$(tail -n 1 "$run/eval.jsonl")
read -r rate lo hi episodes successes stages < <(printf '%s\n' "$summary" | jq_awk -f "$here/summary.awk" -v mode=tsv)
record_summary=$(tail -n 1 "$data/record.jsonl")
read -r demo_rate _ _ demos _ _ < <(printf '%s\n' "$record_summary" | jq_awk -f "$here/summary.awk" -v mode=tsv)

# lowest validation loss and its step; last training loss and step
read -r val_loss val_step < <(jq_awk -v fields="step,$val_field" "$run/train.jsonl" |
  awk 'NR == 1 || $2 < best { best = $2; step = $1 } END { if (NR) print best, step; else print "NA NA" }')
read -r last_step train_loss < <(jq_awk -v fields="step,$loss_field" "$run/train.jsonl" |
  awk 'END { if (NR) print $1, $2; else print "NA NA" }')
last_val=$(jq_awk -v fields="$val_field" "$run/train.jsonl" | tail -n 1)
train_s=$(cat "$run/train.time")
hms() { awk -v s="$1" 'BEGIN { printf "%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60 }'; }
pct() { awk -v x="$1" 'BEGIN { printf "%.1f%%", 100 * x }'; }
var() { printf '%s\n' "$config" | awk -F= -v k="$1" '$1 == k { print substr($0, length(k) + 2) }'; }

# ---------------------------------------------------------------- report.md
{
  echo "# ${POLICY_LABEL:-ACT} on $(var TASK)"
  echo
  echo "Run directory \`$run\`, written $(date -u '+%Y-%m-%d %H:%M UTC') by pipelines/${PIPELINE:-act_sim}.mk."
  echo
  echo "## Result"
  echo
  echo "- **Success rate: $(pct "$rate")** ($successes of $episodes evaluation episodes," \
       "seeds from $(var EVAL_SEED)); 95% Wilson interval $(pct "$lo") .. $(pct "$hi")."
  echo "- Training: $last_step steps in $(hms "$train_s") ($train_s s wall time)," \
       "last training loss $train_loss; lowest validation loss $val_loss at step $val_step" \
       "(last ${last_val:-NA})."
  echo "- Demonstrations: $demos scripted episodes (seeds from $(var RECORD_SEED))," \
       "expert success $(pct "$demo_rate")."
  echo "- Evaluated checkpoint: $(var EVAL_CKPT)$( [ -n "$(var TEMPORAL_AGG)" ] && echo ", temporal ensembling k=$(var TEMPORAL_AGG)")."
  echo
  echo "Per-stage rates (fraction of evaluation episodes reaching each reward stage):"
  echo
  IFS=, read -r -a stage <<<"$stages"
  printf '| stage |'; for i in "${!stage[@]}"; do printf ' %d |' $((i + 1)); done; echo
  printf '| --- |'; for _ in "${stage[@]}"; do printf ' --- |'; done; echo
  printf '| reached |'; for s in "${stage[@]}"; do printf ' %s |' "$(pct "$s")"; done; echo
  if [ -s "$run/success.tsv" ]; then
    echo
    echo "Success rate of intermediate checkpoints ([success.png](success.png)):"
    echo
    echo "| step | success | 95% interval | episodes |"
    echo "| --- | --- | --- | --- |"
    while IFS=$'\t' read -r st r l h n; do
      echo "| $st | $(pct "$r") | $(pct "$l") .. $(pct "$h") | $n |"
    done < "$run/success.tsv"
  fi
  echo
  echo "## Files"
  echo
  echo "- Video of the first $(var VIDEO_EPISODES) evaluation episodes: [eval.mp4](eval.mp4)"
  if [ -s "$run/stills.tsv" ]; then
    while IFS=$'\t' read -r outcome seed file; do
      echo "- Final state of the first evaluation episode that ended in $outcome (seed $seed): [$file]($file)"
    done < "$run/stills.tsv"
  fi
  echo "- Loss: [loss.png](loss.png)"
  [ -e "$run/success.png" ] && echo "- Success against step: [success.png](success.png)"
  echo "- Checkpoints: [ckpt.h5](ckpt.h5) (last), [ckpt.best.h5](ckpt.best.h5) (lowest validation loss)"
  echo "- Logs: [train.jsonl](train.jsonl), [eval.jsonl](eval.jsonl)"
  echo
  if [ -s "$run/stills.tsv" ]; then
    while IFS=$'\t' read -r outcome seed file; do printf '![%s, seed %s](%s) ' "$outcome" "$seed" "$file"; done < "$run/stills.tsv"
    echo; echo
  fi
  echo "![loss](loss.png)"
  [ -e "$run/success.png" ] && { echo; echo "![success](success.png)"; }
  echo
  echo "## Configuration"
  echo
  echo "| variable | value |"
  echo "| --- | --- |"
  printf '%s\n' "$config" | awk -F= '{ v = substr($0, length($1) + 2); printf "| %s | %s |\n", $1, v == "" ? "(tool default)" : v }'
} > "$run/report.md.tmp"

# ---------------------------------------------------------------- results.tsv
{
  printf '%s\n' "$config" | awk -F= '{ printf "%s\t", $1 }'
  printf 'val_loss\tval_loss_step\ttrain_loss\tsuccess_rate\tsuccess_lo\tsuccess_hi\teval_episodes\tstage_rates\ttrain_s\n'
  printf '%s\n' "$config" | awk -F= '{ v = substr($0, length($1) + 2); gsub(/\t/, " ", v); printf "%s\t", v }'
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$val_loss" "$val_step" "$train_loss" "$rate" "$lo" "$hi" \
    "$episodes" "$stages" "$train_s"
} > "$run/results.tsv.tmp"

mv "$run/results.tsv.tmp" "$run/results.tsv"
mv "$run/report.md.tmp" "$run/report.md"
