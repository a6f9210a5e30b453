/* ops_norm.c — BatchNorm (train/eval), FrozenBatchNorm, GroupNorm, LayerNorm, and pooling
 * (max, average, adaptive average). Statistics are accumulated in double so that batch
 * statistics over large maps stay accurate; each (group, sample) is one parallel task. */
#include "nn/ops.h"
#include "nn/tape.h"
#include "nn/threads.h"
#include "util/error.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define IN(...) ((nn_tensor *const[]){ __VA_ARGS__ })

static int shape_error(const char *op, const char *what, const nn_tensor *t)
{
    char b[64];
    return error_set("nn %s: %s has shape %s", op, what, nn_shape_str(t, b, sizeof b));
}

static int is_vec(const nn_tensor *t, int n) { return !t || (t->ndim == 1 && t->shape[0] == n); }

/* ---------------------------------------------------------------- per-channel affine */
/* y[b,c,s] = act(x[b,c,s] * scale[c] + shift[c] (+ residual[b,c,s])), act = identity or ReLU:
 * eval BatchNorm, FrozenBatchNorm, and ResNet's fused bn -> (+ identity) -> relu. Backward:
 * g = dy (masked by y > 0 with ReLU); dx = g*scale, dresidual = g, and for trainable
 * weight/bias dw += g*xhat, db += g with xhat = (x - mean)*rstd. saved[0] = scale|shift|mean|rstd
 * [4C]; i[0] = relu; in[3] = residual. One task per channel (over the batch): each gradient
 * element is written by one task, in one order. */
typedef struct {
    const float *x, *res, *y, *dy, *scale, *shift, *mean, *rstd;
    float *out, *dx, *dres, *dw, *db;
    int B, C, relu;
    long S;
    int dres_is_dx;          /* backward: x was also the residual; dres folded into dx */
} affine_job;

static void affine_forward_planes(void *arg, long p0, long p1)
{
    const affine_job *j = arg;
    for (long pl = p0; pl < p1; pl++) {
        int ch = (int)(pl % j->C);
        const float *x = j->x + pl * j->S, *r = j->res ? j->res + pl * j->S : NULL;
        float *y = j->out + pl * j->S;
        float a = j->scale[ch], b = j->shift[ch];
        if (r && j->relu) for (long s = 0; s < j->S; s++) { float v = x[s] * a + b + r[s]; y[s] = v > 0 ? v : 0.0f; }
        else if (r) for (long s = 0; s < j->S; s++) y[s] = x[s] * a + b + r[s];
        else if (j->relu) for (long s = 0; s < j->S; s++) { float v = x[s] * a + b; y[s] = v > 0 ? v : 0.0f; }
        else for (long s = 0; s < j->S; s++) y[s] = x[s] * a + b;
    }
}

static void affine_backward_channels(void *arg, long c0, long c1)
{
    const affine_job *j = arg;
    const long S = j->S;
    const int want_w = j->dw || j->db;
    for (long ch = c0; ch < c1; ch++) {
        double sw = 0, sb = 0;
        const float a = j->scale[ch] + (j->dres_is_dx ? 1.0f : 0.0f), m = j->mean[ch], rs = j->rstd[ch];
        for (int b = 0; b < j->B; b++) {
            long off = ((long)b * j->C + ch) * S;
            const float *restrict dy = j->dy + off, *restrict x = j->x + off, *restrict y = j->y + off;
            float *restrict dx = j->dx ? j->dx + off : NULL, *restrict dres = j->dres ? j->dres + off : NULL;
            /* one plane: separate simple loops (vectorised) for each gradient that is wanted;
             * the parameter sums per plane in float, across planes in double */
            float sgx = 0, sg = 0;
            if (j->relu) {
                if (dx) for (long s = 0; s < S; s++) dx[s] += y[s] > 0 ? dy[s] * a : 0.0f;
                if (dres) for (long s = 0; s < S; s++) dres[s] += y[s] > 0 ? dy[s] : 0.0f;
                if (want_w)
                    for (long s = 0; s < S; s++) {
                        float g = y[s] > 0 ? dy[s] : 0.0f;
                        sgx += g * x[s];
                        sg += g;
                    }
            } else {
                if (dx) for (long s = 0; s < S; s++) dx[s] += dy[s] * a;
                if (dres) for (long s = 0; s < S; s++) dres[s] += dy[s];
                if (want_w)
                    for (long s = 0; s < S; s++) {
                        sgx += dy[s] * x[s];
                        sg += dy[s];
                    }
            }
            sw += ((double)sgx - (double)m * sg) * rs;
            sb += sg;
        }
        if (j->dw) j->dw[ch] += (float)sw;
        if (j->db) j->db[ch] += (float)sb;
    }
}

static void channel_affine_backward(nn_ctx *c, nn_node *n)
{
    nn_tensor *x = n->in[0];
    int B = x->shape[0], C = x->shape[1];
    const float *p = n->saved[0];
    affine_job j = { x->data, NULL, n->out->data, n->out->grad, p, p + C, p + 2 * C, p + 3 * C,
                     NULL, nn_in_grad(c, n, 0), nn_in_grad(c, n, 3), nn_in_grad(c, n, 1), nn_in_grad(c, n, 2),
                     B, C, (int)n->i[0], x->size / ((long)B * C), 0 };
    if (j.dx && j.dx == j.dres) {   /* x is its own residual: one gradient, dy * (scale + 1) */
        j.dres = NULL;
        j.dres_is_dx = 1;
    }
    nn_parallel_for(C, 1, affine_backward_channels, &j);
}

static nn_tensor *channel_affine(nn_ctx *c, const char *op, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                                 const float *mean, const float *var, float eps, nn_tensor *residual, int relu)
{
    int B = x->shape[0], C = x->shape[1];
    if (residual && !nn_same_shape(residual, x)) {
        char b1[64], b2[64];
        error_set("nn %s: residual %s does not match input %s", op, nn_shape_str(residual, b1, 64), nn_shape_str(x, b2, 64));
        return NULL;
    }
    nn_tensor *y = nn_new(c, x->ndim, x->shape);
    int rec = nn_needs_grad(c, 4, IN(x, weight, bias, residual));
    size_t mark = nn_arena_mark(c->arena);
    float *p = y ? nn_alloc_floats(c, 4L * C) : NULL;
    if (!p) return NULL;
    float *scale = p, *shift = p + C, *mn = p + 2 * C, *rstd = p + 3 * C;
    for (int ch = 0; ch < C; ch++) {
        rstd[ch] = 1.0f / sqrtf(var[ch] + eps);
        mn[ch] = mean[ch];
        scale[ch] = (weight ? weight->data[ch] : 1.0f) * rstd[ch];
        shift[ch] = (bias ? bias->data[ch] : 0.0f) - mean[ch] * scale[ch];
    }
    affine_job j = { x->data, residual ? residual->data : NULL, NULL, NULL, scale, shift, mn, rstd, y->data,
                     NULL, NULL, NULL, NULL, B, C, relu, x->size / ((long)B * C), 0 };
    nn_parallel_for((long)B * C, 4, affine_forward_planes, &j);
    if (rec) {
        nn_node *n = nn_record(c, op, channel_affine_backward, y, 4, IN(x, weight, bias, residual));
        if (!n) return NULL;
        n->saved[0] = p;
        n->i[0] = relu;
    } else {
        nn_arena_release(c->arena, mark);
    }
    return y;
}

nn_tensor *nn_frozen_batch_norm(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                                nn_tensor *running_mean, nn_tensor *running_var, float eps)
{
    if (!x || !running_mean || !running_var) return NULL;
    if (x->ndim < 2) { shape_error("frozen_batch_norm", "input", x); return NULL; }
    int C = x->shape[1];
    if (!is_vec(weight, C) || !is_vec(bias, C) || !is_vec(running_mean, C) || !is_vec(running_var, C)) {
        error_set("nn frozen_batch_norm: statistics/affine must be [%d]", C);
        return NULL;
    }
    return channel_affine(c, "frozen_batch_norm", x, weight, bias, running_mean->data, running_var->data, eps, NULL, 0);
}

nn_tensor *nn_frozen_batch_norm_relu(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                                     nn_tensor *running_mean, nn_tensor *running_var, float eps, nn_tensor *residual)
{
    if (!x || !running_mean || !running_var) return NULL;
    if (x->ndim < 2) { shape_error("frozen_batch_norm_relu", "input", x); return NULL; }
    int C = x->shape[1];
    if (!is_vec(weight, C) || !is_vec(bias, C) || !is_vec(running_mean, C) || !is_vec(running_var, C)) {
        error_set("nn frozen_batch_norm_relu: statistics/affine must be [%d]", C);
        return NULL;
    }
    return channel_affine(c, "frozen_batch_norm_relu", x, weight, bias, running_mean->data, running_var->data, eps,
                          residual, 1);
}

/* ---------------------------------------------------------------- normalisation over groups */
/* Shared by BatchNorm (train), GroupNorm and LayerNorm. Data seen as [outer, G, inner-of-group]:
 * statistic index g; each statistic covers `count` elements spread as blocks. */
typedef struct {
    int kind;                /* 0 batch norm, 1 group norm, 2 layer norm */
    int B, C, G;             /* group norm: G groups of C/G channels; batch norm: G = C */
    long S;                  /* elements per (b, c) (layer norm: S = D, C = 1, B = rows) */
    const float *x, *w, *b;
    float *y, *mean, *rstd;
    float eps;
    const float *dy;
    float *dx;
    double *dw_part, *db_part;   /* per task partial sums (fixed order: deterministic) */
    const float *res;            /* fused: y = act(norm(x) + res) (group norm) */
    float *dres;
    int relu;
} norm_job;

/* The output gradient seen by the normalisation: masked where a fused ReLU clipped y. */
static inline float norm_dy(const norm_job *j, long idx)
{
    return (j->relu && j->y[idx] <= 0.0f) ? 0.0f : j->dy[idx];
}

/* element (b, ch, s) -> statistic index */
static inline long norm_stat(const norm_job *j, int b, int ch)
{
    return j->kind == 0 ? ch : (long)b * j->G + ch / (j->C / j->G);
}

/* *s += sum of x[0..n), *ss += sum of squares, in double: four lanes (vectorised), combined in a
 * fixed order. */
static inline void plane_sums(const float *restrict x, long n, double *s, double *ss)
{
    double a[4] = { 0, 0, 0, 0 }, q[4] = { 0, 0, 0, 0 };
    long i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) {
            double v = x[i + l];
            a[l] += v;
            q[l] += v * v;
        }
    double ts = (a[0] + a[1]) + (a[2] + a[3]), tq = (q[0] + q[1]) + (q[2] + q[3]);
    for (; i < n; i++) {
        double v = x[i];
        ts += v;
        tq += v * v;
    }
    *s += ts;
    *ss += tq;
}

/* sum of g and of g*x over [0, n), g = dy masked where a fused ReLU clipped y (y NULL: no mask),
 * in double lanes as plane_sums. */
static inline void plane_grad_sums(const float *restrict dy, const float *restrict y, const float *restrict x, long n,
                                   double *sg, double *sgx)
{
    double a[4] = { 0, 0, 0, 0 }, q[4] = { 0, 0, 0, 0 };
    long i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) {
            double g = y ? (y[i + l] > 0.0f ? dy[i + l] : 0.0f) : dy[i + l];
            a[l] += g;
            q[l] += g * (double)x[i + l];
        }
    double ts = (a[0] + a[1]) + (a[2] + a[3]), tq = (q[0] + q[1]) + (q[2] + q[3]);
    for (; i < n; i++) {
        double g = y ? (y[i] > 0.0f ? dy[i] : 0.0f) : dy[i];
        ts += g;
        tq += g * (double)x[i];
    }
    *sg = ts;
    *sgx = tq;
}

/* Tasks: batch norm one per channel (over B and S); group norm one per (b, g); layer norm
 * one per row. */
static void norm_forward_task(void *arg, long t0, long t1)
{
    const norm_job *j = arg;
    for (long t = t0; t < t1; t++) {
        int b0, b1, c0, c1;
        if (j->kind == 0) { b0 = 0; b1 = j->B; c0 = (int)t; c1 = c0 + 1; }
        else { int cg = j->C / j->G; b0 = (int)(t / j->G); b1 = b0 + 1; c0 = (int)(t % j->G) * cg; c1 = c0 + cg; }
        /* one pass: sums of x and x^2 in double; the cancellation in E[x^2] - mean^2 stays below
         * float precision unless |mean| exceeds the standard deviation by about 1e3 */
        double s = 0, ss = 0;
        long cnt = (long)(b1 - b0) * (c1 - c0) * j->S;
        for (int b = b0; b < b1; b++)
            for (int ch = c0; ch < c1; ch++) plane_sums(j->x + ((long)b * j->C + ch) * j->S, j->S, &s, &ss);
        double mean = s / (double)cnt;
        double var = ss / (double)cnt - mean * mean;
        if (var < 0) var = 0;
        float rstd = (float)(1.0 / sqrt(var + j->eps)), m = (float)mean;
        j->mean[t] = m;
        j->rstd[t] = rstd;
        for (int b = b0; b < b1; b++)
            for (int ch = c0; ch < c1; ch++) {
                long off = ((long)b * j->C + ch) * j->S;
                const float *x = j->x + off;
                float *y = j->y + off;
                if (j->kind == 2) {
                    for (long i = 0; i < j->S; i++)
                        y[i] = (x[i] - m) * rstd * (j->w ? j->w[i] : 1.0f) + (j->b ? j->b[i] : 0.0f);
                } else {
                    float w = j->w ? j->w[ch] : 1.0f, bb = j->b ? j->b[ch] : 0.0f;
                    for (long i = 0; i < j->S; i++) y[i] = (x[i] - m) * rstd * w + bb;
                }
                if (j->res) {
                    const float *r = j->res + off;
                    for (long i = 0; i < j->S; i++) y[i] += r[i];
                }
                if (j->relu)
                    for (long i = 0; i < j->S; i++) y[i] = y[i] > 0 ? y[i] : 0.0f;
            }
    }
}

/* dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * w */
static void norm_backward_task(void *arg, long t0, long t1)
{
    const norm_job *j = arg;
    for (long t = t0; t < t1; t++) {
        int b0, b1, c0, c1;
        if (j->kind == 0) { b0 = 0; b1 = j->B; c0 = (int)t; c1 = c0 + 1; }
        else { int cg = j->C / j->G; b0 = (int)(t / j->G); b1 = b0 + 1; c0 = (int)(t % j->G) * cg; c1 = c0 + cg; }
        float m = j->mean[t], rstd = j->rstd[t];
        long cnt = (long)(b1 - b0) * (c1 - c0) * j->S;
        double s1 = 0, s2 = 0;
        if (j->kind != 2) {
            /* batch/group norm: per plane, sums of g and g*x (vectorised), then
             * sum(g*xhat) = rstd * (sum(g*x) - mean * sum(g)); the channel weight is constant */
            for (int b = b0; b < b1; b++)
                for (int ch = c0; ch < c1; ch++) {
                    long off = ((long)b * j->C + ch) * j->S;
                    const float *dy = j->dy + off, *y = j->relu ? j->y + off : NULL;
                    double sg, sgx;
                    plane_grad_sums(dy, y, j->x + off, j->S, &sg, &sgx);
                    if (j->dres) {
                        float *restrict dres = j->dres + off;
                        if (y) for (long i = 0; i < j->S; i++) dres[i] += y[i] > 0.0f ? dy[i] : 0.0f;
                        else for (long i = 0; i < j->S; i++) dres[i] += dy[i];
                    }
                    double pw = (double)rstd * (sgx - (double)m * sg), pb = sg;
                    double w = j->w ? j->w[ch] : 1.0;
                    s1 += w * pb;
                    s2 += w * pw;
                    long slot = j->kind == 0 ? ch : (long)b * j->C + ch;
                    if (j->dw_part) j->dw_part[slot] += pw;   /* batch norm: summed over b */
                    if (j->db_part) j->db_part[slot] += pb;
                }
        }
        for (int b = b0; j->kind == 2 && b < b1; b++)
            for (int ch = c0; ch < c1; ch++) {
                long off = ((long)b * j->C + ch) * j->S;
                const float *x = j->x + off;
                double pw = 0, pb = 0;
                for (long i = 0; i < j->S; i++) {
                    float dyi = norm_dy(j, off + i);
                    if (j->dres) j->dres[off + i] += dyi;
                    float xh = (x[i] - m) * rstd;
                    float w = j->w ? (j->kind == 2 ? j->w[i] : j->w[ch]) : 1.0f;
                    float g = dyi * w;
                    s1 += g;
                    s2 += g * xh;
                    if (j->kind == 2) {
                        if (j->dw_part) j->dw_part[t * j->S + i] = dyi * xh;
                        if (j->db_part) j->db_part[t * j->S + i] = dyi;
                    } else {
                        pw += dyi * xh;
                        pb += dyi;
                    }
                }
                if (j->kind != 2) {
                    /* partial per (task, channel within task) */
                    long slot = j->kind == 0 ? ch : (long)b * j->C + ch;
                    if (j->dw_part) j->dw_part[slot] += pw;   /* batch norm: summed over b */
                    if (j->db_part) j->db_part[slot] += pb;
                }
            }
        if (!j->dx) continue;
        float a1 = (float)(s1 / (double)cnt), a2 = (float)(s2 / (double)cnt);
        for (int b = b0; b < b1; b++)
            for (int ch = c0; ch < c1; ch++) {
                long off = ((long)b * j->C + ch) * j->S;
                const float *restrict x = j->x + off, *restrict dy = j->dy + off;
                float *restrict dx = j->dx + off;
                if (j->kind == 2) {
                    for (long i = 0; i < j->S; i++) {
                        float xh = (x[i] - m) * rstd;
                        float w = j->w ? j->w[i] : 1.0f;
                        dx[i] += rstd * (norm_dy(j, off + i) * w - a1 - xh * a2);
                    }
                } else {
                    const float w = j->w ? j->w[ch] : 1.0f;
                    const float *restrict y = j->y + off;
                    if (j->relu)
                        for (long i = 0; i < j->S; i++)
                            dx[i] += rstd * ((y[i] > 0.0f ? dy[i] : 0.0f) * w - a1 - (x[i] - m) * rstd * a2);
                    else
                        for (long i = 0; i < j->S; i++) dx[i] += rstd * (dy[i] * w - a1 - (x[i] - m) * rstd * a2);
                }
            }
    }
}

static long norm_tasks(const norm_job *j) { return j->kind == 0 ? j->C : (long)j->B * j->G; }

typedef struct { const double *dw_part, *db_part; float *dw, *db; long per, reps; } reduce_job;

static void reduce_partials(void *arg, long k0, long k1)
{
    const reduce_job *r = arg;
    double sw[256], sb[256];
    for (long kb = k0; kb < k1; kb += 256) {   /* blocks of parameters; rows walked in order */
        long n = k1 - kb < 256 ? k1 - kb : 256;
        memset(sw, 0, sizeof sw);
        memset(sb, 0, sizeof sb);
        for (long i = 0; i < r->reps; i++) {
            if (r->dw) for (long k = 0; k < n; k++) sw[k] += r->dw_part[i * r->per + kb + k];
            if (r->db) for (long k = 0; k < n; k++) sb[k] += r->db_part[i * r->per + kb + k];
        }
        /* each parameter's partials summed in double in row order, then added once */
        for (long k = 0; k < n; k++) {
            if (r->dw) r->dw[kb + k] += (float)sw[k];
            if (r->db) r->db[kb + k] += (float)sb[k];
        }
    }
}

static void norm_backward(nn_ctx *c, nn_node *n)
{
    norm_job j = *(norm_job *)n->saved[0];
    j.dy = n->out->grad;
    j.dx = nn_in_grad(c, n, 0);
    j.dres = nn_in_grad(c, n, 3);
    float *dw = nn_in_grad(c, n, 1), *db = nn_in_grad(c, n, 2);
    size_t mark = nn_arena_mark(c->arena);
    long tasks = norm_tasks(&j);
    long parts = j.kind == 0 ? j.C : j.kind == 1 ? (long)j.B * j.C : tasks * j.S;
    j.dw_part = dw ? nn_arena_alloc(c->arena, (size_t)parts * sizeof(double)) : NULL;
    j.db_part = db ? nn_arena_alloc(c->arena, (size_t)parts * sizeof(double)) : NULL;
    if ((dw && !j.dw_part) || (db && !j.db_part)) return;
    if (j.dw_part) memset(j.dw_part, 0, (size_t)parts * sizeof(double));
    if (j.db_part) memset(j.db_part, 0, (size_t)parts * sizeof(double));
    nn_parallel_for(tasks, 1, norm_backward_task, &j);
    /* reduce partials over the batch in a fixed order (per parameter, split over the pool) */
    long per = j.kind == 2 ? j.S : j.C;
    reduce_job r = { j.dw_part, j.db_part, dw, db, per, parts / per };
    nn_parallel_for(per, (long)parts < 65536 ? per : 16, reduce_partials, &r);
    nn_arena_release(c->arena, mark);
}

static nn_tensor *norm_common(nn_ctx *c, const char *op, int kind, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                              int B, int C, int G, long S, float eps, float **mean_out, nn_tensor *res, int relu)
{
    nn_tensor *y = nn_new(c, x->ndim, x->shape);
    if (!y) return NULL;
    int rec = nn_needs_grad(c, 4, IN(x, w, b, res));
    norm_job j = { kind, B, C, G, S, x->data, w ? w->data : NULL, b ? b->data : NULL, y->data, NULL, NULL, eps,
                   NULL, NULL, NULL, NULL, res ? res->data : NULL, NULL, relu };
    long tasks = norm_tasks(&j);
    size_t mark = nn_arena_mark(c->arena);
    float *stats = nn_alloc_floats(c, 2 * tasks);
    norm_job *saved = rec ? nn_arena_alloc(c->arena, sizeof *saved) : NULL;
    if (!stats || (rec && !saved)) return NULL;
    j.mean = stats;
    j.rstd = stats + tasks;
    nn_parallel_for(tasks, 1, norm_forward_task, &j);
    if (mean_out) *mean_out = stats;
    if (rec) {
        *saved = j;
        nn_node *n = nn_record(c, op, norm_backward, y, 4, IN(x, w, b, res));
        if (!n) return NULL;
        n->saved[0] = saved;
    } else if (!mean_out) {
        nn_arena_release(c->arena, mark);
    }
    return y;
}

static nn_tensor *batch_norm_common(nn_ctx *c, const char *op, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                                    nn_tensor *running_mean, nn_tensor *running_var, float momentum, float eps,
                                    nn_tensor *residual, int relu)
{
    if (!x || !running_mean || !running_var) return NULL;
    if (x->ndim < 2) { shape_error(op, "input", x); return NULL; }
    int B = x->shape[0], C = x->shape[1];
    long S = x->size / ((long)B * C);
    if (!is_vec(weight, C) || !is_vec(bias, C) || !is_vec(running_mean, C) || !is_vec(running_var, C)) {
        error_set("nn %s: weight/bias/running statistics must be [%d]", op, C);
        return NULL;
    }
    if (residual && !nn_same_shape(residual, x)) { shape_error(op, "residual", residual); return NULL; }
    if (!c->train)
        return channel_affine(c, op, x, weight, bias, running_mean->data, running_var->data, eps, residual, relu);
    long n = (long)B * S;
    if (n < 2) { error_set("nn %s: training needs more than one value per channel (got %ld)", op, n); return NULL; }
    float *stats = NULL;
    nn_tensor *y = norm_common(c, op, 0, x, weight, bias, B, C, C, S, eps, &stats, residual, relu);
    if (!y) return NULL;
    /* running statistics: unbiased variance from rstd */
    for (int ch = 0; ch < C; ch++) {
        float r = stats[C + ch];
        double var = 1.0 / ((double)r * r) - eps;
        double unbiased = var * (double)n / (double)(n - 1);
        running_mean->data[ch] = (1 - momentum) * running_mean->data[ch] + momentum * stats[ch];
        running_var->data[ch] = (float)((1 - momentum) * running_var->data[ch] + momentum * unbiased);
    }
    return y;
}

nn_tensor *nn_batch_norm(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias,
                         nn_tensor *running_mean, nn_tensor *running_var, float momentum, float eps)
{
    return batch_norm_common(c, "batch_norm", x, weight, bias, running_mean, running_var, momentum, eps, NULL, 0);
}

nn_tensor *nn_batch_norm_relu(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias, nn_tensor *running_mean,
                              nn_tensor *running_var, float momentum, float eps, nn_tensor *residual)
{
    return batch_norm_common(c, "batch_norm_relu", x, weight, bias, running_mean, running_var, momentum, eps,
                             residual, 1);
}

nn_tensor *nn_group_norm(nn_ctx *c, nn_tensor *x, int groups, nn_tensor *weight, nn_tensor *bias, float eps)
{
    if (!x) return NULL;
    if (x->ndim < 2 || groups < 1 || x->shape[1] % groups) {
        char b[64];
        error_set("nn group_norm: %d groups for input %s", groups, nn_shape_str(x, b, 64));
        return NULL;
    }
    int B = x->shape[0], C = x->shape[1];
    if (!is_vec(weight, C) || !is_vec(bias, C)) { error_set("nn group_norm: weight/bias must be [%d]", C); return NULL; }
    return norm_common(c, "group_norm", 1, x, weight, bias, B, C, groups, x->size / ((long)B * C), eps, NULL, NULL, 0);
}

nn_tensor *nn_group_norm_relu(nn_ctx *c, nn_tensor *x, int groups, nn_tensor *weight, nn_tensor *bias, float eps,
                              nn_tensor *residual)
{
    if (!x) return NULL;
    if (x->ndim < 2 || groups < 1 || x->shape[1] % groups) {
        char b[64];
        error_set("nn group_norm_relu: %d groups for input %s", groups, nn_shape_str(x, b, 64));
        return NULL;
    }
    int B = x->shape[0], C = x->shape[1];
    if (!is_vec(weight, C) || !is_vec(bias, C)) { error_set("nn group_norm_relu: weight/bias must be [%d]", C); return NULL; }
    if (residual && !nn_same_shape(residual, x)) { shape_error("group_norm_relu", "residual", residual); return NULL; }
    return norm_common(c, "group_norm_relu", 1, x, weight, bias, B, C, groups, x->size / ((long)B * C), eps, NULL,
                       residual, 1);
}

nn_tensor *nn_layer_norm(nn_ctx *c, nn_tensor *x, nn_tensor *weight, nn_tensor *bias, float eps)
{
    if (!x) return NULL;
    int D = x->shape[x->ndim - 1];
    if (!is_vec(weight, D) || !is_vec(bias, D)) { error_set("nn layer_norm: weight/bias must be [%d]", D); return NULL; }
    int rows = (int)(x->size / D);
    return norm_common(c, "layer_norm", 2, x, weight, bias, rows, 1, 1, D, eps, NULL, NULL, 0);
}

/* ---------------------------------------------------------------- pooling */
/* max pool: saved[0] = argmax index (within the input plane) per output element, as int */
static void max_pool_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    nn_tensor *x = n->in[0], *y = n->out;
    long HW = (long)x->shape[2] * x->shape[3], P = (long)y->shape[2] * y->shape[3];
    long planes = (long)y->shape[0] * y->shape[1];
    const int *arg = n->saved[0];
    for (long pl = 0; pl < planes; pl++)
        for (long p = 0; p < P; p++) dx[pl * HW + arg[pl * P + p]] += y->grad[pl * P + p];
}

typedef struct { const float *x; float *y; int *arg; int H, W, Ho, Wo, k, s, p; } pool_job;

/* One output of the generic (border) case: taps outside the input are skipped. */
static inline void max_pool_one(const pool_job *j, const float *x, int oy, int ox, float *best_out, int *bi_out)
{
    float best = -INFINITY;
    int bi = -1;
    for (int ki = 0; ki < j->k; ki++) {
        int iy = oy * j->s - j->p + ki;
        if (iy < 0 || iy >= j->H) continue;
        for (int kj = 0; kj < j->k; kj++) {
            int ix = ox * j->s - j->p + kj;
            if (ix < 0 || ix >= j->W) continue;
            float v = x[iy * j->W + ix];
            if (v > best || bi < 0 || v != v) { best = v; bi = iy * j->W + ix; }
        }
    }
    *best_out = best;
    *bi_out = bi;
}

/* First index i in [0, n) with i*s - p >= 0, and one past the last with i*s - p + k <= size. */
static void interior(int n, int s, int p, int k, int size, int *lo, int *hi)
{
    int a = 0, b = n;
    while (a < n && a * s - p < 0) a++;
    while (b > a && (b - 1) * s - p + k > size) b--;
    *lo = a;
    *hi = b;
}

/* Max and its index over the k x k window at base (row stride W), first maximum in row-major
 * order, NaN taken (as PyTorch). Masks, not branches: on real data the comparisons are
 * unpredictable (a compiler turns plain ?: selects back into jumps here). Inlined with k = 3
 * constant for ResNet's stem, so the taps unroll. */
static inline __attribute__((always_inline)) float window_max(const float *x, int base, int W, int k, int *bi_out)
{
    float best = x[base];
    int bi = base;
    for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) {
            int idx = base + ki * W + kj;
            float v = x[idx];
            uint32_t take = -(uint32_t)((v > best) | (v != v)), vb, bb;
            memcpy(&vb, &v, 4);
            memcpy(&bb, &best, 4);
            bb = (bb & ~take) | (vb & take);
            memcpy(&best, &bb, 4);
            bi = (int)(((uint32_t)bi & ~take) | ((uint32_t)idx & take));
        }
    *bi_out = bi;
    return best;
}

/* NaN-propagating max (a NaN in the window wins, as PyTorch's max-pool). */
static inline float max_nan(float t, float v) { return (v > t) | (v != v) ? v : t; }

/* Inference (no argmax kept): per output row, the elementwise max of the window's input rows
 * (contiguous, vectorised), then the max over each window's columns of that row. */
static void max_pool_planes_values(const pool_job *j, long p0, long p1)
{
    const int k = j->k, s = j->s, W = j->W, Wo = j->Wo, H = j->H;
    float rm[W];
    int xlo, xhi;
    interior(Wo, s, j->p, k, W, &xlo, &xhi);
    for (long pl = p0; pl < p1; pl++) {
        const float *x = j->x + pl * H * W;
        for (int oy = 0; oy < j->Ho; oy++) {
            int y0 = oy * s - j->p, y1 = y0 + k;
            if (y0 < 0) y0 = 0;
            if (y1 > H) y1 = H;
            memcpy(rm, x + (long)y0 * W, sizeof(float) * (size_t)W);
            for (int iy = y0 + 1; iy < y1; iy++) {
                const float *restrict r = x + (long)iy * W;
                for (int i = 0; i < W; i++) rm[i] = max_nan(rm[i], r[i]);
            }
            float *y = j->y + (pl * j->Ho + oy) * Wo;
            /* ResNet's stem (3x3, stride 2): its whole windows as selects the compiler
             * vectorises (the generic loop branches on unpredictable data: measured 5x slower);
             * the windows cut by the border, and other pools, by the generic loop */
            const int fast = k == 3 && s == 2;
            for (int ox = 0; ox < Wo; ox++) {
                if (fast && ox == xlo) {
                    const float *restrict q = rm - j->p;
                    for (; ox < xhi; ox++) {
                        float best = q[2 * ox], v1 = q[2 * ox + 1], v2 = q[2 * ox + 2];
                        best = (v1 > best) | (v1 != v1) ? v1 : best;
                        best = (v2 > best) | (v2 != v2) ? v2 : best;
                        y[ox] = best;
                    }
                    if (ox == Wo) break;
                }
                int x0 = ox * s - j->p, x1 = x0 + k;
                if (x0 < 0) x0 = 0;
                if (x1 > W) x1 = W;
                float best = rm[x0];
                for (int ix = x0 + 1; ix < x1; ix++) best = max_nan(best, rm[ix]);
                y[ox] = best;
            }
        }
    }
}

/* Training (argmax kept), ResNet's stem (3x3, stride 2): the first maximum of each input row's
 * three taps for every whole window of an output row at once, as selects the compiler
 * vectorises (stride-2 loads), then the three rows combined in order: a later row wins only
 * when greater or NaN, which is the row-major first maximum (and last NaN) of window_max. The
 * windows cut by the border go through max_pool_one. */
static void max_pool_planes_stem(const pool_job *j, long p0, long p1, int ylo, int yhi, int xlo, int xhi)
{
    const int W = j->W, Wo = j->Wo, n = xhi - xlo;
    float rb[3][n > 0 ? n : 1];
    int ri[3][n > 0 ? n : 1];
    for (long pl = p0; pl < p1; pl++) {
        const float *x = j->x + pl * j->H * W;
        for (int oy = 0; oy < j->Ho; oy++) {
            long o = (pl * j->Ho + oy) * Wo;
            float *y = j->y + o;
            int *arg = j->arg + o;
            const int inner = oy >= ylo && oy < yhi;
            for (int ox = 0; ox < Wo; ox++)   /* the windows the border cuts */
                if (!inner || ox < xlo || ox >= xhi) max_pool_one(j, x, oy, ox, &y[ox], &arg[ox]);
            if (inner && n > 0) {
                const int y0 = 2 * oy - j->p;
                for (int ki = 0; ki < 3; ki++) {
                    const float *restrict q = x + (long)(y0 + ki) * W - j->p + 2 * xlo;
                    float *restrict b = rb[ki];
                    int *restrict bi = ri[ki];
                    for (int t = 0; t < n; t++) {
                        float v0 = q[2 * t], v1 = q[2 * t + 1], v2 = q[2 * t + 2], best = v0;
                        int i = 0, t1 = (v1 > best) | (v1 != v1);
                        best = t1 ? v1 : best;
                        i = t1 ? 1 : i;
                        int t2 = (v2 > best) | (v2 != v2);
                        best = t2 ? v2 : best;
                        i = t2 ? 2 : i;
                        b[t] = best;
                        bi[t] = i;
                    }
                }
                const int c0 = y0 * W - j->p + 2 * xlo;
                for (int t = 0; t < n; t++) {
                    float best = rb[0][t];
                    int i = c0 + 2 * t + ri[0][t];
                    for (int ki = 1; ki < 3; ki++) {
                        float v = rb[ki][t];
                        int take = (v > best) | (v != v);
                        best = take ? v : best;
                        i = take ? c0 + ki * W + 2 * t + ri[ki][t] : i;
                    }
                    y[xlo + t] = best;
                    arg[xlo + t] = i;
                }
            }
        }
    }
}

static void max_pool_planes(void *a, long p0, long p1)
{
    const pool_job *j = a;
    if (!j->arg && j->W <= 16384) {   /* (its row buffer lives on the stack) */
        max_pool_planes_values(j, p0, p1);
        return;
    }
    const int k = j->k, s = j->s, W = j->W, Wo = j->Wo;
    int ylo, yhi, xlo, xhi;
    interior(j->Ho, s, j->p, k, j->H, &ylo, &yhi);
    interior(Wo, s, j->p, k, W, &xlo, &xhi);
    if (k == 3 && s == 2 && j->arg && xhi - xlo <= 4096) {
        max_pool_planes_stem(j, p0, p1, ylo, yhi, xlo, xhi);
        return;
    }
    for (long pl = p0; pl < p1; pl++) {
        const float *x = j->x + pl * j->H * W;
        for (int oy = 0; oy < j->Ho; oy++) {
            long o = (pl * j->Ho + oy) * Wo;
            float *y = j->y + o;
            int *arg = j->arg ? j->arg + o : NULL;
            int inner = oy >= ylo && oy < yhi;
            for (int ox = 0; ox < Wo; ox++) {
                if (!inner || ox < xlo || ox >= xhi) {
                    int bi;
                    max_pool_one(j, x, oy, ox, &y[ox], &bi);
                    if (arg) arg[ox] = bi;
                    continue;
                }
                /* every tap inside: no bounds checks; same order and tie/NaN rule as above */
                int base = (oy * s - j->p) * W + ox * s - j->p, bi;
                float best = k == 3 ? window_max(x, base, W, 3, &bi) : window_max(x, base, W, k, &bi);
                y[ox] = best;
                if (arg) arg[ox] = bi;
            }
        }
    }
}

nn_tensor *nn_max_pool2d(nn_ctx *c, nn_tensor *x, int kernel, int stride, int padding)
{
    if (!x) return NULL;
    if (x->ndim != 4 || kernel < 1 || stride < 1 || padding < 0 || 2 * padding > kernel) {
        char b[64];
        error_set("nn max_pool2d: input %s, kernel %d stride %d padding %d", nn_shape_str(x, b, 64), kernel, stride, padding);
        return NULL;
    }
    int B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int Ho = (H + 2 * padding - kernel) / stride + 1, Wo = (W + 2 * padding - kernel) / stride + 1;
    if (Ho < 1 || Wo < 1) { error_set("nn max_pool2d: input %dx%d smaller than the kernel %d", H, W, kernel); return NULL; }
    nn_tensor *y = nn_new(c, NN_DIMS(B, C, Ho, Wo));
    if (!y) return NULL;
    int rec = nn_needs_grad(c, 1, IN(x));
    int *arg = rec ? nn_arena_alloc(c->arena, (size_t)y->size * sizeof(int)) : NULL;
    if (rec && !arg) return NULL;
    pool_job j = { x->data, y->data, arg, H, W, Ho, Wo, kernel, stride, padding };
    nn_parallel_for((long)B * C, 1, max_pool_planes, &j);
    if (rec) {
        nn_node *n = nn_record(c, "max_pool2d", max_pool_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->saved[0] = arg;
    }
    return y;
}

/* Average pooling with explicit bins: bin (oy, ox) covers rows [ys, ye) and cols [xs, xe) of
 * the input (clipped); divisor = (adaptive ? clipped area : k*k). i: 0 kind(0 fixed, 1 adaptive)
 * 1 k, 2 s, 3 p. */
static void avg_bin(const nn_node *n, int H, int W, int Ho, int Wo, int oy, int ox, int *ys, int *ye, int *xs, int *xe, float *div)
{
    if (n->i[0]) {
        *ys = oy * H / Ho; *ye = ((oy + 1) * H + Ho - 1) / Ho;
        *xs = ox * W / Wo; *xe = ((ox + 1) * W + Wo - 1) / Wo;
        *div = (float)((*ye - *ys) * (*xe - *xs));
    } else {
        int k = (int)n->i[1], s = (int)n->i[2], p = (int)n->i[3];
        *ys = oy * s - p; *ye = *ys + k; *xs = ox * s - p; *xe = *xs + k;
        *div = (float)(k * k);
        if (*ys < 0) *ys = 0;
        if (*xs < 0) *xs = 0;
        if (*ye > H) *ye = H;
        if (*xe > W) *xe = W;
    }
}

static void avg_pool_run(const nn_node *n, const nn_tensor *x, nn_tensor *y, float *dx)
{
    int H = x->shape[2], W = x->shape[3], Ho = y->shape[2], Wo = y->shape[3];
    long planes = (long)x->shape[0] * x->shape[1];
    for (long pl = 0; pl < planes; pl++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                int ys, ye, xs, xe;
                float div;
                avg_bin(n, H, W, Ho, Wo, oy, ox, &ys, &ye, &xs, &xe, &div);
                long o = (pl * Ho + oy) * Wo + ox;
                if (dx) {
                    float g = y->grad[o] / div;
                    for (int iy = ys; iy < ye; iy++)
                        for (int ix = xs; ix < xe; ix++) dx[(pl * H + iy) * W + ix] += g;
                } else {
                    double s = 0;
                    for (int iy = ys; iy < ye; iy++)
                        for (int ix = xs; ix < xe; ix++) s += x->data[(pl * H + iy) * W + ix];
                    y->data[o] = (float)(s / div);
                }
            }
}

static void avg_pool_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (dx) avg_pool_run(n, n->in[0], n->out, dx);
}

static nn_tensor *avg_pool(nn_ctx *c, nn_tensor *x, int adaptive, int k, int s, int p, int Ho, int Wo)
{
    nn_tensor *y = nn_new(c, NN_DIMS(x->shape[0], x->shape[1], Ho, Wo));
    if (!y) return NULL;
    nn_node tmp = { 0 };
    tmp.i[0] = adaptive; tmp.i[1] = k; tmp.i[2] = s; tmp.i[3] = p;
    avg_pool_run(&tmp, x, y, NULL);
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, adaptive ? "adaptive_avg_pool2d" : "avg_pool2d", avg_pool_backward, y, 1, IN(x));
        if (!n) return NULL;
        memcpy(n->i, tmp.i, sizeof tmp.i);
    }
    return y;
}

nn_tensor *nn_avg_pool2d(nn_ctx *c, nn_tensor *x, int kernel, int stride, int padding)
{
    if (!x) return NULL;
    if (x->ndim != 4 || kernel < 1 || stride < 1 || padding < 0 || 2 * padding > kernel) { shape_error("avg_pool2d", "input", x); return NULL; }
    int Ho = (x->shape[2] + 2 * padding - kernel) / stride + 1, Wo = (x->shape[3] + 2 * padding - kernel) / stride + 1;
    if (Ho < 1 || Wo < 1) { shape_error("avg_pool2d", "input (smaller than the kernel)", x); return NULL; }
    return avg_pool(c, x, 0, kernel, stride, padding, Ho, Wo);
}

nn_tensor *nn_adaptive_avg_pool2d(nn_ctx *c, nn_tensor *x, int out_h, int out_w)
{
    if (!x) return NULL;
    if (x->ndim != 4 || out_h < 1 || out_w < 1) { shape_error("adaptive_avg_pool2d", "input", x); return NULL; }
    return avg_pool(c, x, 1, 0, 0, 0, out_h, out_w);
}
