/* attention.c — multi-head attention with PyTorch's parameterisation (in_proj_weight [3E,E],
 * out_proj), key-padding and additive attention masks, on batch-first sequences (modules.h). */
#include <math.h>
#include <string.h>

#include "nn/modules.h"
#include "nn/modules_internal.h"
#include "util/error.h"

int mod_attention_init(mod_attention *m, nn_params *ps, rng_t *rng, const char *prefix, int embed_dim,
                       int heads, float dropout)
{
    char name[MOD_NAME_MAX];
    memset(m, 0, sizeof *m);
    if (heads <= 0 || embed_dim % heads)
        return error_set("%sattention: %d heads do not divide embedding size %d", prefix, heads, embed_dim);
    m->embed_dim = embed_dim;
    m->heads = heads;
    m->dropout = dropout;
    m->in_proj_weight = mod_register(ps, prefix, "in_proj_weight", 0, NN_DIMS(3 * embed_dim, embed_dim));
    if (!m->in_proj_weight) return -1;
    if (rng) nn_init_xavier_uniform(m->in_proj_weight, rng);
    m->in_proj_bias = mod_register(ps, prefix, "in_proj_bias", NN_NO_DECAY, NN_DIMS(3 * embed_dim));
    if (!m->in_proj_bias) return -1;
    if (mod_prefix(name, sizeof name, prefix, "out_proj.") < 0) return -1;
    if (mod_linear_init(&m->out_proj, ps, rng, name, embed_dim, embed_dim, 1) < 0) return -1;
    nn_init_const(m->out_proj.bias, 0.0f);
    return 0;
}

/* x [B,L,E] -> [B,H,L,Dh] */
static nn_tensor *split_heads(nn_ctx *c, nn_tensor *x, int heads)
{
    if (!x) return NULL;
    int B = x->shape[0], L = x->shape[1], E = x->shape[2];
    static const int perm[4] = {0, 2, 1, 3};
    return nn_permute(c, nn_reshape(c, x, NN_DIMS(B, L, heads, E / heads)), perm);
}

/* Project x with rows [from, to) of in_proj (to - from = E, 2E or 3E). */
static nn_tensor *project(nn_ctx *c, const mod_attention *m, nn_tensor *x, int from, int to)
{
    nn_tensor *w = nn_slice(c, m->in_proj_weight, 0, from, to);
    nn_tensor *b = nn_slice(c, m->in_proj_bias, 0, from, to);
    return nn_linear(c, x, w, b);
}

nn_tensor *mod_attention_forward(nn_ctx *c, const mod_attention *m, nn_tensor *q, nn_tensor *k, nn_tensor *v,
                                 const float *attn_mask, const unsigned char *key_padding)
{
    if (!q || !k || !v) return NULL;
    int E = m->embed_dim, H = m->heads;
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || q->shape[2] != E || k->shape[2] != E || v->shape[2] != E ||
        k->shape[0] != q->shape[0] || !nn_same_shape(k, v)) {
        char a[64], b[64], d[64];
        error_set("attention: expected q [B,Lq,%d], k and v [B,Lk,%d]; got %s, %s, %s", E, E,
                  nn_shape_str(q, a, sizeof a), nn_shape_str(k, b, sizeof b), nn_shape_str(v, d, sizeof d));
        return NULL;
    }
    int B = q->shape[0], Lq = q->shape[1];
    nn_tensor *Q, *K, *V;
    if (q == k && k == v) {
        nn_tensor *qkv = project(c, m, q, 0, 3 * E);
        Q = nn_slice(c, qkv, 2, 0, E);
        K = nn_slice(c, qkv, 2, E, 2 * E);
        V = nn_slice(c, qkv, 2, 2 * E, 3 * E);
    } else if (q == k) {
        nn_tensor *qk = project(c, m, q, 0, 2 * E);
        Q = nn_slice(c, qk, 2, 0, E);
        K = nn_slice(c, qk, 2, E, 2 * E);
        V = project(c, m, v, 2 * E, 3 * E);
    } else {
        Q = project(c, m, q, 0, E);
        K = project(c, m, k, E, 2 * E);
        V = project(c, m, v, 2 * E, 3 * E);
    }
    /* PyTorch scales q by 1/sqrt(head_dim) before the product; so do we. */
    Q = nn_scale(c, split_heads(c, Q, H), 1.0f / sqrtf((float)(E / H)), 0.0f);
    K = split_heads(c, K, H);
    V = split_heads(c, V, H);
    nn_tensor *scores = nn_matmul(c, Q, K, 0, 1);                           /* [B,H,Lq,Lk] */
    nn_tensor *weights = nn_softmax_masked(c, scores, attn_mask, key_padding);
    weights = nn_dropout(c, weights, m->dropout);
    nn_tensor *out = nn_matmul(c, weights, V, 0, 0);                        /* [B,H,Lq,Dh] */
    static const int perm[4] = {0, 2, 1, 3};
    out = nn_reshape(c, nn_permute(c, out, perm), NN_DIMS(B, Lq, E));
    return mod_linear_forward(c, &m->out_proj, out);
}
