/* train.h — the training path every trainer shares (act-train, dp-train, ibc-train): the data
 * set in memory, the validation split by episode, batches, AdamW with parameter groups, the
 * learning-rate schedule with warmup, gradient clipping, an EMA of the weights, validation,
 * latest / best / keep-every checkpoints written atomically, exact --resume, the JSON-lines log
 * and progress. It knows no model: a policy plugs in with a table of hooks (train_model_class),
 * as a policy class does for rollout (policy/policy.h).
 *
 * A trainer tool is its model's options and a main() that reads like its SYNOPSIS:
 *
 *   train_options o;  train_options_default(&o);  o.batch = 64;  ...     // the model's defaults
 *   train_parse(argc, argv, &o, model_longopts, parse_model_option, &model_options, usage);
 *   if (train_run(&o, &dp_train_class, &model_options) < 0) tool_die(1, "%s", error_get());
 *
 * One step, in this order: draw the global batch's sample indices from the run's generator; for
 * each micro-batch of this process the class fills its batch (augmentation included), loss
 * (scaled by the micro-batch's share of the global batch), backward; the gradients summed over
 * micro-batches in order, then over processes in rank order (dist.h); clip, AdamW step with the
 * schedule's factor, EMA update.
 *
 * Micro-batches: --batch-size B is cut into M = processes x --grad-accum consecutive parts of
 * B/M samples (the first ones one fewer when M does not divide B); process p takes parts
 * p*grad_accum ... Every sample's random numbers are keyed by (seed, step, its index in the
 * global batch), so `mpirun -np N` gives the checkpoint of one process with --grad-accum N bit
 * for bit, and --grad-accum 1 that of a run without the option. Every process keeps the same
 * weights and optimizer; the first one alone writes checkpoints, the log and progress. Under
 * MPI with several processes a failure on any of them ends the job: train_run prints the message
 * with the rank and calls MPI_Abort. With --shard process p keeps only the episodes whose
 * episode_index is p modulo the processes, splits them into training and validation itself, and
 * draws its micro-batches from its own training samples (keyed by sample, not from the run's
 * generator). Every save_every steps (and at the end) the validation loss is computed
 * on a fixed set of validation batches (the EMA weights when the run keeps an EMA), the latest
 * checkpoint is written, and the best (lowest validation loss) one when it improved.
 *
 * Checkpoints: <stem>.h5 (latest, with the optimizer, EMA and run state for --resume),
 * <stem>.best.h5 (weights and EMA, no optimizer), <stem>.step<S>.h5 with --keep-every. Each is
 * written to a temporary name and renamed (io/checkpoint.h). The run state lives in /config as
 * train.* attributes (the generator's state, the best validation loss, the options that shaped
 * the run), so --resume continues bit for bit: a run of N steps equals one of M < N steps
 * resumed to N, for the same seed and thread count.
 *
 * A non-finite loss stops the run with an error naming the step; the checkpoints on disk stay
 * those of the last save. */
#ifndef ILT_TRAIN_TRAIN_H
#define ILT_TRAIN_TRAIN_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "io/checkpoint.h"
#include "io/stats.h"
#include "nn/nn.h"
#include "io/dataset.h"
#include "util/rng.h"

/* The options every trainer shares (documented once, in ilt-train(7) and train_usage()). */
typedef struct train_options {
    const char *input;             /* the sample stream ("-": stdin) */
    const char *output;            /* -o CKPT.h5 */
    const char *stats;             /* --stats (normstats output) */
    const char *init;              /* --init CKPT: start from its weights */
    const char *log;               /* --log FILE: JSON lines */
    const char *val_episodes;      /* --val-episodes LIST */
    int resume, quiet, cosine, threads, ema;
    int grad_accum;                /* --grad-accum N: micro-batches per process (1) */
    int shard;                     /* --shard: each process keeps only its share of the episodes */
    double lr, weight_decay, beta1, beta2, grad_clip, val_fraction, epochs, ema_power, ema_max;
    double control_hz;             /* --control-hz: the rate the policy is to run at (0: unknown;
                                      --resume and --init keep the checkpoint's) */
    long batch, steps, warmup, save_every, keep_every, log_every, val_batches, seed, max_memory_mib;
} train_options;

/* act-train's defaults (the values before any trainer changes them): lr 1e-4, weight decay 1e-4,
 * betas (0.9, 0.999), batch 8, 4000 steps, constant schedule, no warmup, no clipping, no EMA
 * (power 0.75, max 0.9999 when on), validation fraction 0.2 with 16 batches, save every 1000,
 * log every 50, seed 0, 2 threads. */
void train_options_default(train_options *o);

/* Parse the shared options and the trainer's own (model_longopts: getopt_long entries whose val
 * is >= TRAIN_MODEL_OPTION, terminated by a zero entry; parse_model is called with that val and
 * optarg and reports a bad value with tool_usage_error). usage() prints --help and exits.
 * Usage errors exit 2 (tool_usage_error). */
#define TRAIN_MODEL_OPTION 1024
void train_parse(int argc, char **argv, train_options *o, const struct option *model_longopts,
                 void (*parse_model)(int id, const char *arg, void *context), void *context, void (*usage)(void));
/* The shared options' help text (for a trainer's --help). */
void train_usage(FILE *fp);

/* What a batch needs to know of where it is in the run. */
typedef struct train_batch_info {
    int training;                  /* 1: a training batch (augment, dropout); 0: validation */
    long step;                     /* the optimizer step this batch is for */
    uint64_t seed;                 /* the run's seed (for rng_keyed(seed, step, index)) */
    int64_t first_index;           /* the batch's first sample's index in the global batch */
} train_batch_info;

#define TRAIN_MAX_METRICS 8
/* The terms of a loss, logged by name ("l1", "kl", "loss", ...); values[0..n) are means over
 * the batch. The first metric named "loss" is the one validated and checked for finiteness. */
typedef struct train_metrics {
    int n;
    const char *names[TRAIN_MAX_METRICS];
    double values[TRAIN_MAX_METRICS];
} train_metrics;

/* A model's hooks. model is the class's own state. */
typedef struct train_model_class {
    const char *kind;              /* "act", "diffusion", ... for messages */
    /* The fields to read from the stream (a NULL name ends the list), and a check of the first
     * sample's layout (may be NULL). context: the trainer's model options. */
    int (*fields)(void *context, dataset_request *want, int max);
    int (*check_layout)(const dataset_t *ds, void *context);
    /* A new model for this data (rng: the initialisation's generator). */
    void *(*build)(void *context, const dataset_t *ds, rng_t *rng);
    /* The model of a checkpoint (--init, --resume), checked against the data. */
    void *(*load)(void *context, const char *path, const dataset_t *ds);
    /* Take the normalisation statistics (normstats output); path for messages. */
    int (*set_stats)(void *model, const stats_set *stats, const char *path);
    nn_params *(*params)(void *model);
    /* Parameter groups beyond AdamW's default group 0 (e.g. a backbone's learning rate); may be NULL. */
    int (*set_groups)(void *model, void *context, nn_adamw *opt);
    /* A batch of at most `batch` samples for this model, filled from samples idx[0..n), a
     * micro-batch of the global batch; its randomness (augmentation) keyed by sample:
     * rng_keyed(info->seed, info->step, info->first_index + i), or nn_sample_rng. */
    void *(*batch_new)(void *model, int batch);
    int (*batch_fill)(void *model, void *batch, const dataset_t *ds, const int64_t *idx, int n,
                      const train_batch_info *info);
    void (*batch_free)(void *batch);
    /* The mean loss of a filled batch, recorded on c's tape; the model's noise and dropout
     * masks keyed by sample as for batch_fill (nn_ctx_set_sample_key). */
    nn_tensor *(*loss)(nn_ctx *c, void *model, void *batch, const train_batch_info *info, train_metrics *out);
    /* Write the checkpoint's model part: root "policy" attribute, configuration, statistics and
     * /params. (The training layer adds optimizer, EMA, step and train.* configuration.) */
    int (*write)(void *model, checkpoint_writer *w);
    void (*free)(void *model);
    /* Optional: further metrics at every save on a fixed training batch of the micro-batch's
     * size (e.g. the action error of sampled predictions), by the first process; may be NULL. */
    int (*eval_metrics)(nn_ctx *c, void *model, void *batch, train_metrics *out);
} train_model_class;

/* Train as the options say; 0 on success, -1 with error_set (the tool exits 1). */
int train_run(const train_options *o, const train_model_class *cls, void *context);

/* The stem of a checkpoint path ("run/ckpt.h5" -> "run/ckpt") into buf. */
void train_checkpoint_stem(const char *path, char *buf, size_t size);

#endif
