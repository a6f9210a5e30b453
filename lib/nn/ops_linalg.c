/* ops_linalg.c — linear, batched matmul, conv2d, conv1d, conv_transpose1d: shape checks,
 * tape records and backward, over nn_gemm (gemm.c) and the im2col kernels in kernels_conv.c. */
#include "nn/ops.h"
#include "nn/gemm_packed.h"
#include "nn/winograd.h"
#include "nn/kernels.h"
#include "nn/tape.h"
#include "nn/threads.h"
#include "util/error.h"

#include <string.h>

#define IN(...) ((nn_tensor *const[]){ __VA_ARGS__ })

static int shape_error(const char *op, const char *what, const nn_tensor *t)
{
    char b[64];
    return error_set("nn %s: %s has shape %s", op, what, nn_shape_str(t, b, sizeof b));
}

static int weight_error(const char *op, const nn_tensor *w, const nn_tensor *x, const char *layout)
{
    char b1[64], b2[64];
    return error_set("nn %s: weight %s does not fit input %s (weight layout %s)", op, nn_shape_str(w, b1, 64),
                     nn_shape_str(x, b2, 64), layout);
}

/* ---------------------------------------------------------------- linear */
static void linear_backward(nn_ctx *c, nn_node *n)
{
    nn_tensor *x = n->in[0], *w = n->in[1];
    int M = (int)n->i[0], in = w->shape[1], out = w->shape[0];
    const float *dy = n->out->grad;
    int fresh;
    float *dx = nn_in_grad_fresh(c, n, 0, &fresh), *dw = nn_in_grad(c, n, 1), *db = nn_in_grad(c, n, 2);
    if (dx) nn_gemm(0, 0, M, in, out, 1.0f, dy, out, w->data, in, fresh ? 0.0f : 1.0f, dx, in);
    if (dw) nn_gemm(1, 0, out, in, M, 1.0f, dy, out, x->data, in, 1.0f, dw, in);
    if (db) nn_bias_grad(db, dy, M, out);
}

nn_tensor *nn_linear(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b)
{
    if (!x || !w) return NULL;
    if (w->ndim != 2) { shape_error("linear", "weight", w); return NULL; }
    int in = w->shape[1], out = w->shape[0];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != in) {
        char b1[64], b2[64];
        error_set("nn linear: input %s does not end in %d (weight %s)", nn_shape_str(x, b1, 64), in, nn_shape_str(w, b2, 64));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != out)) { shape_error("linear", "bias", b); return NULL; }
    int shape[NN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = out;
    nn_tensor *y = nn_new(c, x->ndim, shape);
    if (!y) return NULL;
    int M = (int)(x->size / in);
    if (nn_linear_product(w, 0, out, x->data, M, b ? b->data : NULL, y->data) < 0) return NULL;
    if (nn_needs_grad(c, 3, IN(x, w, b))) {
        nn_node *n = nn_record(c, "linear", linear_backward, y, 3, IN(x, w, b));
        if (!n) return NULL;
        n->i[0] = M;
    }
    return y;
}

/* ---------------------------------------------------------------- matmul */
/* A batch of small products (attention heads) runs one product per pool thread at a time;
 * large ones go through nn_gemm's own split. kind 0: forward C = op(A) op(B); 1: dA; 2: dB
 * (a shared 2-D B accumulates over the batch, so its gradient stays sequential). */
typedef struct {
    int kind, ta, tb, M, N, K, shared;
    const float *A, *B;
    float *C;
    const float *dC;
    float *dA, *dB;
} bmm_job;

static void bmm_one(const bmm_job *j, long i)
{
    int M = j->M, N = j->N, K = j->K, ta = j->ta, tb = j->tb;
    int lda = ta ? M : K, ldb = tb ? K : N;
    const float *A = j->A + i * M * K, *B = j->B + (j->shared ? 0 : i * K * N);
    if (j->kind == 0) {
        nn_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, j->C + i * M * N, N);
        return;
    }
    const float *dC = j->dC + i * M * N;
    if (j->kind == 1) {
        float *dA = j->dA + i * M * K;
        if (!ta) nn_gemm(0, !tb, M, K, N, 1.0f, dC, N, B, ldb, 1.0f, dA, lda);
        else nn_gemm(tb, 1, K, M, N, 1.0f, B, ldb, dC, N, 1.0f, dA, lda);
    } else {
        float *dB = j->dB + (j->shared ? 0 : i * K * N);
        if (!tb) nn_gemm(!ta, 0, K, N, M, 1.0f, A, lda, dC, N, 1.0f, dB, ldb);
        else nn_gemm(1, ta, N, K, M, 1.0f, dC, N, A, lda, 1.0f, dB, ldb);
    }
}

static void bmm_range(void *arg, long i0, long i1)
{
    for (long i = i0; i < i1; i++) bmm_one(arg, i);
}

static void run_bmm(bmm_job *j, long batch)
{
    double flop = 2.0 * j->M * j->N * j->K;
    if (batch > 1 && flop < 4e6 && !(j->kind == 2 && j->shared)) nn_parallel_for(batch, 1, bmm_range, j);
    else bmm_range(j, 0, batch);
}

/* i: 0 batch, 1 M, 2 N, 3 K, 4 trans_a, 5 trans_b, 6 b shared (2-D) */
static void matmul_backward(nn_ctx *c, nn_node *n)
{
    long batch = n->i[0];
    float *da = nn_in_grad(c, n, 0), *db = nn_in_grad(c, n, 1);
    bmm_job j = { 1, (int)n->i[4], (int)n->i[5], (int)n->i[1], (int)n->i[2], (int)n->i[3], (int)n->i[6],
                  n->in[0]->data, n->in[1]->data, NULL, n->out->grad, da, db };
    if (da) run_bmm(&j, batch);
    j.kind = 2;
    if (db) run_bmm(&j, batch);
}

nn_tensor *nn_matmul(nn_ctx *c, nn_tensor *a, nn_tensor *b, int trans_a, int trans_b)
{
    if (!a || !b) return NULL;
    if (a->ndim < 2 || b->ndim < 2) { error_set("nn matmul: operands need at least 2 dims"); return NULL; }
    int M = trans_a ? a->shape[a->ndim - 1] : a->shape[a->ndim - 2];
    int K = trans_a ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
    int Kb = trans_b ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    int N = trans_b ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
    long batch = a->size / ((long)M * K);
    int shared = b->ndim == 2 && a->ndim > 2;
    int ok = K == Kb;
    if (ok && !shared) {
        ok = a->ndim == b->ndim;
        for (int d = 0; ok && d < a->ndim - 2; d++) ok = a->shape[d] == b->shape[d];
    }
    if (!ok) {
        char b1[64], b2[64];
        error_set("nn matmul: shapes %s%s and %s%s do not match", nn_shape_str(a, b1, 64), trans_a ? "^T" : "",
                  nn_shape_str(b, b2, 64), trans_b ? "^T" : "");
        return NULL;
    }
    int shape[NN_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 2] = M;
    shape[a->ndim - 1] = N;
    nn_tensor *y = nn_new(c, a->ndim, shape);
    if (!y) return NULL;
    int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    if (shared && !trans_a)
        nn_gemm(0, trans_b, (int)(batch * M), N, K, 1.0f, a->data, lda, b->data, ldb, 0.0f, y->data, N);
    else {
        bmm_job j = { 0, trans_a, trans_b, M, N, K, shared, a->data, b->data, y->data, NULL, NULL, NULL };
        run_bmm(&j, batch);
    }
    if (nn_needs_grad(c, 2, IN(a, b))) {
        nn_node *n = nn_record(c, "matmul", matmul_backward, y, 2, IN(a, b));
        if (!n) return NULL;
        n->i[0] = batch; n->i[1] = M; n->i[2] = N; n->i[3] = K;
        n->i[4] = trans_a; n->i[5] = trans_b; n->i[6] = shared;
    }
    return y;
}

/* ---------------------------------------------------------------- convolutions */
static nn_conv_geom geom_of(const nn_node *n) { return *(const nn_conv_geom *)n->saved[1]; }

static void conv_backward(nn_ctx *c, nn_node *n)
{
    nn_conv_geom g = geom_of(n);
    int O = (int)n->i[0];
    int fresh;
    float *dx = nn_in_grad_fresh(c, n, 0, &fresh), *dw = nn_in_grad(c, n, 1), *db = nn_in_grad(c, n, 2);
    size_t mark = nn_arena_mark(c->arena);      /* scratch above the gradients */
    float *work = nn_alloc_floats(c, nn_conv2d_work_floats(&g, O));
    if (!work) return;
    nn_conv2d_backward(&g, O, n->in[0]->data, n->in[1]->data, n->out->grad, dx, fresh, dw, db, work);
    nn_arena_release(c->arena, mark);
}

#define PACKED_CONV_MAX_P 128

/* The conv's output and record; x is seen as [B,C,H,W], w as [O,C,kh,kw]. */
static nn_tensor *conv_common(nn_ctx *c, const char *op, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                              nn_conv_geom g, int O, int out_ndim, const int *out_shape)
{
    nn_tensor *y = nn_new(c, out_ndim, out_shape);
    if (!y) return NULL;
    /* grad buffers of inputs and the saved geometry must not sit above the scratch mark */
    int rec = nn_needs_grad(c, 3, IN(x, w, b));
    nn_conv_geom *saved = NULL;
    if (rec) {
        saved = nn_arena_alloc(c->arena, sizeof *saved);
        if (!saved) return NULL;
        *saved = g;
    }
    size_t mark = nn_arena_mark(c->arena);
    /* frozen 3x3 stride-1 convolutions by Winograd where it suits (winograd.h); otherwise
     * the packed product only where the positions are few (ResNet layer2-4 at these image
     * sizes): with many positions the im2col operand outweighs the weight and sgemm measured
     * faster (a [1200 positions, 576] x [576, 64] product: 84 against 75 GFLOP/s on one core;
     * cpu-default ACT inference at 120x160, 2 threads: 27.1 ms against 29.3 with every conv
     * packed, medians of 5 interleaved runs) */
    const nn_packed *wp = NULL, *wu = NULL;
    if (w->frozen && w->ndim == 4 && nn_winograd_suits(&g, O)) wu = nn_weight_winograd(w);
    else if ((long)g.Ho * g.Wo <= PACKED_CONV_MAX_P) wp = nn_weight_packed(w, O, g.C * g.kh * g.kw);
    float *work = nn_alloc_floats(c, wu   ? nn_winograd_work_floats(&g, O)
                                     : wp ? nn_conv2d_packed_work_floats(&g, O)
                                          : nn_conv2d_work_floats(&g, O));
    if (!work) return NULL;
    if (wu) {
        if (nn_conv2d_forward_winograd(&g, O, x->data, wu, b ? b->data : NULL, y->data, work) < 0) return NULL;
    } else if (wp) {
        if (nn_conv2d_forward_packed(&g, O, x->data, wp, b ? b->data : NULL, y->data, work) < 0) return NULL;
    } else {
        nn_conv2d_forward(&g, O, x->data, w->data, b ? b->data : NULL, y->data, work);
    }
    nn_arena_release(c->arena, mark);
    if (rec) {
        nn_node *n = nn_record(c, op, conv_backward, y, 3, IN(x, w, b));
        if (!n) return NULL;
        n->saved[1] = saved;
        n->i[0] = O;
    }
    return y;
}

nn_tensor *nn_conv2d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int stride, int padding)
{
    if (!x || !w) return NULL;
    if (x->ndim != 4) { shape_error("conv2d", "input", x); return NULL; }
    if (w->ndim != 4 || w->shape[1] != x->shape[1]) { weight_error("conv2d", w, x, "[out,in,kh,kw]"); return NULL; }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) { shape_error("conv2d", "bias", b); return NULL; }
    if (stride < 1 || padding < 0) { error_set("nn conv2d: stride %d padding %d", stride, padding); return NULL; }
    nn_conv_geom g = { x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[2], w->shape[3],
                       stride, stride, padding, padding, 0, 0 };
    g.Ho = (g.H + 2 * padding - g.kh) / stride + 1;
    g.Wo = (g.W + 2 * padding - g.kw) / stride + 1;
    if (g.H + 2 * padding < g.kh || g.W + 2 * padding < g.kw) { shape_error("conv2d", "input (smaller than the kernel)", x); return NULL; }
    return conv_common(c, "conv2d", x, w, b, g, w->shape[0], NN_DIMS(g.B, w->shape[0], g.Ho, g.Wo));
}

nn_tensor *nn_conv1d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int stride, int padding)
{
    if (!x || !w) return NULL;
    if (x->ndim != 3) { shape_error("conv1d", "input", x); return NULL; }
    if (w->ndim != 3 || w->shape[1] != x->shape[1]) { weight_error("conv1d", w, x, "[out,in,k]"); return NULL; }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) { shape_error("conv1d", "bias", b); return NULL; }
    if (stride < 1 || padding < 0) { error_set("nn conv1d: stride %d padding %d", stride, padding); return NULL; }
    if (x->shape[2] + 2 * padding < w->shape[2]) { shape_error("conv1d", "input (shorter than the kernel)", x); return NULL; }
    nn_conv_geom g = { x->shape[0], x->shape[1], 1, x->shape[2], 1, w->shape[2], 1, stride, 0, padding, 1, 0 };
    g.Wo = (g.W + 2 * padding - g.kw) / stride + 1;
    return conv_common(c, "conv1d", x, w, b, g, w->shape[0], NN_DIMS(g.B, w->shape[0], g.Wo));
}

/* ConvTranspose1d is the data-gradient of the conv1d that maps the output (length Lo, O
 * channels) to the input (length L, C channels) with weight [C, O, k]. */
static void convt_backward(nn_ctx *c, nn_node *n)
{
    nn_conv_geom g = geom_of(n);        /* the conv geometry: input = our output [B,O,Lo] */
    nn_tensor *x = n->in[0], *w = n->in[1];
    int Cx = (int)n->i[0];              /* our input channels = the conv's output channels */
    const long L = g.Wo, N = (long)g.B * L, K = (long)g.C * g.kw;
    float *dx = nn_in_grad(c, n, 0), *dw = nn_in_grad(c, n, 1), *db = nn_in_grad(c, n, 2);
    const float *dy = n->out->grad;
    size_t mark = nn_arena_mark(c->arena);
    float *cols = nn_alloc_floats(c, K * N + (long)Cx * N);
    if (!cols) return;
    float *t = cols + K * N;
    nn_im2col(&g, dy, cols);
    if (dx) {   /* dx[C, B*L] = W[C, O*k] @ cols */
        nn_gemm(0, 0, Cx, (int)N, (int)K, 1.0f, w->data, (int)K, cols, (int)N, 0.0f, t, (int)N);
        nn_scatter_obp(g.B, Cx, L, t, NULL, dx, 1);
    }
    if (dw) {   /* dW[C, O*k] += x^T[C, B*L] @ cols^T */
        nn_gather_obp(g.B, Cx, L, x->data, t);
        nn_gemm(0, 1, Cx, (int)K, (int)N, 1.0f, t, (int)N, cols, (int)N, 1.0f, dw, (int)K);
    }
    if (db)
        for (int b = 0; b < g.B; b++)
            for (int o = 0; o < g.C; o++) {
                const float *r = dy + ((long)b * g.C + o) * g.W;
                float s = 0;
                for (int p = 0; p < g.W; p++) s += r[p];
                db[o] += s;
            }
    nn_arena_release(c->arena, mark);
}

nn_tensor *nn_conv_transpose1d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int stride, int padding)
{
    if (!x || !w) return NULL;
    if (x->ndim != 3) { shape_error("conv_transpose1d", "input", x); return NULL; }
    if (w->ndim != 3 || w->shape[0] != x->shape[1]) { weight_error("conv_transpose1d", w, x, "[in,out,k]"); return NULL; }
    int B = x->shape[0], Cx = x->shape[1], L = x->shape[2], O = w->shape[1], k = w->shape[2];
    if (b && (b->ndim != 1 || b->shape[0] != O)) { shape_error("conv_transpose1d", "bias", b); return NULL; }
    int Lo = (L - 1) * stride - 2 * padding + k;
    if (stride < 1 || padding < 0 || Lo < 1) { error_set("nn conv_transpose1d: stride %d padding %d gives length %d", stride, padding, Lo); return NULL; }
    nn_conv_geom g = { B, O, 1, Lo, 1, k, 1, stride, 0, padding, 1, L };
    nn_tensor *y = nn_new(c, NN_DIMS(B, O, Lo));
    if (!y) return NULL;
    int rec = nn_needs_grad(c, 3, IN(x, w, b));
    nn_conv_geom *saved = NULL;
    if (rec) {
        if (!(saved = nn_arena_alloc(c->arena, sizeof *saved))) return NULL;
        *saved = g;
    }
    const long N = (long)B * L, K = (long)O * k;
    /* frozen, few positions: W^T packed once, as a conv's weight (a UNet's upsampling at batch 1:
     * nn_gemm copied the whole weight on every call for a product of 4 to 16 columns) */
    const nn_packed *wp = N <= PACKED_CONV_MAX_P ? nn_weight_packed_transposed(w, (int)K, Cx) : NULL;
    size_t mark = nn_arena_mark(c->arena);
    float *cols = nn_alloc_floats(c, K * N + (long)Cx * N + (wp ? K * N : 0));
    if (!cols) return NULL;
    float *t = cols + K * N;
    nn_gather_obp(B, Cx, L, x->data, t);                       /* x^T [C, B*L] */
    if (wp) {
        float *ct = t + (long)Cx * N;                          /* cols^T [B*L, O*k] = x W */
        if (nn_gemm_packed((int)N, 0, (int)K, t, 1, N, wp, NULL, ct, K, 0) < 0) return NULL;
        for (long i = 0; i < N; i++)
            for (long r = 0; r < K; r++) cols[r * N + i] = ct[i * K + r];
    } else {
        nn_gemm(1, 0, (int)K, (int)N, Cx, 1.0f, w->data, (int)K, t, (int)N, 0.0f, cols, (int)N);
    }
    for (long i = 0; i < y->size; i++) y->data[i] = 0;
    nn_col2im_add(&g, cols, y->data);
    if (b)
        for (int bb = 0; bb < B; bb++)
            for (int o = 0; o < O; o++) {
                float *r = y->data + ((long)bb * O + o) * Lo;
                for (int p = 0; p < Lo; p++) r[p] += b->data[o];
            }
    nn_arena_release(c->arena, mark);
    if (rec) {
        nn_node *n = nn_record(c, "conv_transpose1d", convt_backward, y, 3, IN(x, w, b));
        if (!n) return NULL;
        n->saved[1] = saved;
        n->i[0] = Cx;
    }
    return y;
}
