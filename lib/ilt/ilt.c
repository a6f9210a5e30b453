/* ilt.c — the public library (include/ilt.h) on the policy interface that rollout and predict
 * use (policy/policy.h): open a checkpoint as the environment its own configuration describes,
 * check each observation for the fields the policy needs, step. A handle owns everything it
 * uses (the policy, its environment's names, its last message, a mutex); nothing is global, so
 * policies open side by side. The engine's thread pool runs a loop for one caller at a time and
 * a second caller runs its loop inline, with the same chunks: actions do not depend on it. */
#include <ilt.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "policy/policy.h"
#include "util/error.h"
#include "util/parse.h"

struct ilt_policy {
    policy_t *policy;
    policy_env_t env;
    ilt_description d;
    pthread_mutex_t mu;
    int step;
    char error[2048];
};

void ilt_options_init(ilt_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->temporal_k = 0.01;
}

const char *ilt_version(void) { return ILT_VERSION; }

const char *ilt_strerror(int status)
{
    switch (status) {
    case ILT_OK: return "success";
    case ILT_ERR_ARGUMENT: return "bad argument";
    case ILT_ERR_CHECKPOINT: return "cannot load the checkpoint";
    case ILT_ERR_OBSERVATION: return "incomplete observation";
    case ILT_ERR_MEMORY: return "out of memory";
    case ILT_ERR_RUNTIME: return "policy computation failed";
    default: return "unknown status";
    }
}

const char *ilt_last_error(const ilt_policy *p) { return p ? p->error : error_get(); }

/* Record the thread's message in the handle (when there is one) and return status. */
static int fail(ilt_policy *p, int status)
{
    if (p) snprintf(p->error, sizeof p->error, "%s", error_get());
    return status;
}

/* ---------------------------------------------------------------- the checkpoint's environment */

static int copy_name(char *dst, const char *src, const char *path, const char *key)
{
    if (strlen(src) >= ILT_NAME_MAX) return error_set("%s: configuration '%s': name '%s' is too long", path, key, src);
    snprintf(dst, ILT_NAME_MAX, "%s", src);
    return 0;
}

/* The comma list config[key] into names (at most max); *n its length (0 when absent or empty). */
static int config_names(checkpoint_reader *r, const char *path, const char *key, char (*names)[ILT_NAME_MAX], int max,
                        int *n)
{
    const char *v = checkpoint_config(r, key);
    *n = 0;
    if (!v || !*v) return 0;
    size_t count = 0;
    char **list = strlist_split(v, ',', &count);
    if (!list) return error_set("out of memory");
    int rc = (int)count > max ? error_set("%s: configuration '%s' = '%s' has more than %d entries", path, key, v, max) : 0;
    for (size_t i = 0; rc == 0 && i < count; i++) rc = copy_name(names[i], list[i], path, key);
    strlist_free(list);
    if (rc == 0) *n = (int)count;
    return rc;
}

static int config_dim(checkpoint_reader *r, const char *path, const char *key, int *out)
{
    const char *v = checkpoint_config(r, key);
    long x;
    if (!v) return error_set("%s: configuration has no '%s'", path, key);
    if (parse_long(v, 1, 1 << 20, &x) < 0) return error_set("%s: configuration '%s' = '%s' is not a size", path, key, v);
    *out = (int)x;
    return 0;
}

/* What the checkpoint was trained on, as d (names) and env (pointing into d): its action size,
 * cameras and image size, and either DP/IBC's low-dimensional keys (observation.state,
 * observation.velocity or a named observation, with their sizes) or ACT's state size. */
static int describe_checkpoint(const char *path, ilt_description *d, policy_env_t *env)
{
    if (policy_checkpoint_kind(path, d->kind, sizeof d->kind) < 0) return -1;
    checkpoint_reader *r = checkpoint_open(path);
    if (!r) return -1;
    char lowdim[ILT_MAX_OBS + 2][ILT_NAME_MAX];
    int dims[ILT_MAX_OBS + 2], n_lowdim = 0, rc = 0;
    if (config_dim(r, path, "action_dim", &d->action_dim) < 0 ||
        config_names(r, path, "cameras", d->camera_names, ILT_MAX_CAMERAS, &d->n_cameras) < 0 ||
        (d->n_cameras && (config_dim(r, path, "height", &d->height) < 0 || config_dim(r, path, "width", &d->width) < 0)) ||
        config_names(r, path, "lowdim_keys", lowdim, ILT_MAX_OBS + 2, &n_lowdim) < 0)
        rc = -1;
    if (rc == 0 && n_lowdim) {
        const char *v = checkpoint_config(r, "lowdim_dims");
        size_t count = 0;
        char **list = v ? strlist_split(v, ',', &count) : NULL;
        if ((int)count != n_lowdim) rc = error_set("%s: configuration has %d low-dim keys but %zu sizes", path, n_lowdim, count);
        for (int j = 0; rc == 0 && j < n_lowdim; j++) {
            long x;
            if (parse_long(list[j], 1, 1 << 20, &x) < 0) rc = error_set("%s: configuration 'lowdim_dims': '%s' is not a size", path, list[j]);
            dims[j] = (int)x;
        }
        strlist_free(list);
        for (int j = 0; rc == 0 && j < n_lowdim; j++) {
            const char *name = lowdim[j];
            if (strcmp(name, "observation.state") == 0) d->state_dim = dims[j];
            else if (strcmp(name, "observation.velocity") == 0) d->velocity_dim = dims[j];
            else if (d->n_obs == ILT_MAX_OBS) rc = error_set("%s: more than %d named observations", path, ILT_MAX_OBS);
            else {
                snprintf(d->obs_names[d->n_obs], ILT_NAME_MAX, "%s", strncmp(name, "observation.", 12) == 0 ? name + 12 : name);
                d->obs_dims[d->n_obs++] = dims[j];
            }
        }
    } else if (rc == 0 && checkpoint_config(r, "state_dim")) {
        rc = config_dim(r, path, "state_dim", &d->state_dim);
    }
    const char *hz = rc == 0 ? checkpoint_config(r, "control_hz") : NULL;
    if (hz) d->control_hz = strtod(hz, NULL);
    checkpoint_close(r);
    if (rc < 0) return -1;

    memset(env, 0, sizeof *env);
    env->task = "checkpoint";
    env->state_dim = d->state_dim;
    env->velocity_dim = d->velocity_dim;
    env->action_dim = d->action_dim;
    env->n_cameras = d->n_cameras;
    for (int k = 0; k < d->n_cameras; k++) env->camera_names[k] = d->camera_names[k];
    env->height = d->height;
    env->width = d->width;
    env->n_obs = d->n_obs;
    for (int i = 0; i < d->n_obs; i++) env->obs_names[i] = d->obs_names[i], env->obs_dims[i] = d->obs_dims[i];
    env->control_hz = d->control_hz;
    return 0;
}

/* ---------------------------------------------------------------- the interface */

int ilt_open(const char *path, const ilt_options *options, ilt_policy **out)
{
    if (!out) return error_set("ilt_open: no place for the handle"), ILT_ERR_ARGUMENT;
    *out = NULL;
    if (!path) return error_set("ilt_open: no checkpoint path"), ILT_ERR_ARGUMENT;
    ilt_options defaults;
    ilt_options_init(&defaults);
    const ilt_options *o = options ? options : &defaults;
    if (o->threads < 0 || o->threads > 1024 || o->ddim_steps < 0 || o->chunk_exec < 0 || o->temporal_k < 0)
        return error_set("ilt_open: options out of range (threads %d, ddim_steps %d, chunk_exec %d, temporal_k %g)",
                         o->threads, o->ddim_steps, o->chunk_exec, o->temporal_k), ILT_ERR_ARGUMENT;
    if (o->temporal_agg && o->chunk_exec)
        return error_set("ilt_open: temporal ensembling predicts every step; chunk_exec must be 0"), ILT_ERR_ARGUMENT;

    ilt_policy *p = calloc(1, sizeof *p);
    if (!p) return error_set("out of memory"), ILT_ERR_MEMORY;
    if (describe_checkpoint(path, &p->d, &p->env) < 0) {
        free(p);
        return ILT_ERR_CHECKPOINT;
    }
    policy_options_t po = policy_default_options();
    po.n_threads = o->threads > 0 ? o->threads : 1;
    po.chunk_exec = o->chunk_exec;
    po.temporal_agg = o->temporal_agg;
    po.temporal_k = o->temporal_k;
    po.half_weights = o->half_weights != 0;
    char steps[32];
    if (o->ddim_steps) {
        if (strcmp(p->d.kind, "diffusion") != 0) {
            error_set("ilt_open: %s: ddim_steps is for Diffusion Policy, not for a policy of kind %s", path, p->d.kind);
            free(p);
            return ILT_ERR_ARGUMENT;
        }
        snprintf(steps, sizeof steps, "steps=%d", o->ddim_steps);
        po.args[po.n_args++] = "sampler=ddim";
        po.args[po.n_args++] = steps;
    }
    for (int i = 0; o->policy_args && o->policy_args[i]; i++) {
        if (po.n_args == POLICY_MAX_ARGS) {
            error_set("ilt_open: more than %d policy settings", POLICY_MAX_ARGS);
            free(p);
            return ILT_ERR_ARGUMENT;
        }
        po.args[po.n_args++] = o->policy_args[i];
    }
    if (!(p->policy = policy_open(path, &p->env, &po))) {
        /* a refused setting names itself; anything else is the checkpoint's */
        int status = strstr(error_get(), "setting") || strstr(error_get(), "option") || strstr(error_get(), "actions per chunk")
                         ? ILT_ERR_ARGUMENT : ILT_ERR_CHECKPOINT;
        free(p);
        return status;
    }
    p->d.chunk_size = policy_chunk_size(p->policy);
    p->d.chunk_exec = policy_chunk_exec(p->policy);
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return ILT_OK;
}

int ilt_describe(const ilt_policy *p, ilt_description *d)
{
    if (!p || !d) return ILT_ERR_ARGUMENT;
    *d = p->d;
    return ILT_OK;
}

int ilt_reset(ilt_policy *p, uint64_t seed)
{
    if (!p) return ILT_ERR_ARGUMENT;
    pthread_mutex_lock(&p->mu);
    p->error[0] = 0;
    p->step = 0;
    int rc = policy_reset(p->policy, seed) < 0 ? fail(p, ILT_ERR_RUNTIME) : ILT_OK;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Every field the policy reads is there. */
static int check_observation(const ilt_policy *p, const ilt_observation *o)
{
    const ilt_description *d = &p->d;
    if (d->state_dim && !o->state) return error_set("step %d: the observation has no state (%d values)", p->step, d->state_dim);
    if (d->velocity_dim && !o->velocity)
        return error_set("step %d: the observation has no velocity (%d values)", p->step, d->velocity_dim);
    for (int k = 0; k < d->n_cameras; k++)
        if (!o->images[k])
            return error_set("step %d: the observation has no image of camera %d (%s, %dx%dx3)", p->step, k,
                             d->camera_names[k], d->height, d->width);
    for (int i = 0; i < d->n_obs; i++)
        if (!o->obs[i]) return error_set("step %d: the observation has no '%s' (%d values)", p->step, d->obs_names[i], d->obs_dims[i]);
    return 0;
}

int ilt_step(ilt_policy *p, const ilt_observation *o, float *action)
{
    if (!p) return ILT_ERR_ARGUMENT;
    pthread_mutex_lock(&p->mu);
    int rc = ILT_OK;
    if (!o || !action) {
        error_set("ilt_step: no %s", o ? "action buffer" : "observation");
        rc = fail(p, ILT_ERR_ARGUMENT);
    } else if (check_observation(p, o) < 0) {
        rc = fail(p, ILT_ERR_OBSERVATION);
    } else {
        policy_observation_t obs;
        memset(&obs, 0, sizeof obs);
        obs.step = p->step;
        obs.state = o->state;
        obs.velocity = o->velocity;
        for (int k = 0; k < p->d.n_cameras; k++) obs.images[k] = o->images[k];
        for (int i = 0; i < p->d.n_obs; i++) obs.obs[i] = o->obs[i];
        if (policy_step(p->policy, &obs, action) < 0) rc = fail(p, ILT_ERR_RUNTIME);
        else p->step++;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void ilt_close(ilt_policy *p)
{
    if (!p) return;
    policy_free(p->policy);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
