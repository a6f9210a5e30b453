/* test_policy.c — the policy interface's chunk execution and ACT temporal ensembling, with a fake
 * policy whose chunks are known: query q predicts 100*q + j for step q+j; a non-finite action
 * stops the episode at the step that queried it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tap.h"
#include "util/error.h"

typedef struct { int queries; } fake_t;

static void *fake_open(const char *path, const policy_env_t *env, const policy_options_t *o, int *cs, int *de) { return NULL; }
static int fake_reset(void *self, uint64_t seed) { ((fake_t *)self)->queries = 0; return 0; }
static int fake_observe(void *self, const policy_observation_t *obs) { return 0; }
static int fake_act(void *self, float *chunk)
{
    fake_t *f = self;
    for (int j = 0; j < 5; j++) chunk[j] = (float)(100 * f->queries + j);
    f->queries++;
    return 0;
}
static void fake_close(void *self) { free(self); }
static const policy_class_t fake_class = {
    .kind = "fake", .open = fake_open, .reset = fake_reset, .observe = fake_observe, .act = fake_act, .close = fake_close};

/* The same, except that the second query's chunk holds a NaN (as a diverged network would). */
static int nan_act(void *self, float *chunk)
{
    int query = ((fake_t *)self)->queries;
    fake_act(self, chunk);
    if (query == 1) chunk[3] = NAN;
    return 0;
}
static const policy_class_t nan_class = {
    .kind = "fake-nan", .open = fake_open, .reset = fake_reset, .observe = fake_observe, .act = nan_act, .close = fake_close};

static policy_t *make_class(const policy_class_t *cls, int exec, int agg, double k)
{
    policy_env_t env = {.action_dim = 1};
    policy_options_t o = policy_default_options();
    o.chunk_exec = exec;
    o.temporal_agg = agg;
    o.temporal_k = k;
    return policy_wrap(cls, calloc(1, sizeof(fake_t)), &env, &o, 5, 5);
}

static policy_t *make(int exec, int agg, double k) { return make_class(&fake_class, exec, agg, k); }

/* Step until policy_step fails; the step it failed at, the action left in *a and the message. */
static int first_failure(policy_t *p, float *a, const char **message)
{
    policy_observation_t obs = {0};
    policy_reset(p, 0);
    for (obs.step = 0; obs.step < 20; obs.step++)
        if (policy_step(p, &obs, a) < 0) {
            *message = error_get();
            return obs.step;
        }
    return -1;
}

int main(void)
{
    policy_observation_t obs = {0};
    float a;
    int ok = 1;

    policy_t *p = make(3, 0, 0);
    policy_reset(p, 0);
    static const float expect_exec3[8] = {0, 1, 2, 100, 101, 102, 200, 201};
    for (int t = 0; t < 8; t++) {
        obs.step = t;
        policy_step(p, &obs, &a);
        ok &= a == expect_exec3[t];
    }
    tap_ok(ok, "chunk_exec 3 of 5 executes the first 3 actions of each chunk");
    policy_free(p);

    p = make(0, 0, 0);
    policy_reset(p, 0);
    ok = 1;
    for (int t = 0; t < 10; t++) {
        obs.step = t;
        policy_step(p, &obs, &a);
        ok &= a == (float)(100 * (t / 5) + t % 5);
    }
    tap_ok(ok, "default execution runs the whole chunk");
    policy_free(p);

    const double k = 0.3;
    p = make(0, 1, k);
    policy_reset(p, 0);
    double worst = 0;
    for (int t = 0; t < 12; t++) {
        obs.step = t;
        policy_step(p, &obs, &a);
        double sum = 0, weight = 0;
        int first = t - 4 > 0 ? t - 4 : 0;  /* the oldest query that predicted step t */
        for (int q = first; q <= t; q++) {
            double w = exp(-k * (q - first));
            sum += w * (100 * q + (t - q));
            weight += w;
        }
        double diff = fabs(a - sum / weight);
        if (diff > worst) worst = diff;
    }
    tap_ok(worst < 1e-3, "temporal ensembling weights exp(-k*i), i = 0 the oldest (max diff %g)", worst);
    policy_free(p);

    p = make(6, 0, 0);
    tap_ok(p == NULL, "executing more actions than a chunk holds is an error");

    const char *message = "";
    p = make_class(&nan_class, 0, 0, 0);
    a = -1;
    int step = first_failure(p, &a, &message);
    tap_ok(step == 5 && a == 4 && strstr(message, "non-finite action at step 5"),
           "a NaN in the chunk stops at the step that queries it, the last finite action kept: step %d, action %g, '%s'",
           step, a, message);
    policy_free(p);
    p = make_class(&nan_class, 0, 1, 0.01);
    step = first_failure(p, &a, &message);
    tap_ok(step == 1 && strstr(message, "non-finite action at step 1"),
           "with temporal ensembling too (every step queries): step %d, '%s'", step, message);
    policy_free(p);

    char kind[32];
    tap_ok(policy_checkpoint_kind("/nonexistent.h5", kind, sizeof kind) < 0, "a missing checkpoint is an error");
    return tap_done();
}
