/* ops_softmax.c — softmax / log-softmax over the last dim, masked attention softmax, spatial
 * softmax keypoints, and the reductions sum / mean / mean over one dim. */
#include "nn/ops.h"
#include "nn/kernels.h"
#include "nn/vexp.h"
#include "nn/tape.h"
#include "nn/threads.h"
#include "util/error.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define IN(...) ((nn_tensor *const[]){ __VA_ARGS__ })

/* ---------------------------------------------------------------- softmax family */
/* y[r, :] = softmax(x[r, :] + mask), rows of length D. mask: additive [rows % mask_rows] or NULL;
 * pad: per row key padding [D] (1 = excluded) or NULL. Log form: y = x - logsumexp. */
typedef struct {
    const float *x; float *y; long D;
    const float *attn_mask; long mask_rows;           /* attn_mask row = r % mask_rows */
    const unsigned char *pad; long rows_per_batch;    /* pad row = r / rows_per_batch */
    int log;
} softmax_job;

float nn_exp_softmax(float x) { return exp_scalar(x); }

void nn_softmax_row(float *y, const float *x, long D, const float *am, const unsigned char *pad, int log)
{
    float mx = -INFINITY;
    long k0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if (!pad && D >= 8) {   /* max over the rows' vectors; a NaN entry is skipped as below */
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (; k0 + 8 <= D; k0 += 8) {
            __m256 v = _mm256_loadu_ps(x + k0);
            if (am) v = _mm256_add_ps(v, _mm256_loadu_ps(am + k0));
            _mm256_storeu_ps(y + k0, v);
            vm = _mm256_max_ps(v, vm);   /* NaN in v: vm (the second operand) */
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, vm);
        for (int i = 0; i < 8; i++)
            if (lanes[i] > mx) mx = lanes[i];
    }
#endif
    for (long k = k0; k < D; k++) {
        float v = x[k] + (am ? am[k] : 0.0f);
        if (pad && pad[k]) v = -INFINITY;
        y[k] = v;
        if (v > mx) mx = v;
    }
    if (mx == -INFINITY) { memset(y, 0, (size_t)D * sizeof(float)); return; }   /* all masked */
    float s = 0;
    long k = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if (D >= 8) {   /* eight running sums, added in a fixed order */
        const __m256 m = _mm256_set1_ps(mx);
        __m256 acc = _mm256_setzero_ps();
        for (; k + 8 <= D; k += 8) {
            __m256 e = exp_8(_mm256_sub_ps(_mm256_loadu_ps(y + k), m));
            acc = _mm256_add_ps(acc, e);
            if (!log) _mm256_storeu_ps(y + k, e);
        }
        if (k < D) {   /* the last partial vector, padded with -inf (exp 0) */
            float t[8];
            int n = (int)(D - k);
            for (int i = 0; i < 8; i++) t[i] = i < n ? y[k + i] : -INFINITY;
            __m256 e = exp_8(_mm256_sub_ps(_mm256_loadu_ps(t), m));
            acc = _mm256_add_ps(acc, e);
            if (!log) {
                _mm256_storeu_ps(t, e);
                for (int i = 0; i < n; i++) y[k + i] = t[i];
            }
            k = D;
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        s = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    }
#endif
    for (; k < D; k++) { float e = exp_scalar(y[k] - mx); s += e; if (!log) y[k] = e; }
    if (log) {
        float lse = mx + logf(s);
        for (long k = 0; k < D; k++) y[k] -= lse;
    } else {
        float inv = 1.0f / s;
        for (long k = 0; k < D; k++) y[k] *= inv;
    }
}

static void softmax_rows(void *arg, long r0, long r1)
{
    const softmax_job *j = arg;
    const long D = j->D;
    for (long r = r0; r < r1; r++)
        nn_softmax_row(j->y + r * D, j->x + r * D, D, j->attn_mask ? j->attn_mask + (r % j->mask_rows) * D : NULL,
                       j->pad ? j->pad + (r / j->rows_per_batch) * D : NULL, j->log);
}

typedef struct { const float *y, *dy; float *dx; long D; int log; } softmax_bjob;

static void softmax_backward_rows(void *arg, long r0, long r1)
{
    const softmax_bjob *j = arg;
    const long D = j->D;
    for (long r = r0; r < r1; r++) {
        const float *y = j->y + r * D, *dy = j->dy + r * D;
        float *dx = j->dx + r * D;
        float s = 0;
        if (j->log) {
            for (long k = 0; k < D; k++) s += dy[k];
            for (long k = 0; k < D; k++) dx[k] += dy[k] - expf(y[k]) * s;
        } else {
            for (long k = 0; k < D; k++) s += dy[k] * y[k];
            for (long k = 0; k < D; k++) dx[k] += y[k] * (dy[k] - s);
        }
    }
}

static void softmax_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    long D = n->out->shape[n->out->ndim - 1];
    softmax_bjob j = { n->out->data, n->out->grad, dx, D, (int)n->i[0] };
    nn_parallel_for(n->out->size / D, 64, softmax_backward_rows, &j);
}

static nn_tensor *softmax_common(nn_ctx *c, nn_tensor *x, int log, const float *attn_mask, long mask_rows,
                                 const unsigned char *pad, long rows_per_batch)
{
    nn_tensor *y = nn_new(c, x->ndim, x->shape);
    if (!y) return NULL;
    long D = x->shape[x->ndim - 1];
    softmax_job j = { x->data, y->data, D, attn_mask, mask_rows, pad, rows_per_batch, log };
    nn_parallel_for(x->size / D, 64, softmax_rows, &j);
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, log ? "log_softmax" : "softmax", softmax_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->i[0] = log;
    }
    return y;
}

nn_tensor *nn_softmax(nn_ctx *c, nn_tensor *x) { return x ? softmax_common(c, x, 0, NULL, 1, NULL, 1) : NULL; }
nn_tensor *nn_log_softmax(nn_ctx *c, nn_tensor *x) { return x ? softmax_common(c, x, 1, NULL, 1, NULL, 1) : NULL; }

nn_tensor *nn_softmax_masked(nn_ctx *c, nn_tensor *x, const float *attn_mask, const unsigned char *key_padding)
{
    if (!x) return NULL;
    if (x->ndim != 4) {
        char b[64];
        error_set("nn softmax_masked: scores have shape %s, expected [B,heads,Lq,Lk]", nn_shape_str(x, b, 64));
        return NULL;
    }
    long Lq = x->shape[2];
    return softmax_common(c, x, 0, attn_mask, Lq, key_padding, (long)x->shape[1] * Lq);
}

/* ---------------------------------------------------------------- spatial softmax */
/* saved[0]: attention [B*C, HW] */
static void spatial_softmax_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    nn_tensor *x = n->in[0];
    int H = x->shape[2], W = x->shape[3];
    long HW = (long)H * W, rows = x->size / HW;
    const float *att = n->saved[0], *dy = n->out->grad;
    float inv_t = n->f[0];
    for (long r = 0; r < rows; r++) {
        const float *a = att + r * HW;
        float gx = dy[2 * r], gy = dy[2 * r + 1], s = 0;
        for (long k = 0; k < HW; k++) {
            float px = W > 1 ? -1.0f + 2.0f * (float)(k % W) / (float)(W - 1) : -1.0f;
            float py = H > 1 ? -1.0f + 2.0f * (float)(k / W) / (float)(H - 1) : -1.0f;
            s += a[k] * (gx * px + gy * py);
        }
        for (long k = 0; k < HW; k++) {
            float px = W > 1 ? -1.0f + 2.0f * (float)(k % W) / (float)(W - 1) : -1.0f;
            float py = H > 1 ? -1.0f + 2.0f * (float)(k / W) / (float)(H - 1) : -1.0f;
            dx[r * HW + k] += inv_t * a[k] * (gx * px + gy * py - s);
        }
    }
}

nn_tensor *nn_spatial_softmax(nn_ctx *c, nn_tensor *x, float temperature)
{
    if (!x) return NULL;
    if (x->ndim != 4 || !(temperature > 0)) {
        char b[64];
        error_set("nn spatial_softmax: input %s (expected [B,C,H,W]), temperature %g", nn_shape_str(x, b, 64), temperature);
        return NULL;
    }
    int B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    long HW = (long)H * W, rows = (long)B * C;
    nn_tensor *y = nn_new(c, NN_DIMS(B, C, 2));
    if (!y) return NULL;
    int rec = nn_needs_grad(c, 1, IN(x));
    size_t mark = nn_arena_mark(c->arena);
    float *att = nn_alloc_floats(c, x->size);
    if (!att) return NULL;
    float inv_t = 1.0f / temperature;
    for (long r = 0; r < rows; r++) {
        const float *xr = x->data + r * HW;
        float *a = att + r * HW, mx = -INFINITY, s = 0, ex = 0, ey = 0;
        for (long k = 0; k < HW; k++) if (xr[k] * inv_t > mx) mx = xr[k] * inv_t;
        for (long k = 0; k < HW; k++) { a[k] = expf(xr[k] * inv_t - mx); s += a[k]; }
        for (long k = 0; k < HW; k++) {
            a[k] /= s;
            float px = W > 1 ? -1.0f + 2.0f * (float)(k % W) / (float)(W - 1) : -1.0f;
            float py = H > 1 ? -1.0f + 2.0f * (float)(k / W) / (float)(H - 1) : -1.0f;
            ex += a[k] * px;
            ey += a[k] * py;
        }
        y->data[2 * r] = ex;
        y->data[2 * r + 1] = ey;
    }
    if (rec) {
        nn_node *n = nn_record(c, "spatial_softmax", spatial_softmax_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->saved[0] = att;
        n->f[0] = inv_t;
    } else {
        nn_arena_release(c->arena, mark);
    }
    return y;
}

/* ---------------------------------------------------------------- reductions */
static void sum_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    float g = n->out->grad[0] * n->f[0];
    for (long i = 0; i < n->in[0]->size; i++) dx[i] += g;
}

static nn_tensor *reduce_all(nn_ctx *c, nn_tensor *x, float factor, const char *name)
{
    if (!x) return NULL;
    nn_tensor *y = nn_new(c, NN_DIMS(1));
    if (!y) return NULL;
    double s = 0;
    for (long i = 0; i < x->size; i++) s += x->data[i];
    y->data[0] = (float)(s * factor);
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, name, sum_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->f[0] = factor;
    }
    return y;
}

nn_tensor *nn_sum(nn_ctx *c, nn_tensor *x) { return reduce_all(c, x, 1.0f, "sum"); }
nn_tensor *nn_mean(nn_ctx *c, nn_tensor *x) { return x ? reduce_all(c, x, 1.0f / (float)x->size, "mean") : NULL; }

static void mean_dim_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    long outer = n->i[0], len = n->i[1], inner = n->i[2];
    float inv = 1.0f / (float)len;
    for (long o = 0; o < outer; o++)
        for (long l = 0; l < len; l++)
            for (long i = 0; i < inner; i++) dx[(o * len + l) * inner + i] += n->out->grad[o * inner + i] * inv;
}

nn_tensor *nn_mean_dim(nn_ctx *c, nn_tensor *x, int dim)
{
    if (!x) return NULL;
    if (dim < 0) dim += x->ndim;
    if (dim < 0 || dim >= x->ndim || x->ndim < 2) { error_set("nn mean_dim: dim %d of a %d-D tensor", dim, x->ndim); return NULL; }
    int shape[NN_MAX_DIMS] = { 0 }, k = 0;
    long outer = 1, inner = 1, len = x->shape[dim];
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim) outer *= x->shape[d];
        if (d > dim) inner *= x->shape[d];
        if (d != dim) shape[k++] = x->shape[d];
    }
    nn_tensor *y = nn_zeros(c, k, shape);
    if (!y) return NULL;
    float inv = 1.0f / (float)len;
    for (long o = 0; o < outer; o++)
        for (long l = 0; l < len; l++)
            for (long i = 0; i < inner; i++) y->data[o * inner + i] += x->data[(o * len + l) * inner + i] * inv;
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, "mean_dim", mean_dim_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->i[0] = outer; n->i[1] = len; n->i[2] = inner;
    }
    return y;
}
