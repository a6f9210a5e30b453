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

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ATTN_SIMD 1
#endif

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
    int tiled;                       /* through attn_head_tiled(_backward) */
    long scratch_per;                /* scratch floats per task */
} attn_job;

/* G [Lq, Lk] (row stride ldg) from dPd to dS: dP = dPd * mask (m may be NULL), then
 * dS = P * (dP - rowsum(dP * P)); P and m [Lq, Lk] */
static void softmax_grad_rows(float *G, long ldg, const float *P, const float *m, int Lq, int Lk)
{
    for (int r = 0; r < Lq; r++) {
        float *g = G + r * ldg;
        const float *p = P + (long)r * Lk, *mr = m ? m + (long)r * Lk : NULL;
        float s = 0;
        if (mr)
            for (int k = 0; k < Lk; k++) g[k] *= mr[k];
        for (int k = 0; k < Lk; k++) s += g[k] * p[k];
        for (int k = 0; k < Lk; k++) g[k] = p[k] * (g[k] - s);
    }
}

/* heads whose size is a multiple of 16 run as register tiles where the CPU has AVX2 and FMA */
static int attn_tiled(int Dh)
{
#ifdef ATTN_SIMD
    return Dh % 16 == 0;
#else
    (void)Dh;
    return 0;
#endif
}

#ifdef ATTN_SIMD
/* The per-head products as 6x16 register tiles: at a policy's sizes (100 queries, 8 heads of
 * 32) one head's products are 0.3 MFLOP each, where sgemm's per-call packing and dispatch
 * cost as much as the arithmetic (measured: a cpu-default decoder self-attention 448 us on one
 * thread, most of it outside the FMAs). Taken when the head size is a multiple of 16. */
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ACC_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define ACC_FMA(r)                                      \
    x = _mm256_broadcast_ss(row[r] + i * step);         \
    c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);          \
    c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);
#define ACC_STORE(r)                                                                  \
    if (r0 + r < rows) {                                                              \
        float *d = dp + (long)(r0 + r) * ldd;                                          \
        __m256 v0 = _mm256_mul_ps(c##r##0, vs), v1 = _mm256_mul_ps(c##r##1, vs);        \
        if (acc) {                                                                     \
            v0 = _mm256_add_ps(_mm256_loadu_ps(d), v0);                                \
            v1 = _mm256_add_ps(_mm256_loadu_ps(d + 8), v1);                            \
        }                                                                              \
        _mm256_storeu_ps(d, v0);                                                       \
        _mm256_storeu_ps(d + 8, v1);                                                   \
    }

/* Keys of one head as panels of 16: kt [ceil(Lk/16)][Dh][16], keys past Lk zero. */
static void attn_pack_keys(const float *K, int ldk, int Lk, int Dh, float *kt)
{
    for (int p = 0; p < (Lk + 15) / 16; p++)
        for (int jj = 0; jj < 16; jj++) {
            int key = p * 16 + jj;
            float *d = kt + (long)p * Dh * 16 + jj;
            if (key < Lk)
                for (int i = 0; i < Dh; i++) d[i * 16] = K[(long)key * ldk + i];
            else
                for (int i = 0; i < Dh; i++) d[i * 16] = 0.0f;
        }
}

/* dst [rows, 16 * panels] (row stride ldd) = (acc: +=) scale * A B over `depth`: A's row r
 * element i at a[r * lda + i * step] (step > 1: A is a transposed operand), B panels
 * [panels][depth][16] at b (stride bpanel between panels, bk between steps of i). The rows of
 * a tile past `rows` read the last row and are not stored. */
static void attn_tiles(const float *a, long lda, long step, int rows, int depth, const float *b, long bpanel, long bk,
                       int panels, float scale, float *dst, long ldd, int acc)
{
    const __m256 vs = _mm256_set1_ps(scale);
    for (int r0 = 0; r0 < rows; r0 += 6) {
        const float *row[6];
        for (int r = 0; r < 6; r++) row[r] = a + (long)(r0 + r < rows ? r0 + r : rows - 1) * lda;
        for (int p = 0; p < panels; p++) {
            ROWS6(ACC_DECL)
            const float *bp = b + p * bpanel;
            __m256 b0, b1, x;
            for (int i = 0; i < depth; i++, bp += bk) {
                b0 = _mm256_loadu_ps(bp);
                b1 = _mm256_loadu_ps(bp + 8);
                ROWS6(ACC_FMA)
            }
            float *dp = dst + p * 16;
            ROWS6(ACC_STORE)
        }
    }
}

/* One (sample, head): S = scale Q K^T into scratch (rows padded to whole 16-key panels), the
 * softmax rows into P, then out = P V (or P * dropout mask, built over S, times V). */
static void attn_head_tiled(const attn_job *j, const float *Q, const float *K, const float *V, const float *mask_rows,
                            const unsigned char *pad, float *P, const float *drop, float *scratch, float *out)
{
    const int Lq = j->Lq, Lk = j->Lk, Dh = j->Dh, panels = (Lk + 15) / 16, lds = panels * 16;
    float *S = scratch, *kt = scratch + (long)Lq * lds;
    attn_pack_keys(K, j->ldk, Lk, Dh, kt);
    attn_tiles(Q, j->ldq, 1, Lq, Dh, kt, (long)Dh * 16, 16, panels, j->scale, S, lds, 0);
    for (int r = 0; r < Lq; r++)
        nn_softmax_row(P + (long)r * Lk, S + (long)r * lds, Lk, mask_rows ? mask_rows + (long)r * Lk : NULL, pad, 0);
    const float *A = P;
    if (drop) {
        for (long i = 0; i < (long)Lq * Lk; i++) S[i] = P[i] * drop[i];
        A = S;
    }
    /* out [Lq, Dh] = A [Lq, Lk] V [Lk, Dh]: V's rows are the depth, its 16-column blocks the panels */
    attn_tiles(A, Lk, 1, Lq, Lk, V, 16, j->ldv, Dh / 16, 1.0f, out, j->E, 0);
}
#endif

static void attn_forward_tasks(void *arg, long t0, long t1)
{
    const attn_job *j = arg;
    const int Lq = j->Lq, Lk = j->Lk, Dh = j->Dh;
    const long LL = (long)Lq * Lk;
#ifdef ATTN_SIMD
    if (j->tiled) {
        for (long t = t0; t < t1; t++) {
            int b = (int)(t / j->H), h = (int)(t % j->H);
            attn_head_tiled(j, j->q + (long)b * Lq * j->ldq + h * Dh, j->k + (long)b * Lk * j->ldk + h * Dh,
                            j->v + (long)b * Lk * j->ldv + h * Dh, j->attn_mask, j->pad ? j->pad + (long)b * Lk : NULL,
                            j->probs + t * LL, j->drop ? j->drop + t * LL : NULL, j->scratch + t * j->scratch_per,
                            j->out + (long)b * Lq * j->E + h * Dh);
        }
        return;
    }
#endif
    for (long t = t0; t < t1; t++) {
        int b = (int)(t / j->H), h = (int)(t % j->H);
        const float *Q = j->q + (long)b * Lq * j->ldq + h * Dh;
        const float *K = j->k + (long)b * Lk * j->ldk + h * Dh;
        const float *V = j->v + (long)b * Lk * j->ldv + h * Dh;
        float *S = j->scratch + t * LL, *P = j->probs + t * LL;
        nn_gemm_serial(0, 1, Lq, Lk, Dh, j->scale, Q, j->ldq, K, j->ldk, 0.0f, S, Lk);
        const unsigned char *pad = j->pad ? j->pad + (long)b * Lk : NULL;
        for (int r = 0; r < Lq; r++)
            nn_softmax_row(P + (long)r * Lk, S + (long)r * Lk, Lk, j->attn_mask ? j->attn_mask + (long)r * Lk : NULL, pad, 0);
        const float *A = P;
        if (j->drop) {
            const float *m = j->drop + t * LL;
            for (long i = 0; i < LL; i++) S[i] = P[i] * m[i];
            A = S;
        }
        nn_gemm_serial(0, 0, Lq, Dh, Lk, 1.0f, A, Lk, V, j->ldv, 0.0f, j->out + (long)b * Lq * j->E + h * Dh, j->E);
    }
}

#ifdef ATTN_SIMD
/* The backward of one (sample, head) through the same tiles: dV += Pd^T dO, dPd = dO V^T (V
 * packed like the keys), dS = P * (dPd * mask - rowsum), dQ += scale dS K, dK += scale dS^T Q;
 * the transposed operands are read with a row step. G: scratch [Lq, 16-padded Lk] then V's
 * panels. */
static void attn_head_tiled_backward(const attn_job *j, long qo, long ko, long vo, const float *dO, const float *P,
                                     const float *m, float *G)
{
    const int Lq = j->Lq, Lk = j->Lk, Dh = j->Dh, E = j->E, panels = (Lk + 15) / 16, lds = panels * 16;
    if (j->dv) {   /* Pd = P * mask built in G, which is free until dPd */
        const float *A = P;
        if (m) {
            for (long i = 0; i < (long)Lq * Lk; i++) G[i] = P[i] * m[i];
            A = G;
        }
        attn_tiles(A, 1, Lk, Lk, Lq, dO, 16, E, Dh / 16, 1.0f, j->dv + vo, j->ldv, 1);
    }
    if (!j->dq && !j->dk) return;
    float *vt = G + (long)Lq * lds;
    attn_pack_keys(j->v + vo, j->ldv, Lk, Dh, vt);
    attn_tiles(dO, E, 1, Lq, Dh, vt, (long)Dh * 16, 16, panels, 1.0f, G, lds, 0);
    softmax_grad_rows(G, lds, P, m, Lq, Lk);
    if (j->dq) attn_tiles(G, lds, 1, Lq, Lk, j->k + ko, 16, j->ldk, Dh / 16, j->scale, j->dq + qo, j->ldq, 1);
    if (j->dk) attn_tiles(G, 1, lds, Lk, Lq, j->q + qo, 16, j->ldq, Dh / 16, j->scale, j->dk + ko, j->ldk, 1);
}
#endif

static void attn_backward_tasks(void *arg, long t0, long t1)
{
    const attn_job *j = arg;
    const int Lq = j->Lq, Lk = j->Lk, Dh = j->Dh, E = j->E;
    const long LL = (long)Lq * Lk;
#ifdef ATTN_SIMD
    if (j->tiled) {
        for (long t = t0; t < t1; t++) {
            int b = (int)(t / j->H), h = (int)(t % j->H);
            attn_head_tiled_backward(j, (long)b * Lq * j->ldq + h * Dh, (long)b * Lk * j->ldk + h * Dh,
                                     (long)b * Lk * j->ldv + h * Dh, j->dout + (long)b * Lq * E + h * Dh,
                                     j->probs + t * LL, j->drop ? j->drop + t * LL : NULL,
                                     j->scratch + t * j->scratch_per);
        }
        return;
    }
#endif
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
            nn_gemm_serial(1, 0, Lk, Dh, Lq, 1.0f, A, Lk, dO, E, 1.0f, j->dv + vo, j->ldv);
        }
        if (!j->dq && !j->dk) continue;
        /* dPd = dO V^T; dP = dPd * mask; dS = P * (dP - rowsum(dP * P)) */
        nn_gemm_serial(0, 1, Lq, Lk, Dh, 1.0f, dO, E, j->v + vo, j->ldv, 0.0f, G, Lk);
        softmax_grad_rows(G, Lk, P, m, Lq, Lk);
        if (j->dq)
            nn_gemm_serial(0, 0, Lq, Dh, Lk, j->scale, G, Lk, j->k + ko, j->ldk, 1.0f, j->dq + qo, j->ldq);
        if (j->dk)
            nn_gemm_serial(1, 0, Lk, Dh, Lq, j->scale, G, Lk, j->q + qo, j->ldq, 1.0f, j->dk + ko, j->ldk);
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
    int Dh = E / H, tiled = attn_tiled(Dh);
    long lkp = (Lk + 15) / 16 * 16, per = tiled ? (long)Lq * lkp + lkp * Dh : (long)Lq * Lk;
    float *scratch = nn_alloc_floats(c, (long)B * H * per);
    if (!scratch) return;   /* arena failure: nn_backward reports it */
    int ldq = q->shape[2], ldk = k->shape[2], ldv = v->shape[2];
    attn_job j = { B, H, Lq, Lk, E / H, E, q->data + n->i[0], k->data + n->i[1], v->data + n->i[2], ldq, ldk, ldv,
                   n->f[0], NULL, NULL, n->saved[0], n->saved[1], scratch, NULL, n->out->grad,
                   dq ? dq + n->i[0] : NULL, dk ? dk + n->i[1] : NULL, dv ? dv + n->i[2] : NULL, tiled, per };
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
    if (train_drop && !c->rng && !c->key.batch) { error_set("nn attention: no random generator or sample key set on the context"); return NULL; }
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
    int tiled = attn_tiled(Dh);
    long lkp = (Lk + 15) / 16 * 16, per = tiled ? (long)Lq * lkp + lkp * Dh : LL;
    float *scratch = nn_alloc_floats(c, (long)B * H * per);
    if (!scratch) return NULL;
    attn_job j = { B, H, Lq, Lk, Dh, E, q->data + qoff, k->data + koff, v->data + voff, q->shape[2], k->shape[2],
                   v->shape[2], 1.0f / sqrtf((float)Dh), attn_mask, key_padding, probs, drop, scratch, y->data,
                   NULL, NULL, NULL, NULL, tiled, per };
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
