# pipelines/summary.awk — format rollout summary lines (loaded after jsonl.awk).
#   mode=success  "at_step<TAB>rate<TAB>lo<TAB>hi<TAB>episodes" per summary line (success.tsv)
#   mode=line     one human line per summary line: rate, interval, per-stage rates
#   mode=tsv      "rate<TAB>lo<TAB>hi<TAB>episodes<TAB>successes<TAB>stage rates" (results.tsv)
/"summary"/ {
  split(jget($0, "success_ci95"), ci, ",")
  rate = jget($0, "success_rate"); n = jget($0, "episodes")
  if (mode == "success")
    printf "%s\t%s\t%s\t%s\t%s\n", jget($0, "at_step"), rate, ci[1], ci[2], n
  else if (mode == "tsv")
    printf "%s\t%s\t%s\t%s\t%s\t%s\n", rate, ci[1], ci[2], n, jget($0, "successes"), jget($0, "stage_rates")
  else
    printf "success rate: %.1f%% (%d/%d episodes, 95%% Wilson interval %.1f%%..%.1f%%; stages %s)\n",
      100 * rate, jget($0, "successes"), n, 100 * ci[1], 100 * ci[2], jget($0, "stage_rates")
}
