/* optim.h — AdamW with parameter groups, global-norm gradient clipping, learning-rate
 * schedules and an EMA of the weights, all as loops over the parameter store's one block.
 *
 * AdamW follows torch.optim.AdamW: for each trainable p with gradient g, step t (from 1):
 *   p -= lr * wd * p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * with wd = 0 for NN_NO_DECAY parameters. FROZEN and BUFFER entries are skipped. */
#ifndef ILT_NN_OPTIM_H
#define ILT_NN_OPTIM_H

#include "nn/params.h"

#define NN_MAX_GROUPS 8

typedef struct nn_adamw_group {
    float lr, weight_decay;
} nn_adamw_group;

typedef struct nn_adamw {
    nn_params *ps;
    float *m, *v;           /* first/second moments, same layout as ps->data */
    long total;             /* ps->total when the moments were allocated */
    long step;              /* optimizer steps taken (t in the formula after the step) */
    float beta1, beta2, eps;
    int n_groups;
    nn_adamw_group groups[NN_MAX_GROUPS];   /* group 0 = defaults */
    int zero_grad;          /* 1: the step also zeroes the gradients (trainable ones) as it reads
                               them, in the same pass: a training loop then zeroes them once before
                               its first backward instead of every step (default 0) */
} nn_adamw;

/* betas (0.9, 0.999), eps 1e-8; group 0 gets lr/weight_decay; other groups start equal. */
int nn_adamw_init(nn_adamw *opt, nn_params *ps, float lr, float weight_decay);
void nn_adamw_free(nn_adamw *opt);
void nn_adamw_set_group(nn_adamw *opt, int group, float lr, float weight_decay);
/* One step; every group's lr is multiplied by lr_factor (the schedule's value, 1 for none).
 * Register every parameter before nn_adamw_init: a store that grew since is an error (-1). */
int nn_adamw_step(nn_adamw *opt, float lr_factor);

/* Scale every trainable gradient so that the global L2 norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_, factor max_norm/(norm+1e-6)); returns the norm before. */
float nn_clip_grad_norm(nn_params *ps, float max_norm);
/* Global L2 norm of the trainable gradients. */
float nn_grad_norm(const nn_params *ps);

/* Learning-rate factor in [0,1] for optimizer step `step` (0-based):
 * constant: 1 (after warmup_steps linear warmup if > 0);
 * cosine: linear warmup from 0 over warmup_steps, then 0.5*(1+cos(pi*progress)) to 0 at
 * total_steps (diffusers get_cosine_schedule_with_warmup, as Diffusion Policy uses). */
float nn_lr_constant(long step, long warmup_steps);
float nn_lr_cosine(long step, long warmup_steps, long total_steps);

/* EMA of the weights (Diffusion Policy's EMAModel: power 0.75, inv_gamma 1, max 0.9999,
 * update_after_step 0). Buffers, FROZEN and NN_EMA_COPY entries are copied, trainable ones
 * averaged. (The reference leaves buffers at their initial copy; we copy them every update.) */
typedef struct nn_ema {
    nn_params *ps;
    float *shadow;          /* same layout as ps->data */
    long total;             /* ps->total when the shadow was allocated */
    long optimization_step;
    float power, max_decay, min_decay;
    float last_decay;
} nn_ema;
int nn_ema_init(nn_ema *ema, nn_params *ps);     /* shadow = copy of the current weights */
void nn_ema_free(nn_ema *ema);
/* decay for update number k (0-based): s = k - 1; 0 if s <= 0, else min(1-(1+s)^-power, max). */
float nn_ema_decay(const nn_ema *ema, long k);
int nn_ema_update(nn_ema *ema);                  /* after each optimizer step; -1 if the store grew */
/* Exchange shadow and live weights (evaluate with EMA weights, then swap back). */
void nn_ema_swap(nn_ema *ema);

#endif
