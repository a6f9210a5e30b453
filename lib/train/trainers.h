/* trainers.h — each policy's model table for the shared training loop (train.h), and the
 * options a trainer tool fills for it. train.c knows no model; the tables here adapt a policy's
 * model (lib/policy) to the loop's hooks: which fields it reads, how it is built, loaded,
 * batched, its loss and its checkpoint. A new trainer adds a table here and a tool that parses
 * its model's options (see docs/HACKING.md). */
#ifndef ILT_TRAIN_TRAINERS_H
#define ILT_TRAIN_TRAINERS_H

#include <stddef.h>
#include <stdio.h>

#include "policy/act.h"
#include "policy/diffusion.h"
#include "policy/ibc.h"
#include "train/train.h"

/* ---------------------------------------------------------------- ACT and CNNMLP (act-train) */
typedef struct act_trainer_options {
    act_config model;              /* defaults from act_config_default; sizes come from the data */
    char **cameras;                /* NULL: every camera of the stream */
    size_t n_cameras;
    double lr_backbone;            /* < 0: the run's --lr */
    long random_shift;             /* DrQ random shift of the training images, pixels (0: off) */
    const train_options *train;
} act_trainer_options;
extern const train_model_class act_trainer_class;

/* ---------------------------------------------------------------- Diffusion Policy (dp-train) */
typedef struct dp_trainer_options {
    dp_config model;               /* dp_config_default; cameras, sizes, action size come from the data */
    char **cameras;                /* NULL: every camera of the stream (none with the lowdim encoder) */
    size_t n_cameras;
    char **lowdim;                 /* low-dimensional stream fields, e.g. observation.state */
    size_t n_lowdim;
    int crop_given, horizon_given; /* --crop, --horizon given (else DP's 76/84 of the image, the net's horizon) */
    float lowdim_range_eps;        /* --lowdim-range-eps (> 0), 0: DP's 1e-4 */
    int lowdim_norm;               /* --lowdim-norm for every key; -1 (the default): DP's image datasets' rule
                                      (keys ending in quat identity, the rest limits) */
    int eval_steps;                /* DDIM steps of train_action_mse */
    double encoder_weight_decay;   /* the transformer's observation-encoder group (DP: 1e-6) */
    double encoder_lr;             /* the observation encoder's learning rate; < 0: the run's --lr */
    const train_options *train;
} dp_trainer_options;
extern const train_model_class dp_trainer_class;

/* The observation options of the trainers on DP's encoders (dp_options.c; dp-train, ibc-train):
 * --encoder --cameras --lowdim --lowdim-norm --lowdim-range-eps --crop --keypoints --feature-dim
 * --obs-steps --action-steps. A tool puts DP_OBS_LONGOPTS in its model options, numbers its own
 * from DP_OBS_OPTION_END, hands every id to dp_obs_option first (1: it was one of these) and calls
 * dp_obs_check after parsing. Bad values are usage errors (exit 2). */
enum {
    DP_OBS_ENCODER = TRAIN_MODEL_OPTION, DP_OBS_CAMERAS, DP_OBS_LOWDIM, DP_OBS_LOWDIM_NORM, DP_OBS_RANGE_EPS,
    DP_OBS_CROP, DP_OBS_KEYPOINTS, DP_OBS_FEATURES, DP_OBS_STEPS, DP_OBS_ACTIONS, DP_OBS_OPTION_END
};
#define DP_OBS_LONGOPTS                                                                                  \
    {"encoder", required_argument, 0, DP_OBS_ENCODER}, {"cameras", required_argument, 0, DP_OBS_CAMERAS}, \
        {"lowdim", required_argument, 0, DP_OBS_LOWDIM}, {"lowdim-norm", required_argument, 0, DP_OBS_LOWDIM_NORM}, \
        {"lowdim-range-eps", required_argument, 0, DP_OBS_RANGE_EPS}, {"crop", required_argument, 0, DP_OBS_CROP}, \
        {"keypoints", required_argument, 0, DP_OBS_KEYPOINTS}, {"feature-dim", required_argument, 0, DP_OBS_FEATURES}, \
        {"obs-steps", required_argument, 0, DP_OBS_STEPS}, {"action-steps", required_argument, 0, DP_OBS_ACTIONS}
/* The options' defaults beside o->model's: low-dim field observation.state, DP's normalisation rule. */
void dp_obs_init(dp_trainer_options *o);
void dp_obs_free(dp_trainer_options *o);
int dp_obs_option(int id, const char *arg, dp_trainer_options *o);
void dp_obs_check(const dp_trainer_options *o);
/* The options' help, with the defaults in d. */
void dp_obs_usage(FILE *fp, const dp_trainer_options *d);

/* ---------------------------------------------------------------- Implicit BC (ibc-train) */
typedef struct ibc_trainer_options {
    dp_trainer_options obs;        /* the observation side as dp-train takes it: obs.model's encoder,
                                      To, Ta, crop; obs.cameras, obs.lowdim (the rest unused) */
    ibc_config model;              /* width, dropout, the checkpoint's default inference */
    int negatives;                 /* counter-examples per sample (1024) */
    float grad_penalty, grad_margin; /* the gradient penalty's weight (0: off) and margin (1) */
    float dfo_fraction;            /* counter-examples from iterative DFO on the model (0: uniform) */
    int dfo_iterations;            /* that DFO's iterations (3) */
    ibc_inference eval;            /* the inference of train_action_mse in the log */
    const train_options *train;
} ibc_trainer_options;
extern const train_model_class ibc_trainer_class;

/* The stream side of a model on DP's observation encoders (dp_stream.c; dp-train and ibc-train):
 * the data set's field indices of the cameras, the low-dimensional fields and the action. */
typedef struct dp_stream {
    int image[DP_MAX_CAMERAS], lowdim[DP_MAX_LOWDIM], action;
    int action_rows;
} dp_stream;
/* The fields to read: the cameras (every observation.images.* without --cameras, none with the
 * lowdim encoder), the low-dimensional fields, the action. */
int dp_stream_fields(const dp_trainer_options *o, dataset_request *want, int max);
/* Locate the fields into t (may be NULL) and check their layout: observation fields [To,...],
 * action [K,A]. With cfg NULL only the rules that need no model (the first sample's check); with
 * a model's configuration also its horizon (K >= horizon), action size, cameras and keys. */
int dp_stream_locate(dp_stream *t, const dataset_t *ds, const dp_trainer_options *o, const dp_config *cfg);
/* The encoder's configuration from the options and the data: cameras and image size, low-dim keys
 * (DP's normalisation rule per key), action size, crop (DP's 76/84 of the image unless given). */
int dp_stream_config(dp_config *cfg, dp_stream *t, const dataset_t *ds, const dp_trainer_options *o);
/* Batch samples idx[0..n) (images, normalised low-dim values, the first horizon action rows). */
int dp_stream_fill(const dp_stream *t, const dp_model *m, dp_batch *b, const dataset_t *ds, const int64_t *idx, int n);

#endif
