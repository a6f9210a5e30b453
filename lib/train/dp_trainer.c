/* dp_trainer.c — Diffusion Policy on the shared training loop: the stream's fields (observation
 * histories of To steps, an action sequence of at least the horizon), the model built for the
 * data or loaded from a checkpoint, the normaliser limits from the statistics, batches, the
 * denoising loss with per-sample keyed randomness, DP's train_action_mse (sampled actions
 * against the data on a fixed training batch) and the checkpoint's model part. */
#include "train/trainers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define IMAGE_PREFIX "observation.images."

typedef struct {
    dp_model m;
    dp_trainer_options *options;
    int image[DP_MAX_CAMERAS], lowdim[DP_MAX_LOWDIM], action;   /* field indices */
    int action_rows;
    float *actions;                                             /* eval: sampled [B][horizon][A] */
} dp_trainee;

static int dp_fields(void *context, dataset_request *want, int max)
{
    dp_trainer_options *o = context;
    int n = 0;
    if (o->model.encoder != DP_ENCODER_LOWDIM) {
        if (o->n_cameras == 0) {
            want[n++] = (dataset_request){IMAGE_PREFIX "*", 0};
        } else {
            for (size_t k = 0; k < o->n_cameras && n < max; k++) {
                want[n] = (dataset_request){"", 0};
                snprintf(want[n++].name, sizeof want[0].name, IMAGE_PREFIX "%s", o->cameras[k]);
            }
        }
    }
    for (size_t j = 0; j < o->n_lowdim && n < max; j++) {
        want[n] = (dataset_request){"", 0};
        snprintf(want[n++].name, sizeof want[0].name, "%s", o->lowdim[j]);
    }
    if (n >= max) return error_set("too many fields requested");
    want[n++] = (dataset_request){"action", 0};
    return n;
}

/* Where the model's inputs are, checked against the model's To and horizon: observation fields
 * [To,...], action [K>=horizon, A]. cfg NULL: only the layout rules that need no model (the
 * first sample). */
static int locate(dp_trainee *t, const dataset_t *ds, const dp_trainer_options *o, const dp_config *cfg)
{
    char shape[128];
    const int To = cfg ? cfg->n_obs_steps : o->model.n_obs_steps;
    int n_cam = 0, n_low = 0;
    for (int f = 0; f < ds->n_fields; f++) {
        const dataset_field *x = &ds->fields[f];
        int is_image = strncmp(x->name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) == 0;
        if (strcmp(x->name, "action") == 0) {
            if (x->dtype != NPY_F32 || x->ndim != 2)
                return error_set("action is %s %s; Diffusion Policy needs float32 [K,A] (chunkify -k K)",
                                 npy_dtype_name(x->dtype), dataset_field_shape_text(x, shape, sizeof shape));
            if (t) t->action = f, t->action_rows = (int)x->shape[0];
            continue;
        }
        int base = is_image ? 3 : 1;
        if (x->ndim != base + 1 || x->shape[0] != To)
            return error_set("%s is %s %s; with --obs-steps %d it must be [%d,%s] (an observation history: chunkify "
                             "--obs-steps %d --action-start)",
                             x->name, npy_dtype_name(x->dtype), dataset_field_shape_text(x, shape, sizeof shape), To, To,
                             is_image ? "H,W,3" : "D", To);
        if (is_image) {
            if (x->dtype != NPY_U8 || x->shape[3] != 3)
                return error_set("%s is %s %s; uint8 [%d,H,W,3] expected", x->name, npy_dtype_name(x->dtype),
                                 dataset_field_shape_text(x, shape, sizeof shape), To);
            if (n_cam == DP_MAX_CAMERAS) return error_set("more than %d cameras", DP_MAX_CAMERAS);
            if (t) t->image[n_cam] = f;
            n_cam++;
        } else {
            if (x->dtype != NPY_F32)
                return error_set("%s is %s %s; float32 [%d,D] expected", x->name, npy_dtype_name(x->dtype),
                                 dataset_field_shape_text(x, shape, sizeof shape), To);
            if (n_low == DP_MAX_LOWDIM) return error_set("more than %d low-dimensional fields", DP_MAX_LOWDIM);
            if (t) t->lowdim[n_low] = f;
            n_low++;
        }
    }
    if (!cfg) return 0;
    if (t->action_rows < cfg->horizon)
        return error_set("the stream's action sequences have %d rows; the horizon %d needs at least that many "
                         "(chunkify -k %d --obs-steps %d --action-start)",
                         t->action_rows, cfg->horizon, cfg->horizon, cfg->n_obs_steps);
    if ((int)ds->fields[t->action].shape[1] != cfg->action_dim)
        return error_set("the model gives %d actions, the stream has %lld", cfg->action_dim,
                         (long long)ds->fields[t->action].shape[1]);
    if (n_cam != cfg->n_cameras || n_low != cfg->n_lowdim)
        return error_set("the model takes %d cameras and %d low-dimensional fields, the stream has %d and %d",
                         cfg->n_cameras, cfg->n_lowdim, n_cam, n_low);
    for (int k = 0; k < n_cam; k++) {
        const dataset_field *x = &ds->fields[t->image[k]];
        if (strcmp(x->name + strlen(IMAGE_PREFIX), cfg->camera_names[k]) != 0 || x->shape[1] != cfg->height ||
            x->shape[2] != cfg->width)
            return error_set("camera %d: the model takes %s at %dx%d, the stream has %s %s", k, cfg->camera_names[k],
                             cfg->height, cfg->width, x->name, dataset_field_shape_text(x, shape, sizeof shape));
    }
    for (int j = 0; j < n_low; j++) {
        const dataset_field *x = &ds->fields[t->lowdim[j]];
        if (strcmp(x->name, cfg->lowdim_names[j]) != 0 || x->shape[1] != cfg->lowdim_dims[j])
            return error_set("low-dimensional input %d: the model takes %s [%d,%d], the stream has %s %s", j,
                             cfg->lowdim_names[j], cfg->n_obs_steps, cfg->lowdim_dims[j], x->name,
                             dataset_field_shape_text(x, shape, sizeof shape));
    }
    return 0;
}

static int dp_check_layout(const dataset_t *ds, void *context) { return locate(NULL, ds, context, NULL); }

static void dp_free(void *model)
{
    dp_trainee *t = model;
    if (!t) return;
    dp_model_free(&t->m);
    free(t->actions);
    free(t);
}

static void *dp_build(void *context, const dataset_t *ds, rng_t *rng)
{
    dp_trainer_options *o = context;
    dp_trainee *t = calloc(1, sizeof *t);
    if (!t) return error_set("out of memory"), NULL;
    t->options = o;
    dp_config cfg = o->model;
    if (locate(t, ds, o, NULL) < 0) goto fail;
    /* the data's cameras, low-dimensional fields and action size */
    cfg.n_cameras = 0;
    for (int f = 0; f < ds->n_fields; f++) {
        const dataset_field *x = &ds->fields[f];
        if (strncmp(x->name, IMAGE_PREFIX, strlen(IMAGE_PREFIX)) == 0) {
            snprintf(cfg.camera_names[cfg.n_cameras++], DP_NAME_MAX, "%s", x->name + strlen(IMAGE_PREFIX));
            cfg.height = (int)x->shape[1], cfg.width = (int)x->shape[2];
        }
    }
    cfg.n_lowdim = 0;   /* DP's rule per key: quaternions as they are, the rest to [-1,1] */
    for (size_t j = 0; j < o->n_lowdim; j++)
        if (dp_config_add_lowdim(&cfg, ds->fields[t->lowdim[j]].name, (int)ds->fields[t->lowdim[j]].shape[1]) < 0) goto fail;
    cfg.action_dim = (int)ds->fields[t->action].shape[1];
    if (cfg.n_cameras && !o->crop_given) {   /* DP's 76 of 84, in proportion for other sizes */
        cfg.crop_height = (int)lround(cfg.height * 76.0 / 84.0);
        cfg.crop_width = (int)lround(cfg.width * 76.0 / 84.0);
    } else if (o->crop_given && (o->model.crop_height > cfg.height || o->model.crop_width > cfg.width)) {
        error_set("--crop %dx%d: the images are %dx%d", o->model.crop_height, o->model.crop_width, cfg.height, cfg.width);
        goto fail;
    }
    if (!cfg.n_cameras) cfg.crop_height = cfg.height = 0, cfg.crop_width = cfg.width = 0;
    if (dp_config_check(&cfg) < 0 || dp_model_init(&t->m, &cfg, rng) < 0 || locate(t, ds, o, &t->m.cfg) < 0) goto fail;
    return t;
fail:
    dp_free(t);
    return NULL;
}

static void *dp_load(void *context, const char *path, const dataset_t *ds)
{
    dp_trainee *t = calloc(1, sizeof *t);
    if (!t) return error_set("out of memory"), NULL;
    t->options = context;
    if (dp_checkpoint_load(path, &t->m, DP_WEIGHTS_TRAINED) < 0) {
        free(t);
        return NULL;
    }
    if (locate(t, ds, context, &t->m.cfg) < 0) {
        error_prefix("%s: ", path);
        dp_free(t);
        return NULL;
    }
    return t;
}

static int dp_set_stats(void *model, const stats_set *st, const char *path)
{
    if (dp_model_set_stats(&((dp_trainee *)model)->m, st) < 0) return error_prefix("%s: ", path);
    return 0;
}

static nn_params *dp_params(void *model) { return ((dp_trainee *)model)->m.ps; }

/* The transformer's observation encoder (group 1) decays at DP's obs_encoder_weight_decay; group 0
 * (the transformer's weights, or every UNet parameter) at the run's --weight-decay. */
static int dp_set_groups(void *model, void *context, nn_adamw *opt)
{
    const dp_trainer_options *o = context;
    if (((dp_trainee *)model)->m.cfg.net == DP_NET_TRANSFORMER)
        nn_adamw_set_group(opt, 1, (float)o->train->lr, (float)o->encoder_weight_decay);
    return 0;
}

static void *dp_batch_new(void *model, int batch)
{
    dp_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (dp_batch_alloc(b, &((dp_trainee *)model)->m, batch) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void dp_batch_release(void *batch)
{
    dp_batch_free(batch);
    free(batch);
}

static int dp_fill(void *model, void *batch, const dataset_t *ds, const int64_t *idx, int n,
                   const train_batch_info *info, rng_t *rng)
{
    dp_trainee *t = model;
    const dp_config *cfg = &t->m.cfg;
    for (int i = 0; i < n; i++) {
        const uint8_t *images[DP_MAX_CAMERAS];
        const float *lowdim[DP_MAX_LOWDIM];
        for (int k = 0; k < cfg->n_cameras; k++) images[k] = dataset_at(ds, t->image[k], idx[i]);
        for (int j = 0; j < cfg->n_lowdim; j++) lowdim[j] = dataset_at(ds, t->lowdim[j], idx[i]);
        /* the first horizon rows of the sample's action sequence */
        if (dp_batch_set(batch, &t->m, i, cfg->n_cameras ? images : NULL, cfg->n_lowdim ? lowdim : NULL,
                         dataset_at(ds, t->action, idx[i])) < 0)
            return -1;
    }
    ((dp_batch *)batch)->batch = n;
    return 0;
}

static nn_tensor *dp_loss(nn_ctx *c, void *model, void *batch, const train_batch_info *info, rng_t *rng,
                          train_metrics *out)
{
    dp_trainee *t = model;
    dp_losses L;
    /* validation: the same draws at every evaluation (a step no training batch has), so the
     * losses compare across steps */
    long step = info->training ? info->step : -1;
    nn_tensor *loss = dp_model_loss(c, &t->m, batch, info->seed, step, info->first_index, &L);
    if (!loss) return NULL;
    *out = (train_metrics){1, {"loss"}, {L.loss}};
    return loss;
}

/* DP's train_action_mse_error: actions sampled for a fixed training batch (the EMA weights when
 * the run keeps them) against the batch's own, in the data's units. */
static int dp_eval(nn_ctx *c, void *model, void *batch, train_metrics *out)
{
    dp_trainee *t = model;
    const dp_config *cfg = &t->m.cfg;
    const dp_batch *b = batch;
    const int H = cfg->horizon, A = cfg->action_dim;
    if (!t->actions && !(t->actions = malloc(sizeof(float) * (size_t)b->batch * H * A))) return error_set("out of memory");
    rng_t rng;
    rng_seed(&rng, 0x7472616d7365ULL);
    if (dp_model_sample(c, &t->m, b, DP_SAMPLER_DDIM, t->options->eval_steps, &rng, t->actions) < 0) return -1;
    double sum = 0;
    for (int i = 0; i < b->batch; i++)
        for (int r = 0; r < H; r++)
            for (int a = 0; a < A; a++) {
                size_t at = ((size_t)i * H + r) * A + a;
                double truth = (b->action[at] - t->m.norm.action_offset[a]) / t->m.norm.action_scale[a];
                double d = t->actions[at] - truth;
                sum += d * d;
            }
    *out = (train_metrics){1, {"train_action_mse"}, {sum / ((double)b->batch * H * A)}};
    return 0;
}

static int dp_write(void *model, checkpoint_writer *w) { return dp_checkpoint_write(w, &((dp_trainee *)model)->m); }

const train_model_class dp_trainer_class = {
    .kind = "diffusion",
    .fields = dp_fields,
    .check_layout = dp_check_layout,
    .build = dp_build,
    .load = dp_load,
    .set_stats = dp_set_stats,
    .params = dp_params,
    .set_groups = dp_set_groups,
    .batch_new = dp_batch_new,
    .batch_fill = dp_fill,
    .batch_free = dp_batch_release,
    .loss = dp_loss,
    .write = dp_write,
    .free = dp_free,
    .eval_metrics = dp_eval,
};
