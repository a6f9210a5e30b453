/* kernels_conv.c — convolution as im2col + one sgemm over the whole batch (so that even
 * layer4's 3x3 maps give a wide matrix), with im2col/col2im and the layout copies parallel on
 * our pool and the sgemm on OpenBLAS's threads (never both at once). */
#include "nn/kernels.h"
#include "nn/threads.h"

#include <cblas.h>
#include <string.h>

void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (beta != 1.0f)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) C[(long)i * ldc + j] *= beta;
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---------------------------------------------------------------- im2col / col2im */
typedef struct { const nn_conv_geom *g; const float *src; float *dst; } conv_job;

static void im2col_rows(void *arg, long r0, long r1)
{
    const conv_job *j = arg;
    const nn_conv_geom *g = j->g;
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    for (long r = r0; r < r1; r++) {
        int c = (int)(r / (g->kh * g->kw)), ki = (int)(r / g->kw % g->kh), kj = (int)(r % g->kw);
        float *row = j->dst + r * N;
        for (int b = 0; b < g->B; b++) {
            const float *xc = j->src + ((long)b * g->C + c) * g->H * g->W;
            float *out = row + b * P;
            for (int oy = 0; oy < g->Ho; oy++) {
                int iy = oy * g->sh - g->ph + ki;
                float *o = out + (long)oy * g->Wo;
                if (iy < 0 || iy >= g->H) { memset(o, 0, (size_t)g->Wo * sizeof(float)); continue; }
                const float *xr = xc + (long)iy * g->W;
                int ix0 = kj - g->pw;
                if (g->sw == 1) {
                    /* contiguous run: zero edges, copy the middle */
                    int lo = ix0 < 0 ? -ix0 : 0;
                    int hi = g->Wo;
                    if (ix0 + hi > g->W) hi = g->W - ix0;
                    if (hi < lo) hi = lo;
                    for (int ox = 0; ox < lo; ox++) o[ox] = 0;
                    if (hi > lo) memcpy(o + lo, xr + ix0 + lo, (size_t)(hi - lo) * sizeof(float));
                    for (int ox = hi; ox < g->Wo; ox++) o[ox] = 0;
                } else {
                    for (int ox = 0; ox < g->Wo; ox++) {
                        int ix = ix0 + ox * g->sw;
                        o[ox] = (ix >= 0 && ix < g->W) ? xr[ix] : 0.0f;
                    }
                }
            }
        }
    }
}

void nn_im2col(const nn_conv_geom *g, const float *x, float *cols)
{
    conv_job j = { g, x, cols };
    long rows = (long)g->C * g->kh * g->kw;
    nn_parallel_for(rows, 1, im2col_rows, &j);
}

static void col2im_channels(void *arg, long c0, long c1)
{
    const conv_job *j = arg;
    const nn_conv_geom *g = j->g;
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    for (long c = c0; c < c1; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const float *row = j->src + ((c * g->kh + ki) * g->kw + kj) * N;
                for (int b = 0; b < g->B; b++) {
                    float *xc = j->dst + ((long)b * g->C + c) * g->H * g->W;
                    const float *in = row + b * P;
                    for (int oy = 0; oy < g->Ho; oy++) {
                        int iy = oy * g->sh - g->ph + ki;
                        if (iy < 0 || iy >= g->H) continue;
                        float *xr = xc + (long)iy * g->W;
                        const float *o = in + (long)oy * g->Wo;
                        int ix0 = kj - g->pw;
                        for (int ox = 0; ox < g->Wo; ox++) {
                            int ix = ix0 + ox * g->sw;
                            if (ix >= 0 && ix < g->W) xr[ix] += o[ox];
                        }
                    }
                }
            }
}

void nn_col2im_add(const nn_conv_geom *g, const float *dcols, float *dx)
{
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

long nn_conv2d_work_floats(const nn_conv_geom *g, int O)
{
    long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    long K = (long)g->C * g->kh * g->kw;
    return K * N + (long)O * N;
}

void nn_conv2d_forward(const nn_conv_geom *g, int O, const float *x, const float *w, const float *b,
                       float *y, float *work)
{
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    const int K = g->C * g->kh * g->kw;
    if (is_pointwise(g) && g->B == 1) {
        /* x is already the column matrix */
        nn_gemm(0, 0, O, (int)N, K, 1.0f, w, K, x, (int)N, 0.0f, y, (int)N);
        if (b)
            for (int o = 0; o < O; o++)
                for (long p = 0; p < P; p++) y[o * P + p] += b[o];
        return;
    }
    float *cols = work, *t = work + (long)K * N;
    if (is_pointwise(g)) nn_gather_obp(g->B, g->C, P, x, cols);
    else nn_im2col(g, x, cols);
    nn_gemm(0, 0, O, (int)N, K, 1.0f, w, K, cols, (int)N, 0.0f, t, (int)N);
    nn_scatter_obp(g->B, O, P, t, b, y, 0);
}

void nn_conv2d_backward(const nn_conv_geom *g, int O, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db, float *work)
{
    const long P = (long)g->Ho * g->Wo, N = (long)g->B * P;
    const int K = g->C * g->kh * g->kw;
    float *cols = work, *t = work + (long)K * N;
    const float *dyt = dy;
    if (g->B > 1) { nn_gather_obp(g->B, O, P, dy, t); dyt = t; }
    if (db)
        for (int o = 0; o < O; o++) {
            const float *r = dyt + o * N;
            float s = 0;
            for (long p = 0; p < N; p++) s += r[p];
            db[o] += s;
        }
    if (dw) {
        const float *c = x;
        if (!(is_pointwise(g) && g->B == 1)) {
            if (is_pointwise(g)) nn_gather_obp(g->B, g->C, P, x, cols);
            else nn_im2col(g, x, cols);
            c = cols;
        }
        nn_gemm(0, 1, O, K, (int)N, 1.0f, dyt, (int)N, c, (int)N, 1.0f, dw, K);
    }
    if (dx) {
        if (is_pointwise(g) && g->B == 1) {
            nn_gemm(1, 0, K, (int)N, O, 1.0f, w, K, dyt, (int)N, 1.0f, dx, (int)N);
        } else if (is_pointwise(g)) {
            nn_gemm(1, 0, K, (int)N, O, 1.0f, w, K, dyt, (int)N, 0.0f, cols, (int)N);
            nn_scatter_obp(g->B, g->C, P, cols, NULL, dx, 1);
        } else {
            nn_gemm(1, 0, K, (int)N, O, 1.0f, w, K, dyt, (int)N, 0.0f, cols, (int)N);
            nn_col2im_add(g, cols, dx);
        }
    }
}
