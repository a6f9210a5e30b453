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
    nn_tensor *w = m->in_proj_weight, *bias = m->in_proj_bias, *out;
    /* One product per distinct input, through the rows of in_proj it needs (read in place);
     * nn_attention reads the heads as column blocks of the projections. */
    if (q == k && k == v) {
        nn_tensor *qkv = nn_linear(c, q, w, bias);
        out = nn_attention(c, qkv, 0, qkv, E, qkv, 2 * E, E, H, attn_mask, key_padding, m->dropout);
    } else if (q == k) {
        nn_tensor *qk = nn_linear_rows(c, q, w, bias, 0, 2 * E);
        nn_tensor *V = nn_linear_rows(c, v, w, bias, 2 * E, E);
        out = nn_attention(c, qk, 0, qk, E, V, 0, E, H, attn_mask, key_padding, m->dropout);
    } else if (k == v) {   /* cross-attention on one memory (pre-norm decoders) */
        nn_tensor *Q = nn_linear_rows(c, q, w, bias, 0, E);
        nn_tensor *kv = nn_linear_rows(c, k, w, bias, E, 2 * E);
        out = nn_attention(c, Q, 0, kv, 0, kv, E, E, H, attn_mask, key_padding, m->dropout);
    } else {
        nn_tensor *Q = nn_linear_rows(c, q, w, bias, 0, E);
        nn_tensor *K = nn_linear_rows(c, k, w, bias, E, E);
        nn_tensor *V = nn_linear_rows(c, v, w, bias, 2 * E, E);
        out = nn_attention(c, Q, 0, K, 0, V, 0, E, H, attn_mask, key_padding, m->dropout);
    }
    return mod_linear_forward(c, &m->out_proj, out);
}
