/* diffusion_policy.c — the "diffusion" class of the policy interface (policy.h): load a checkpoint
 * (its EMA weights), match its cameras and low-dim keys to the environment, keep the last To
 * observations (the first observation of an episode repeated to fill the history, as DP's
 * rollouts do), and per query sample a horizon of actions with noise from a generator seeded at
 * reset, returning the actions from index To-1 on. */
#include "policy/diffusion.h"

#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/error.h"
#include "util/parse.h"

typedef struct {
    dp_model m;
    dp_query q;                                  /* actions [horizon][A]; rng: the sampling noise */
    dp_sampler sampler;
    int steps;
} dp_policy;

static void dp_policy_close(void *self)
{
    dp_policy *p = self;
    if (!p) return;
    dp_query_free(&p->q);
    dp_model_free(&p->m);
    free(p);
}

/* ---------------------------------------------------------------- the observation history */

/* Find where key j comes from: observation.state, observation.velocity, or a named observation
 * ("robot0_eef_pos", also written "observation.robot0_eef_pos"). */
static int match_lowdim(dp_history *h, const dp_config *cfg, const policy_env_t *env, int j)
{
    const char *name = cfg->lowdim_names[j];
    int dim = cfg->lowdim_dims[j], have = -1;
    if (strcmp(name, "observation.state") == 0) {
        h->source[j] = DP_SOURCE_STATE;
        have = env->state_dim;
    } else if (strcmp(name, "observation.velocity") == 0) {
        h->source[j] = DP_SOURCE_VELOCITY;
        have = env->velocity_dim;
    } else {
        const char *key = strncmp(name, "observation.", 12) == 0 ? name + 12 : name;
        for (int i = 0; i < env->n_obs; i++)
            if (strcmp(env->obs_names[i], key) == 0) {
                h->source[j] = DP_SOURCE_OBS;
                h->obs_index[j] = i;
                have = env->obs_dims[i];
            }
        if (have < 0) return error_set("the policy needs the observation '%s', which task %s does not give", name, env->task);
    }
    if (have != dim)
        return error_set("the policy takes %d values of '%s', task %s gives %d", dim, name, env->task, have);
    return 0;
}

int dp_history_open(dp_history *h, const dp_config *cfg, const policy_env_t *env)
{
    const int To = cfg->n_obs_steps;
    memset(h, 0, sizeof *h);
    if (cfg->action_dim != env->action_dim)
        return error_set("the policy gives %d actions; task %s takes %d", cfg->action_dim, env->task, env->action_dim);
    for (int k = 0; k < cfg->n_cameras; k++) {
        if ((h->camera_index[k] = policy_env_camera(env, cfg->camera_names[k])) < 0) return -1;
        if (!(h->images[k] = malloc((size_t)To * cfg->height * cfg->width * 3))) return error_set("out of memory");
    }
    if (cfg->n_cameras > 0 && policy_env_check_image_size(env, cfg->height, cfg->width) < 0) return -1;
    for (int j = 0; j < cfg->n_lowdim; j++) {
        if (match_lowdim(h, cfg, env, j) < 0) return -1;
        if (!(h->lowdim[j] = malloc(sizeof(float) * To * cfg->lowdim_dims[j]))) return error_set("out of memory");
    }
    return 0;
}

void dp_history_free(dp_history *h)
{
    for (int k = 0; k < DP_MAX_CAMERAS; k++) free(h->images[k]);
    for (int j = 0; j < DP_MAX_LOWDIM; j++) free(h->lowdim[j]);
    memset(h, 0, sizeof *h);
}

/* Append one frame of `size` bytes to a history of To frames: shift the older ones down, or at
 * the first observation fill every slot with it. */
static void push(void *history, const void *frame, size_t size, int To, int first)
{
    uint8_t *h = history;
    if (first) {
        for (int t = 0; t < To; t++) memcpy(h + t * size, frame, size);
    } else {
        memmove(h, h + size, (To - 1) * size);
        memcpy(h + (To - 1) * size, frame, size);
    }
}

int dp_history_observe(dp_history *h, const dp_config *cfg, const policy_observation_t *obs)
{
    const int To = cfg->n_obs_steps, first = h->observed == 0;
    for (int k = 0; k < cfg->n_cameras; k++) {
        const uint8_t *image = obs->images[h->camera_index[k]];
        if (!image) return error_set("step %d: camera %s gave no image", obs->step, cfg->camera_names[k]);
        push(h->images[k], image, (size_t)cfg->height * cfg->width * 3, To, first);
    }
    for (int j = 0; j < cfg->n_lowdim; j++) {
        const float *v = h->source[j] == DP_SOURCE_STATE ? obs->state
                         : h->source[j] == DP_SOURCE_VELOCITY ? obs->velocity : obs->obs[h->obs_index[j]];
        if (!v) return error_set("step %d: the observation has no '%s'", obs->step, cfg->lowdim_names[j]);
        push(h->lowdim[j], v, sizeof(float) * cfg->lowdim_dims[j], To, first);
    }
    h->observed++;
    return 0;
}

int dp_history_set_batch(const dp_history *h, dp_batch *b, const dp_model *m, const float *action)
{
    if (!h->observed) return error_set("act called before any observation");
    return dp_batch_set(b, m, 0, (const uint8_t *const *)h->images, (const float *const *)h->lowdim, action);
}

/* ---------------------------------------------------------------- the state between queries */

int dp_query_open(dp_query *q, dp_model *m, const policy_env_t *env, const policy_options_t *options, size_t ctx_bytes,
                  size_t action_floats)
{
    memset(q, 0, sizeof *q);
    policy_freeze_for_inference(m->ps, options);   /* weights packed once, no gradients */
    if (dp_history_open(&q->h, &m->cfg, env) < 0) return -1;
    nn_set_threads(options && options->n_threads > 0 ? options->n_threads : 1);
    if (dp_batch_alloc(&q->b, m, 1) < 0 || !(q->c = nn_ctx_new(ctx_bytes))) return -1;
    if (!(q->actions = malloc(sizeof(float) * action_floats))) return error_set("out of memory");
    nn_ctx_set_train(q->c, 0);
    nn_ctx_set_record(q->c, 0);
    return 0;
}

void dp_query_reset(dp_query *q, uint64_t seed)
{
    rng_seed(&q->rng, seed);
    q->h.observed = 0;
}

void dp_query_free(dp_query *q)
{
    dp_history_free(&q->h);
    free(q->actions);
    dp_batch_free(&q->b);
    nn_ctx_free(q->c);
    memset(q, 0, sizeof *q);
}

/* ---------------------------------------------------------------- the class */

static void *dp_policy_open(const char *path, const policy_env_t *env, const policy_options_t *options,
                            int *chunk_size, int *default_exec)
{
    dp_policy *p = calloc(1, sizeof *p);
    if (!p) { error_set("out of memory"); return NULL; }
    if (dp_checkpoint_load(path, &p->m, DP_WEIGHTS_EMA) < 0) { free(p); return NULL; }
    const dp_config *cfg = &p->m.cfg;
    p->sampler = cfg->sampler;
    p->steps = cfg->inference_steps;
    if (dp_query_open(&p->q, &p->m, env, options, (size_t)16 << 20, (size_t)cfg->horizon * cfg->action_dim) < 0)
        goto fail;
    *chunk_size = cfg->horizon - (cfg->n_obs_steps - 1);
    *default_exec = cfg->n_action_steps;
    return p;
fail:
    dp_policy_close(p);
    return NULL;
}

static int dp_policy_reset(void *self, uint64_t seed)
{
    dp_query_reset(&((dp_policy *)self)->q, seed);
    return 0;
}

static int dp_policy_observe(void *self, const policy_observation_t *obs)
{
    dp_policy *p = self;
    return dp_history_observe(&p->q.h, &p->m.cfg, obs);
}

static int dp_policy_act(void *self, float *chunk)
{
    dp_policy *p = self;
    const dp_config *cfg = &p->m.cfg;
    dp_query *q = &p->q;
    if (dp_history_set_batch(&q->h, &q->b, &p->m, NULL) < 0 ||
        dp_model_sample(q->c, &p->m, &q->b, p->sampler, p->steps, &q->rng, q->actions) < 0)
        return -1;
    const int first = cfg->n_obs_steps - 1, rows = cfg->horizon - first;
    memcpy(chunk, q->actions + (size_t)first * cfg->action_dim, sizeof(float) * rows * cfg->action_dim);
    return 0;
}

/* The denoising loss of the model (its EMA weights, centre crop) on the history and the
 * demonstrated horizon of actions, with timestep and noise drawn from seed. */
static int dp_policy_loss(void *self, const float *actions, int rows, uint64_t seed, double *value)
{
    dp_policy *p = self;
    const dp_config *cfg = &p->m.cfg;
    if (rows < cfg->horizon)
        return error_set("the demonstrated actions have %d rows; the horizon is %d", rows, cfg->horizon);
    dp_losses L;
    if (dp_history_set_batch(&p->q.h, &p->q.b, &p->m, actions) < 0 ||
        !dp_model_loss(p->q.c, &p->m, &p->q.b, seed, 0, 0, &L))
        return -1;
    nn_ctx_reset(p->q.c);
    *value = L.loss;
    return 0;
}

int dp_policy_set_option(void *self, const char *key, const char *value)
{
    dp_policy *p = self;
    if (strcmp(key, "sampler") == 0) {
        int s = dp_sampler_parse(value);
        if (s < 0) return error_set("diffusion policy: sampler '%s' is not ddpm or ddim", value);
        p->sampler = (dp_sampler)s;
        return 0;
    }
    if (strcmp(key, "steps") == 0) {
        long n;
        if (parse_long(value, 1, p->m.cfg.train_steps, &n) < 0) return error_prefix("diffusion policy: steps: ");
        p->steps = (int)n;
        return 0;
    }
    return error_set("diffusion policy: unknown option '%s' (sampler, steps)", key);
}

const policy_class_t diffusion_policy_class = {
    .kind = "diffusion",
    .open = dp_policy_open,
    .reset = dp_policy_reset,
    .observe = dp_policy_observe,
    .act = dp_policy_act,
    .close = dp_policy_close,
    .set_option = dp_policy_set_option,
    .loss = dp_policy_loss,
    .loss_name = "denoising_mse",
    .settings = "sampler=ddpm|ddim  the denoising sampler (default: the checkpoint's)\n"
                "steps=N  denoising steps (default: the checkpoint's; DDIM 10 is the fast setting)\n",
};
