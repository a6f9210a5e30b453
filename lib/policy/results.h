/* results.h — evaluation results: a summary of rollout's per-episode result lines (success
 * rate with its 95% Wilson interval, strict/lenient success, per-stage rates, mean return), and
 * reading result lines back (rollout --summarize, GNU parallel's concatenated outputs). */
#ifndef ILT_POLICY_RESULTS_H
#define ILT_POLICY_RESULTS_H

#include <stdio.h>

typedef struct {
    long episodes, successes, successes_lenient;
    long reached[17];            /* episodes whose max stage >= s, s = 1..max_reward */
    int max_reward;
    double return_sum, wall;
    const char *task;
    char task_buf[64];
} results_summary_t;

void results_summary_add(results_summary_t *s, int success, int lenient, int max_stage, double ret, double wall);

/* One episode's outcome: rollout's result line, the one results_summary_read reads back. */
typedef struct {
    const char *task, *policy;
    long episode;
    unsigned long long seed;
    int steps, max_stage, max_reward, success, success_lenient;
    double episode_return, wall;
} results_episode_t;
/* Print e as one JSON line ({"task", "policy", "episode", "seed", "steps", "max_reward" (the
 * stage reached), "reward_stages", "success", "success_lenient", "return", "wall_s"}), flushed,
 * and add it to s (NULL: print only). */
void results_episode_print(FILE *out, const results_episode_t *e, results_summary_t *s);
/* 95% Wilson score interval of k successes in n trials ([0,1] when n = 0). */
void results_wilson95(long k, long n, double *low, double *high);
/* One JSON line: {"summary":true, "task", "episodes", "successes", "success_rate",
 * "success_ci95", (transfer_cube: strict/lenient rates), "stage_rates", "mean_return", "wall_s"}. */
void results_summary_print(FILE *out, const results_summary_t *s);
/* Add every episode line of fp (summary lines and blank lines skipped); an unreadable line or a
 * second task is an error naming `name` and the line number. */
int results_summary_read(results_summary_t *s, FILE *fp, const char *name);

#endif
