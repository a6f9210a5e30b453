/* act_policy.c — the "act" and "cnnmlp" classes of the policy interface (policy.h): load a
 * checkpoint, check it against the environment (state/action sizes, cameras, image size),
 * normalise each observation as in training and predict a chunk with z = 0, denormalised.
 * ACT executes its whole chunk per query by default; CNNMLP predicts one action. Temporal
 * ensembling is done by the interface (policy_step). */
#include "policy/act.h"

#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/error.h"

typedef struct {
    act_model m;
    act_batch b;
    nn_ctx *c;
    int camera_index[ACT_MAX_CAMERAS];   /* model camera k = environment camera camera_index[k] */
    int observed;
} act_policy;

static void act_policy_close(void *self)
{
    act_policy *p = self;
    if (!p) return;
    act_batch_free(&p->b);
    nn_ctx_free(p->c);
    act_model_free(&p->m);
    free(p);
}

static void *act_policy_open(const char *path, const policy_env_t *env, const policy_options_t *options,
                             int *chunk_size, int *default_exec)
{
    act_policy *p = calloc(1, sizeof *p);
    if (!p) { error_set("out of memory"); return NULL; }
    if (act_checkpoint_load_inference(path, &p->m) < 0) { free(p); return NULL; }
    policy_freeze_for_inference(p->m.ps, options);   /* weights packed once, no gradients */
    const act_config *cfg = &p->m.cfg;
    if (cfg->state_dim != env->state_dim || cfg->action_dim != env->action_dim) {
        error_set("the policy takes %d state values and gives %d actions; task %s has %d and %d", cfg->state_dim,
                  cfg->action_dim, env->task, env->state_dim, env->action_dim);
        goto fail;
    }
    for (int k = 0; k < cfg->n_cameras; k++)
        if ((p->camera_index[k] = policy_env_camera(env, cfg->camera_names[k])) < 0) goto fail;
    if (policy_env_check_image_size(env, cfg->height, cfg->width) < 0) goto fail;
    /* always set: besides our pool's size it keeps OpenBLAS single-threaded (left at its
     * default, its idle worker spun in sched_yield through every rollout step, a core's worth
     * of CPU that parallel evaluation jobs then fought over) */
    nn_set_threads(options && options->n_threads > 0 ? options->n_threads : 1);
    if (act_batch_alloc(&p->b, &p->m, 1) < 0 || !(p->c = nn_ctx_new((size_t)16 << 20))) goto fail;
    nn_ctx_set_train(p->c, 0);
    nn_ctx_set_record(p->c, 0);
    *chunk_size = act_model_chunk(&p->m);
    *default_exec = *chunk_size;
    return p;
fail:
    act_policy_close(p);
    return NULL;
}

static int act_policy_reset(void *self, uint64_t seed)
{
    ((act_policy *)self)->observed = 0;
    return 0;
}

static int act_policy_observe(void *self, const policy_observation_t *obs)
{
    act_policy *p = self;
    const act_config *cfg = &p->m.cfg;
    act_normalize_state(&p->m, obs->state, p->b.state);
    for (int k = 0; k < cfg->n_cameras; k++) {
        const uint8_t *image = obs->images[p->camera_index[k]];
        if (!image) return error_set("step %d: camera %s gave no image", obs->step, cfg->camera_names[k]);
        act_normalize_image(&p->m, k, image, p->b.images + (size_t)k * 3 * cfg->height * cfg->width);
    }
    p->observed = 1;
    return 0;
}

static int act_policy_act(void *self, float *chunk)
{
    act_policy *p = self;
    if (!p->observed) return error_set("act called before any observation");
    nn_tensor *a = act_model_predict(p->c, &p->m, &p->b);
    if (!a) return -1;
    act_denormalize_action(&p->m, a->data, act_model_chunk(&p->m), chunk);
    nn_ctx_reset(p->c);
    return 0;
}

const policy_class_t act_policy_class = {
    .kind = "act",
    .open = act_policy_open,
    .reset = act_policy_reset,
    .observe = act_policy_observe,
    .act = act_policy_act,
    .close = act_policy_close,
};

const policy_class_t cnnmlp_policy_class = {
    .kind = "cnnmlp",
    .open = act_policy_open,
    .reset = act_policy_reset,
    .observe = act_policy_observe,
    .act = act_policy_act,
    .close = act_policy_close,
};
