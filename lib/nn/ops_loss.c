/* ops_loss.c — losses (masked L1 as ACT, MSE, Gaussian KL, cross-entropy/InfoNCE), embedding
 * lookup and the constant position tables (1-D sine, Diffusion Policy's step embedding, DETR's
 * 2-D sine). */
#include "nn/ops.h"
#include "nn/tape.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

#define IN(...) ((nn_tensor *const[]){ __VA_ARGS__ })

/* ---------------------------------------------------------------- losses */
static nn_tensor *scalar_out(nn_ctx *c, double v)
{
    nn_tensor *y = nn_new(c, NN_DIMS(1));
    if (y) y->data[0] = (float)v;
    return y;
}

/* i[0]: kind 0 = L1, 1 = MSE; saved[0] = is_pad copy or NULL; i[1] = D (elements per pad entry) */
static void pair_loss_backward(nn_ctx *c, nn_node *n)
{
    nn_tensor *a = n->in[0], *b = n->in[1];
    float *da = nn_in_grad(c, n, 0), *db = nn_in_grad(c, n, 1);
    const unsigned char *pad = n->saved[0];
    long D = n->i[1];
    float g = n->out->grad[0] / (float)a->size;
    for (long i = 0; i < a->size; i++) {
        if (pad && pad[i / D]) continue;
        float d = a->data[i] - b->data[i];
        float v = n->i[0] == 0 ? (d > 0 ? g : d < 0 ? -g : 0.0f) : 2.0f * g * d;
        if (da) da[i] += v;
        if (db) db[i] -= v;
    }
}

static nn_tensor *pair_loss(nn_ctx *c, const char *op, int kind, nn_tensor *a, nn_tensor *b, const unsigned char *is_pad)
{
    if (!a || !b) return NULL;
    if (!nn_same_shape(a, b)) {
        char b1[64], b2[64];
        error_set("nn %s: shapes %s and %s differ", op, nn_shape_str(a, b1, 64), nn_shape_str(b, b2, 64));
        return NULL;
    }
    long D = 1, rows = a->size;
    if (is_pad) {
        if (a->ndim != 3) { error_set("nn %s: a padding mask needs [B,T,D] inputs", op); return NULL; }
        D = a->shape[2];
        rows = a->size / D;
    }
    double s = 0;
    for (long i = 0; i < a->size; i++) {
        if (is_pad && is_pad[i / D]) continue;
        double d = (double)a->data[i] - b->data[i];
        s += kind == 0 ? fabs(d) : d * d;
    }
    nn_tensor *y = scalar_out(c, s / (double)a->size);
    if (!y) return NULL;
    if (nn_needs_grad(c, 2, IN(a, b))) {
        unsigned char *pad = NULL;
        if (is_pad) {
            if (!(pad = nn_arena_alloc(c->arena, (size_t)rows))) return NULL;
            memcpy(pad, is_pad, (size_t)rows);
        }
        nn_node *n = nn_record(c, op, pair_loss_backward, y, 2, IN(a, b));
        if (!n) return NULL;
        n->saved[0] = pad;
        n->i[0] = kind;
        n->i[1] = D;
    }
    return y;
}

nn_tensor *nn_l1_loss_masked(nn_ctx *c, nn_tensor *a, nn_tensor *b, const unsigned char *is_pad)
{
    return pair_loss(c, "l1_loss", 0, a, b, is_pad);
}

nn_tensor *nn_mse_loss(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return pair_loss(c, "mse_loss", 1, a, b, NULL); }

static void kl_backward(nn_ctx *c, nn_node *n)
{
    nn_tensor *mu = n->in[0], *lv = n->in[1];
    float *dmu = nn_in_grad(c, n, 0), *dlv = nn_in_grad(c, n, 1);
    float g = n->out->grad[0] / (float)mu->shape[0];
    for (long i = 0; i < mu->size; i++) {
        if (dmu) dmu[i] += g * mu->data[i];
        if (dlv) dlv[i] += g * 0.5f * (expf(lv->data[i]) - 1.0f);
    }
}

nn_tensor *nn_kl_normal(nn_ctx *c, nn_tensor *mu, nn_tensor *logvar)
{
    if (!mu || !logvar) return NULL;
    if (mu->ndim != 2 || !nn_same_shape(mu, logvar)) { error_set("nn kl_normal: mu and logvar must both be [B,Z]"); return NULL; }
    double s = 0;
    for (long i = 0; i < mu->size; i++)
        s += -0.5 * (1.0 + logvar->data[i] - (double)mu->data[i] * mu->data[i] - exp(logvar->data[i]));
    nn_tensor *y = scalar_out(c, s / mu->shape[0]);
    if (!y) return NULL;
    if (nn_needs_grad(c, 2, IN(mu, logvar)) && !nn_record(c, "kl_normal", kl_backward, y, 2, IN(mu, logvar))) return NULL;
    return y;
}

/* saved[0]: softmax probabilities [N,K]; saved[1]: labels */
static void ce_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    if (!dx) return;
    long N = n->in[0]->shape[0], K = n->in[0]->shape[1];
    const float *p = n->saved[0];
    const int *lab = n->saved[1];
    float g = n->out->grad[0] / (float)N;
    for (long r = 0; r < N; r++)
        for (long k = 0; k < K; k++) dx[r * K + k] += g * (p[r * K + k] - (k == lab[r] ? 1.0f : 0.0f));
}

nn_tensor *nn_cross_entropy(nn_ctx *c, nn_tensor *logits, const int *labels)
{
    if (!logits) return NULL;
    if (logits->ndim != 2) { error_set("nn cross_entropy: logits must be [N,K]"); return NULL; }
    long N = logits->shape[0], K = logits->shape[1];
    for (long r = 0; r < N; r++)
        if (labels[r] < 0 || labels[r] >= K) { error_set("nn cross_entropy: label %d of row %ld outside [0,%ld)", labels[r], r, K); return NULL; }
    int rec = nn_needs_grad(c, 1, IN(logits));
    size_t mark = nn_arena_mark(c->arena);
    float *p = nn_alloc_floats(c, N * K);
    int *lab = rec ? nn_arena_alloc(c->arena, (size_t)N * sizeof(int)) : NULL;
    if (!p || (rec && !lab)) return NULL;
    double loss = 0;
    for (long r = 0; r < N; r++) {
        const float *x = logits->data + r * K;
        float mx = -INFINITY;
        for (long k = 0; k < K; k++) if (x[k] > mx) mx = x[k];
        double s = 0;
        for (long k = 0; k < K; k++) { p[r * K + k] = expf(x[k] - mx); s += p[r * K + k]; }
        for (long k = 0; k < K; k++) p[r * K + k] = (float)(p[r * K + k] / s);
        loss += -(x[labels[r]] - mx - log(s));
    }
    if (!rec) nn_arena_release(c->arena, mark);
    nn_tensor *y = scalar_out(c, loss / (double)N);
    if (!y) return NULL;
    if (rec) {
        memcpy(lab, labels, (size_t)N * sizeof(int));
        nn_node *n = nn_record(c, "cross_entropy", ce_backward, y, 1, IN(logits));
        if (!n) return NULL;
        n->saved[0] = p;
        n->saved[1] = lab;
    }
    return y;
}

/* ---------------------------------------------------------------- embedding */
static void embedding_backward(nn_ctx *c, nn_node *n)
{
    float *dw = nn_in_grad(c, n, 0);
    if (!dw) return;
    const int *idx = n->saved[0];
    long count = n->i[0], D = n->in[0]->shape[1];
    for (long r = 0; r < count; r++)
        for (long k = 0; k < D; k++) dw[(long)idx[r] * D + k] += n->out->grad[r * D + k];
}

nn_tensor *nn_embedding(nn_ctx *c, nn_tensor *weight, const int *idx, int count)
{
    if (!weight) return NULL;
    if (weight->ndim != 2 || count < 1) { error_set("nn embedding: weight must be [N,D] and at least one index"); return NULL; }
    int N = weight->shape[0], D = weight->shape[1];
    for (int r = 0; r < count; r++)
        if (idx[r] < 0 || idx[r] >= N) { error_set("nn embedding: index %d outside [0,%d)", idx[r], N); return NULL; }
    nn_tensor *y = nn_new(c, NN_DIMS(count, D));
    if (!y) return NULL;
    for (int r = 0; r < count; r++) memcpy(y->data + (long)r * D, weight->data + (long)idx[r] * D, (size_t)D * sizeof(float));
    if (nn_needs_grad(c, 1, IN(weight))) {
        int *saved = nn_arena_alloc(c->arena, (size_t)count * sizeof(int));
        if (!saved) return NULL;
        memcpy(saved, idx, (size_t)count * sizeof(int));
        nn_node *n = nn_record(c, "embedding", embedding_backward, y, 1, IN(weight));
        if (!n) return NULL;
        n->saved[0] = saved;
        n->i[0] = count;
    }
    return y;
}

/* ---------------------------------------------------------------- constant position tables */
nn_tensor *nn_sine_table_1d(nn_ctx *c, int length, int dim)
{
    nn_tensor *y = nn_new(c, NN_DIMS(length, dim));
    if (!y) return NULL;
    for (int p = 0; p < length; p++)
        for (int j = 0; j < dim; j++) {
            double angle = p / pow(10000.0, 2.0 * (j / 2) / dim);
            y->data[(long)p * dim + j] = (float)(j % 2 ? cos(angle) : sin(angle));
        }
    return y;
}

nn_tensor *nn_sinusoidal_pos_emb(nn_ctx *c, const float *t, int batch, int dim)
{
    if (dim < 4 || dim % 2) { error_set("nn sinusoidal_pos_emb: dim %d (must be even and at least 4)", dim); return NULL; }
    nn_tensor *y = nn_new(c, NN_DIMS(batch, dim));
    if (!y) return NULL;
    int half = dim / 2;
    float step = logf(10000.0f) / (float)(half - 1);
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < half; i++) {
            float a = t[b] * expf((float)i * -step);
            y->data[(long)b * dim + i] = sinf(a);
            y->data[(long)b * dim + half + i] = cosf(a);
        }
    return y;
}

nn_tensor *nn_sine_pos_2d(nn_ctx *c, int dim, int h, int w)
{
    if (dim < 2 || dim % 2) { error_set("nn sine_pos_2d: dim %d (must be even)", dim); return NULL; }
    nn_tensor *y = nn_new(c, NN_DIMS(1, dim, h, w));
    if (!y) return NULL;
    int npf = dim / 2;
    const float eps = 1e-6f, scale = 2.0f * (float)M_PI;
    for (int k = 0; k < npf; k++) {
        float dim_t = powf(10000.0f, 2.0f * (float)(k / 2) / (float)npf);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                float ye = (float)(i + 1) / ((float)h + eps) * scale;
                float xe = (float)(j + 1) / ((float)w + eps) * scale;
                float py = ye / dim_t, px = xe / dim_t;
                y->data[((long)k * h + i) * w + j] = k % 2 ? cosf(py) : sinf(py);
                y->data[((long)(npf + k) * h + i) * w + j] = k % 2 ? cosf(px) : sinf(px);
            }
    }
    return y;
}
