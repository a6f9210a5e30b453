/* results.c — evaluation results of rollout: per-episode JSON lines summed into a summary with
 * the 95% Wilson interval and per-stage rates, and the reading back of such lines. */
#include "policy/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void results_summary_add(results_summary_t *s, int success, int lenient, int max_stage, double ret, double wall)
{
    s->episodes++;
    s->successes += success != 0;
    s->successes_lenient += lenient != 0;
    for (int k = 1; k <= max_stage && k <= 16; k++) s->reached[k]++;
    s->return_sum += ret;
    s->wall += wall;
}

void results_episode_print(FILE *out, const results_episode_t *e, results_summary_t *s)
{
    fprintf(out,
            "{\"task\":\"%s\",\"policy\":\"%s\",\"episode\":%ld,\"seed\":%llu,\"steps\":%d,\"max_reward\":%d,"
            "\"reward_stages\":%d,\"success\":%s,\"success_lenient\":%s,\"return\":%.4f,\"wall_s\":%.3f}\n",
            e->task, e->policy, e->episode, e->seed, e->steps, e->max_stage, e->max_reward,
            e->success ? "true" : "false", e->success_lenient ? "true" : "false", e->episode_return, e->wall);
    fflush(out);
    if (s) results_summary_add(s, e->success, e->success_lenient, e->max_stage, e->episode_return, e->wall);
}

/* 95% Wilson score interval of k successes in n trials. */
void results_wilson95(long k, long n, double *low, double *high)
{
    if (n == 0) { *low = 0; *high = 1; return; }
    const double z = 1.959963984540054;
    double p = (double)k / n, z2n = z * z / n;
    double centre = (p + z2n / 2) / (1 + z2n);
    double half = z / (1 + z2n) * sqrt(p * (1 - p) / n + z2n / (4.0 * n));
    *low = fmax(0, centre - half);
    *high = fmin(1, centre + half);
}

void results_summary_print(FILE *out, const results_summary_t *s)
{
    double low, high;
    results_wilson95(s->successes, s->episodes, &low, &high);
    double n = s->episodes ? (double)s->episodes : 1;
    fprintf(out, "{\"summary\":true,\"task\":\"%s\",\"episodes\":%ld,\"successes\":%ld,\"success_rate\":%.4f,"
                 "\"success_ci95\":[%.4f,%.4f]",
            s->task ? s->task : "", s->episodes, s->successes, s->successes / n, low, high);
    if (s->task && strcmp(s->task, "transfer_cube") == 0)
        fprintf(out, ",\"success_strict_rate\":%.4f,\"success_lenient_rate\":%.4f", s->successes / n,
                s->successes_lenient / n);
    fprintf(out, ",\"stage_rates\":[");
    for (int k = 1; k <= s->max_reward; k++) fprintf(out, "%s%.4f", k > 1 ? "," : "", s->reached[k] / n);
    fprintf(out, "],\"mean_return\":%.4f,\"wall_s\":%.3f}\n", s->return_sum / n, s->wall);
    fflush(out);
}

/* The value after "key": in a JSON line, or NULL. Enough for our own flat result lines. */
static const char *json_value(const char *line, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(line, pattern);
    return p ? p + strlen(pattern) : NULL;
}

static int json_bool(const char *line, const char *key, int *out)
{
    const char *v = json_value(line, key);
    if (!v) return -1;
    if (strncmp(v, "true", 4) == 0) *out = 1;
    else if (strncmp(v, "false", 5) == 0) *out = 0;
    else return -1;
    return 0;
}

static int json_number(const char *line, const char *key, double *out)
{
    const char *v = json_value(line, key);
    char *end;
    if (!v) return -1;
    *out = strtod(v, &end);
    return end == v ? -1 : 0;
}

int results_summary_read(results_summary_t *s, FILE *fp, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    long number = 0;
    while (getline(&line, &cap, fp) > 0) {
        number++;
        if (line[strspn(line, " \t\r\n")] == '\0' || strstr(line, "\"summary\":true")) continue;
        int success, lenient;
        double stage, stages, ret = 0, wall = 0;
        if (json_bool(line, "success", &success) < 0 || json_number(line, "max_reward", &stage) < 0 ||
            json_number(line, "reward_stages", &stages) < 0) {
            free(line);
            return error_set("%s, line %ld: not a rollout result line (needs success, max_reward, reward_stages)", name, number);
        }
        if (json_bool(line, "success_lenient", &lenient) < 0) lenient = success;
        json_number(line, "return", &ret);
        json_number(line, "wall_s", &wall);
        const char *task = json_value(line, "task");
        if (task && *task == '"') {
            char buf[64];
            size_t n = strcspn(task + 1, "\"");
            snprintf(buf, sizeof buf, "%.*s", (int)n, task + 1);
            if (!s->task) {
                snprintf(s->task_buf, sizeof s->task_buf, "%s", buf);
                s->task = s->task_buf;
            } else if (strcmp(s->task, buf) != 0) {
                free(line);
                return error_set("%s, line %ld: task %s mixed with task %s", name, number, buf, s->task);
            }
        }
        if (stages > s->max_reward) s->max_reward = stages > 16 ? 16 : (int)stages;
        results_summary_add(s, success, lenient, (int)stage, ret, wall);
    }
    free(line);
    if (ferror(fp)) return error_set("%s: read error", name);
    return 0;
}

