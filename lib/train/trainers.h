/* trainers.h — each policy's model table for the shared training loop (train.h), and the
 * options a trainer tool fills for it. train.c knows no model; the tables here adapt a policy's
 * model (lib/policy) to the loop's hooks: which fields it reads, how it is built, loaded,
 * batched, its loss and its checkpoint. A new trainer adds a table here and a tool that parses
 * its model's options (see docs/HACKING.md). */
#ifndef ILT_TRAIN_TRAINERS_H
#define ILT_TRAIN_TRAINERS_H

#include <stddef.h>

#include "policy/act.h"
#include "policy/diffusion.h"
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
    int eval_steps;                /* DDIM steps of train_action_mse */
    const train_options *train;
} dp_trainer_options;
extern const train_model_class dp_trainer_class;

#endif
