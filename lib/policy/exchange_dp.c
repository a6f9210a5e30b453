/* exchange_dp.c — Diffusion Policy and IBC checkpoints to and from one safetensors file with
 * Diffusion Policy's state_dict names (exchange.h): the weights a policy runs with (the EMA when
 * the checkpoint has one, as DP evaluates its ema_model) under their own names, which are DP's
 * already (obs_encoder.*, model.*, dense0..dense4), and DP's LinearNormalizer as
 * normalizer.params_dict.<key>.{scale,offset,input_stats.min,input_stats.max}: key "action", each
 * low-dimensional key without our "observation." prefix (robot0_eef_pos), each camera as
 * <camera>_image with DP's image range normaliser (scale 2, offset -1: [0,1] -> [-1,1]). Our
 * configuration travels as the metadata ilt.config, the step as ilt.step.
 *
 * Import writes the file's tensors and limits into a checkpoint of the configuration's policy
 * kind, loads that with the kind's own loader (which checks every parameter's presence and shape
 * against the configuration), refuses a tensor the model does not have and a normaliser whose
 * scale and offset are not DP's limits (or identity) normaliser of its input_stats, then writes
 * the checkpoint as the trainers do. */
#include "policy/exchange.h"
#include "policy/exchange_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "policy/diffusion.h"
#include "policy/ibc.h"
#include "policy/policy.h"
#include "util/error.h"
#include "util/parse.h"

#define NORM_PREFIX "normalizer.params_dict."

/* A loaded DP or IBC model; obs is the part both share (parameters, normaliser, configuration). */
typedef struct {
    int is_ibc;
    dp_model dp;
    ibc_model ibc;
    dp_model *obs;
} dp_or_ibc;

static int load_model(const char *path, const char *kind, dp_or_ibc *m, dp_weights weights)
{
    memset(m, 0, sizeof *m);
    if (strcmp(kind, "diffusion") == 0) {
        if (dp_checkpoint_load(path, &m->dp, weights) < 0) return -1;
        m->obs = &m->dp;
    } else if (strcmp(kind, "ibc") == 0) {
        if (ibc_checkpoint_load(path, &m->ibc, weights) < 0) return -1;
        m->is_ibc = 1;
        m->obs = &m->ibc.obs;
    } else {
        return error_set("%s: a checkpoint of kind '%s': DP's names are for diffusion and ibc checkpoints", path, kind);
    }
    return 0;
}

static void free_model(dp_or_ibc *m)
{
    if (!m->obs) return;
    if (m->is_ibc) ibc_model_free(&m->ibc);
    else dp_model_free(&m->dp);
    m->obs = NULL;
}

/* robomimic's VisualCore registers its backbone and pool twice, as backbone/pool and as
 * nets.0/nets.1 of its Sequential; PyTorch's state_dict holds both names, our checkpoints one
 * copy. to_alias: "..._image.backbone.X" -> "..._image.nets.0.X" (pool: nets.1) into out; else
 * the other way. 0 when the name has no counterpart. */
static int visualcore_alias(const char *name, int to_alias, char *out, size_t size)
{
    static const char *const primary[2] = {"_image.backbone.", "_image.pool."}, *const alias[2] = {"_image.nets.0.", "_image.nets.1."};
    if (strncmp(name, "obs_encoder.obs_nets.", 21) != 0) return 0;
    for (int i = 0; i < 2; i++) {
        const char *from = to_alias ? primary[i] : alias[i], *to = to_alias ? alias[i] : primary[i];
        const char *at = strstr(name, from);
        if (at) {
            snprintf(out, size, "%.*s%s%s", (int)(at - name), name, to, at + strlen(from));
            return 1;
        }
    }
    return 0;
}

/* DP's normaliser key of our feature name. */
static const char *dp_key(const char *feature)
{
    return strncmp(feature, "observation.", 12) == 0 ? feature + 12 : feature;
}

/* One normaliser entry: where its four tensors are in the model (NULL min/max: a camera). */
typedef struct {
    char key[DP_NAME_MAX + 16];
    const char *feature;
    float *min, *max, *scale, *offset;
    int n;
} norm_entry;

static int norm_entries(dp_model *m, norm_entry *e)
{
    const dp_config *cfg = &m->cfg;
    int n = 0;
    e[n] = (norm_entry){.feature = "action", .min = m->norm.action_min, .max = m->norm.action_max,
                        .scale = m->norm.action_scale, .offset = m->norm.action_offset, .n = cfg->action_dim};
    snprintf(e[n].key, sizeof e[n].key, "action");
    n++;
    for (int j = 0, at = 0; j < cfg->n_lowdim; at += cfg->lowdim_dims[j], j++, n++) {
        e[n] = (norm_entry){.feature = cfg->lowdim_names[j], .min = m->norm.lowdim_min + at, .max = m->norm.lowdim_max + at,
                            .scale = m->norm.lowdim_scale + at, .offset = m->norm.lowdim_offset + at, .n = cfg->lowdim_dims[j]};
        snprintf(e[n].key, sizeof e[n].key, "%s", dp_key(cfg->lowdim_names[j]));
    }
    for (int k = 0; k < cfg->n_cameras; k++, n++) {
        e[n] = (norm_entry){.feature = cfg->camera_names[k], .n = 1};
        snprintf(e[n].key, sizeof e[n].key, "%s_image", cfg->camera_names[k]);
    }
    return n;
}

static int add(safetensors_writer *w, const char *key, const char *what, const float *v, int n)
{
    char name[4096];
    snprintf(name, sizeof name, NORM_PREFIX "%s.%s", key, what);
    return safetensors_writer_add_f32(w, name, v, 1, (int64_t[]){n});
}

int exchange_export_dp(const char *checkpoint, const char *out)
{
    char kind[32];
    if (policy_checkpoint_kind(checkpoint, kind, sizeof kind) < 0) return -1;
    dp_or_ibc m;
    if (load_model(checkpoint, kind, &m, DP_WEIGHTS_EMA) < 0) return -1;
    checkpoint_reader *r = NULL;
    safetensors_writer *w = NULL;
    json_t *config = NULL;
    int rc = -1;
    if (!(r = checkpoint_open(checkpoint)) || !(config = exchange_config_of_checkpoint(r)) || !(w = safetensors_writer_new()))
        goto done;
    const nn_params *ps = m.obs->ps;
    for (int i = 0; i < ps->count; i++) {
        const nn_tensor *t = ps->list[i].t;
        int64_t shape[NN_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (safetensors_writer_add_f32(w, t->name, ps->data + ps->list[i].offset, t->ndim, shape) < 0) goto done;
    }
    for (int i = 0; i < ps->count; i++) {   /* the aliases after every primary name */
        const nn_tensor *t = ps->list[i].t;
        char alias[512];
        int64_t shape[NN_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (visualcore_alias(t->name, 1, alias, sizeof alias) &&
            safetensors_writer_add_f32(w, alias, ps->data + ps->list[i].offset, t->ndim, shape) < 0)
            goto done;
    }
    norm_entry e[DP_MAX_LOWDIM + DP_MAX_CAMERAS + 1];
    int n = norm_entries(m.obs, e);
    const float image[6] = {2.0f, -1.0f, 0.0f, 1.0f, 0.5f, 0.28867513f};   /* scale offset min max mean std */
    for (int i = 0; i < n; i++) {
        int cam = e[i].min == NULL;
        if (add(w, e[i].key, "scale", cam ? image : e[i].scale, e[i].n) < 0 ||
            add(w, e[i].key, "offset", cam ? image + 1 : e[i].offset, e[i].n) < 0 ||
            add(w, e[i].key, "input_stats.min", cam ? image + 2 : e[i].min, e[i].n) < 0 ||
            add(w, e[i].key, "input_stats.max", cam ? image + 3 : e[i].max, e[i].n) < 0 ||
            (cam && (add(w, e[i].key, "input_stats.mean", image + 4, 1) < 0 ||
                     add(w, e[i].key, "input_stats.std", image + 5, 1) < 0)))
            goto done;
    }
    if (exchange_write_metadata(w, config, r) < 0) goto done;
    rc = safetensors_writer_save(w, out);
    w = NULL;
done:
    safetensors_writer_free(w);
    json_decref(config);
    if (r) checkpoint_close(r);
    free_model(&m);
    return rc;
}

/* ---------------------------------------------------------------- import */

/* The file's normaliser tensor key.what as n floats (malloc'd into *out). */
static int norm_tensor(const safetensors_file *f, const char *key, const char *what, int n, float **out)
{
    char name[4096];
    snprintf(name, sizeof name, NORM_PREFIX "%s.%s", key, what);
    *out = NULL;
    if (!safetensors_find(f, name)) return error_set("%s: no tensor '%s'", f->name, name);
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    if (safetensors_get_f32(f, name, out, &ndim, shape) < 0) return -1;
    int64_t size = 1;
    for (int d = 0; d < ndim; d++) size *= shape[d];
    if (size != n) {
        free(*out);
        *out = NULL;
        return error_set("%s: tensor '%s' has %lld values, the configuration gives %d", f->name, name, (long long)size, n);
    }
    return 0;
}

/* Pass 1: a checkpoint at tmp with the file's configuration, limits and tensors as they are. */
static int write_raw(const safetensors_file *f, json_t *map, const char *kind, const char *tmp, const dp_config *cfg)
{
    checkpoint_writer *w = checkpoint_create(tmp);
    if (!w) return -1;
    nn_params *ps = nn_params_new();
    int rc = ps && checkpoint_write_root_attr(w, "policy", kind) == 0 ? 0 : -1;
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value) if (rc == 0 && json_is_string(value)) rc = checkpoint_write_config(w, key, json_string_value(value));
    for (int j = -1; rc == 0 && j < cfg->n_lowdim; j++) {
        const char *feature = j < 0 ? "action" : cfg->lowdim_names[j];
        int n = j < 0 ? cfg->action_dim : cfg->lowdim_dims[j];
        float *lo = NULL, *hi = NULL;
        rc = norm_tensor(f, dp_key(feature), "input_stats.min", n, &lo) < 0 || norm_tensor(f, dp_key(feature), "input_stats.max", n, &hi) < 0 ||
                     checkpoint_write_stat(w, feature, "min", lo, 1, &n) < 0 || checkpoint_write_stat(w, feature, "max", hi, 1, &n) < 0
                 ? -1 : 0;
        free(lo);
        free(hi);
    }
    for (size_t i = 0; rc == 0 && i < f->n_tensors; i++) {
        const safetensors_tensor *t = &f->tensors[i];
        char primary[512];
        if (strncmp(t->name, NORM_PREFIX, strlen(NORM_PREFIX)) == 0) continue;
        if (visualcore_alias(t->name, 0, primary, sizeof primary) && safetensors_find(f, primary)) continue;   /* checked later */
        if (t->ndim > NN_MAX_DIMS) rc = error_set("%s: tensor '%s' has %d dimensions", f->name, t->name, t->ndim);
        int shape[NN_MAX_DIMS];
        for (int d = 0; rc == 0 && d < t->ndim; d++) {
            if (t->shape[d] > (1 << 30)) rc = error_set("%s: tensor '%s' is too large", f->name, t->name);
            shape[d] = (int)t->shape[d];
        }
        if (rc == 0 && !nn_param(ps, t->name, 0, t->ndim, shape)) rc = -1;
    }
    for (int i = 0; rc == 0 && i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        float *v;
        int ndim;
        int64_t shape[SAFETENSORS_MAX_DIMS];
        if (safetensors_get_f32(f, t->name, &v, &ndim, shape) < 0) rc = -1;
        else memcpy(ps->data + ps->list[i].offset, v, sizeof(float) * t->size), free(v);
    }
    if (rc == 0) rc = checkpoint_write_params(w, ps);
    if (ps) nn_params_free(ps);
    if (rc < 0) {
        checkpoint_abort(w);
        return -1;
    }
    return checkpoint_commit(w);
}

/* The file's scale and offset against the model's normaliser of the same limits. */
static int check_normalizer(const safetensors_file *f, dp_model *m)
{
    norm_entry e[DP_MAX_LOWDIM + DP_MAX_CAMERAS + 1];
    int n = norm_entries(m, e);
    const float image[2] = {2.0f, -1.0f};
    for (int i = 0; i < n; i++)
        for (int s = 0; s < 2; s++) {
            const char *what = s ? "offset" : "scale";
            float *v;
            if (norm_tensor(f, e[i].key, what, e[i].n, &v) < 0) return -1;
            for (int d = 0; d < e[i].n; d++) {
                float want = e[i].min ? (s ? e[i].offset[d] : e[i].scale[d]) : image[s];
                if (!(fabsf(v[d] - want) <= 1e-5f * (1.0f + fabsf(want)))) {
                    error_set("%s: " NORM_PREFIX "%s.%s[%d] = %g, but %s's normaliser of these limits gives %g (DP's "
                              "'limits' mode to [-1, 1]%s)", f->name, e[i].key, what, d, v[d], e[i].feature, want,
                              e[i].min ? ", identity or maxabs as the configuration's lowdim_norm and action_norm say" : ": images [0,1] -> [-1,1]");
                    free(v);
                    return -1;
                }
            }
            free(v);
        }
    return 0;
}

static const char *map_string(json_t *map, const char *key)
{
    json_t *v = json_object_get(map, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* From the configuration: the action size and the low-dim keys and sizes, whose limits a
 * checkpoint holds (the kind's loader checks the rest). */
static int limits_of_config(const safetensors_file *f, json_t *map, dp_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const char *a = map_string(map, "action_dim"), *keys = map_string(map, "lowdim_keys"), *dims = map_string(map, "lowdim_dims");
    long x;
    if (!a || parse_long(a, 1, 1 << 20, &x) < 0) return error_set("%s: ilt.config has no action_dim", f->name);
    cfg->action_dim = (int)x;
    if (!keys || !*keys) return 0;
    size_t nk = 0, nd = 0;
    char **k = strlist_split(keys, ',', &nk), **d = dims ? strlist_split(dims, ',', &nd) : NULL;
    int rc = k && nk == nd && nk <= DP_MAX_LOWDIM ? 0 : error_set("%s: ilt.config: lowdim_keys '%s' and lowdim_dims '%s' do not match", f->name, keys, dims ? dims : "");
    for (size_t i = 0; rc == 0 && i < nk; i++) {
        if (strlen(k[i]) >= DP_NAME_MAX || parse_long(d[i], 1, 1 << 20, &x) < 0)
            rc = error_set("%s: ilt.config: low-dim key '%s' of size '%s'", f->name, k[i], d[i]);
        else snprintf(cfg->lowdim_names[i], DP_NAME_MAX, "%s", k[i]), cfg->lowdim_dims[i] = (int)x;
    }
    if (rc == 0) cfg->n_lowdim = (int)nk;
    strlist_free(k);
    strlist_free(d);
    return rc;
}

int exchange_import_dp(const safetensors_file *f, json_t *map, const char *checkpoint)
{
    json_t *p = json_object_get(map, "policy");
    const char *kind = json_is_string(p) ? json_string_value(p) : "";
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.import.%ld.h5", checkpoint, (long)getpid());
    dp_or_ibc m = {0};
    int rc = -1;
    dp_config cfg;
    if (limits_of_config(f, map, &cfg) < 0) return -1;
    if (write_raw(f, map, kind, tmp, &cfg) < 0) goto done;
    if (load_model(tmp, kind, &m, DP_WEIGHTS_TRAINED) < 0) {   /* the message names the file converted */
        char msg[2048];
        size_t n = strlen(tmp);
        snprintf(msg, sizeof msg, "%s", strncmp(error_get(), tmp, n) == 0 && error_get()[n] == ':' ? error_get() + n + 2 : error_get());
        error_set("%s: %s", f->name, msg);
        goto done;
    }
    /* every tensor of the file is one of the model's */
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        char primary[512];
        if (strncmp(name, NORM_PREFIX, strlen(NORM_PREFIX)) == 0) continue;
        if (visualcore_alias(name, 0, primary, sizeof primary) && nn_param_find(m.obs->ps, primary)) {
            /* an alias: the same values as its primary name's */
            const nn_tensor *t = nn_param_find(m.obs->ps, primary);
            const nn_param_info *info = nn_param_info_of(m.obs->ps, t);
            float *v;
            int ndim, same;
            int64_t shape[SAFETENSORS_MAX_DIMS];
            if (safetensors_get_f32(f, name, &v, &ndim, shape) < 0) goto done;
            same = ndim == t->ndim;
            for (int d = 0; same && d < ndim; d++) same = shape[d] == t->shape[d];
            same = same && memcmp(v, m.obs->ps->data + info->offset, sizeof(float) * t->size) == 0;
            free(v);
            if (!same) {
                error_set("%s: tensor '%s' differs from '%s' (robomimic's VisualCore holds one module under both names)",
                          f->name, name, primary);
                goto done;
            }
            continue;
        }
        if (!nn_param_find(m.obs->ps, name)) {
            error_set("%s: unexpected tensor '%s' (not a parameter of this %s configuration)", f->name, name, kind);
            goto done;
        }
    }
    if (check_normalizer(f, m.obs) < 0) goto done;
    const char *step_text = safetensors_metadata(f, "ilt.step");
    checkpoint_writer *w = checkpoint_create(checkpoint);
    if (!w) goto done;
    rc = m.is_ibc ? ibc_checkpoint_write(w, &m.ibc) : dp_checkpoint_write(w, &m.dp);
    if (rc == 0) rc = checkpoint_write_step(w, step_text ? strtol(step_text, NULL, 10) : 0);
    /* what the model does not write itself: the run's options and the control rate */
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value) if (rc == 0 && json_is_string(value) &&
                                             (strncmp(key, "train.", 6) == 0 || strcmp(key, "control_hz") == 0))
        rc = checkpoint_write_config(w, key, json_string_value(value));
    if (rc < 0) checkpoint_abort(w);
    else rc = checkpoint_commit(w);
done:
    unlink(tmp);
    free_model(&m);
    return rc;
}
