/* ibc_policy.c — the "ibc" class of the policy interface (policy.h): load a checkpoint, keep the
 * last To observations (dp_history), and per query compute the observation features once and
 * search for the action sequence of highest logit with the chosen sampler, its samples drawn from
 * a generator seeded at reset; Ta actions per query. */
#include "policy/ibc.h"

#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/error.h"
#include "util/parse.h"

typedef struct {
    ibc_model m;
    dp_query q;                      /* actions [Ta][A]; rng: the samplers' draws */
    ibc_inference inference;
} ibc_policy;

static void ibc_policy_close(void *self)
{
    ibc_policy *p = self;
    if (!p) return;
    dp_query_free(&p->q);
    ibc_model_free(&p->m);
    free(p);
}

static void *ibc_policy_open(const char *path, const policy_env_t *env, const policy_options_t *options,
                             int *chunk_size, int *default_exec)
{
    ibc_policy *p = calloc(1, sizeof *p);
    if (!p) { error_set("out of memory"); return NULL; }
    if (ibc_checkpoint_load(path, &p->m, DP_WEIGHTS_EMA) < 0) { free(p); return NULL; }
    const dp_config *cfg = &p->m.cfg.obs;
    p->inference = p->m.cfg.inference;
    if (dp_query_open(&p->q, &p->m.obs, env, options, (size_t)64 << 20, (size_t)cfg->n_action_steps * cfg->action_dim) < 0)
        goto fail;
    *chunk_size = cfg->n_action_steps;
    *default_exec = cfg->n_action_steps;
    return p;
fail:
    ibc_policy_close(p);
    return NULL;
}

static int ibc_policy_reset(void *self, uint64_t seed)
{
    dp_query_reset(&((ibc_policy *)self)->q, seed);
    return 0;
}

static int ibc_policy_observe(void *self, const policy_observation_t *obs)
{
    ibc_policy *p = self;
    return dp_history_observe(&p->q.h, &p->m.cfg.obs, obs);
}

static int ibc_policy_act(void *self, float *chunk)
{
    ibc_policy *p = self;
    dp_query *q = &p->q;
    if (dp_history_set_batch(&q->h, &q->b, &p->m.obs, NULL) < 0 ||
        ibc_infer(q->c, &p->m, &q->b, &p->inference, &q->rng, q->actions) < 0)
        return -1;
    memcpy(chunk, q->actions, sizeof(float) * p->m.cfg.obs.n_action_steps * p->m.cfg.obs.action_dim);
    return 0;
}

/* The InfoNCE loss of the model (centre crop, no dropout) on the history and the demonstrated
 * actions, with 1024 counter-examples drawn from seed. */
static int ibc_policy_loss(void *self, const float *actions, int rows, uint64_t seed, double *value)
{
    ibc_policy *p = self;
    const dp_config *cfg = &p->m.cfg.obs;
    if (rows < cfg->horizon)
        return error_set("the demonstrated actions have %d rows; To + Ta - 1 = %d are needed", rows, cfg->horizon);
    ibc_losses L;
    if (dp_history_set_batch(&p->q.h, &p->q.b, &p->m.obs, actions) < 0 ||
        !ibc_model_loss(p->q.c, &p->m, &p->q.b, 1024, seed, 0, 0, &L))
        return -1;
    nn_ctx_reset(p->q.c);
    *value = L.loss;
    return 0;
}

static int ibc_policy_set_option(void *self, const char *key, const char *value)
{
    ibc_policy *p = self;
    ibc_inference s = p->inference;
    if (strcmp(key, "sampler") == 0) {
        int v = ibc_sampler_parse(value);
        if (v < 0) return error_set("ibc policy: sampler '%s' is not dfo, dfo-argmax, ibc-dfo or langevin", value);
        s.sampler = (ibc_sampler)v;
    } else if (strcmp(key, "samples") == 0 || strcmp(key, "iterations") == 0) {
        long n;
        if (parse_long(value, 1, strcmp(key, "samples") == 0 ? 1 << 20 : 100000, &n) < 0)
            return error_prefix("ibc policy: %s: ", key);
        if (strcmp(key, "samples") == 0) s.samples = (int)n;
        else s.iterations = (int)n;
    } else if (strcmp(key, "noise") == 0) {
        double v;
        if (parse_double(value, 0, 99, &v) < 0) return error_prefix("ibc policy: noise: ");
        s.noise = (float)v;
    } else {
        return error_set("ibc policy: unknown option '%s' (sampler, samples, iterations, noise)", key);
    }
    if (ibc_inference_check(&s) < 0) return -1;
    p->inference = s;
    return 0;
}

const policy_class_t ibc_policy_class = {
    .kind = "ibc",
    .open = ibc_policy_open,
    .reset = ibc_policy_reset,
    .observe = ibc_policy_observe,
    .act = ibc_policy_act,
    .close = ibc_policy_close,
    .set_option = ibc_policy_set_option,
    .loss = ibc_policy_loss,
    .loss_name = "info_nce",
    .settings = "sampler=dfo|dfo-argmax|ibc-dfo|langevin  the inference (default: the checkpoint's, dfo)\n"
                "samples=N  samples searched per query (default: the checkpoint's, 1024)\n"
                "iterations=K  DFO iterations (default 5) or Langevin steps per chain (default 100)\n"
                "noise=S  DFO resampling noise (0.03; ibc-dfo 0.33) or Langevin noise scale (1)\n",
};
