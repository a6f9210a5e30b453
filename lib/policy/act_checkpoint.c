/* act_checkpoint.c — ACT/CNNMLP checkpoints through io/checkpoint.h: parameters with the
 * reference's names, the model configuration as /config attributes, the normalisation actually
 * used under /stats, optionally the AdamW state, and the root attribute "policy" ("act" or
 * "cnnmlp") that the policy registry dispatches on. Written atomically by io/checkpoint.c
 * (temporary file, renamed over the target on commit). */
#include "policy/act.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "util/error.h"
#include "util/parse.h"

static const char *norm_name(mod_norm_kind k)
{
    return k == MOD_NORM_BATCH ? "batch" : k == MOD_NORM_FROZEN_BATCH ? "frozen" : "group";
}

static int write_model(checkpoint_writer *w, const act_model *m)
{
    const act_config *cfg = &m->cfg;
    char cameras[ACT_MAX_CAMERAS * (ACT_NAME_MAX + 1)] = "";
    for (int k = 0; k < cfg->n_cameras; k++)
        snprintf(cameras + strlen(cameras), sizeof cameras - strlen(cameras), "%s%s", k ? "," : "", cfg->camera_names[k]);
    if (checkpoint_write_configf(w, "policy", "%s", cfg->kind == ACT_KIND_CNNMLP ? "cnnmlp" : "act") < 0 ||
        checkpoint_write_configf(w, "state_dim", "%d", cfg->state_dim) < 0 || checkpoint_write_configf(w, "action_dim", "%d", cfg->action_dim) < 0 ||
        checkpoint_write_configf(w, "chunk", "%d", cfg->chunk) < 0 || checkpoint_write_configf(w, "hidden_dim", "%d", cfg->hidden_dim) < 0 ||
        checkpoint_write_configf(w, "dim_feedforward", "%d", cfg->dim_feedforward) < 0 || checkpoint_write_configf(w, "enc_layers", "%d", cfg->enc_layers) < 0 ||
        checkpoint_write_configf(w, "dec_layers", "%d", cfg->dec_layers) < 0 || checkpoint_write_configf(w, "nheads", "%d", cfg->nheads) < 0 ||
        checkpoint_write_configf(w, "latent_dim", "%d", cfg->latent_dim) < 0 || checkpoint_write_configf(w, "dropout", "%.9g", cfg->dropout) < 0 ||
        checkpoint_write_configf(w, "kl_weight", "%.9g", cfg->kl_weight) < 0 || checkpoint_write_configf(w, "cameras", "%s", cameras) < 0 ||
        checkpoint_write_configf(w, "height", "%d", cfg->height) < 0 || checkpoint_write_configf(w, "width", "%d", cfg->width) < 0 ||
        checkpoint_write_configf(w, "backbone_norm", "%s", norm_name(cfg->backbone_norm)) < 0 ||
        checkpoint_write_configf(w, "image_norm", "%s", cfg->image_norm == ACT_IMAGE_NORM_DATASET ? "dataset" : "imagenet") < 0)
        return -1;
    if (checkpoint_write_stat(w, "observation.state", "mean", m->norm.state_mean, 1, (const int[]){cfg->state_dim}) < 0 ||
        checkpoint_write_stat(w, "observation.state", "std", m->norm.state_std, 1, (const int[]){cfg->state_dim}) < 0 ||
        checkpoint_write_stat(w, "action", "mean", m->norm.action_mean, 1, (const int[]){cfg->action_dim}) < 0 ||
        checkpoint_write_stat(w, "action", "std", m->norm.action_std, 1, (const int[]){cfg->action_dim}) < 0)
        return -1;
    for (int k = 0; k < cfg->n_cameras; k++) {
        char feature[128];
        snprintf(feature, sizeof feature, "observation.images.%s", cfg->camera_names[k]);
        if (checkpoint_write_stat(w, feature, "mean", m->norm.image_mean[k], 3, (const int[]){3, 1, 1}) < 0 ||
            checkpoint_write_stat(w, feature, "std", m->norm.image_std[k], 3, (const int[]){3, 1, 1}) < 0)
            return -1;
    }
    return checkpoint_write_params(w, m->ps);
}

int act_checkpoint_write(struct checkpoint_writer *w, const act_model *m)
{
    if (checkpoint_write_root_attr(w, "policy", m->cfg.kind == ACT_KIND_CNNMLP ? "cnnmlp" : "act") < 0) return -1;
    return write_model(w, m);
}

int act_checkpoint_save(const char *path, const act_model *m, const struct nn_adamw *opt, long step,
                        const char *const *extra)
{
    checkpoint_writer *w = checkpoint_create(path);
    if (!w) return -1;
    int rc = act_checkpoint_write(w, m);
    if (rc == 0 && opt) rc = checkpoint_write_optim(w, opt);
    if (rc == 0) rc = checkpoint_write_step(w, step);
    for (int i = 0; rc == 0 && extra && extra[i]; i += 2) rc = checkpoint_write_config(w, extra[i], extra[i + 1]);
    if (rc < 0) {
        checkpoint_abort(w);
        return -1;
    }
    return checkpoint_commit(w);
}

/* ---------------------------------------------------------------- loading */

/* An integer configuration entry in [lo, hi]: a damaged file fails here, naming the field,
 * before any model of that size is allocated. */
static int config_int(checkpoint_reader *r, const char *path, const char *key, int lo, int hi, int *out)
{
    const char *v = checkpoint_config(r, key);
    char *end;
    if (!v) return error_set("%s: configuration has no '%s'", path, key);
    long x = strtol(v, &end, 10);
    if (*end || end == v) return error_set("%s: configuration '%s' = '%s' is not an integer", path, key, v);
    if (x < lo || x > hi) return error_set("%s: configuration '%s' = %ld is outside %d..%d", path, key, x, lo, hi);
    *out = (int)x;
    return 0;
}

/* A finite number in [lo, hi). */
static int config_float(checkpoint_reader *r, const char *path, const char *key, float lo, float hi, float *out)
{
    const char *v = checkpoint_config(r, key);
    char *end;
    if (!v) return error_set("%s: configuration has no '%s'", path, key);
    *out = strtof(v, &end);
    if (*end || end == v) return error_set("%s: configuration '%s' = '%s' is not a number", path, key, v);
    if (!(*out >= lo && *out < hi))
        return error_set("%s: configuration '%s' = %s is outside [%g, %g)", path, key, v, lo, hi);
    return 0;
}

static int read_vector(checkpoint_reader *r, const char *path, const char *feature, const char *name, float *out, int n)
{
    float *data = NULL;
    int ndim = 0, shape[8];
    if (checkpoint_read_stat(r, feature, name, &data, &ndim, shape) < 0) return -1;
    long count = 1;
    for (int i = 0; i < ndim; i++) count *= shape[i];
    if (count != n) {
        free(data);
        return error_set("%s: /stats/%s/%s has %ld values, %d expected", path, feature, name, count, n);
    }
    for (int i = 0; i < n && strcmp(name, "std") == 0; i++)
        if (!(data[i] > 0)) {
            error_set("%s: /stats/%s/std[%d] is %g, a standard deviation must be positive", path, feature, i, data[i]);
            free(data);
            return -1;
        }
    memcpy(out, data, sizeof(float) * n);
    free(data);
    return 0;
}

static int read_config(checkpoint_reader *r, const char *path, act_config *cfg)
{
    act_config_default(cfg);
    const char *kind = checkpoint_config(r, "policy");
    if (!kind) return error_set("%s: configuration has no 'policy'", path);
    if (strcmp(kind, "act") == 0) cfg->kind = ACT_KIND_ACT;
    else if (strcmp(kind, "cnnmlp") == 0) cfg->kind = ACT_KIND_CNNMLP;
    else return error_set("%s: policy '%s' is not act or cnnmlp", path, kind);
    const int dim_max = 1 << 16, image_max = 1 << 14;
    if (config_int(r, path, "state_dim", 1, dim_max, &cfg->state_dim) < 0 ||
        config_int(r, path, "action_dim", 1, dim_max, &cfg->action_dim) < 0 ||
        config_int(r, path, "chunk", 1, dim_max, &cfg->chunk) < 0 ||
        config_int(r, path, "hidden_dim", 1, dim_max, &cfg->hidden_dim) < 0 ||
        config_int(r, path, "dim_feedforward", 1, dim_max, &cfg->dim_feedforward) < 0 ||
        config_int(r, path, "enc_layers", 1, ACT_MAX_LAYERS, &cfg->enc_layers) < 0 ||
        config_int(r, path, "dec_layers", 1, ACT_MAX_LAYERS, &cfg->dec_layers) < 0 ||
        config_int(r, path, "nheads", 1, dim_max, &cfg->nheads) < 0 ||
        config_int(r, path, "latent_dim", 1, dim_max, &cfg->latent_dim) < 0 ||
        config_float(r, path, "dropout", 0, 1, &cfg->dropout) < 0 ||
        config_float(r, path, "kl_weight", 0, INFINITY, &cfg->kl_weight) < 0 ||
        config_int(r, path, "height", 1, image_max, &cfg->height) < 0 ||
        config_int(r, path, "width", 1, image_max, &cfg->width) < 0)
        return -1;
    const char *cams = checkpoint_config(r, "cameras"), *bn = checkpoint_config(r, "backbone_norm"),
               *in = checkpoint_config(r, "image_norm");
    if (!cams || !bn || !in) return error_set("%s: configuration lacks cameras, backbone_norm or image_norm", path);
    size_t n = 0;
    char **list = strlist_split(cams, ',', &n);
    if (!list || n < 1 || n > ACT_MAX_CAMERAS) {
        strlist_free(list);
        return error_set("%s: bad camera list '%s'", path, cams);
    }
    cfg->n_cameras = (int)n;
    for (size_t k = 0; k < n; k++) snprintf(cfg->camera_names[k], ACT_NAME_MAX, "%s", list[k]);
    strlist_free(list);
    int norm = mod_norm_kind_parse(bn);
    if (norm < 0) return error_set("%s: unknown backbone_norm '%s'", path, bn);
    cfg->backbone_norm = (mod_norm_kind)norm;
    if (strcmp(in, "dataset") != 0 && strcmp(in, "imagenet") != 0)
        return error_set("%s: configuration 'image_norm' = '%s' is not dataset or imagenet", path, in);
    cfg->image_norm = strcmp(in, "dataset") == 0 ? ACT_IMAGE_NORM_DATASET : ACT_IMAGE_NORM_IMAGENET;
    char *root_kind = checkpoint_root_attr(r, "policy");
    int same = root_kind && strcmp(root_kind, kind) == 0;
    if (!same) error_set("%s: root attribute 'policy' is %s%s%s, the configuration says '%s'", path,
                         root_kind ? "'" : "", root_kind ? root_kind : "missing", root_kind ? "'" : "", kind);
    free(root_kind);
    return same ? 0 : -1;
}

static int load(const char *path, act_model *m, int inference)
{
    memset(m, 0, sizeof *m);
    checkpoint_reader *r = checkpoint_open(path);
    if (!r) return -1;
    act_config cfg;
    int rc = read_config(r, path, &cfg);
    if (rc == 0) rc = checkpoint_config_check_required(r);
    if (rc == 0) rc = act_model_init(m, &cfg, NULL);
    if (rc == 0) rc = inference ? checkpoint_read_inference_params(r, m->ps) : checkpoint_read_params(r, m->ps);
    if (rc == 0)
        rc = read_vector(r, path, "observation.state", "mean", m->norm.state_mean, cfg.state_dim) < 0 ||
                     read_vector(r, path, "observation.state", "std", m->norm.state_std, cfg.state_dim) < 0 ||
                     read_vector(r, path, "action", "mean", m->norm.action_mean, cfg.action_dim) < 0 ||
                     read_vector(r, path, "action", "std", m->norm.action_std, cfg.action_dim) < 0
                 ? -1 : 0;
    for (int k = 0; rc == 0 && k < cfg.n_cameras; k++) {
        char feature[128];
        snprintf(feature, sizeof feature, "observation.images.%s", cfg.camera_names[k]);
        if (read_vector(r, path, feature, "mean", m->norm.image_mean[k], 3) < 0 ||
            read_vector(r, path, feature, "std", m->norm.image_std[k], 3) < 0)
            rc = -1;
    }
    checkpoint_close(r);
    if (rc < 0) act_model_free(m);
    return rc;
}

int act_checkpoint_load(const char *path, act_model *m) { return load(path, m, 0); }
int act_checkpoint_load_inference(const char *path, act_model *m) { return load(path, m, 1); }
