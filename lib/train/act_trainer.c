/* act_trainer.c — ACT and CNNMLP on the shared training loop: the stream's fields and layout,
 * the model built for the data or loaded from a checkpoint (and checked against the data), the
 * statistics, the backbone's learning-rate group, batches with random-shift augmentation, the
 * L1 + KL loss, and the checkpoint's model part. */
#include "train/trainers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

typedef struct {
    act_model m;
    act_data_layout layout;
    act_trainer_options *options;
} act_trainee;

static int act_fields(void *context, dataset_request *want, int max)
{
    act_trainer_options *o = context;
    return act_data_request(o->cameras, (int)o->n_cameras, want, max);
}

static int act_check_layout(const dataset_t *ds, void *context)
{
    act_data_layout L;
    if (act_data_layout_of(ds, &L) < 0) return -1;
    if (L.action < 0) return error_set("the stream has no action field (pipe it through chunkify)");
    return 0;
}

/* The model against the data: sizes, cameras, chunk rows, the random shift. */
static int check_model(const act_trainee *t, const char *from)
{
    const act_config *cfg = &t->m.cfg;
    const act_data_layout *L = &t->layout;
    if (cfg->state_dim != L->state_dim || cfg->action_dim != L->action_dim || cfg->height != L->height ||
        cfg->width != L->width || cfg->n_cameras != L->n_cameras)
        return error_set("%s: the model takes %d state values, %d actions, %d cameras of %dx%d; the stream has %d, %d, %d of %dx%d",
                         from, cfg->state_dim, cfg->action_dim, cfg->n_cameras, cfg->height, cfg->width, L->state_dim,
                         L->action_dim, L->n_cameras, L->height, L->width);
    for (int k = 0; k < cfg->n_cameras; k++)
        if (strcmp(cfg->camera_names[k], L->camera_names[k]) != 0)
            return error_set("%s: camera %d is '%s' in the model, '%s' in the stream", from, k, cfg->camera_names[k],
                             L->camera_names[k]);
    long shift = t->options->random_shift;
    if (shift >= cfg->height || shift >= cfg->width)
        return error_set("--random-shift %ld: the images are %dx%d; shift by less than their size", shift, cfg->height,
                         cfg->width);
    int K = act_model_chunk(&t->m);
    if (K > L->rows)
        return error_set("the stream's action chunks have %d rows; --chunk %d needs at least that many (chunkify -k %d)",
                         L->rows, K, K);
    return 0;
}

static void act_free(void *model)
{
    act_trainee *t = model;
    if (!t) return;
    act_model_free(&t->m);
    free(t);
}

static act_trainee *trainee_new(void *context, const dataset_t *ds)
{
    act_trainee *t = calloc(1, sizeof *t);
    if (!t) {
        error_set("out of memory");
        return NULL;
    }
    t->options = context;
    if (act_data_layout_of(ds, &t->layout) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

static void *act_build(void *context, const dataset_t *ds, rng_t *rng)
{
    act_trainee *t = trainee_new(context, ds);
    if (!t) return NULL;
    act_config cfg = t->options->model;
    const act_data_layout *L = &t->layout;
    cfg.state_dim = L->state_dim;
    cfg.action_dim = L->action_dim;
    cfg.n_cameras = L->n_cameras;
    memcpy(cfg.camera_names, L->camera_names, sizeof cfg.camera_names);
    cfg.height = L->height;
    cfg.width = L->width;
    if (act_model_init(&t->m, &cfg, rng) < 0 || check_model(t, "the new model") < 0) {
        act_free(t);
        return NULL;
    }
    return t;
}

static void *act_load(void *context, const char *path, const dataset_t *ds)
{
    act_trainee *t = trainee_new(context, ds);
    if (!t) return NULL;
    if (act_checkpoint_load(path, &t->m) < 0) {
        free(t);
        return NULL;
    }
    if (check_model(t, path) < 0) {
        act_free(t);
        return NULL;
    }
    return t;
}

static int act_set_stats(void *model, const stats_set *st, const char *path)
{
    act_model *m = &((act_trainee *)model)->m;
    const act_config *cfg = &m->cfg;
    const stats_feature *s = stats_find(st, "observation.state"), *a = stats_find(st, "action");
    if (!s || !a) return error_set("%s: needs observation.state and action statistics", path);
    if (s->n != cfg->state_dim || a->n != cfg->action_dim)
        return error_set("%s: statistics of %lld state and %lld action values, the data has %d and %d", path,
                         (long long)s->n, (long long)a->n, cfg->state_dim, cfg->action_dim);
    for (int i = 0; i < cfg->state_dim; i++)
        m->norm.state_mean[i] = s->mean[i], m->norm.state_std[i] = fmaxf(s->std[i], ACT_STD_MIN);
    for (int i = 0; i < cfg->action_dim; i++)
        m->norm.action_mean[i] = a->mean[i], m->norm.action_std[i] = fmaxf(a->std[i], ACT_STD_MIN);
    if (cfg->image_norm != ACT_IMAGE_NORM_DATASET) return 0;
    for (int k = 0; k < cfg->n_cameras; k++) {
        char name[128];
        snprintf(name, sizeof name, "observation.images.%s", cfg->camera_names[k]);
        const stats_feature *im = stats_find(st, name);
        if (!im || im->n != 3) return error_set("%s: --image-norm dataset needs %s statistics [3,1,1]", path, name);
        for (int c = 0; c < 3; c++)
            m->norm.image_mean[k][c] = im->mean[c], m->norm.image_std[k][c] = fmaxf(im->std[c], ACT_STD_MIN);
    }
    return 0;
}

static nn_params *act_params(void *model) { return ((act_trainee *)model)->m.ps; }

/* The backbone in group 1 (--lr-backbone), as the reference's param_dicts. */
static int act_set_groups(void *model, void *context, nn_adamw *opt)
{
    act_trainee *t = model;
    const act_trainer_options *o = context;
    nn_param_set_group(t->m.ps, "model.backbones.", 1);
    nn_adamw_set_group(opt, 1, (float)(o->lr_backbone >= 0 ? o->lr_backbone : o->train->lr), (float)o->train->weight_decay);
    return 0;
}

static void *act_batch_new(void *model, int batch)
{
    act_batch *b = malloc(sizeof *b);
    if (!b) return NULL;
    if (act_batch_alloc(b, &((act_trainee *)model)->m, batch) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void act_batch_release(void *batch)
{
    act_batch_free(batch);
    free(batch);
}

static int act_fill(void *model, void *batch, const dataset_t *ds, const int64_t *idx, int n,
                    const train_batch_info *info)
{
    act_trainee *t = model;
    act_batch_fill(batch, &t->m, ds, &t->layout, idx, n);
    if (!info->training) return 0;
    return act_batch_random_shift_keyed(batch, &t->m, (int)t->options->random_shift, info->seed, (uint64_t)info->step,
                                        info->first_index);
}

static nn_tensor *act_loss(nn_ctx *c, void *model, void *batch, const train_batch_info *info, train_metrics *out)
{
    act_trainee *t = model;
    /* the latent noise and dropout masks by sample; validation: the same draws at every
     * evaluation (a step no training batch has), so the losses compare across steps */
    long step = info->training ? info->step : -1;
    nn_ctx_set_sample_key(c, info->seed, (uint64_t)step, info->first_index, ((act_batch *)batch)->batch);
    act_losses L;
    nn_tensor *loss = act_model_loss(c, &t->m, batch, &L);
    nn_ctx_set_sample_key(c, 0, 0, 0, 0);
    if (!loss) return NULL;
    *out = (train_metrics){3, {"l1", "kl", "loss"}, {L.l1, L.kl, L.loss}};
    return loss;
}

static int act_write(void *model, checkpoint_writer *w)
{
    act_trainee *t = model;
    const act_trainer_options *o = t->options;
    char lrb[32], shift[32];
    snprintf(lrb, sizeof lrb, "%.9g", o->lr_backbone >= 0 ? o->lr_backbone : o->train->lr);
    snprintf(shift, sizeof shift, "%ld", o->random_shift);
    if (act_checkpoint_write(w, &t->m) < 0 || checkpoint_write_config(w, "train.lr_backbone", lrb) < 0 ||
        checkpoint_write_config(w, "train.random_shift", shift) < 0)
        return -1;
    return 0;
}

const train_model_class act_trainer_class = {
    .kind = "act",
    .fields = act_fields,
    .check_layout = act_check_layout,
    .build = act_build,
    .load = act_load,
    .set_stats = act_set_stats,
    .params = act_params,
    .set_groups = act_set_groups,
    .batch_new = act_batch_new,
    .batch_fill = act_fill,
    .batch_free = act_batch_release,
    .loss = act_loss,
    .write = act_write,
    .free = act_free,
};
