/* ibc_trainer.c — Implicit BC on the shared training loop: the stream's fields and layout as for
 * any model on DP's encoders (dp_stream.c), the energy model built for the data or loaded from a
 * checkpoint, the limits and sampling bounds from the statistics, the InfoNCE loss with the
 * per-sample keyed counter-examples, and DP's train_action_mse of inferred actions on a fixed
 * training batch (the figure to choose a checkpoint by, IBC's success oscillating between
 * checkpoints while its loss falls). */
#include "train/trainers.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

typedef struct {
    ibc_model m;
    ibc_trainer_options *options;
    dp_stream fields;
    float *actions;                  /* eval: inferred [B][Ta][A] */
} ibc_trainee;

static int ibc_fields(void *context, dataset_request *want, int max)
{
    return dp_stream_fields(&((ibc_trainer_options *)context)->obs, want, max);
}

static int ibc_check_layout(const dataset_t *ds, void *context)
{
    return dp_stream_locate(NULL, ds, &((ibc_trainer_options *)context)->obs, NULL);
}

static void ibc_free(void *model)
{
    ibc_trainee *t = model;
    if (!t) return;
    ibc_model_free(&t->m);
    free(t->actions);
    free(t);
}

static void *ibc_build(void *context, const dataset_t *ds, rng_t *rng)
{
    ibc_trainer_options *o = context;
    ibc_trainee *t = calloc(1, sizeof *t);
    if (!t) return error_set("out of memory"), NULL;
    t->options = o;
    ibc_config cfg = o->model;
    if (dp_stream_config(&cfg.obs, &t->fields, ds, &o->obs) < 0 || ibc_model_init(&t->m, &cfg, rng) < 0 ||
        dp_stream_locate(&t->fields, ds, &o->obs, &t->m.cfg.obs) < 0) {
        ibc_free(t);
        return NULL;
    }
    t->m.grad_penalty = o->grad_penalty, t->m.grad_margin = o->grad_margin;
    t->m.dfo_fraction = o->dfo_fraction, t->m.dfo_iterations = o->dfo_iterations;
    return t;
}

static void *ibc_load(void *context, const char *path, const dataset_t *ds)
{
    ibc_trainer_options *o = context;
    ibc_trainee *t = calloc(1, sizeof *t);
    if (!t) return error_set("out of memory"), NULL;
    t->options = o;
    if (ibc_checkpoint_load(path, &t->m, DP_WEIGHTS_TRAINED) < 0) {
        free(t);
        return NULL;
    }
    if (dp_stream_locate(&t->fields, ds, &o->obs, &t->m.cfg.obs) < 0) {
        error_prefix("%s: ", path);
        ibc_free(t);
        return NULL;
    }
    t->m.grad_penalty = o->grad_penalty, t->m.grad_margin = o->grad_margin;
    t->m.dfo_fraction = o->dfo_fraction, t->m.dfo_iterations = o->dfo_iterations;
    return t;
}

static int ibc_set_stats(void *model, const stats_set *st, const char *path)
{
    if (ibc_model_set_stats(&((ibc_trainee *)model)->m, st) < 0) return error_prefix("%s: ", path);
    return 0;
}

static nn_params *ibc_params(void *model) { return ((ibc_trainee *)model)->m.obs.ps; }

static void *ibc_batch_new(void *model, int batch)
{
    dp_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (dp_batch_alloc(b, &((ibc_trainee *)model)->m.obs, batch) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void ibc_batch_release(void *batch)
{
    dp_batch_free(batch);
    free(batch);
}

static int ibc_fill(void *model, void *batch, const dataset_t *ds, const int64_t *idx, int n,
                    const train_batch_info *info)
{
    ibc_trainee *t = model;
    return dp_stream_fill(&t->fields, &t->m.obs, batch, ds, idx, n);
}

static nn_tensor *ibc_loss(nn_ctx *c, void *model, void *batch, const train_batch_info *info, train_metrics *out)
{
    ibc_trainee *t = model;
    ibc_losses L;
    /* validation: the same draws at every evaluation (a step no training batch has), so the
     * losses compare across steps */
    long step = info->training ? info->step : -1;
    nn_tensor *loss = ibc_model_loss(c, &t->m, batch, t->options->negatives, info->seed, step, info->first_index, &L);
    if (!loss) return NULL;
    if (t->m.grad_penalty > 0)
        *out = (train_metrics){4, {"loss", "info_nce", "grad_penalty", "positive_rank"},
                               {L.loss, L.info_nce, L.grad_penalty, L.positive_rank}};
    else
        *out = (train_metrics){2, {"loss", "positive_rank"}, {L.loss, L.positive_rank}};
    return loss;
}

/* DP's train_action_mse_error for IBC: the actions inferred (--eval-sampler, from a fixed seed)
 * for a fixed training batch against the batch's own Ta actions from index To-1, in data units. */
static int ibc_eval(nn_ctx *c, void *model, void *batch, train_metrics *out)
{
    ibc_trainee *t = model;
    const dp_config *cfg = &t->m.cfg.obs;
    const dp_batch *b = batch;
    const int Ta = cfg->n_action_steps, A = cfg->action_dim, To = cfg->n_obs_steps;
    if (!t->actions && !(t->actions = malloc(sizeof(float) * (size_t)b->batch * Ta * A))) return error_set("out of memory");
    rng_t rng;
    rng_seed(&rng, 0x7472616d7365ULL);
    if (ibc_infer(c, &t->m, b, &t->options->eval, &rng, t->actions) < 0) return -1;
    double sum = 0;
    for (int i = 0; i < b->batch; i++)
        for (int r = 0; r < Ta; r++)
            for (int a = 0; a < A; a++) {
                const float *row = b->action + ((size_t)i * cfg->horizon + To - 1 + r) * A;
                double truth = (row[a] - t->m.obs.norm.action_offset[a]) / t->m.obs.norm.action_scale[a];
                double d = t->actions[((size_t)i * Ta + r) * A + a] - truth;
                sum += d * d;
            }
    *out = (train_metrics){1, {"train_action_mse"}, {sum / ((double)b->batch * Ta * A)}};
    return 0;
}

static int ibc_write(void *model, checkpoint_writer *w) { return ibc_checkpoint_write(w, &((ibc_trainee *)model)->m); }

const train_model_class ibc_trainer_class = {
    .kind = "ibc",
    .fields = ibc_fields,
    .check_layout = ibc_check_layout,
    .build = ibc_build,
    .load = ibc_load,
    .set_stats = ibc_set_stats,
    .params = ibc_params,
    .batch_new = ibc_batch_new,
    .batch_fill = ibc_fill,
    .batch_free = ibc_batch_release,
    .loss = ibc_loss,
    .write = ibc_write,
    .free = ibc_free,
    .eval_metrics = ibc_eval,
};
