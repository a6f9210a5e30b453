/* ops_shape.c — reshape (a view), permute/transpose, concat, slice, repeat along dim 0. */
#include "nn/ops.h"
#include "nn/tape.h"
#include "util/error.h"

#include <string.h>

#define IN(...) ((nn_tensor *const[]){ __VA_ARGS__ })

/* ---------------------------------------------------------------- reshape */
static void view_backward(nn_ctx *c, nn_node *n)
{
    if (nn_grad_adopt(n, 0)) return;
    float *dx = nn_in_grad(c, n, 0);
    const float *dy = n->out->grad;
    if (dx)
        for (long i = 0; i < n->out->size; i++) dx[i] += dy[i];
}

nn_tensor *nn_reshape(nn_ctx *c, nn_tensor *x, int ndim, const int *shape)
{
    if (!x) return NULL;
    int s[NN_MAX_DIMS], infer = -1;
    long known = 1;
    if (ndim < 1 || ndim > NN_MAX_DIMS) { error_set("nn reshape: %d dims", ndim); return NULL; }
    for (int d = 0; d < ndim; d++) {
        s[d] = shape[d];
        if (s[d] == -1 && infer < 0) infer = d;
        else if (s[d] <= 0) { error_set("nn reshape: dim %d is %d", d, s[d]); return NULL; }
        else known *= s[d];
    }
    if (infer >= 0) s[infer] = known > 0 && x->size % known == 0 ? (int)(x->size / known) : -1;
    if (nn_shape_size(ndim, s) != x->size || (infer >= 0 && s[infer] <= 0)) {
        char b[64];
        error_set("nn reshape: cannot view %s (%ld elements) with the requested shape", nn_shape_str(x, b, 64), x->size);
        return NULL;
    }
    nn_tensor *y = nn_wrap(c, x->data, ndim, s);
    if (!y) return NULL;
    if (nn_needs_grad(c, 1, IN(x)) && !nn_record(c, "reshape", view_backward, y, 1, IN(x))) return NULL;
    return y;
}

/* ---------------------------------------------------------------- permute */
/* Copy src (shape in, 5-D padded) into dst permuted; add = accumulate. Inverse with inv = 1. */
static void permute_copy(const int *in_shape, const int *perm, const float *src, float *dst, int inverse, int add)
{
    long in_stride[NN_MAX_DIMS], st[NN_MAX_DIMS];
    int os[NN_MAX_DIMS];
    long t = 1;
    for (int d = NN_MAX_DIMS - 1; d >= 0; d--) { in_stride[d] = t; t *= in_shape[d]; }
    for (int d = 0; d < NN_MAX_DIMS; d++) { os[d] = in_shape[perm[d]]; st[d] = in_stride[perm[d]]; }
    long oi = 0;
    for (int a = 0; a < os[0]; a++)
        for (int b = 0; b < os[1]; b++)
            for (int e = 0; e < os[2]; e++)
                for (int f = 0; f < os[3]; f++) {
                    long base = a * st[0] + b * st[1] + e * st[2] + f * st[3];
                    for (int g = 0; g < os[4]; g++, oi++) {
                        long ii = base + g * st[4];
                        if (!inverse) { if (add) dst[oi] += src[ii]; else dst[oi] = src[ii]; }
                        else { if (add) dst[ii] += src[oi]; else dst[ii] = src[oi]; }
                    }
                }
}

static void permute_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    int shape[NN_MAX_DIMS], perm[NN_MAX_DIMS];
    for (int d = 0; d < NN_MAX_DIMS; d++) { shape[d] = (int)n->i[d] & 0xffffff; perm[d] = (int)(n->i[d] >> 32); }
    permute_copy(shape, perm, n->out->grad, dx, 1, 1);
}

nn_tensor *nn_permute(nn_ctx *c, nn_tensor *x, const int *perm)
{
    if (!x) return NULL;
    int nd = x->ndim, pad = NN_MAX_DIMS - nd, seen = 0;
    int shape[NN_MAX_DIMS], p5[NN_MAX_DIMS], out[NN_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        if (perm[d] < 0 || perm[d] >= nd || (seen & (1 << perm[d]))) { error_set("nn permute: bad permutation for %d dims", nd); return NULL; }
        seen |= 1 << perm[d];
    }
    for (int d = 0; d < NN_MAX_DIMS; d++) {
        shape[d] = d < pad ? 1 : x->shape[d - pad];
        p5[d] = d < pad ? d : perm[d - pad] + pad;
    }
    for (int d = 0; d < nd; d++) out[d] = x->shape[perm[d]];
    nn_tensor *y = nn_new(c, nd, out);
    if (!y) return NULL;
    permute_copy(shape, p5, x->data, y->data, 0, 0);
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, "permute", permute_backward, y, 1, IN(x));
        if (!n) return NULL;
        for (int d = 0; d < NN_MAX_DIMS; d++) n->i[d] = (long)shape[d] | ((long)p5[d] << 32);
    }
    return y;
}

nn_tensor *nn_transpose(nn_ctx *c, nn_tensor *x, int d0, int d1)
{
    if (!x) return NULL;
    if (d0 < 0) d0 += x->ndim;
    if (d1 < 0) d1 += x->ndim;
    if (d0 < 0 || d1 < 0 || d0 >= x->ndim || d1 >= x->ndim) { error_set("nn transpose: dims %d,%d of a %d-D tensor", d0, d1, x->ndim); return NULL; }
    int perm[NN_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) perm[d] = d;
    perm[d0] = d1;
    perm[d1] = d0;
    return nn_permute(c, x, perm);
}

/* ---------------------------------------------------------------- concat / slice */
static void outer_inner(const nn_tensor *t, int dim, long *outer, long *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
}

static void concat_backward(nn_ctx *c, nn_node *n)
{
    int dim = (int)n->i[0], count = (int)n->i[1];
    nn_tensor **xs = n->saved[0];
    long outer, inner, off = 0;
    outer_inner(n->out, dim, &outer, &inner);
    long row = n->out->shape[dim] * inner;
    for (int k = 0; k < count; k++) {
        long len = xs[k]->shape[dim] * inner;
        if (xs[k]->requires_grad) {
            float *dx = nn_grad(c, xs[k]);
            if (!dx) return;
            for (long o = 0; o < outer; o++) {
                const float *s = n->out->grad + o * row + off;
                float *d = dx + o * len;
                for (long i = 0; i < len; i++) d[i] += s[i];
            }
        }
        off += len;
    }
}

nn_tensor *nn_concat(nn_ctx *c, nn_tensor **xs, int count, int dim)
{
    if (count < 1) { error_set("nn concat: nothing to concatenate"); return NULL; }
    for (int k = 0; k < count; k++)
        if (!xs[k]) return NULL;
    int nd = xs[0]->ndim;
    if (dim < 0) dim += nd;
    if (dim < 0 || dim >= nd) { error_set("nn concat: dim out of range"); return NULL; }
    int shape[NN_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[dim] = 0;
    int rec = 0;
    for (int k = 0; k < count; k++) {
        int ok = xs[k]->ndim == nd;
        for (int d = 0; ok && d < nd; d++) ok = d == dim || xs[k]->shape[d] == xs[0]->shape[d];
        if (!ok) {
            char b1[64], b2[64];
            error_set("nn concat: %s does not match %s along dim %d", nn_shape_str(xs[k], b1, 64), nn_shape_str(xs[0], b2, 64), dim);
            return NULL;
        }
        shape[dim] += xs[k]->shape[dim];
        rec |= nn_needs_grad(c, 1, &xs[k]);
    }
    nn_tensor *y = nn_new(c, nd, shape);
    if (!y) return NULL;
    long outer, inner, off = 0;
    outer_inner(y, dim, &outer, &inner);
    long row = shape[dim] * inner;
    for (int k = 0; k < count; k++) {
        long len = xs[k]->shape[dim] * inner;
        for (long o = 0; o < outer; o++) memcpy(y->data + o * row + off, xs[k]->data + o * len, (size_t)len * sizeof(float));
        off += len;
    }
    if (rec) {
        nn_tensor **saved = nn_arena_alloc(c->arena, (size_t)count * sizeof *saved);
        if (!saved) return NULL;
        memcpy(saved, xs, (size_t)count * sizeof *saved);
        nn_node *n = nn_record(c, "concat", concat_backward, y, 0, NULL);
        if (!n) return NULL;
        n->saved[0] = saved;
        n->i[0] = dim;
        n->i[1] = count;
    }
    return y;
}

static void slice_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    int dim = (int)n->i[0], start = (int)n->i[1];
    long outer, inner;
    outer_inner(n->in[0], dim, &outer, &inner);
    long in_row = n->in[0]->shape[dim] * inner, len = n->out->shape[dim] * inner;
    for (long o = 0; o < outer; o++) {
        float *d = dx + o * in_row + start * inner;
        const float *s = n->out->grad + o * len;
        for (long i = 0; i < len; i++) d[i] += s[i];
    }
}

nn_tensor *nn_slice(nn_ctx *c, nn_tensor *x, int dim, int start, int stop)
{
    if (!x) return NULL;
    if (dim < 0) dim += x->ndim;
    if (dim < 0 || dim >= x->ndim || start < 0 || stop > x->shape[dim] || start >= stop) {
        char b[64];
        error_set("nn slice: [%d:%d] along dim %d of %s", start, stop, dim, nn_shape_str(x, b, 64));
        return NULL;
    }
    int shape[NN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = stop - start;
    nn_tensor *y = nn_new(c, x->ndim, shape);
    if (!y) return NULL;
    long outer, inner;
    outer_inner(x, dim, &outer, &inner);
    long in_row = x->shape[dim] * inner, len = shape[dim] * inner;
    for (long o = 0; o < outer; o++) memcpy(y->data + o * len, x->data + o * in_row + start * inner, (size_t)len * sizeof(float));
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, "slice", slice_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->i[0] = dim;
        n->i[1] = start;
    }
    return y;
}

static void repeat0_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    long m = n->in[0]->size, times = n->i[0];
    for (long t = 0; t < times; t++)
        for (long i = 0; i < m; i++) dx[i] += n->out->grad[t * m + i];
}

nn_tensor *nn_repeat0(nn_ctx *c, nn_tensor *x, int times)
{
    if (!x) return NULL;
    if (times < 1 || x->ndim < 1) { error_set("nn repeat0: %d times", times); return NULL; }
    int shape[NN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] *= times;
    nn_tensor *y = nn_new(c, x->ndim, shape);
    if (!y) return NULL;
    for (int t = 0; t < times; t++) memcpy(y->data + t * x->size, x->data, (size_t)x->size * sizeof(float));
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, "repeat0", repeat0_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->i[0] = times;
    }
    return y;
}
