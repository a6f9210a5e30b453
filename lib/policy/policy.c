/* policy.c — the generic side of every policy: opening by spec (the scripted expert or a
 * checkpoint, dispatched on its "policy" attribute), and turning predicted chunks into one action
 * per control step, by executing the first actions of each chunk or by ACT's temporal
 * ensembling. */
#include "policy/policy.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/gemm_packed.h"
#include "nn/params.h"
#include "util/error.h"

struct policy {
    const policy_class_t *cls;
    void *self;
    policy_env_t env;
    policy_options_t options;
    int chunk_size;          /* actions per act call */
    int exec;                /* actions executed per query (without ensembling) */
    float *chunk;            /* [chunk_size][action_dim], the last prediction */
    int chunk_pos;           /* next action of chunk to execute; == exec: query again */
    /* Temporal ensembling, a ring over target steps (slot = step % chunk_size). */
    double *ensemble_sum;    /* [chunk_size][action_dim] weighted sums */
    double *ensemble_weight; /* [chunk_size] sum of weights */
    int *ensemble_count;     /* [chunk_size] predictions so far (i of the next one) */
};

policy_options_t policy_default_options(void)
{
    policy_options_t o;
    memset(&o, 0, sizeof o);
    o.temporal_k = 0.01;
    return o;
}

int policy_set_weight_precision(policy_options_t *o, const char *name)
{
    if (strcmp(name, "f32") && strcmp(name, "f16")) return error_set("expected f32 or f16, not '%s'", name);
    o->half_weights = !strcmp(name, "f16");
    return 0;
}

void policy_freeze_for_inference(nn_params *ps, const policy_options_t *options)
{
    nn_params_freeze(ps, options && options->half_weights ? NN_PACK_F16 : NN_PACK_F32);
    nn_params_inference_only(ps);   /* no gradients: the memory a robot's program holds */
}

int policy_env_camera(const policy_env_t *env, const char *name)
{
    for (int e = 0; e < env->n_cameras; e++)
        if (strcmp(env->camera_names[e], name) == 0) return e;
    return error_set("the policy needs camera '%s', which is not rendered (rollout --cameras)", name);
}

int policy_env_check_image_size(const policy_env_t *env, int height, int width)
{
    if (env->height == height && env->width == width) return 0;
    return error_set("image size: the policy was trained on %dx%d images, the observations are %dx%d (rollout "
                     "--image-size %dx%d)", height, width, env->height, env->width, height, width);
}

/* ---------------------------------------------------------------- the scripted expert */

typedef struct {
    policy_expert_fn expert;
    void *context;
} scripted_t;

static int scripted_reset(void *self, uint64_t seed) { return 0; }
static int scripted_observe(void *self, const policy_observation_t *obs) { return 0; }
static int scripted_act(void *self, float *chunk)
{
    scripted_t *s = self;
    return s->expert(s->context, chunk);
}
static void scripted_close(void *self) { free(self); }

static const policy_class_t scripted_class = {
    .kind = "scripted",
    .reset = scripted_reset,
    .observe = scripted_observe,
    .act = scripted_act,
    .close = scripted_close,
};

/* ---------------------------------------------------------------- opening */

policy_t *policy_wrap(const policy_class_t *cls, void *self, const policy_env_t *env,
                               const policy_options_t *options, int chunk_size, int default_exec)
{
    policy_t *p = calloc(1, sizeof *p);
    int A = env->action_dim;
    if (!p || chunk_size < 1 || A < 1) {
        free(p);
        cls->close(self);
        if (chunk_size < 1) error_set("policy %s predicts chunks of %d actions", cls->kind, chunk_size);
        else error_set("out of memory for a policy");
        return NULL;
    }
    p->cls = cls;
    p->self = self;
    p->env = *env;
    p->options = options ? *options : policy_default_options();
    p->chunk_size = chunk_size;
    p->exec = p->options.chunk_exec > 0 ? p->options.chunk_exec : default_exec;
    if (p->exec < 1) p->exec = chunk_size;
    p->chunk = calloc((size_t)chunk_size * A, sizeof *p->chunk);
    p->ensemble_sum = calloc((size_t)chunk_size * A, sizeof *p->ensemble_sum);
    p->ensemble_weight = calloc((size_t)chunk_size, sizeof *p->ensemble_weight);
    p->ensemble_count = calloc((size_t)chunk_size, sizeof *p->ensemble_count);
    if (!p->chunk || !p->ensemble_sum || !p->ensemble_weight || !p->ensemble_count) {
        policy_free(p);
        error_set("out of memory for a policy's chunk of %d actions", chunk_size);
        return NULL;
    }
    if (p->exec > chunk_size) {
        error_set("cannot execute %d actions per chunk: policy %s predicts %d", p->exec, cls->kind, chunk_size);
        policy_free(p);
        return NULL;
    }
    return p;
}

policy_t *policy_open_scripted(const policy_env_t *env, policy_expert_fn expert, void *context)
{
    scripted_t *s = malloc(sizeof *s);
    if (!s) { error_set("out of memory"); return NULL; }
    s->expert = expert;
    s->context = context;
    policy_options_t o = policy_default_options();
    return policy_wrap(&scripted_class, s, env, &o, 1, 1);
}

const policy_class_t *policy_class_find(const char *kind)
{
    for (const policy_class_t *const *c = policy_classes(); *c; c++)
        if (strcmp((*c)->kind, kind) == 0) return *c;
    return NULL;
}

int policy_checkpoint_kind(const char *path, char *kind, size_t size)
{
    if (access(path, R_OK) != 0) return error_set("%s:", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Fis_hdf5(path) <= 0)
        return error_set("%s: not an HDF5 file (truncated or another format); expected a policy checkpoint", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return error_set("%s: cannot open the HDF5 file (truncated?)", path);
    int rc = -1;
    hid_t attr = -1, type = -1;
    if (H5Aexists(file, "policy") <= 0) {
        error_set("%s: not a policy checkpoint (no root attribute 'policy')", path);
        goto done;
    }
    if ((attr = H5Aopen(file, "policy", H5P_DEFAULT)) < 0 || (type = H5Aget_type(attr)) < 0 ||
        H5Tget_class(type) != H5T_STRING) {
        error_set("%s: the root attribute 'policy' is not a string", path);
        goto done;
    }
    if (H5Tis_variable_str(type) > 0) {
        char *value = NULL;
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        if (H5Aread(attr, mem, &value) >= 0 && value) {
            snprintf(kind, size, "%s", value);
            rc = 0;
        }
        H5free_memory(value);
        H5Tclose(mem);
    } else {
        size_t n = H5Tget_size(type);
        char *value = calloc(n + 1, 1);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, n + 1);
        if (value && H5Aread(attr, mem, value) >= 0) {
            snprintf(kind, size, "%s", value);
            rc = 0;
        }
        free(value);
        H5Tclose(mem);
    }
    if (rc < 0) error_set("%s: cannot read the root attribute 'policy'", path);
done:
    if (type >= 0) H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    H5Fclose(file);
    return rc;
}

int policy_apply_arg(const char *arg, int (*set)(void *context, const char *key, const char *value), void *context)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || eq - arg >= 64) return error_set("--policy-arg '%s': KEY=VALUE expected", arg);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
    return set(context, key, eq + 1);
}

/* Every KEY=VALUE names a setting the class lists. */
static int check_args(const policy_class_t *cls, const policy_options_t *o)
{
    char keys[256] = "";
    for (const char *s = cls->settings; s && *s;) {
        const char *eq = strchr(s, '=');
        if (!eq) break;
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%.*s", *keys ? ", " : "", (int)(eq - s), s);
        s = strchr(s, '\n');
        if (s) s++;
    }
    for (int i = 0; i < o->n_args; i++) {
        const char *eq = strchr(o->args[i], '=');
        if (!eq || eq == o->args[i] || eq - o->args[i] >= 64)
            return error_set("--policy-arg '%s': KEY=VALUE expected", o->args[i]);
        int n = (int)(eq - o->args[i]), known = 0;
        for (const char *k = keys; *k && !known;) {
            known = strncmp(k, o->args[i], (size_t)n) == 0 && (k[n] == ',' || k[n] == 0);
            k = strchr(k, ',');
            k = k ? k + 2 : "";
        }
        if (!known)
            return error_set("--policy-arg %.*s: policy %s has no such setting (%s%s)", n, o->args[i], cls->kind,
                             *keys ? "it has: " : "it has none", keys);
    }
    return 0;
}

policy_t *policy_open(const char *spec, const policy_env_t *env, const policy_options_t *options)
{
    if (strcmp(spec, "scripted") == 0) {
        error_set("the scripted policy needs the task's expert (policy_open_scripted)");
        return NULL;
    }
    char kind[64];
    if (policy_checkpoint_kind(spec, kind, sizeof kind) < 0) return NULL;
    const policy_class_t *cls = policy_class_find(kind);
    if (!cls) {
        char known[256] = "";
        for (const policy_class_t *const *c = policy_classes(); *c; c++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", *known ? ", " : "", (*c)->kind);
        error_set("%s: policy kind '%s' is not known to this build (known: %s)", spec, kind, *known ? known : "none yet");
        return NULL;
    }
    policy_options_t o = options ? *options : policy_default_options();
    if (check_args(cls, &o) < 0) return NULL;
    int chunk_size = 0, default_exec = 0;
    void *self = cls->open(spec, env, &o, &chunk_size, &default_exec);
    if (!self) {
        if (strncmp(error_get(), spec, strlen(spec)) != 0) error_prefix("%s: ", spec);   /* named once */
        return NULL;
    }
    for (int i = 0; i < o.n_args; i++) {
        if (policy_apply_arg(o.args[i], cls->set_option, self) < 0) {
            error_prefix("%s: --policy-arg %s: ", spec, o.args[i]);
            cls->close(self);
            return NULL;
        }
    }
    return policy_wrap(cls, self, env, &o, chunk_size, default_exec);
}

const char *policy_kind(const policy_t *p) { return p->cls->kind; }
int policy_chunk_size(const policy_t *p) { return p->chunk_size; }
int policy_chunk_exec(const policy_t *p) { return p->options.temporal_agg ? 1 : p->exec; }
int policy_action_dim(const policy_t *p) { return p->env.action_dim; }

/* ---------------------------------------------------------------- stepping */

int policy_reset(policy_t *p, uint64_t seed)
{
    p->chunk_pos = p->exec;     /* query at the first step */
    memset(p->ensemble_sum, 0, sizeof *p->ensemble_sum * (size_t)p->chunk_size * p->env.action_dim);
    memset(p->ensemble_weight, 0, sizeof *p->ensemble_weight * (size_t)p->chunk_size);
    memset(p->ensemble_count, 0, sizeof *p->ensemble_count * (size_t)p->chunk_size);
    return p->cls->reset(p->self, seed);
}

static int check_chunk(const policy_t *p, int step)
{
    size_t n = (size_t)p->chunk_size * p->env.action_dim;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p->chunk[i]))
            return error_set("policy %s predicted a non-finite action at step %d (chunk row %zu, value %zu)",
                             p->cls->kind, step, i / p->env.action_dim, i % p->env.action_dim);
    return 0;
}

int policy_step(policy_t *p, const policy_observation_t *obs, float *action)
{
    const int A = p->env.action_dim, K = p->chunk_size;
    if (p->cls->observe(p->self, obs) < 0) return -1;
    if (!p->options.temporal_agg) {
        if (p->chunk_pos >= p->exec) {
            if (p->cls->act(p->self, p->chunk) < 0 || check_chunk(p, obs->step) < 0) return -1;
            p->chunk_pos = 0;
        }
        memcpy(action, p->chunk + (size_t)p->chunk_pos * A, sizeof *action * A);
        p->chunk_pos++;
        return 0;
    }
    /* Temporal ensembling: add this step's chunk to the predictions for steps t..t+K-1; the
     * i-th prediction made for a step (i = 0 the oldest) weighs exp(-k*i). */
    if (p->cls->act(p->self, p->chunk) < 0 || check_chunk(p, obs->step) < 0) return -1;
    int t = obs->step;
    for (int j = 0; j < K; j++) {
        int slot = (t + j) % K;
        double w = exp(-p->options.temporal_k * p->ensemble_count[slot]);
        for (int a = 0; a < A; a++) p->ensemble_sum[(size_t)slot * A + a] += w * p->chunk[(size_t)j * A + a];
        p->ensemble_weight[slot] += w;
        p->ensemble_count[slot]++;
    }
    int slot = t % K;
    for (int a = 0; a < A; a++) action[a] = (float)(p->ensemble_sum[(size_t)slot * A + a] / p->ensemble_weight[slot]);
    /* The slot is reused for step t+K. */
    memset(p->ensemble_sum + (size_t)slot * A, 0, sizeof *p->ensemble_sum * A);
    p->ensemble_weight[slot] = 0;
    p->ensemble_count[slot] = 0;
    return 0;
}

int policy_predict(policy_t *p, const policy_observation_t *history, int n_steps, uint64_t seed, float *chunk)
{
    if (policy_reset(p, seed) < 0) return -1;
    for (int s = 0; s < n_steps; s++)
        if (p->cls->observe(p->self, &history[s]) < 0) return -1;
    if (p->cls->act(p->self, p->chunk) < 0 || check_chunk(p, history[n_steps - 1].step) < 0) return -1;
    memcpy(chunk, p->chunk, sizeof *chunk * (size_t)p->chunk_size * p->env.action_dim);
    return 0;
}

const char *policy_loss_name(const policy_t *p) { return p->cls->loss ? p->cls->loss_name : NULL; }

int policy_loss(policy_t *p, const policy_observation_t *history, int n_steps, const float *actions, int rows,
                uint64_t seed, double *value)
{
    if (!p->cls->loss) return error_set("policy %s has no training loss to report", p->cls->kind);
    if (policy_reset(p, seed) < 0) return -1;
    for (int s = 0; s < n_steps; s++)
        if (p->cls->observe(p->self, &history[s]) < 0) return -1;
    return p->cls->loss(p->self, actions, rows, seed, value);
}

void policy_free(policy_t *p)
{
    if (!p) return;
    if (p->cls && p->self) p->cls->close(p->self);
    free(p->chunk);
    free(p->ensemble_sum);
    free(p->ensemble_weight);
    free(p->ensemble_count);
    free(p);
}
