/* transformer.c — DETR/ACT transformer encoder and decoder layers (post-norm and pre-norm,
 * ReLU or GELU, dropout, positions added to queries and keys, additive attention masks)
 * (modules.h). */
#include <string.h>

#include "nn/modules.h"
#include "nn/modules_internal.h"
#include "util/error.h"

static int sub(char *name, const char *prefix, const char *what)
{
    return mod_prefix(name, MOD_NAME_MAX, prefix, "%s", what);
}

static int feedforward_init(mod_linear *l1, mod_linear *l2, nn_params *ps, rng_t *rng, const char *prefix,
                            const mod_transformer_config *cfg)
{
    char name[MOD_NAME_MAX];
    if (sub(name, prefix, "linear1.") < 0 || mod_linear_init(l1, ps, rng, name, cfg->d_model, cfg->dim_feedforward, 1) < 0)
        return -1;
    if (sub(name, prefix, "linear2.") < 0 || mod_linear_init(l2, ps, rng, name, cfg->dim_feedforward, cfg->d_model, 1) < 0)
        return -1;
    return 0;
}

static int layer_norm_init(mod_norm *n, nn_params *ps, const char *prefix, const char *what, int d)
{
    char name[MOD_NAME_MAX];
    if (sub(name, prefix, what) < 0) return -1;
    return mod_norm_init(n, ps, name, MOD_NORM_LAYER, d, 0);
}

static int attention_init(mod_attention *a, nn_params *ps, rng_t *rng, const char *prefix, const char *what,
                          const mod_transformer_config *cfg)
{
    char name[MOD_NAME_MAX];
    if (sub(name, prefix, what) < 0) return -1;
    return mod_attention_init(a, ps, rng, name, cfg->d_model, cfg->heads, cfg->dropout);
}

static nn_tensor *with_pos(nn_ctx *c, nn_tensor *x, nn_tensor *pos)
{
    return pos ? nn_add(c, x, pos) : x;
}

/* linear2(dropout(act(linear1(x)))) */
static nn_tensor *feedforward(nn_ctx *c, const mod_transformer_config *cfg, const mod_linear *l1,
                              const mod_linear *l2, nn_tensor *x)
{
    nn_tensor *h = mod_activate(c, cfg->activation, mod_linear_forward(c, l1, x));
    return mod_linear_forward(c, l2, nn_dropout(c, h, cfg->dropout));
}

/* x + dropout(y) */
static nn_tensor *residual(nn_ctx *c, const mod_transformer_config *cfg, nn_tensor *x, nn_tensor *y)
{
    return nn_add(c, x, nn_dropout(c, y, cfg->dropout));
}

/* ---------------------------------------------------------------- encoder layer */
int mod_encoder_layer_init(mod_encoder_layer *m, nn_params *ps, rng_t *rng, const char *prefix,
                           const mod_transformer_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (attention_init(&m->self_attn, ps, rng, prefix, "self_attn.", cfg) < 0) return -1;
    if (feedforward_init(&m->linear1, &m->linear2, ps, rng, prefix, cfg) < 0) return -1;
    if (layer_norm_init(&m->norm1, ps, prefix, "norm1.", cfg->d_model) < 0) return -1;
    if (layer_norm_init(&m->norm2, ps, prefix, "norm2.", cfg->d_model) < 0) return -1;
    return 0;
}

nn_tensor *mod_encoder_layer_forward(nn_ctx *c, const mod_encoder_layer *m, nn_tensor *src, nn_tensor *pos,
                                     const unsigned char *key_padding)
{
    const mod_transformer_config *cfg = &m->cfg;
    if (cfg->pre_norm) {
        nn_tensor *h = mod_norm_forward(c, &m->norm1, src);
        nn_tensor *qk = with_pos(c, h, pos);
        src = residual(c, cfg, src, mod_attention_forward(c, &m->self_attn, qk, qk, h, NULL, key_padding));
        h = feedforward(c, cfg, &m->linear1, &m->linear2, mod_norm_forward(c, &m->norm2, src));
        return residual(c, cfg, src, h);
    }
    nn_tensor *qk = with_pos(c, src, pos);
    nn_tensor *h = mod_attention_forward(c, &m->self_attn, qk, qk, src, NULL, key_padding);
    src = mod_norm_forward(c, &m->norm1, residual(c, cfg, src, h));
    h = feedforward(c, cfg, &m->linear1, &m->linear2, src);
    return mod_norm_forward(c, &m->norm2, residual(c, cfg, src, h));
}

nn_tensor *mod_encoder_layer_forward_first(nn_ctx *c, const mod_encoder_layer *m, nn_tensor *src, nn_tensor *pos,
                                           const unsigned char *key_padding, int n)
{
    if (!src) return NULL;
    if (src->ndim != 3 || n < 1 || n > src->shape[1]) {
        char b[64];
        error_set("encoder layer: first %d outputs of input %s", n, nn_shape_str(src, b, sizeof b));
        return NULL;
    }
    if (n == src->shape[1]) return mod_encoder_layer_forward(c, m, src, pos, key_padding);
    const mod_transformer_config *cfg = &m->cfg;
    if (cfg->pre_norm) {
        nn_tensor *h = mod_norm_forward(c, &m->norm1, src);
        nn_tensor *qk = with_pos(c, h, pos);
        nn_tensor *a = mod_attention_forward(c, &m->self_attn, nn_slice(c, qk, 1, 0, n), qk, h, NULL, key_padding);
        nn_tensor *s = residual(c, cfg, nn_slice(c, src, 1, 0, n), a);
        h = feedforward(c, cfg, &m->linear1, &m->linear2, mod_norm_forward(c, &m->norm2, s));
        return residual(c, cfg, s, h);
    }
    nn_tensor *qk = with_pos(c, src, pos);
    nn_tensor *a = mod_attention_forward(c, &m->self_attn, nn_slice(c, qk, 1, 0, n), qk, src, NULL, key_padding);
    nn_tensor *s = mod_norm_forward(c, &m->norm1, residual(c, cfg, nn_slice(c, src, 1, 0, n), a));
    nn_tensor *h = feedforward(c, cfg, &m->linear1, &m->linear2, s);
    return mod_norm_forward(c, &m->norm2, residual(c, cfg, s, h));
}

/* ---------------------------------------------------------------- decoder layer */
int mod_decoder_layer_init(mod_decoder_layer *m, nn_params *ps, rng_t *rng, const char *prefix,
                           const mod_transformer_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (attention_init(&m->self_attn, ps, rng, prefix, "self_attn.", cfg) < 0) return -1;
    if (attention_init(&m->multihead_attn, ps, rng, prefix, "multihead_attn.", cfg) < 0) return -1;
    if (feedforward_init(&m->linear1, &m->linear2, ps, rng, prefix, cfg) < 0) return -1;
    if (layer_norm_init(&m->norm1, ps, prefix, "norm1.", cfg->d_model) < 0) return -1;
    if (layer_norm_init(&m->norm2, ps, prefix, "norm2.", cfg->d_model) < 0) return -1;
    if (layer_norm_init(&m->norm3, ps, prefix, "norm3.", cfg->d_model) < 0) return -1;
    return 0;
}

/* The cross-attention and feed-forward blocks of a decoder layer, after its self-attention
 * block gave tgt. */
static nn_tensor *decoder_rest(nn_ctx *c, const mod_decoder_layer *m, nn_tensor *tgt, nn_tensor *memory,
                               nn_tensor *memory_k, nn_tensor *query_pos, const float *memory_mask,
                               const unsigned char *memory_key_padding)
{
    const mod_transformer_config *cfg = &m->cfg;
    if (cfg->pre_norm) {
        nn_tensor *h = mod_norm_forward(c, &m->norm2, tgt);
        h = mod_attention_forward(c, &m->multihead_attn, with_pos(c, h, query_pos), memory_k, memory, memory_mask,
                                  memory_key_padding);
        tgt = residual(c, cfg, tgt, h);
        h = feedforward(c, cfg, &m->linear1, &m->linear2, mod_norm_forward(c, &m->norm3, tgt));
        return residual(c, cfg, tgt, h);
    }
    nn_tensor *h = mod_attention_forward(c, &m->multihead_attn, with_pos(c, tgt, query_pos), memory_k, memory,
                                         memory_mask, memory_key_padding);
    tgt = mod_norm_forward(c, &m->norm2, residual(c, cfg, tgt, h));
    h = feedforward(c, cfg, &m->linear1, &m->linear2, tgt);
    return mod_norm_forward(c, &m->norm3, residual(c, cfg, tgt, h));
}

nn_tensor *mod_decoder_layer_forward(nn_ctx *c, const mod_decoder_layer *m, nn_tensor *tgt, nn_tensor *memory,
                                     nn_tensor *pos, nn_tensor *query_pos, const unsigned char *memory_key_padding)
{
    return mod_decoder_layer_forward_masked(c, m, tgt, memory, pos, query_pos, NULL, NULL, memory_key_padding);
}

nn_tensor *mod_decoder_layer_forward_masked(nn_ctx *c, const mod_decoder_layer *m, nn_tensor *tgt, nn_tensor *memory,
                                            nn_tensor *pos, nn_tensor *query_pos, const float *tgt_mask,
                                            const float *memory_mask, const unsigned char *memory_key_padding)
{
    const mod_transformer_config *cfg = &m->cfg;
    nn_tensor *memory_k = with_pos(c, memory, pos);
    if (cfg->pre_norm) {
        nn_tensor *h = mod_norm_forward(c, &m->norm1, tgt);
        nn_tensor *qk = with_pos(c, h, query_pos);
        tgt = residual(c, cfg, tgt, mod_attention_forward(c, &m->self_attn, qk, qk, h, tgt_mask, NULL));
    } else {
        nn_tensor *qk = with_pos(c, tgt, query_pos);
        nn_tensor *h = mod_attention_forward(c, &m->self_attn, qk, qk, tgt, tgt_mask, NULL);
        tgt = mod_norm_forward(c, &m->norm1, residual(c, cfg, tgt, h));
    }
    return decoder_rest(c, m, tgt, memory, memory_k, query_pos, memory_mask, memory_key_padding);
}

nn_tensor *mod_decoder_layer_forward_zero(nn_ctx *c, const mod_decoder_layer *m, int B, int T, nn_tensor *memory,
                                          nn_tensor *pos, nn_tensor *query_pos,
                                          const unsigned char *memory_key_padding)
{
    const mod_transformer_config *cfg = &m->cfg;
    const int E = cfg->d_model;
    if (c->train && cfg->dropout > 0.0f)   /* dropout makes the rows differ: the general layer */
        return mod_decoder_layer_forward(c, m, nn_zeros(c, NN_DIMS(B, T, E)), memory, pos, query_pos,
                                         memory_key_padding);
    /* Every query's values are the same row v (the v projection of a zero target, or of
     * norm1(0) with pre-norm) and attention weights sum to one, so the self-attention's output
     * is out_proj(v) whatever the queries: one row instead of T. */
    nn_tensor *h = nn_zeros(c, NN_DIMS(1, 1, E));
    if (cfg->pre_norm) h = mod_norm_forward(c, &m->norm1, h);
    nn_tensor *v = nn_linear_rows(c, h, m->self_attn.in_proj_weight, m->self_attn.in_proj_bias, 2 * E, E);
    nn_tensor *row = mod_linear_forward(c, &m->self_attn.out_proj, v);   /* 0 + self-attention */
    if (!cfg->pre_norm) row = mod_norm_forward(c, &m->norm1, row);
    nn_tensor *tgt = nn_add(c, nn_zeros(c, NN_DIMS(B, T, E)), row);
    return decoder_rest(c, m, tgt, memory, with_pos(c, memory, pos), query_pos, NULL, memory_key_padding);
}
