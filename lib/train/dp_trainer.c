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

typedef struct {
    dp_model m;
    dp_trainer_options *options;
    dp_stream fields;
    float *actions;                                             /* eval: sampled [B][horizon][A] */
} dp_trainee;

static int dp_fields(void *context, dataset_request *want, int max) { return dp_stream_fields(context, want, max); }

static int dp_check_layout(const dataset_t *ds, void *context) { return dp_stream_locate(NULL, ds, context, NULL); }

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
    dp_config cfg;
    if (dp_stream_config(&cfg, &t->fields, ds, o) < 0) goto fail;
    if (dp_config_check(&cfg) < 0 || dp_model_init(&t->m, &cfg, rng) < 0 || dp_stream_locate(&t->fields, ds, o, &t->m.cfg) < 0) goto fail;
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
    if (dp_stream_locate(&t->fields, ds, context, &t->m.cfg) < 0) {
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

/* The observation encoder is AdamW group 1: its learning rate is --encoder-lr (else the run's
 * --lr); with the transformer it decays at DP's obs_encoder_weight_decay, with the UNet at the
 * run's --weight-decay. Group 0 (the noise-prediction network) takes the run's --lr and
 * --weight-decay. */
static double encoder_lr(const dp_trainer_options *o) { return o->encoder_lr >= 0 ? o->encoder_lr : o->train->lr; }

static int dp_set_groups(void *model, void *context, nn_adamw *opt)
{
    const dp_trainer_options *o = context;
    const int transformer = ((dp_trainee *)model)->m.cfg.net == DP_NET_TRANSFORMER;
    nn_adamw_set_group(opt, 1, (float)encoder_lr(o), (float)(transformer ? o->encoder_weight_decay : o->train->weight_decay));
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
                   const train_batch_info *info)
{
    dp_trainee *t = model;
    return dp_stream_fill(&t->fields, &t->m, batch, ds, idx, n);
}

static nn_tensor *dp_loss(nn_ctx *c, void *model, void *batch, const train_batch_info *info, train_metrics *out)
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

static int dp_write(void *model, checkpoint_writer *w)
{
    dp_trainee *t = model;
    return dp_checkpoint_write(w, &t->m) < 0 || checkpoint_write_configf(w, "train.encoder_lr", "%.9g", encoder_lr(t->options)) < 0
               ? -1
               : 0;
}

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
