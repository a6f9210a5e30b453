/* nn_gradcheck.h — central-difference gradient checks for nn ops (header-only, for the
 * test_nn_*.c unit tests). A check builds the op from leaf inputs, takes the loss
 * L = sum(out * r) with a fixed random r, runs the tape backward with r as the output
 * gradient, then compares every input element's analytic gradient with
 * (L(x+h) - L(x-h)) / 2h computed with recording off. */
#ifndef ILT_TESTS_NN_GRADCHECK_H
#define ILT_TESTS_NN_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "tap.h"
#include "util/error.h"

#define GC_MAX_IN 6

/* Builds the op's output from the inputs (in[k] are leaves with requires_grad set). */
typedef nn_tensor *(*gc_build)(nn_ctx *c, nn_tensor **in, void *arg);

typedef struct gc_input {
    int ndim;
    int shape[NN_MAX_DIMS];
    float *data;            /* values (filled by the caller or gc_fill_*) */
    int no_grad;            /* constant input: not checked, no gradient */
} gc_input;

static __attribute__((unused)) void gc_shape(gc_input *g, int ndim, const int *shape)
{
    memset(g, 0, sizeof *g);
    g->ndim = ndim;
    memcpy(g->shape, shape, (size_t)ndim * sizeof(int));
    g->data = malloc((size_t)nn_shape_size(ndim, shape) * sizeof(float));
}

static __attribute__((unused)) long gc_size(const gc_input *g) { return nn_shape_size(g->ndim, g->shape); }

static __attribute__((unused)) void gc_fill_uniform(gc_input *g, rng_t *r, float lo, float hi)
{
    rng_fill_uniform(r, g->data, (size_t)gc_size(g), lo, hi);
}

/* Values away from 0 (|x| >= margin), for ops with a kink at 0. */
static __attribute__((unused)) void gc_fill_away_from_zero(gc_input *g, rng_t *r, float lo, float hi, float margin)
{
    long n = gc_size(g);
    for (long i = 0; i < n; i++) {
        float v;
        do v = lo + (hi - lo) * rng_uniformf(r); while (fabsf(v) < margin);
        g->data[i] = v;
    }
}

/* Distinct values spaced by `gap` in random order (max-pool: no ties). */
static __attribute__((unused)) void gc_fill_distinct(gc_input *g, rng_t *r, float gap)
{
    long n = gc_size(g);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (long i = 0; i < n; i++) idx[i] = i;
    rng_shuffle(r, idx, (size_t)n);
    for (long i = 0; i < n; i++) g->data[i] = (float)(idx[i] - n / 2) * gap;
    free(idx);
}

static double gc_loss(nn_tensor *out, const float *r)
{
    double s = 0;
    for (long i = 0; i < out->size; i++) s += (double)out->data[i] * r[i];
    return s;
}

typedef struct gc_opts {
    double h, atol, rtol;
    int train;              /* ctx train flag (default 1) */
    rng_t *reseed;          /* if set, copied into a ctx RNG before every forward (dropout) */
} gc_opts;

static nn_tensor *gc_forward(nn_ctx *c, gc_build f, void *arg, gc_input *in, int n_in, nn_tensor **leaves,
                             const gc_opts *o, rng_t *rng)
{
    for (int k = 0; k < n_in; k++) {
        leaves[k] = nn_wrap(c, in[k].data, in[k].ndim, in[k].shape);
        leaves[k]->requires_grad = !in[k].no_grad && c->record;
    }
    if (o->reseed) { *rng = *o->reseed; nn_ctx_set_rng(c, rng); }
    return f(c, leaves, arg);
}

/* Returns 1 if every checked gradient matched. Prints one TAP line per input. */
static __attribute__((unused)) int gc_check(const char *name, gc_build f, void *arg, gc_input *in, int n_in, gc_opts o)
{
    if (o.h == 0) o.h = 1e-2;
    if (o.atol == 0) o.atol = 2e-3;
    if (o.rtol == 0) o.rtol = 2e-2;
    nn_ctx *c = nn_ctx_new(1 << 20);
    rng_t rng;
    nn_tensor *leaves[GC_MAX_IN];
    nn_ctx_set_train(c, o.train >= 0 ? 1 : 0);
    if (o.train < 0) nn_ctx_set_train(c, 0);
    nn_tensor *out = gc_forward(c, f, arg, in, n_in, leaves, &o, &rng);
    if (!out) { tap_ok(0, "%s: forward failed: %s", name, error_get()); nn_ctx_free(c); return 0; }
    long n_out = out->size;
    float *r = malloc((size_t)n_out * sizeof(float));
    rng_t rr;
    rng_seed(&rr, 1234);
    rng_fill_uniform(&rr, r, (size_t)n_out, -1.0f, 1.0f);
    float *analytic[GC_MAX_IN] = { 0 };
    if (nn_backward_from(c, out, r) < 0) { tap_ok(0, "%s: backward failed: %s", name, error_get()); nn_ctx_free(c); free(r); return 0; }
    for (int k = 0; k < n_in; k++) {
        if (in[k].no_grad) continue;
        analytic[k] = calloc((size_t)gc_size(&in[k]), sizeof(float));
        if (leaves[k]->grad) memcpy(analytic[k], leaves[k]->grad, (size_t)gc_size(&in[k]) * sizeof(float));
    }
    nn_ctx_reset(c);
    nn_ctx_set_record(c, 0);
    int all = 1;
    for (int k = 0; k < n_in; k++) {
        if (in[k].no_grad) continue;
        long n = gc_size(&in[k]);
        float *num = malloc((size_t)n * sizeof(float));
        for (long i = 0; i < n; i++) {
            float x0 = in[k].data[i];
            in[k].data[i] = x0 + (float)o.h;
            double lp = gc_loss(gc_forward(c, f, arg, in, n_in, leaves, &o, &rng), r);
            nn_ctx_reset(c);
            in[k].data[i] = x0 - (float)o.h;
            double lm = gc_loss(gc_forward(c, f, arg, in, n_in, leaves, &o, &rng), r);
            nn_ctx_reset(c);
            in[k].data[i] = x0;
            num[i] = (float)((lp - lm) / (2 * o.h));
        }
        char label[160];
        snprintf(label, sizeof label, "%s: d/d input %d", name, k);
        all &= tap_close(analytic[k], num, n, o.atol, o.rtol, label);
        /* a check that passes with zero gradients proves nothing */
        double mx = 0;
        for (long i = 0; i < n; i++) mx = fmax(mx, fabs(num[i]));
        if (mx < 10 * o.atol) tap_diag("%s: gradient is nearly zero everywhere (max %.3g): weak check", label, mx);
        free(num);
        free(analytic[k]);
    }
    free(r);
    nn_ctx_free(c);
    return all;
}

#endif
