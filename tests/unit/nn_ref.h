/* nn_ref.h — header-only helpers for the module tests: fill a parameter store from a
 * tests/torch_ref/<case>/ folder, feed reference inputs, run backward with the stored output
 * gradient and compare outputs, input gradients, parameter gradients and buffers (TAP). */
#ifndef ILT_TESTS_NN_REF_H
#define ILT_TESTS_NN_REF_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "npy_load.h"
#include "tap.h"
#include "util/error.h"

#ifndef REF_ROOT   /* a test with its own reference folder defines it first */
#define REF_ROOT "torch_ref"
#endif

typedef struct ref_tol {
    double atol, rtol;
} ref_tol;

static __attribute__((unused)) void ref_dir(char *out, size_t len, const char *case_name)
{
    snprintf(out, len, "%s/%s", REF_ROOT, case_name);
}

static __attribute__((unused)) int ref_same_shape(const ref_array *a, const nn_tensor *t)
{
    long n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    if (a->ndim == 0 && t->size == 1) return 1;
    if (a->ndim != t->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != t->shape[d]) return 0;
    return n == t->size;
}

/* Copy param.<name>.npy into every registered tensor; one TAP line for the whole store. */
static __attribute__((unused)) int ref_load_params(nn_params *ps, const char *case_name)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    int good = 1, n = 0;
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        ref_array a;
        if (ref_load_entry(dir, "param", t->name, &a, 1) < 0) {
            tap_diag("%s: no reference for parameter %s", case_name, t->name);
            good = 0;
            continue;
        }
        if (!ref_same_shape(&a, t)) {
            char s[64];
            tap_diag("%s: %s has shape %s here, %d-D in the reference", case_name, t->name,
                     nn_shape_str(t, s, sizeof s), a.ndim);
            good = 0;
        } else {
            memcpy(t->data, a.data, (size_t)t->size * sizeof(float));
            n++;
        }
        ref_free(&a);
    }
    return tap_ok(good, "%s: %d parameters loaded with PyTorch names and shapes", case_name, n);
}

/* An input leaf from in.<name>.npy (requires_grad set so its gradient is kept). */
static __attribute__((unused)) nn_tensor *ref_input(nn_ctx *c, const char *case_name, const char *name, int grad)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    ref_array a;
    if (ref_load_entry(dir, "in", name, &a, 0) < 0) return NULL;
    nn_tensor *t = nn_from(c, a.data, a.ndim, a.shape);
    ref_free(&a);
    if (t) t->requires_grad = grad;
    return t;
}

/* [L,N,E] (PyTorch's sequence-first) -> [N,L,E] and back (swap = the same operation). */
static __attribute__((unused)) void ref_swap01(const float *in, float *out, int d0, int d1, int d2)
{
    for (int i = 0; i < d0; i++)
        for (int j = 0; j < d1; j++)
            memcpy(out + ((long)j * d0 + i) * d2, in + ((long)i * d1 + j) * d2, (size_t)d2 * sizeof(float));
}

/* A sequence-first reference input [L,N,E] as a batch-first leaf [N,L,E]. */
static __attribute__((unused)) nn_tensor *ref_input_seq(nn_ctx *c, const char *case_name, const char *name, int grad)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    ref_array a;
    if (ref_load_entry(dir, "in", name, &a, 0) < 0) return NULL;
    nn_tensor *t = nn_new(c, NN_DIMS(a.shape[1], a.shape[0], a.shape[2]));
    if (t) {
        ref_swap01(a.data, t->data, a.shape[0], a.shape[1], a.shape[2]);
        t->requires_grad = grad;
    }
    ref_free(&a);
    return t;
}

/* Compare values (seq_first: the tensor is [N,L,E] and the reference [L,N,E]). */
static __attribute__((unused)) int ref_check(const char *case_name, const char *kind, const char *name,
                                             const float *values, const nn_tensor *shape_of, int seq_first,
                                             ref_tol tol)
{
    char dir[512], label[512];
    ref_dir(dir, sizeof dir, case_name);
    snprintf(label, sizeof label, "%s: %s %s matches PyTorch", case_name, kind, name);
    ref_array a;
    if (!values) return tap_ok(0, "%s (no value computed: %s)", label, error_get());
    if (ref_load_entry(dir, kind, name, &a, 0) < 0) return tap_ok(0, "%s (no reference)", label);
    long n = a.size;
    float *expect = a.data;
    float *swapped = NULL;
    if (seq_first) {
        swapped = malloc((size_t)n * sizeof(float));
        ref_swap01(a.data, swapped, a.shape[0], a.shape[1], a.shape[2]);
        expect = swapped;
    }
    if (shape_of && shape_of->size != n) {
        free(swapped);
        ref_free(&a);
        return tap_ok(0, "%s (size %ld, reference %ld)", label, shape_of->size, n);
    }
    int r = tap_close(values, expect, n, tol.atol, tol.rtol, label);
    free(swapped);
    ref_free(&a);
    return r;
}

static __attribute__((unused)) int ref_check_output(const char *case_name, const char *name, const nn_tensor *y,
                                                    int seq_first, ref_tol tol)
{
    return ref_check(case_name, "out", name, y ? y->data : NULL, y, seq_first, tol);
}

static __attribute__((unused)) int ref_check_input_grad(const char *case_name, const char *name, const nn_tensor *x,
                                                        int seq_first, ref_tol tol)
{
    return ref_check(case_name, "gin", name, x ? x->grad : NULL, x, seq_first, tol);
}

/* Backward from y with dout.<name>.npy as its gradient. */
static __attribute__((unused)) int ref_backward(nn_ctx *c, const char *case_name, const char *name, nn_tensor *y,
                                                int seq_first)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    ref_array a;
    if (!y) return tap_ok(0, "%s: forward failed: %s", case_name, error_get());
    if (ref_load_entry(dir, "dout", name, &a, 0) < 0) return tap_ok(0, "%s: no dout.%s", case_name, name);
    float *g = a.data;
    float *swapped = NULL;
    if (seq_first) {
        swapped = malloc((size_t)a.size * sizeof(float));
        ref_swap01(a.data, swapped, a.shape[0], a.shape[1], a.shape[2]);
        g = swapped;
    }
    int r = a.size == y->size ? nn_backward_from(c, y, g) : error_set("dout size %ld, output size %ld", a.size, y->size);
    free(swapped);
    ref_free(&a);
    if (r < 0) return tap_ok(0, "%s: backward: %s", case_name, error_get());
    return 1;
}

/* Every grad.<name>.npy present (stored whole, or its first elements) against ps's gradients:
 * |ours - ref| <= atol * max(1, rms(ref)) + rtol * |ref|. One TAP line per store. */
static __attribute__((unused)) int ref_check_param_grads(nn_params *ps, const char *case_name, ref_tol tol)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    int good = 1, checked = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        ref_array a;
        if (ref_load_entry(dir, "grad", t->name, &a, 1) < 0) continue;
        checked++;
        if (!t->grad || a.size > t->size) {
            tap_diag("%s: %s: %s", case_name, t->name, t->grad ? "reference larger than the tensor" : "no gradient");
            good = 0;
            ref_free(&a);
            continue;
        }
        /* the absolute tolerance scales with the tensor's RMS gradient (deep networks have
         * gradients in the hundreds, where 1e-4 is below float32 resolution) */
        double rms = 0;
        for (long j = 0; j < a.size; j++) rms += (double)a.data[j] * a.data[j];
        rms = sqrt(rms / (double)(a.size ? a.size : 1));
        double atol = tol.atol * (rms > 1 ? rms : 1);
        if (getenv("NN_REF_VERBOSE")) {
            double m = 0;
            for (long j = 0; j < a.size; j++) m = fmax(m, fabs((double)t->grad[j] - a.data[j]));
            tap_diag("%s: %s max diff %.3g (rms %.3g)", case_name, t->name, m, rms);
        }
        for (long j = 0; j < a.size; j++) {
            double d = fabs((double)t->grad[j] - a.data[j]);
            if (!(d <= atol + tol.rtol * fabs(a.data[j]))) {
                if (good || d > worst) tap_diag("%s: grad %s[%ld] = %.7g, PyTorch %.7g", case_name, t->name, j,
                                                t->grad[j], a.data[j]);
                good = 0;
            }
            if (d > worst || d != d) {
                worst = d;
                worst_name = t->name;
            }
        }
        ref_free(&a);
    }
    return tap_ok(good && checked > 0, "%s: %d parameter gradients match PyTorch (max diff %.2g in %s)", case_name,
                  checked, worst, worst_name);
}

/* Buffers after the call (buf.<name>.npy) against the store. */
static __attribute__((unused)) int ref_check_buffers(nn_params *ps, const char *case_name, ref_tol tol)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    int good = 1, checked = 0;
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        ref_array a;
        if (ref_load_entry(dir, "buf", t->name, &a, 1) < 0) continue;
        char label[512];
        snprintf(label, sizeof label, "%s: buffer %s after the step", case_name, t->name);
        good &= a.size == t->size && tap_close(t->data, a.data, a.size, tol.atol, tol.rtol, label);
        checked++;
        ref_free(&a);
    }
    return good && checked > 0;
}

/* Key-padding mask (in.<name>.npy, 1 = padded) as bytes; caller frees. */
static __attribute__((unused)) unsigned char *ref_key_padding(const char *case_name, const char *name)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    ref_array a;
    if (ref_load_entry(dir, "in", name, &a, 0) < 0) return NULL;
    unsigned char *m = malloc((size_t)a.size);
    for (long i = 0; i < a.size; i++) m[i] = a.data[i] != 0;
    ref_free(&a);
    return m;
}

/* Boolean attention mask (1 = not allowed) as PyTorch's additive form (-inf); caller frees. */
static __attribute__((unused)) float *ref_attn_mask(const char *case_name, const char *name)
{
    char dir[512];
    ref_dir(dir, sizeof dir, case_name);
    ref_array a;
    if (ref_load_entry(dir, "in", name, &a, 0) < 0) return NULL;
    for (long i = 0; i < a.size; i++) a.data[i] = a.data[i] != 0 ? -INFINITY : 0.0f;
    return a.data;
}

#endif
