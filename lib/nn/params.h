/* params.h — the parameter store: every parameter and buffer of a model in one allocation,
 * with gradients (and the optimizer's AdamW moments, optim.h) in the same layout, so that a
 * whole-model update, clip or EMA is one loop over one array.
 *
 * Modules register named parameters with PyTorch's names and layouts while building:
 *
 *   nn_tensor *w = nn_param(ps, "backbone.conv1.weight", 0, NN_DIMS(64, 3, 7, 7));
 *   nn_tensor *rm = nn_param(ps, "backbone.bn1.running_mean", NN_BUFFER, NN_DIMS(64));
 *
 * The returned nn_tensor pointer is stable for the store's life; its data/grad pointers are
 * valid right away (zero-filled) and stay valid until the next nn_param call (the block may
 * move while registering; fill values after registering, or re-read t->data). Checkpoint I/O
 * (io/) walks ps->list by name. */
#ifndef ILT_NN_PARAMS_H
#define ILT_NN_PARAMS_H

#include "nn/tensor.h"

enum {
    NN_NO_DECAY = 1 << 0,   /* AdamW applies no weight decay (biases, norms, pos. embeddings) */
    NN_FROZEN   = 1 << 1,   /* not trained: no gradient, the optimizer skips it */
    NN_BUFFER   = 1 << 2,   /* state, not a parameter (BatchNorm running stats, counters):
                               saved in checkpoints, never trained, copied (not averaged) by EMA */
    NN_EMA_COPY = 1 << 3,   /* trained, but EMA copies it instead of averaging (Diffusion
                               Policy's EMAModel does this for BatchNorm weight/bias) */
};

typedef struct nn_param_info {
    nn_tensor *t;           /* t->name is the PyTorch name */
    long offset;            /* floats from the start of data/grad/m/v */
    unsigned flags;
    int group;              /* optimizer parameter group (optim.h), 0 by default */
} nn_param_info;

typedef struct nn_params {
    float *data;            /* every parameter and buffer, back to back (64-byte aligned) */
    float *grad;            /* same layout; zero where FROZEN or BUFFER */
    long total;             /* floats in data/grad */
    long capacity;
    nn_param_info *list;    /* in registration order */
    int count, list_cap;
} nn_params;

nn_params *nn_params_new(void);
void nn_params_free(nn_params *ps);
/* Register a zero-filled parameter. flags: NN_NO_DECAY | NN_FROZEN | NN_BUFFER. A dim may be 0
 * (an empty tensor that a state_dict keeps, as Diffusion Policy's _dummy_variable). Returns
 * NULL + error_set on a duplicate name, negative dim or out of memory. */
nn_tensor *nn_param(nn_params *ps, const char *name, unsigned flags, int ndim, const int *shape);
/* Move a registered parameter to optimizer group `group` (own lr / weight decay). */
int nn_param_set_group(nn_params *ps, const char *name_prefix, int group);
/* Add flags to (or, with set=0, remove from) every parameter whose name starts with prefix. */
int nn_param_set_flags(nn_params *ps, const char *name_prefix, unsigned flags, int set);
nn_tensor *nn_param_find(const nn_params *ps, const char *name);
nn_param_info *nn_param_info_of(const nn_params *ps, const nn_tensor *t);
void nn_params_zero_grad(nn_params *ps);
/* Inference with fixed weights: freeze = NN_PACK_F32 (1) or NN_PACK_F16 (gemm_packed.h)
 * promises that no parameter value changes until nn_params_freeze(ps, 0); linear and
 * convolution ops then multiply by a copy of each weight packed once on first use
 * (gemm_packed.c), in single or half precision, instead of repacking it inside every product,
 * the cost that dominates batch-1 inference. freeze = 0 drops the packed copies (do so before
 * loading or training). */
void nn_params_freeze(nn_params *ps, int freeze);
/* A store that will only run inference: free the gradient block and give the value block back
 * down to its registered size (it grows by doubling while parameters are registered). After
 * this no parameter may be registered and nothing may be trained; gradients of inputs still
 * work (parameters then have none). */
void nn_params_inference_only(nn_params *ps);
/* Number of trainable floats (not FROZEN, not BUFFER). */
long nn_params_trainable(const nn_params *ps);

/* Initialisers (PyTorch's defaults); fan_in = prod(shape[1:]). */
void nn_init_uniform(nn_tensor *t, rng_t *rng, float lo, float hi);
void nn_init_normal(nn_tensor *t, rng_t *rng, float mean, float std);
void nn_init_const(nn_tensor *t, float value);
/* nn.Linear / nn.Conv default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * bias the same bound. Pass the weight's fan_in explicitly for the bias. */
void nn_init_kaiming_uniform_default(nn_tensor *t, rng_t *rng, long fan_in);
/* kaiming_normal_(mode="fan_out", nonlinearity="relu") as torchvision's ResNet. */
void nn_init_kaiming_normal_fan_out(nn_tensor *t, rng_t *rng);
/* xavier_uniform_ (DETR transformer weights). */
void nn_init_xavier_uniform(nn_tensor *t, rng_t *rng);

#endif
