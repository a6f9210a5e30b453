/* stream_env.c — a sample stream (h5slice, chunkify) as a policy's environment: what the first
 * sample offers (policy_env_t) and each sample's observation history replayed step by step. */
#include "policy/stream_env.h"

#include <string.h>

#include "io/checkpoint.h"
#include "util/error.h"
#include "util/parse.h"

#define IMAGE_PREFIX "observation.images."


/* The number of history steps of a field whose single-step rank is base_ndim (-1: not that shape). */
static int steps_of(const npy_array *a, int base_ndim)
{
    return a->ndim == base_ndim ? 1 : a->ndim == base_ndim + 1 ? (int)a->shape[0] : -1;
}

int policy_stream_env_init(policy_stream_env *e, const stream_sample *s, const char *checkpoint)
{
    memset(e, 0, sizeof *e);
    e->env.task = "stream";
    /* the history length: the observation fields' leading dimension, when they have one more
     * than a single step's (observation.state, or else the first observation.<key> vector) */
    const npy_array *state = stream_sample_get(s, "observation.state"), *first = state;
    for (size_t f = 0; !first && f < s->n_fields; f++)
        if (strncmp(s->fields[f].name, "observation.", 12) == 0 && strncmp(s->fields[f].name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) != 0)
            first = &s->fields[f].array;
    if (!first) return error_set("sample %s has no observation.state or other observation.<key> vector", s->key);
    if (first->dtype != NPY_F32 || steps_of(first, 1) < 1)
        return error_set("sample %s: the observation vectors must be float32 [D] or [N,D] (an observation history)", s->key);
    e->history = steps_of(first, 1);
    if (state && steps_of(state, 1) != e->history)
        return error_set("sample %s: observation.state is not float32 [%d,S]", s->key, e->history);
    e->env.state_dim = state ? (int)state->shape[state->ndim - 1] : 0;
    const npy_array *vel = stream_sample_get(s, "observation.velocity");
    if (vel && vel->dtype == NPY_F32 && steps_of(vel, 1) == e->history) e->env.velocity_dim = (int)vel->shape[vel->ndim - 1];
    for (size_t f = 0; f < s->n_fields; f++) {
        const char *name = s->fields[f].name;
        const npy_array *a = &s->fields[f].array;
        if (strncmp(name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) == 0) {
            if (a->dtype != NPY_U8 || steps_of(a, 3) != e->history || a->shape[a->ndim - 1] != 3)
                return error_set("sample %s: %s must be uint8 [H,W,3] (or [%d,H,W,3])", s->key, name, e->history);
            int k = e->env.n_cameras;
            if (k == POLICY_MAX_CAMERAS) return error_set("sample %s: more than %d cameras", s->key, POLICY_MAX_CAMERAS);
            int h = (int)a->shape[a->ndim - 3], w = (int)a->shape[a->ndim - 2];
            if (k && (h != e->env.height || w != e->env.width))
                return error_set("sample %s: cameras of different sizes (%dx%d and %dx%d)", s->key, e->env.height,
                                 e->env.width, h, w);
            e->env.height = h, e->env.width = w;
            snprintf(e->camera_fields[k], sizeof e->camera_fields[k], "%s", name);
            e->env.camera_names[k] = e->camera_fields[k] + strlen(IMAGE_PREFIX);
            e->env.n_cameras++;
        } else if (strncmp(name, "observation.", 12) == 0 && strcmp(name, "observation.state") != 0 &&
                   strcmp(name, "observation.velocity") != 0 && a->dtype == NPY_F32 && steps_of(a, 1) == e->history) {
            int i = e->env.n_obs;
            if (i == POLICY_MAX_OBS) continue;
            snprintf(e->obs_fields[i], sizeof e->obs_fields[i], "%s", name);
            e->env.obs_names[i] = e->obs_fields[i] + 12;
            e->env.obs_dims[i] = (int)a->shape[a->ndim - 1];
            e->env.n_obs++;
        }
    }
    /* The action size: the stream's, or the checkpoint's when the stream has no actions. */
    const npy_array *action = stream_sample_get(s, "action");
    if (action && action->ndim >= 1) {
        e->env.action_dim = (int)action->shape[action->ndim - 1];
    } else {
        checkpoint_reader *r = checkpoint_open(checkpoint);
        const char *v = r ? checkpoint_config(r, "action_dim") : NULL;
        long a = 0;
        if (v && parse_long(v, 1, 1 << 20, &a) == 0) e->env.action_dim = (int)a;
        if (r) checkpoint_close(r);
        if (!e->env.action_dim) return error_set("%s: no action_dim in its configuration, and the stream has no action", checkpoint);
    }
    return 0;
}

int policy_stream_observation(const policy_stream_env *e, const stream_sample *s, int t, policy_observation_t *obs)
{
    memset(obs, 0, sizeof *obs);
    obs->step = t;
    if (e->env.state_dim) {
        const npy_array *state = stream_sample_get(s, "observation.state");
        if (!state || state->dtype != NPY_F32 || npy_array_count(state) != (int64_t)e->history * e->env.state_dim)
            return error_set("sample %s: observation.state is not float32 [%d] like the first sample's", s->key, e->env.state_dim);
        obs->state = (const float *)state->data + (size_t)t * e->env.state_dim;
    }
    if (e->env.velocity_dim) {
        const npy_array *vel = stream_sample_get(s, "observation.velocity");
        if (!vel || npy_array_count(vel) != (int64_t)e->history * e->env.velocity_dim)
            return error_set("sample %s: observation.velocity is not like the first sample's", s->key);
        obs->velocity = (const float *)vel->data + (size_t)t * e->env.velocity_dim;
    }
    size_t image = (size_t)e->env.height * e->env.width * 3;
    for (int k = 0; k < e->env.n_cameras; k++) {
        const npy_array *a = stream_sample_get(s, e->camera_fields[k]);
        if (!a || a->dtype != NPY_U8 || npy_array_count(a) != (int64_t)(e->history * image))
            return error_set("sample %s: %s is not like the first sample's", s->key, e->camera_fields[k]);
        obs->images[k] = (const uint8_t *)a->data + (size_t)t * image;
    }
    for (int i = 0; i < e->env.n_obs; i++) {
        const npy_array *a = stream_sample_get(s, e->obs_fields[i]);
        if (!a || a->dtype != NPY_F32 || npy_array_count(a) != (int64_t)e->history * e->env.obs_dims[i])
            return error_set("sample %s: %s is not like the first sample's", s->key, e->obs_fields[i]);
        obs->obs[i] = (const float *)a->data + (size_t)t * e->env.obs_dims[i];
    }
    return 0;
}
