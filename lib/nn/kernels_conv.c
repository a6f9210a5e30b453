/* kernels_conv.c — convolution as im2col + one matrix product over the whole batch (so that
 * even layer4's 3x3 maps give a wide matrix; nn_gemm, gemm.c), with im2col/col2im and the
 * layout copies parallel on our pool. On the AVX-512 tile the forward's product packs the
 * column matrix straight from the input instead (nn_gemm_conv; packs_from_x says where):
 * measured on the Zen 5 machine, ResNet18's convolutions at batch 64, 76x76, forward
 * 142 -> 121 ms, forward and backward 454 -> 412 ms (two threads, medians of five alternating
 * runs of bench/nn_conv; docs/results.md). */
#include "nn/kernels.h"
#include "nn/gemm_packed.h"
#include "nn/threads.h"
#include "util/error.h"

#include <string.h>

/* ---------------------------------------------------------------- bias rows and their gradient */
typedef struct { float *y; const float *b; int N; } bias_job;

static void bias_rows_range(void *arg, long m0, long m1)
{
    const bias_job *j = arg;
    for (long m = m0; m < m1; m++) memcpy(j->y + m * j->N, j->b, (size_t)j->N * sizeof(float));
}

void nn_bias_rows(float *y, const float *b, int M, int N)
{
    bias_job j = { y, b, N };
    nn_parallel_for(M, 1 + 16384 / (N > 0 ? N : 1), bias_rows_range, &j);
}

typedef struct { float *db; const float *dy; int M, N; } bias_grad_job;

static void bias_grad_cols(void *arg, long n0, long n1)
{
    const bias_grad_job *j = arg;
    float *restrict db = j->db;
    for (long m = 0; m < j->M; m++) {
        const float *restrict r = j->dy + m * j->N;
        for (long n = n0; n < n1; n++) db[n] += r[n];
    }
}

void nn_bias_grad(float *db, const float *dy, int M, int N)
{
    bias_grad_job j = { db, dy, M, N };
    /* split over columns (at least 64 per chunk) when the product is worth it */
    nn_parallel_for(N, (long)M * N < 65536 ? N : 64, bias_grad_cols, &j);
}

/* ---------------------------------------------------------------- im2col / col2im */
typedef struct { const nn_conv_geom *g; const float *src; float *dst; } conv_job;

/* Output columns ox whose input column ix = ix0 + ox*sw lies inside [0, W): [lo, hi). */
static inline void valid_range(int ix0, int sw, int W, int Wo, int *lo, int *hi)
{
    int a = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
    int b = ix0 >= W ? 0 : (W - 1 - ix0) / sw + 1;
    if (b > Wo) b = Wo;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

static void im2col_rows(void *arg, long r0, long r1)
{
    const conv_job *j = arg;
    const nn_conv_geom *g = j->g;
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    const int sw = g->sw, Wo = g->Wo;
    for (long r = r0; r < r1; r++) {
        int c = (int)(r / (g->kh * g->kw)), ki = (int)(r / g->kw % g->kh), kj = (int)(r % g->kw);
        int ix0 = kj - g->pw, lo, hi;
        valid_range(ix0, sw, g->W, Wo, &lo, &hi);
        float *row = j->dst + r * N;
        for (int b = 0; b < g->B; b++) {
            const float *xc = j->src + ((long)b * g->C + c) * g->H * g->W;
            float *out = row + b * P;
            for (int oy = 0; oy < g->Ho; oy++) {
                int iy = oy * g->sh - g->ph + ki;
                float *o = out + (long)oy * Wo;
                if (iy < 0 || iy >= g->H) { memset(o, 0, (size_t)Wo * sizeof(float)); continue; }
                const float *xr = xc + (long)iy * g->W + ix0;
                for (int ox = 0; ox < lo; ox++) o[ox] = 0;
                if (sw == 1) memcpy(o + lo, xr + lo, (size_t)(hi - lo) * sizeof(float));
                else if (sw == 2)
                    for (int ox = lo; ox < hi; ox++) o[ox] = xr[2 * ox];
                else
                    for (int ox = lo; ox < hi; ox++) o[ox] = xr[ox * sw];
                for (int ox = hi; ox < Wo; ox++) o[ox] = 0;
            }
        }
    }
}

/* Small maps (a ResNet's layer2-4 at 84x84: rows of 11, 6 and 3 floats) spent their time in
 * the per-row bookkeeping above, not in the copies: there, one table per geometry gives each
 * (kernel offset, output position) its source in the input plane, or a zero placed after the
 * plane for padding, and each channel's rows are a gather from the plane. Measured, batch 8,
 * 2 threads, medians of 101: 11x11 maps 610 -> 430 us, 6x6 790 -> 260-320, 3x3 910 -> 190-210,
 * stride 2 from 21x21 400 -> 250; col2im through the same table at 6x6 590 -> 370-420, 3x3
 * 390 -> 255. */
#define GATHER_MAX_WO 12          /* im2col: wider rows copy well as rows (21 at 84x84: no gain) */
#define SCATTER_MAX_WO 6          /* col2im: at 11x11 the rows already scatter as fast */
#define GATHER_MAX_ENTRIES 4096   /* kh*kw*Ho*Wo: the table lives on the stack */
#define GATHER_MAX_PLANE 4096     /* H*W */
typedef struct { const nn_conv_geom *g; const float *src; float *dst; const int *table; } gather_job;

static int gather_suits(const nn_conv_geom *g, int max_wo)
{
    return g->Wo <= max_wo && (long)g->kh * g->kw * g->Ho * g->Wo <= GATHER_MAX_ENTRIES &&
           (long)g->H * g->W <= GATHER_MAX_PLANE;
}

/* table [kh*kw][Ho*Wo]: offset into the plane, or H*W (the zero after it) */
static void gather_table(const nn_conv_geom *g, int *table)
{
    const int P = g->Ho * g->Wo, zero = g->H * g->W;
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++)
            for (int oy = 0; oy < g->Ho; oy++)
                for (int ox = 0; ox < g->Wo; ox++) {
                    int iy = oy * g->sh - g->ph + ki, ix = ox * g->sw - g->pw + kj;
                    table[(ki * g->kw + kj) * P + oy * g->Wo + ox] =
                        iy >= 0 && iy < g->H && ix >= 0 && ix < g->W ? iy * g->W + ix : zero;
                }
}

static void im2col_gather_channels(void *arg, long c0, long c1)
{
    const gather_job *j = arg;
    const nn_conv_geom *g = j->g;
    const int kk = g->kh * g->kw, P = g->Ho * g->Wo, HW = g->H * g->W;
    const long N = (long)g->B * P;
    float plane[GATHER_MAX_PLANE + 1];
    plane[HW] = 0.0f;
    for (long c = c0; c < c1; c++)
        for (int b = 0; b < g->B; b++) {
            memcpy(plane, j->src + ((long)b * g->C + c) * HW, (size_t)HW * sizeof(float));
            for (int k = 0; k < kk; k++) {
                float *restrict out = j->dst + (c * kk + k) * N + (long)b * P;
                const int *restrict t = j->table + k * P;
                for (int p = 0; p < P; p++) out[p] = plane[t[p]];
            }
        }
}

/* fn over the channels with the geometry's table, when the maps suit it: 1 if done */
static int by_table(const nn_conv_geom *g, int max_wo, const float *src, float *dst,
                    void (*fn)(void *, long, long))
{
    if (!gather_suits(g, max_wo)) return 0;
    int table[GATHER_MAX_ENTRIES];
    gather_table(g, table);
    gather_job j = { g, src, dst, table };
    nn_parallel_for(g->C, 1, fn, &j);
    return 1;
}

void nn_im2col(const nn_conv_geom *g, const float *x, float *cols)
{
    if (by_table(g, GATHER_MAX_WO, x, cols, im2col_gather_channels)) return;
    conv_job j = { g, x, cols };
    long rows = (long)g->C * g->kh * g->kw;
    nn_parallel_for(rows, 1, im2col_rows, &j);
}

static void col2im_channels(void *arg, long c0, long c1)
{
    const conv_job *j = arg;
    const nn_conv_geom *g = j->g;
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    const int sw = g->sw, Wo = g->Wo;
    for (long c = c0; c < c1; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const float *row = j->src + ((c * g->kh + ki) * g->kw + kj) * N;
                int ix0 = kj - g->pw, lo, hi;
                valid_range(ix0, sw, g->W, Wo, &lo, &hi);
                for (int b = 0; b < g->B; b++) {
                    float *xc = j->dst + ((long)b * g->C + c) * g->H * g->W;
                    const float *in = row + b * P;
                    for (int oy = 0; oy < g->Ho; oy++) {
                        int iy = oy * g->sh - g->ph + ki;
                        if (iy < 0 || iy >= g->H) continue;
                        float *xr = xc + (long)iy * g->W + ix0;
                        const float *o = in + (long)oy * Wo;
                        if (sw == 1)
                            for (int ox = lo; ox < hi; ox++) xr[ox] += o[ox];
                        else
                            for (int ox = lo; ox < hi; ox++) xr[ox * sw] += o[ox];
                    }
                }
            }
}

/* The scatter for small maps through the same table (padding entries land on the slot after
 * the plane and are dropped); each input element still sums its terms in kernel-offset order. */
static void col2im_scatter_channels(void *arg, long c0, long c1)
{
    const gather_job *j = arg;
    const nn_conv_geom *g = j->g;
    const int kk = g->kh * g->kw, P = g->Ho * g->Wo, HW = g->H * g->W;
    const long N = (long)g->B * P;
    float plane[GATHER_MAX_PLANE + 1];
    for (long c = c0; c < c1; c++)
        for (int b = 0; b < g->B; b++) {
            float *x = j->dst + ((long)b * g->C + c) * HW;
            memcpy(plane, x, (size_t)HW * sizeof(float));
            for (int k = 0; k < kk; k++) {
                const float *in = j->src + (c * kk + k) * N + (long)b * P;
                const int *t = j->table + k * P;
                for (int p = 0; p < P; p++) plane[t[p]] += in[p];
            }
            memcpy(x, plane, (size_t)HW * sizeof(float));
        }
}

void nn_col2im_add(const nn_conv_geom *g, const float *dcols, float *dx)
{
    if (by_table(g, SCATTER_MAX_WO, dcols, dx, col2im_scatter_channels)) return;
    conv_job j = { g, dcols, dx };
    nn_parallel_for(g->C, 1, col2im_channels, &j);
}

/* ---------------------------------------------------------------- layout copies */
typedef struct { int B, O; long P; const float *src, *bias; float *dst; int add; } obp_job;

static void scatter_rows(void *arg, long r0, long r1)   /* r = b*O + o */
{
    const obp_job *j = arg;
    for (long r = r0; r < r1; r++) {
        int b = (int)(r / j->O), o = (int)(r % j->O);
        const float *s = j->src + (long)o * j->B * j->P + (long)b * j->P;
        float *d = j->dst + r * j->P;
        float bias = j->bias ? j->bias[o] : 0.0f;
        if (j->add)
            for (long p = 0; p < j->P; p++) d[p] += s[p] + bias;
        else
            for (long p = 0; p < j->P; p++) d[p] = s[p] + bias;
    }
}

void nn_scatter_obp(int B, int O, long P, const float *t, const float *bias, float *y, int add)
{
    obp_job j = { B, O, P, t, bias, y, add };
    nn_parallel_for((long)B * O, 8, scatter_rows, &j);
}

static void gather_rows(void *arg, long r0, long r1)
{
    const obp_job *j = arg;
    for (long r = r0; r < r1; r++) {
        int b = (int)(r / j->O), o = (int)(r % j->O);
        memcpy(j->dst + (long)o * j->B * j->P + (long)b * j->P, j->src + r * j->P, (size_t)j->P * sizeof(float));
    }
}

void nn_gather_obp(int B, int O, long P, const float *y, float *t)
{
    obp_job j = { B, O, P, y, NULL, t, 0 };
    nn_parallel_for((long)B * O, 8, gather_rows, &j);
}

/* ---------------------------------------------------------------- conv2d */
static int is_pointwise(const nn_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Large maps (conv1, layer1 at 84x84) go sample by sample, one sample per pool thread: its
 * columns [K, P] are written and consumed at once while in cache, the product lands directly
 * in y (no layout copies). Measured at batch 8: forward of layer1 about 1.8x faster than the
 * batched form. The backward always uses the batched form: a per-sample backward (dW summed
 * over per-sample partials) measured the same CPU time and needs more memory. Small maps
 * (layer2-4) batch all samples into one wide product, which keeps sgemm efficient when P is
 * 121 or 9. */
#ifndef PER_SAMPLE_MIN_P
#define PER_SAMPLE_MIN_P 256
#endif

/* The batched products (and every weight gradient) pack the column matrix from x for stride-1
 * windows: with stride 2 the gathers lost to im2col's own in-cache gather (ResNet18 at batch 64,
 * 76x76: layer2.0 forward and backward 14.0 -> 15.4 ms, the 1x1 downsample 2.9 -> 3.5, conv1's
 * weight gradient about 1 ms), while the stride-1 layers gained 6-15%. */
static int packs_from_x(const nn_conv_geom *g) { return g->kh * g->kw > 1 && g->sh == 1 && g->sw == 1; }

static int per_sample(const nn_conv_geom *g) { return g->B > 1 && (long)g->Ho * g->Wo >= PER_SAMPLE_MIN_P; }

static long forward_work(const nn_conv_geom *g, int O);
static int dx_as_conv(const nn_conv_geom *g, int O);
/* positions over the batch from which a small map's data gradient may run as a convolution */
#ifndef DX_CONV_MIN_N
#define DX_CONV_MIN_N 1024
#endif
static nn_conv_geom dx_geom(const nn_conv_geom *g, int O);

long nn_conv2d_work_floats(const nn_conv_geom *g, int O)
{
    long n = forward_work(g, O);
    if (dx_as_conv(g, O)) {
        nn_conv_geom d = dx_geom(g, O);
        long m = forward_work(&d, g->C) + (long)g->C * O * g->kh * g->kw;
        if (m > n) n = m;
    }
    return n;
}

typedef struct {
    nn_conv_geom one;            /* the geometry with B = 1 */
    int O, K;
    long P, in_size;             /* P = Ho*Wo; in_size = C*H*W */
    const float *x, *w, *b;
    float *y, *cols;
    float beta;                  /* 1: accumulate into y */
    int gather;                  /* 1: the product packs the columns from x (nn_gemm_conv) */
} sample_job;

static void sample_im2col(const sample_job *j, long s, float *cols)
{
    conv_job cj = { &j->one, j->x + s * j->in_size, cols };
    im2col_rows(&cj, 0, (long)j->K);
}

static void conv_forward_samples(void *arg, long s0, long s1)
{
    const sample_job *j = arg;
    for (long s = s0; s < s1; s++) {
        const float *cols = j->x + s * j->in_size;
        float *y = j->y + s * (long)j->O * j->P;
        if (j->gather) nn_gemm_conv(0, 0, j->O, 1.0f, j->w, j->K, &j->one, cols, j->beta, y, (int)j->P);
        else {
            if (!is_pointwise(&j->one)) {
                float *c = j->cols + s * (long)j->K * j->P;
                sample_im2col(j, s, c);
                cols = c;
            }
            nn_gemm(0, 0, j->O, (int)j->P, j->K, 1.0f, j->w, j->K, cols, (int)j->P, j->beta, y, (int)j->P);
        }
        if (j->b)
            for (int o = 0; o < j->O; o++)
                for (long p = 0; p < j->P; p++) y[o * j->P + p] += j->b[o];
    }
}

static sample_job sample_job_of(const nn_conv_geom *g, int O, const float *x, const float *w, float *work)
{
    sample_job j = { *g, O, g->C * g->kh * g->kw, (long)g->Ho * g->Wo, (long)g->C * g->H * g->W,
                     x, w, NULL, NULL, work, 0.0f, 0 };
    j.one.B = 1;
    /* the panels straight from the sample (layer1 of a ResNet18 at 76x76, batch 64: forward
     * 10.9 -> 9.6 ms; conv1's strided windows, which im2col copies one float at a time, 10.3 -> 9.6) */
    j.gather = g->kh * g->kw > 1 && nn_gemm_conv_suits(0, O, &j.one);
    return j;
}

/* y (+)= conv(x, w) + b; accumulate = 1 adds into y (the data gradient as a convolution). */
static void conv_forward(const nn_conv_geom *g, int O, const float *x, const float *w, const float *b,
                         float *y, float *work, int accumulate)
{
    const float beta = accumulate ? 1.0f : 0.0f;
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    const int K = g->C * g->kh * g->kw;
    if (per_sample(g)) {
        sample_job j = sample_job_of(g, O, x, w, work);
        j.b = b;
        j.y = y;
        j.beta = beta;
        nn_parallel_for(g->B, 1, conv_forward_samples, &j);
        return;
    }
    if (is_pointwise(g) && g->B == 1) {
        /* x is already the column matrix */
        nn_gemm(0, 0, O, (int)N, K, 1.0f, w, K, x, (int)N, beta, y, (int)N);
        if (b)
            for (int o = 0; o < O; o++)
                for (long p = 0; p < P; p++) y[o * P + p] += b[o];
        return;
    }
    /* one sample (inference): the product [O, P] is already y's layout */
    float *cols = work, *t = g->B == 1 ? y : work + (long)K * N;
    if (packs_from_x(g) && nn_gemm_conv_suits(0, O, g))   /* no column matrix through memory */
        nn_gemm_conv(1, 0, O, 1.0f, w, K, g, x, g->B == 1 ? beta : 0.0f, t, (int)N);
    else {
        if (is_pointwise(g)) nn_gather_obp(g->B, g->C, P, x, cols);
        else nn_im2col(g, x, cols);
        nn_gemm(0, 0, O, (int)N, K, 1.0f, w, K, cols, (int)N, g->B == 1 ? beta : 0.0f, t, (int)N);
    }
    if (g->B > 1) nn_scatter_obp(g->B, O, P, t, b, y, accumulate);
    else if (b)
        for (int o = 0; o < O; o++)
            for (long p = 0; p < P; p++) y[o * P + p] += b[o];
}

void nn_conv2d_forward(const nn_conv_geom *g, int O, const float *x, const float *w, const float *b,
                       float *y, float *work)
{
    conv_forward(g, O, x, w, b, y, work, 0);
}

/* ---------------------------------------------------------------- conv2d, packed weight */
typedef struct { const float *t; float *y; int O; long P; } transpose_job;

static void transpose_channels(void *arg, long o0, long o1)   /* y [O, P] rows o0..o1 = t [P, O] columns */
{
    const transpose_job *j = arg;
    for (long p0 = 0; p0 < j->P; p0 += 64) {
        long p1 = p0 + 64 < j->P ? p0 + 64 : j->P;
        for (long o = o0; o < o1; o++) {
            float *yo = j->y + o * j->P;
            for (long p = p0; p < p1; p++) yo[p] = j->t[p * j->O + o];
        }
    }
}

long nn_conv2d_packed_work_floats(const nn_conv_geom *g, int O)
{
    long P = (long)g->Ho * g->Wo;
    return (long)g->C * g->kh * g->kw * P + P * O;
}

int nn_conv2d_forward_packed(const nn_conv_geom *g, int O, const float *x, const nn_packed *wp, const float *b,
                             float *y, float *work)
{
    const long P = (long)g->Ho * g->Wo, in_size = (long)g->C * g->H * g->W;
    const int K = g->C * g->kh * g->kw;
    if (nn_packed_rows(wp) != O || nn_packed_cols(wp) != K)
        return error_set("nn conv2d: packed weight [%d, %d] for [%d, %d]", nn_packed_rows(wp), nn_packed_cols(wp), O, K);
    nn_conv_geom one = *g;
    one.B = 1;
    float *cols = work, *t = work + (long)K * P;
    for (int s = 0; s < g->B; s++) {
        const float *xs = x + s * in_size, *a = xs;
        if (!is_pointwise(g)) {
            nn_im2col(&one, xs, cols);
            a = cols;
        }
        /* positions are the rows: A(p, k) = a[k*P + p] */
        if (nn_gemm_packed((int)P, 0, O, a, 1, P, wp, b, t, O, 0) < 0) return -1;
        transpose_job tj = { t, y + (long)s * O * P, O, P };
        nn_parallel_for(O, 16, transpose_channels, &tj);
    }
    return 0;
}

/* For a stride-1 convolution the data gradient is itself a stride-1 convolution of dy with the
 * flipped, transposed kernel and padding k-1-p: one more product shaped like the forward's
 * (reduction over O*kh*kw) instead of a product with reduction O followed by col2im. */
static int dx_as_conv(const nn_conv_geom *g, int O)
{
    /* for large maps, or many positions over the batch: the flipped kernel is a transposed copy
     * of the weights (O*C*kh*kw), which costs more than col2im when the positions are few and the
     * weights large (layer4 of a ResNet18 at batch 8, 84x84: 72 positions against 2.4M floats;
     * as a convolution 4.4-4.6 -> 6.5-6.7 ms forward + backward); col2im writes and reads
     * C*kh*kw per position. At batch 128, 76x76 (Diffusion Policy's two cameras at batch 64),
     * builds alternating: layer3's three 3x3 convolutions 38.1 -> 34.7 ms, layer4's 52.5 ->
     * 48.5-49.0, layer2's 40.6 -> 38.6-39.5 (results.md 2026-12-06). */
    const long N = (long)g->B * g->H * g->W;
    return g->sh == 1 && g->sw == 1 && g->ph <= g->kh - 1 && g->pw <= g->kw - 1 && !is_pointwise(g) &&
           ((long)g->H * g->W >= PER_SAMPLE_MIN_P || (N >= DX_CONV_MIN_N && N * g->kh * g->kw >= 8L * O));
}

static nn_conv_geom dx_geom(const nn_conv_geom *g, int O)
{
    nn_conv_geom d = { g->B, O, g->Ho, g->Wo, g->kh, g->kw, 1, 1, g->kh - 1 - g->ph, g->kw - 1 - g->pw, g->H, g->W };
    return d;
}

static long forward_work(const nn_conv_geom *g, int O)
{
    long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    long K = (long)g->C * g->kh * g->kw;
    return K * N + (long)O * N;
}

/* Whether the backward's products read dy [B,O,P] in runs of P (nn_runs) instead of a gathered
 * copy [O, B*P] (nn_gather_obp): on a tile variant, maps of at least DY_RUNS_MIN_P positions.
 * Measured on Zen 5, two threads, ResNet18 at batch 128, 76x76, builds alternating (results.md
 * 2026-12-06): forward + backward of conv1 (1444 positions) 4-7% faster, layer1 (361) 0-6%,
 * layer2 (100) 0-8%; a run shorter than a few of the tile's k steps costs the in-place tile
 * its pointer updates (a UNet's 4 to 16 positions), so small maps keep the gather, which is in
 * cache there anyway. */
#ifndef DY_RUNS_MIN_P
#define DY_RUNS_MIN_P 64
#endif
static long dy_runs_min_p = DY_RUNS_MIN_P;
void nn_conv_dy_runs_min_p(long p) { dy_runs_min_p = p; }
static int dy_in_runs(long P) { return P >= dy_runs_min_p && nn_gemm_runs_suit(); }

void nn_conv2d_backward(const nn_conv_geom *g, int O, const float *x, const float *w, const float *dy,
                        float *dx, int dx_fresh, float *dw, float *db, float *work)
{
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    const int K = g->C * g->kh * g->kw;
    float *cols = work, *t = work + (long)K * N;
    /* dy^T [O, B*P], the products' operand: read where it lies, P floats per sample and channel
     * (nn_runs), or gathered */
    const float *dyt = dy;
    int lddy = (int)N;
    nn_runs dyr = { 0, 0 };
    if (g->B > 1 && dy_in_runs(P)) {
        dyr = (nn_runs){ P, (long)O * P };
        lddy = (int)P;
    } else if (g->B > 1) {
        nn_gather_obp(g->B, O, P, dy, t);
        dyt = t;
    }
    if (db)
        for (int o = 0; o < O; o++) {   /* over B*P in order, as the gathered row: B runs of P, or one of N */
            const int runs = dyr.len ? g->B : 1;
            const long len = dyr.len ? P : N;
            float s = 0;
            for (int b = 0; b < runs; b++)
                for (long p = 0; p < len; p++) s += dyt[(long)b * dyr.stride + (long)o * lddy + p];
            db[o] += s;
        }
    if (dw && packs_from_x(g) && nn_gemm_conv_suits(1, O, g))   /* the same for the weight gradient */
        nn_gemm_conv_runs(1, 1, O, 1.0f, dyt, lddy, &dyr, g, x, 1.0f, dw, K);
    else if (dw) {
        const float *c = x;
        if (!(is_pointwise(g) && g->B == 1)) {
            if (is_pointwise(g)) nn_gather_obp(g->B, g->C, P, x, cols);
            else nn_im2col(g, x, cols);
            c = cols;
        }
        nn_gemm_runs(0, 1, O, K, (int)N, 1.0f, dyt, lddy, &dyr, c, (int)N, NULL, 1.0f, dw, K);
    }
    if (dx && dx_as_conv(g, O)) {
        /* wt [C, O, kh, kw]: wt[c][o][i][j] = w[o][c][kh-1-i][kw-1-j], after the columns */
        nn_conv_geom d = dx_geom(g, O);
        float *wt = work + forward_work(&d, g->C);
        const int kk = g->kh * g->kw;
        for (int o = 0; o < O; o++)
            for (int c = 0; c < g->C; c++)
                for (int i = 0; i < kk; i++) wt[((long)c * O + o) * kk + (kk - 1 - i)] = w[((long)o * g->C + c) * kk + i];
        conv_forward(&d, g->C, dy, wt, NULL, dx, work, !dx_fresh);
    } else if (dx) {
        if (is_pointwise(g) && g->B == 1) {
            nn_gemm(1, 0, K, (int)N, O, 1.0f, w, K, dyt, (int)N, dx_fresh ? 0.0f : 1.0f, dx, (int)N);
        } else if (is_pointwise(g)) {
            nn_gemm_runs(1, 0, K, (int)N, O, 1.0f, w, K, NULL, dyt, lddy, &dyr, 0.0f, cols, (int)N);
            nn_scatter_obp(g->B, g->C, P, cols, NULL, dx, !dx_fresh);
        } else {
            nn_gemm_runs(1, 0, K, (int)N, O, 1.0f, w, K, NULL, dyt, lddy, &dyr, 0.0f, cols, (int)N);
            if (dx_fresh) memset(dx, 0, sizeof(float) * (size_t)g->B * g->C * g->H * g->W);   /* col2im adds */
            nn_col2im_add(g, cols, dx);
        }
    }
}
