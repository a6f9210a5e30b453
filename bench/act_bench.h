/* act_bench.h — what bench/act.c and bench/act_parts.c share: the benchmarked ACT model (14-D
 * state and actions, one "top" camera) and its shape options. */
#ifndef ILT_BENCH_ACT_BENCH_H
#define ILT_BENCH_ACT_BENCH_H

#include <stdio.h>
#include <string.h>

#include "policy/act.h"

static void act_bench_config(act_config *cfg, int height, int width)
{
    act_config_default(cfg);
    cfg->state_dim = cfg->action_dim = 14;
    cfg->n_cameras = 1;
    snprintf(cfg->camera_names[0], ACT_NAME_MAX, "top");
    cfg->height = height;
    cfg->width = width;
}

/* Applies one model option (--hidden --ff --enc --dec --chunk --height --width --frozen) with
 * value v; returns 0 when k is not one of them. */
static int act_bench_model_option(act_config *cfg, const char *k, int v)
{
    if (!strcmp(k, "--hidden")) cfg->hidden_dim = v;
    else if (!strcmp(k, "--ff")) cfg->dim_feedforward = v;
    else if (!strcmp(k, "--enc")) cfg->enc_layers = v;
    else if (!strcmp(k, "--dec")) cfg->dec_layers = v;
    else if (!strcmp(k, "--chunk")) cfg->chunk = v;
    else if (!strcmp(k, "--height")) cfg->height = v;
    else if (!strcmp(k, "--width")) cfg->width = v;
    else if (!strcmp(k, "--frozen")) cfg->backbone_norm = v ? MOD_NORM_FROZEN_BATCH : MOD_NORM_GROUP;
    else return 0;
    return 1;
}

#endif
