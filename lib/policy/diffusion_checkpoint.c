/* diffusion_checkpoint.c — Diffusion Policy checkpoints through io/checkpoint.h: the trained
 * weights under /params with DP's names, the EMA weights under /ema (what DP evaluates), the
 * normaliser limits under /stats/<feature>/{min,max}, the configuration as /config attributes,
 * optionally the AdamW state, and the root attribute policy = "diffusion". */
#include "policy/diffusion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "util/error.h"
#include "util/parse.h"

/* "a,b,c" of the camera names, low-dim names, low-dim sizes or UNet widths. */
static void join_names(char *out, size_t size, const char (*names)[DP_NAME_MAX], int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "", names[i]);
}

static void join_ints(char *out, size_t size, const int *v, int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) snprintf(out + strlen(out), size - strlen(out), "%s%d", i ? "," : "", v[i]);
}

/* The observation side's configuration: encoder, cameras, sizes, low-dim keys, action size, To. */
static int write_encoder_config(checkpoint_writer *w, const dp_config *cfg)
{
    char cameras[DP_MAX_CAMERAS * DP_NAME_MAX], keys[DP_MAX_LOWDIM * DP_NAME_MAX], dims[DP_MAX_LOWDIM * 12];
    join_names(cameras, sizeof cameras, cfg->camera_names, cfg->n_cameras);
    join_names(keys, sizeof keys, cfg->lowdim_names, cfg->n_lowdim);
    join_ints(dims, sizeof dims, cfg->lowdim_dims, cfg->n_lowdim);
    char norms[DP_MAX_LOWDIM * 10] = "";
    for (int j = 0; j < cfg->n_lowdim; j++)
        snprintf(norms + strlen(norms), sizeof norms - strlen(norms), "%s%s", j ? "," : "", dp_norm_name(cfg->lowdim_norm[j]));
    /* keys written only when not DP's defaults, and then required: a reader must know them */
    const int eps = cfg->lowdim_range_eps != DP_RANGE_EPS, action_norm = cfg->action_norm != DP_NORM_LIMITS;
    char requires[64] = "";
    if (eps) strcat(requires, "lowdim_range_eps");
    if (action_norm) strcat(strcat(requires, eps ? "," : ""), "action_norm");
    return checkpoint_write_configf(w, "obs_encoder", "%s", dp_encoder_name(cfg->encoder)) < 0 ||
                   checkpoint_write_configf(w, "cameras", "%s", cameras) < 0 ||
                   checkpoint_write_configf(w, "height", "%d", cfg->height) < 0 ||
                   checkpoint_write_configf(w, "width", "%d", cfg->width) < 0 ||
                   checkpoint_write_configf(w, "crop_height", "%d", cfg->crop_height) < 0 ||
                   checkpoint_write_configf(w, "crop_width", "%d", cfg->crop_width) < 0 ||
                   checkpoint_write_configf(w, "num_keypoints", "%d", cfg->num_keypoints) < 0 ||
                   checkpoint_write_configf(w, "feature_dim", "%d", cfg->feature_dim) < 0 ||
                   checkpoint_write_configf(w, "lowdim_keys", "%s", keys) < 0 ||
                   checkpoint_write_configf(w, "lowdim_dims", "%s", dims) < 0 ||
                   checkpoint_write_configf(w, "lowdim_norm", "%s", norms) < 0 ||
                   checkpoint_write_configf(w, "action_dim", "%d", cfg->action_dim) < 0 ||
                   checkpoint_write_configf(w, "n_obs_steps", "%d", cfg->n_obs_steps) < 0 ||
                   (eps && checkpoint_write_configf(w, "lowdim_range_eps", "%.9g", (double)cfg->lowdim_range_eps) < 0) ||
                   (action_norm && checkpoint_write_configf(w, "action_norm", "%s", dp_norm_name(cfg->action_norm)) < 0) ||
                   (requires[0] && checkpoint_write_config(w, CHECKPOINT_REQUIRES, requires) < 0)
               ? -1
               : 0;
}

static int write_config(checkpoint_writer *w, const dp_config *cfg)
{
    char down[MOD_UNET_MAX_LEVELS * 12];
    join_ints(down, sizeof down, cfg->down_dims, cfg->n_levels);
    return checkpoint_write_configf(w, "policy", "diffusion") < 0 || write_encoder_config(w, cfg) < 0 ||
                   checkpoint_write_configf(w, "horizon", "%d", cfg->horizon) < 0 ||
                   checkpoint_write_configf(w, "n_action_steps", "%d", cfg->n_action_steps) < 0 ||
                   checkpoint_write_configf(w, "net", "%s", dp_net_name(cfg->net)) < 0 ||
                   checkpoint_write_configf(w, "down_dims", "%s", down) < 0 ||
                   checkpoint_write_configf(w, "kernel_size", "%d", cfg->kernel_size) < 0 ||
                   checkpoint_write_configf(w, "n_groups", "%d", cfg->n_groups) < 0 ||
                   checkpoint_write_configf(w, "diffusion_step_embed_dim", "%d", cfg->step_embed_dim) < 0 ||
                   checkpoint_write_configf(w, "cond_predict_scale", "%d", cfg->cond_predict_scale) < 0 ||
                   checkpoint_write_configf(w, "n_layer", "%d", cfg->n_layer) < 0 ||
                   checkpoint_write_configf(w, "n_head", "%d", cfg->n_head) < 0 ||
                   checkpoint_write_configf(w, "n_emb", "%d", cfg->n_emb) < 0 ||
                   checkpoint_write_configf(w, "p_drop_emb", "%.9g", cfg->p_drop_emb) < 0 ||
                   checkpoint_write_configf(w, "p_drop_attn", "%.9g", cfg->p_drop_attn) < 0 ||
                   checkpoint_write_configf(w, "prediction_type", "%s", dp_prediction_name(cfg->prediction)) < 0 ||
                   checkpoint_write_configf(w, "num_train_timesteps", "%d", cfg->train_steps) < 0 ||
                   checkpoint_write_configf(w, "sampler", "%s", dp_sampler_name(cfg->sampler)) < 0 ||
                   checkpoint_write_configf(w, "num_inference_steps", "%d", cfg->inference_steps) < 0
               ? -1
               : 0;
}

static int write_limits(checkpoint_writer *w, const dp_model *m)
{
    const dp_config *cfg = &m->cfg;
    if (checkpoint_write_stat(w, "action", "min", m->norm.action_min, 1, (const int[]){cfg->action_dim}) < 0 ||
        checkpoint_write_stat(w, "action", "max", m->norm.action_max, 1, (const int[]){cfg->action_dim}) < 0)
        return -1;
    for (int j = 0, offset = 0; j < cfg->n_lowdim; offset += cfg->lowdim_dims[j], j++)
        if (checkpoint_write_stat(w, cfg->lowdim_names[j], "min", m->norm.lowdim_min + offset, 1, &cfg->lowdim_dims[j]) < 0 ||
            checkpoint_write_stat(w, cfg->lowdim_names[j], "max", m->norm.lowdim_max + offset, 1, &cfg->lowdim_dims[j]) < 0)
            return -1;
    return 0;
}

int dp_checkpoint_write(struct checkpoint_writer *w, const dp_model *m)
{
    if (checkpoint_write_root_attr(w, "policy", "diffusion") < 0 || write_config(w, &m->cfg) < 0 ||
        write_limits(w, m) < 0)
        return -1;
    return checkpoint_write_params(w, m->ps);
}

int dp_checkpoint_write_encoder(struct checkpoint_writer *w, const dp_model *m)
{
    return write_encoder_config(w, &m->cfg) < 0 || write_limits(w, m) < 0 ? -1 : 0;
}

int dp_checkpoint_save(const char *path, const dp_model *m, const struct nn_ema *ema, const struct nn_adamw *opt,
                       long step, const char *const *extra)
{
    if (ema && (ema->ps != m->ps || ema->total != m->ps->total))
        return error_set("%s: the EMA does not belong to this model's parameters", path);
    checkpoint_writer *w = checkpoint_create(path);
    if (!w) return -1;
    int rc = dp_checkpoint_write(w, m);
    if (rc == 0 && ema) rc = checkpoint_write_ema(w, ema);
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

/* A comma list of at most max entries (an empty value is an empty list). */
static char **config_list(checkpoint_reader *r, const char *path, const char *key, int max, int *n)
{
    const char *v = checkpoint_config(r, key);
    if (!v) {
        error_set("%s: configuration has no '%s'", path, key);
        return NULL;
    }
    size_t count = 0;
    char **list = strlist_split(v, ',', &count);
    if (!list) {
        error_set("out of memory");
        return NULL;
    }
    if (!*v) count = 0;
    if ((int)count > max) {
        strlist_free(list);
        error_set("%s: configuration '%s' = '%s' has more than %d entries", path, key, v, max);
        return NULL;
    }
    *n = (int)count;
    return list;
}

static int config_enum(checkpoint_reader *r, const char *path, const char *key, int (*parse)(const char *), int *out)
{
    const char *v = checkpoint_config(r, key);
    if (!v) return error_set("%s: configuration has no '%s'", path, key);
    if ((*out = parse(v)) < 0) return error_set("%s: configuration '%s' = '%s' is not a known value", path, key, v);
    return 0;
}

static int read_names(checkpoint_reader *r, const char *path, const char *key, char (*names)[DP_NAME_MAX], int max, int *n)
{
    char **list = config_list(r, path, key, max, n);
    if (!list) return -1;
    int rc = 0;
    for (int i = 0; i < *n; i++) {
        if (strlen(list[i]) >= DP_NAME_MAX) rc = error_set("%s: configuration '%s': name '%s' is too long", path, key, list[i]);
        else snprintf(names[i], DP_NAME_MAX, "%s", list[i]);
    }
    strlist_free(list);
    return rc;
}

static int read_ints(checkpoint_reader *r, const char *path, const char *key, int *v, int max, int *n)
{
    char **list = config_list(r, path, key, max, n);
    if (!list) return -1;
    int rc = 0;
    for (int i = 0; i < *n && rc == 0; i++) {
        char *end;
        long x = strtol(list[i], &end, 10);
        if (*end || end == list[i] || x < 1 || x > 1 << 20)
            rc = error_set("%s: configuration '%s': '%s' is not a positive integer", path, key, list[i]);
        v[i] = (int)x;
    }
    strlist_free(list);
    return rc;
}

/* The keys write_encoder_config writes, into cfg (its other fields as they are). */
static int read_encoder_config(checkpoint_reader *r, const char *path, dp_config *cfg)
{
    int encoder = 0, n_dims = 0;
    if (config_enum(r, path, "obs_encoder", dp_encoder_parse, &encoder) < 0) return -1;
    cfg->encoder = (dp_encoder_kind)encoder;
    if (read_names(r, path, "cameras", cfg->camera_names, DP_MAX_CAMERAS, &cfg->n_cameras) < 0 ||
        read_names(r, path, "lowdim_keys", cfg->lowdim_names, DP_MAX_LOWDIM, &cfg->n_lowdim) < 0 ||
        read_ints(r, path, "lowdim_dims", cfg->lowdim_dims, DP_MAX_LOWDIM, &n_dims) < 0)
        return -1;
    if (n_dims != cfg->n_lowdim)
        return error_set("%s: configuration has %d low-dim keys but %d sizes", path, cfg->n_lowdim, n_dims);
    if (checkpoint_config(r, "lowdim_norm")) {   /* absent: every key by limits */
        char **list = config_list(r, path, "lowdim_norm", DP_MAX_LOWDIM, &n_dims);
        if (!list) return -1;
        int rc = n_dims == cfg->n_lowdim ? 0 : error_set("%s: configuration has %d low-dim keys but %d normalisations",
                                                         path, cfg->n_lowdim, n_dims);
        for (int j = 0; rc == 0 && j < n_dims; j++) {
            int mode = dp_norm_parse(list[j]);
            if (mode < 0) rc = error_set("%s: configuration 'lowdim_norm': '%s' is not limits, identity or maxabs", path, list[j]);
            else cfg->lowdim_norm[j] = (dp_norm_mode)mode;
        }
        strlist_free(list);
        if (rc < 0) return -1;
    }
    if (checkpoint_config_int(r, "height", &cfg->height) < 0 || checkpoint_config_int(r, "width", &cfg->width) < 0 ||
        checkpoint_config_int(r, "crop_height", &cfg->crop_height) < 0 ||
        checkpoint_config_int(r, "crop_width", &cfg->crop_width) < 0 ||
        checkpoint_config_int(r, "num_keypoints", &cfg->num_keypoints) < 0 ||
        checkpoint_config_int(r, "feature_dim", &cfg->feature_dim) < 0 ||
        checkpoint_config_int(r, "action_dim", &cfg->action_dim) < 0 ||
        checkpoint_config_int(r, "n_obs_steps", &cfg->n_obs_steps) < 0)
        return -1;
    cfg->lowdim_range_eps = DP_RANGE_EPS;   /* absent: DP's */
    if (checkpoint_config(r, "lowdim_range_eps") && checkpoint_config_float(r, "lowdim_range_eps", &cfg->lowdim_range_eps) < 0)
        return -1;
    int action_norm = DP_NORM_LIMITS;   /* absent: limits */
    if (checkpoint_config(r, "action_norm") && config_enum(r, path, "action_norm", dp_norm_parse, &action_norm) < 0)
        return -1;
    cfg->action_norm = (dp_norm_mode)action_norm;
    return 0;
}

static int read_config(checkpoint_reader *r, const char *path, dp_config *cfg)
{
    dp_config_default(cfg);
    int net = 0, prediction = 0, sampler = 0;
    if (read_encoder_config(r, path, cfg) < 0 || config_enum(r, path, "net", dp_net_parse, &net) < 0 ||
        config_enum(r, path, "prediction_type", dp_prediction_parse, &prediction) < 0 ||
        config_enum(r, path, "sampler", dp_sampler_parse, &sampler) < 0)
        return -1;
    cfg->net = (dp_net_kind)net;
    cfg->prediction = (dp_prediction)prediction;
    cfg->sampler = (dp_sampler)sampler;
    if (read_ints(r, path, "down_dims", cfg->down_dims, MOD_UNET_MAX_LEVELS, &cfg->n_levels) < 0) return -1;
    if (checkpoint_config_int(r, "horizon", &cfg->horizon) < 0 ||
        checkpoint_config_int(r, "n_action_steps", &cfg->n_action_steps) < 0 ||
        checkpoint_config_int(r, "kernel_size", &cfg->kernel_size) < 0 ||
        checkpoint_config_int(r, "n_groups", &cfg->n_groups) < 0 ||
        checkpoint_config_int(r, "diffusion_step_embed_dim", &cfg->step_embed_dim) < 0 ||
        checkpoint_config_int(r, "cond_predict_scale", &cfg->cond_predict_scale) < 0 ||
        checkpoint_config_int(r, "num_train_timesteps", &cfg->train_steps) < 0 ||
        checkpoint_config_int(r, "num_inference_steps", &cfg->inference_steps) < 0)
        return -1;
    if (cfg->net == DP_NET_TRANSFORMER &&
        (checkpoint_config_int(r, "n_layer", &cfg->n_layer) < 0 || checkpoint_config_int(r, "n_head", &cfg->n_head) < 0 ||
         checkpoint_config_int(r, "n_emb", &cfg->n_emb) < 0 ||
         checkpoint_config_float(r, "p_drop_emb", &cfg->p_drop_emb) < 0 ||
         checkpoint_config_float(r, "p_drop_attn", &cfg->p_drop_attn) < 0))
        return -1;
    if (dp_config_check(cfg) < 0) return error_prefix("%s: ", path);
    return 0;
}

int dp_checkpoint_read_encoder(struct checkpoint_reader *r, const char *path, dp_config *cfg)
{
    if (read_encoder_config(r, path, cfg) < 0) return -1;
    if (dp_config_check_encoder(cfg) < 0) return error_prefix("%s: ", path);
    return 0;
}

int dp_checkpoint_read_limits(struct checkpoint_reader *r, const char *path, dp_model *m)
{
    for (int j = -1; j < m->cfg.n_lowdim; j++) {
        const char *feature = j < 0 ? "action" : m->cfg.lowdim_names[j];
        float *min = NULL, *max = NULL;
        int ndim = 0, shape[8], ndim2 = 0, shape2[8];
        int rc = checkpoint_read_stat(r, feature, "min", &min, &ndim, shape) < 0 ||
                         checkpoint_read_stat(r, feature, "max", &max, &ndim2, shape2) < 0
                     ? -1 : 0;
        if (rc == 0 && (ndim != 1 || ndim2 != 1 || shape[0] != shape2[0]))
            rc = error_set("%s: /stats/%s/min and max must be vectors of one size", path, feature);
        if (rc == 0 && dp_model_set_limits(m, feature, min, max, shape[0]) < 0) rc = error_prefix("%s: ", path);
        free(min);
        free(max);
        if (rc < 0) return -1;
    }
    return 0;
}

int dp_checkpoint_load(const char *path, dp_model *m, dp_weights weights)
{
    memset(m, 0, sizeof *m);
    checkpoint_reader *r = checkpoint_open(path);
    if (!r) return -1;
    dp_config cfg;
    const char *kind = checkpoint_config(r, "policy");
    int rc = kind && strcmp(kind, "diffusion") == 0 ? 0 : error_set("%s: not a diffusion policy checkpoint (policy '%s')",
                                                                    path, kind ? kind : "");
    if (rc == 0) rc = read_config(r, path, &cfg);
    if (rc == 0) rc = checkpoint_config_check_required(r);
    if (rc == 0) rc = dp_model_init(m, &cfg, NULL);
    if (rc == 0) rc = dp_checkpoint_read_limits(r, path, m);
    if (rc == 0) rc = checkpoint_read_params(r, m->ps);
    if (rc == 0 && weights == DP_WEIGHTS_EMA && checkpoint_has(r, "ema")) {
        nn_ema ema;
        rc = nn_ema_init(&ema, m->ps);
        if (rc == 0) {
            rc = checkpoint_read_ema(r, &ema);
            if (rc == 0) memcpy(m->ps->data, ema.shadow, sizeof(float) * m->ps->total);
            nn_ema_free(&ema);
        }
    }
    checkpoint_close(r);
    if (rc < 0 && m->ps) dp_model_free(m);
    return rc;
}

int dp_checkpoint_load_state(const char *path, struct nn_ema *ema, struct nn_adamw *opt, long *step)
{
    checkpoint_reader *r = checkpoint_open(path);
    if (!r) return -1;
    int rc = checkpoint_has(r, "optim") ? 0 : error_set("%s: no optimizer state to resume from", path);
    if (rc == 0 && ema) rc = checkpoint_read_ema(r, ema);
    if (rc == 0 && opt) rc = checkpoint_read_optim(r, opt);
    if (rc == 0) rc = checkpoint_read_step(r, step);
    checkpoint_close(r);
    return rc;
}
