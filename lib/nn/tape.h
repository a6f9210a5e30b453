/* tape.h — internal to lib/nn ops: the tape node and the helpers ops use to record themselves.
 * Not for modules: they only call ops. */
#ifndef ILT_NN_TAPE_H
#define ILT_NN_TAPE_H

#include "nn/tensor.h"

#define NN_NODE_MAX_IN 4

struct nn_node {
    /* Accumulate into the inputs' gradients from n->out->grad. */
    void (*backward)(nn_ctx *c, nn_node *n);
    const char *op;                 /* name, for messages */
    nn_tensor *out;
    nn_tensor *in[NN_NODE_MAX_IN];
    void *saved[2];                 /* arena memory the op kept for backward */
    long i[8];                      /* integer arguments */
    float f[4];                     /* float arguments */
    nn_node *prev;
};

/* 1 if the op must be recorded: recording on and some input requires grad. */
int nn_needs_grad(const nn_ctx *c, int n, nn_tensor *const *in);
/* Append a node; sets out->requires_grad. NULL on arena exhaustion (error set). */
nn_node *nn_record(nn_ctx *c, const char *op, void (*backward)(nn_ctx *, nn_node *), nn_tensor *out,
                   int n_in, nn_tensor *const *in);
/* Arena allocation of n floats (NULL + error on failure). */
float *nn_alloc_floats(nn_ctx *c, long n);
/* Gradient of input k if it needs one (allocated zeroed on first use), else NULL. */
float *nn_in_grad(nn_ctx *c, nn_node *n, int k);
/* As nn_in_grad, but a gradient allocated by this call is left uninitialised and *fresh set to
 * 1: the op must then WRITE every element (=) instead of accumulating — it is the first
 * contribution, and saves the zeroing pass. Not for an input that appears twice in the op. */
float *nn_in_grad_fresh(nn_ctx *c, nn_node *n, int k, int *fresh);
/* Dropout mask m[0..n) (values 0 or 1/(1-p)) from the context's generator, the same for any
 * thread count; with x and y also y = x * m. -1 on arena failure. */
int nn_dropout_fill(nn_ctx *c, float *m, long n, float p, const float *x, float *y);
/* For ops whose input gradient is exactly the output gradient (reshape, same-shape add): if
 * input k needs a gradient and has none yet, adopt the output's gradient buffer (it is complete
 * and no longer needed) and return 1 — no copy, no zeroing. Else 0: accumulate as usual. */
int nn_grad_adopt(nn_node *n, int k);

#endif
