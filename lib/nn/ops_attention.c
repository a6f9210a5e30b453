/* ops_attention.c — the two ops that multi-head attention is built from without copies:
 *   nn_linear_rows: a projection through a block of rows of a weight (in_proj's q, k or v part)
 *     read in place, its gradient accumulated into that block;
 *   nn_attention: scaled dot-product attention over heads that reads q, k and v as column
 *     ranges of [B, L, *] tensors (the heads are column blocks: no split, permute or scale
 *     passes) and writes the heads merged, [B, Lq, E]. One task per (sample, head) on the pool,
 *     each task's products single-threaded: the result does not depend on the thread count.
 * Saved for backward: the softmax probabilities and the dropout mask; the scores and the
 * dropped probabilities are recomputed per task in scratch. */
#include "nn/ops.h"
#include "nn/gemm_packed.h"
#include "nn/kernels.h"
#include "nn/tape.h"
#include "nn/threads.h"
#include "util/error.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define IN(...) ((nn_tensor *const[]){ __VA_ARGS__ })

/* ---------------------------------------------------------------- linear over a row block */
/* i: 0 M, 1 row0, 2 rows */
static void linear_rows_backward(nn_ctx *c, nn_node *n)
{
    nn_tensor *x = n->in[0], *w = n->in[1];
    int M = (int)n->i[0], in = w->shape[1], row0 = (int)n->i[1], out = (int)n->i[2];
    const float *dy = n->out->grad;
    int fresh;
    float *dx = nn_in_grad_fresh(c, n, 0, &fresh), *dw = nn_in_grad(c, n, 1), *db = nn_in_grad(c, n, 2);
    if (dx) nn_gemm(0, 0, M, in, out, 1.0f, dy, out, w->data + (long)row0 * in, in, fresh ? 0.0f : 1.0f, dx, in);
    if (dw) nn_gemm(1, 0, out, in, M, 1.0f, dy, out, x->data, in, 1.0f, dw + (long)row0 * in, in);
    if (db) nn_bias_grad(db + row0, dy, M, out);
}

nn_tensor *nn_linear_rows(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int row0, int rows)
{
    if (!x || !w) return NULL;
    char b1[64], b2[64];
    if (w->ndim != 2 || row0 < 0 || rows <= 0 || row0 + rows > w->shape[0]) {
        error_set("nn linear_rows: rows [%d, %d) of weight %s", row0, row0 + rows, nn_shape_str(w, b1, 64));
        return NULL;
    }
    int in = w->shape[1];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != in) {
        error_set("nn linear_rows: input %s does not end in %d (weight %s)", nn_shape_str(x, b1, 64), in,
                  nn_shape_str(w, b2, 64));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        error_set("nn linear_rows: bias %s for weight %s", nn_shape_str(b, b1, 64), nn_shape_str(w, b2, 64));
        return NULL;
    }
    int shape[NN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = rows;
    nn_tensor *y = nn_new(c, x->ndim, shape);
    if (!y) return NULL;
    int M = (int)(x->size / in);
    if (nn_linear_product(w, row0, rows, x->data, M, b ? b->data : NULL, y->data) < 0) return NULL;
    if (nn_needs_grad(c, 3, IN(x, w, b))) {
        nn_node *n = nn_record(c, "linear_rows", linear_rows_backward, y, 3, IN(x, w, b));
        if (!n) return NULL;
        n->i[0] = M;
        n->i[1] = row0;
        n->i[2] = rows;
    }
    return y;
}

/* ---------------------------------------------------------------- attention */
typedef struct {
    int B, H, Lq, Lk, Dh, E;
    const float *q, *k, *v;          /* first element of head 0 of sample 0 (offset applied) */
    int ldq, ldk, ldv;               /* row strides (the inputs' last dims) */
    float scale;
    const float *attn_mask;          /* [Lq, Lk] additive or NULL */
    const unsigned char *pad;        /* [B, Lk] or NULL */
    float *probs;                    /* [B, H, Lq, Lk] softmax output (saved) */
    const float *drop;               /* [B, H, Lq, Lk] scaled dropout mask or NULL */
    float *scratch;                  /* [B, H, Lq, Lk] per-task scratch */
    float *out;                      /* [B, Lq, E] forward output */
    const float *dout;               /* backward: [B, Lq, E] */
    float *dq, *dk, *dv;             /* backward: gradients at the inputs' layouts (offset applied) */
} attn_job;

static void attn_forward_tasks(void *arg, long t0, long t1)
{
    const attn_job *j = arg;
    const int Lq = j->Lq, Lk = j->Lk, Dh = j->Dh;
    const long LL = (long)Lq * Lk;
    for (long t = t0; t < t1; t++) {
        int b = (int)(t / j->H), h = (int)(t % j->H);
        const float *Q = j->q + (long)b * Lq * j->ldq + h * Dh;
        const float *K = j->k + (long)b * Lk * j->ldk + h * Dh;
        const float *V = j->v + (long)b * Lk * j->ldv + h * Dh;
        float *S = j->scratch + t * LL, *P = j->probs + t * LL;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Lq, Lk, Dh, j->scale, Q, j->ldq, K, j->ldk, 0.0f, S, Lk);
        const unsigned char *pad = j->pad ? j->pad + (long)b * Lk : NULL;
        for (int r = 0; r < Lq; r++)
            nn_softmax_row(P + (long)r * Lk, S + (long)r * Lk, Lk, j->attn_mask ? j->attn_mask + (long)r * Lk : NULL, pad, 0);
        const float *A = P;
        if (j->drop) {
            const float *m = j->drop + t * LL;
            for (long i = 0; i < LL; i++) S[i] = P[i] * m[i];
            A = S;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Lq, Dh, Lk, 1.0f, A, Lk, V, j->ldv, 0.0f,
                    j->out + (long)b * Lq * j->E + h * Dh, j->E);
    }
}

static void attn_backward_tasks(void *arg, long t0, long t1)
{
    const attn_job *j = arg;
    const int Lq = j->Lq, Lk = j->Lk, Dh = j->Dh, E = j->E;
    const long LL = (long)Lq * Lk;
    for (long t = t0; t < t1; t++) {
        int b = (int)(t / j->H), h = (int)(t % j->H);
        long qo = (long)b * Lq * j->ldq + h * Dh, ko = (long)b * Lk * j->ldk + h * Dh, vo = (long)b * Lk * j->ldv + h * Dh;
        const float *dO = j->dout + (long)b * Lq * E + h * Dh;
        const float *P = j->probs + t * LL, *m = j->drop ? j->drop + t * LL : NULL;
        float *G = j->scratch + t * LL;
        if (j->dv) {   /* dV += Pd^T dO, Pd = P * mask (built in G, which is free until dP) */
            const float *A = P;
            if (m) {
                for (long i = 0; i < LL; i++) G[i] = P[i] * m[i];
                A = G;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Lk, Dh, Lq, 1.0f, A, Lk, dO, E, 1.0f, j->dv + vo, j->ldv);
        }
        if (!j->dq && !j->dk) continue;
        /* dPd = dO V^T; dP = dPd * mask; dS = P * (dP - rowsum(dP * P)) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Lq, Lk, Dh, 1.0f, dO, E, j->v + vo, j->ldv, 0.0f, G, Lk);
        for (int r = 0; r < Lq; r++) {
            float *g = G + (long)r * Lk;
            const float *p = P + (long)r * Lk, *mr = m ? m + (long)r * Lk : NULL;
            float s = 0;
            if (mr)
                for (int k = 0; k < Lk; k++) g[k] *= mr[k];
            for (int k = 0; k < Lk; k++) s += g[k] * p[k];
            for (int k = 0; k < Lk; k++) g[k] = p[k] * (g[k] - s);
        }
        if (j->dq)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Lq, Dh, Lk, j->scale, G, Lk, j->k + ko, j->ldk, 1.0f,
                        j->dq + qo, j->ldq);
        if (j->dk)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Lk, Dh, Lq, j->scale, G, Lk, j->q + qo, j->ldq, 1.0f,
                        j->dk + ko, j->ldk);
    }
}

/* i: 0 qoff, 1 koff, 2 voff, 3 heads, 4 E; saved: 0 probs, 1 dropout mask (or NULL); f: 0 scale.
 * The masks are not needed: masked entries have probability 0 and so gradient 0. */

static void attention_backward(nn_ctx *c, nn_node *n)
{
    nn_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    int E = (int)n->i[4], H = (int)n->i[3];
    int B = q->shape[0], Lq = q->shape[1], Lk = k->shape[1];
    float *dq = nn_in_grad(c, n, 0), *dk = nn_in_grad(c, n, 1), *dv = nn_in_grad(c, n, 2);
    if (!dq && !dk && !dv) return;
    size_t mark = nn_arena_mark(c->arena);
    float *scratch = nn_alloc_floats(c, (long)B * H * Lq * Lk);
    if (!scratch) return;   /* arena failure: nn_backward reports it */
    int ldq = q->shape[2], ldk = k->shape[2], ldv = v->shape[2];
    attn_job j = { B, H, Lq, Lk, E / H, E, q->data + n->i[0], k->data + n->i[1], v->data + n->i[2], ldq, ldk, ldv,
                   n->f[0], NULL, NULL, n->saved[0], n->saved[1], scratch, NULL, n->out->grad,
                   dq ? dq + n->i[0] : NULL, dk ? dk + n->i[1] : NULL, dv ? dv + n->i[2] : NULL };
    nn_parallel_for((long)B * H, 1, attn_backward_tasks, &j);
    nn_arena_release(c->arena, mark);
}

nn_tensor *nn_attention(nn_ctx *c, nn_tensor *q, int qoff, nn_tensor *k, int koff, nn_tensor *v, int voff, int E,
                        int heads, const float *attn_mask, const unsigned char *key_padding, float dropout)
{
    if (!q || !k || !v) return NULL;
    char b1[64], b2[64], b3[64];
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || heads <= 0 || E <= 0 || E % heads || k->shape[0] != q->shape[0] ||
        v->shape[0] != q->shape[0] || v->shape[1] != k->shape[1] || qoff < 0 || koff < 0 || voff < 0 ||
        qoff + E > q->shape[2] || koff + E > k->shape[2] || voff + E > v->shape[2]) {
        error_set("nn attention: q %s [cols %d..%d), k %s [cols %d..%d), v %s [cols %d..%d), %d heads: expected "
                  "q [B,Lq,*], k and v [B,Lk,*] holding E columns divisible by the heads",
                  nn_shape_str(q, b1, 64), qoff, qoff + E, nn_shape_str(k, b2, 64), koff, koff + E,
                  nn_shape_str(v, b3, 64), voff, voff + E, heads);
        return NULL;
    }
    int train_drop = c->train && dropout > 0.0f;
    if (train_drop && dropout >= 1.0f) { error_set("nn attention: dropout %g (must be below 1)", dropout); return NULL; }
    if (train_drop && !c->rng) { error_set("nn attention: no random generator set on the context (nn_ctx_set_rng)"); return NULL; }
    int B = q->shape[0], Lq = q->shape[1], Lk = k->shape[1], H = heads, Dh = E / heads;
    long LL = (long)Lq * Lk, n_all = (long)B * H * LL;
    nn_tensor *y = nn_new(c, NN_DIMS(B, Lq, E));
    if (!y) return NULL;
    int rec = nn_needs_grad(c, 3, IN(q, k, v));
    size_t mark = nn_arena_mark(c->arena);
    float *probs = nn_alloc_floats(c, n_all);
    float *drop = probs && train_drop ? nn_alloc_floats(c, n_all) : NULL;
    if (!probs || (train_drop && !drop)) return NULL;
    if (drop && nn_dropout_fill(c, drop, n_all, dropout, NULL, NULL) < 0) return NULL;
    size_t scratch_mark = nn_arena_mark(c->arena);
    float *scratch = nn_alloc_floats(c, n_all);
    if (!scratch) return NULL;
    attn_job j = { B, H, Lq, Lk, Dh, E, q->data + qoff, k->data + koff, v->data + voff, q->shape[2], k->shape[2],
                   v->shape[2], 1.0f / sqrtf((float)Dh), attn_mask, key_padding, probs, drop, scratch, y->data,
                   NULL, NULL, NULL, NULL };
    nn_parallel_for((long)B * H, 1, attn_forward_tasks, &j);
    nn_arena_release(c->arena, scratch_mark);
    if (rec) {
        nn_node *n = nn_record(c, "attention", attention_backward, y, 3, IN(q, k, v));
        if (!n) return NULL;
        n->saved[0] = probs;
        n->saved[1] = drop;
        n->i[0] = qoff; n->i[1] = koff; n->i[2] = voff; n->i[3] = H; n->i[4] = E;
        n->f[0] = j.scale;
    } else {
        nn_arena_release(c->arena, mark);
    }
    return y;
}
