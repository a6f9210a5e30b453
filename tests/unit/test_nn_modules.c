/* test_nn_modules.c — the modules of lib/nn/modules.h against PyTorch: forward values, input
 * gradients, parameter gradients and buffers from tests/torch_ref/ (make_refs.py). Covers
 * Linear, Conv2d, Conv1d, ConvTranspose1d, GroupNorm, LayerNorm, BatchNorm (train: running
 * statistics; eval), FrozenBatchNorm, multi-head attention with key-padding and attention masks,
 * DETR encoder/decoder layers (post-norm ReLU, pre-norm GELU), Diffusion Policy's conditional
 * residual block (FiLM scale+bias, bias only, same channels), the whole ConditionalUnet1D and the
 * sinusoidal step embedding. */
#include "nn_ref.h"
#include "nn/modules.h"

static const ref_tol TIGHT = {2e-5, 1e-4};
static const ref_tol NORMAL = {1e-4, 1e-3};

typedef struct harness {
    nn_params *ps;
    nn_ctx *c;
} harness;

static harness harness_new(void)
{
    harness h = {nn_params_new(), nn_ctx_new(8 << 20)};
    return h;
}

static void harness_free(harness *h)
{
    nn_ctx_free(h->c);
    nn_params_free(h->ps);
}

/* Single-input module: y = forward(x); compares y, dx, parameter grads (and buffers). */
typedef nn_tensor *(*forward1)(nn_ctx *c, const void *module, nn_tensor *x);

static void run_single(const char *case_name, harness *h, const void *module, forward1 fn, ref_tol tol)
{
    ref_load_params(h->ps, case_name);
    nn_tensor *x = ref_input(h->c, case_name, "x", 1);
    nn_tensor *y = fn(h->c, module, x);
    ref_check_output(case_name, "y", y, 0, tol);
    if (ref_backward(h->c, case_name, "y", y, 0)) {
        ref_check_input_grad(case_name, "x", x, 0, tol);
        ref_check_param_grads(h->ps, case_name, tol);
    }
}

static nn_tensor *fw_linear(nn_ctx *c, const void *m, nn_tensor *x) { return mod_linear_forward(c, m, x); }
static nn_tensor *fw_conv2d(nn_ctx *c, const void *m, nn_tensor *x) { return mod_conv2d_forward(c, m, x); }
static nn_tensor *fw_conv1d(nn_ctx *c, const void *m, nn_tensor *x) { return mod_conv1d_forward(c, m, x); }
static nn_tensor *fw_convt1d(nn_ctx *c, const void *m, nn_tensor *x) { return mod_conv_transpose1d_forward(c, m, x); }
static nn_tensor *fw_norm(nn_ctx *c, const void *m, nn_tensor *x) { return mod_norm_forward(c, m, x); }

/* ---------------------------------------------------------------- Linear and convolutions */
static void test_linear_conv(void)
{
    harness h = harness_new();
    mod_linear lin;
    mod_linear_init(&lin, h.ps, NULL, "", 5, 3, 1);
    run_single("linear", &h, &lin, fw_linear, TIGHT);
    harness_free(&h);

    h = harness_new();
    mod_conv conv;
    mod_conv2d_init(&conv, h.ps, NULL, "", 3, 4, 3, 2, 1, 1);
    run_single("conv2d", &h, &conv, fw_conv2d, TIGHT);
    harness_free(&h);

    /* 3x2 kernel: a square-kernel module cannot express it; use the op with a registered weight */
    h = harness_new();
    conv = (mod_conv){nn_param(h.ps, "weight", 0, NN_DIMS(5, 3, 3, 2)), NULL, 1, 0};
    run_single("conv2d_nobias", &h, &conv, fw_conv2d, TIGHT);
    harness_free(&h);

    h = harness_new();
    mod_conv1d_init(&conv, h.ps, NULL, "", 4, 6, 3, 1, 1, 1);
    run_single("conv1d", &h, &conv, fw_conv1d, TIGHT);
    harness_free(&h);

    h = harness_new();
    mod_conv1d_init(&conv, h.ps, NULL, "", 4, 4, 3, 2, 1, 1);
    run_single("conv1d_down", &h, &conv, fw_conv1d, TIGHT);
    harness_free(&h);

    h = harness_new();
    mod_conv_transpose1d_init(&conv, h.ps, NULL, "", 4, 4, 4, 2, 1, 1);
    run_single("convt1d_up", &h, &conv, fw_convt1d, TIGHT);
    harness_free(&h);

    h = harness_new();
    mod_conv_transpose1d_init(&conv, h.ps, NULL, "", 3, 5, 3, 2, 0, 1);
    run_single("convt1d", &h, &conv, fw_convt1d, TIGHT);
    harness_free(&h);
}

/* ---------------------------------------------------------------- normalisation */
static void test_norms(void)
{
    harness h = harness_new();
    mod_norm n;
    mod_norm_init(&n, h.ps, "", MOD_NORM_GROUP, 6, 3);
    run_single("groupnorm", &h, &n, fw_norm, NORMAL);
    harness_free(&h);

    h = harness_new();
    mod_norm_init(&n, h.ps, "", MOD_NORM_GROUP, 8, 2);
    run_single("groupnorm1d", &h, &n, fw_norm, NORMAL);
    harness_free(&h);

    h = harness_new();
    mod_norm_init(&n, h.ps, "", MOD_NORM_LAYER, 8, 0);
    run_single("layernorm", &h, &n, fw_norm, NORMAL);
    harness_free(&h);

    h = harness_new();
    mod_norm_init(&n, h.ps, "", MOD_NORM_BATCH, 4, 0);
    nn_ctx_set_train(h.c, 1);
    run_single("batchnorm_train", &h, &n, fw_norm, NORMAL);
    tap_ok(ref_check_buffers(h.ps, "batchnorm_train", TIGHT), "batchnorm_train: running statistics updated as PyTorch");
    harness_free(&h);

    h = harness_new();
    mod_norm_init(&n, h.ps, "", MOD_NORM_BATCH, 4, 0);
    nn_ctx_set_train(h.c, 0);
    run_single("batchnorm_eval", &h, &n, fw_norm, NORMAL);
    tap_ok(ref_check_buffers(h.ps, "batchnorm_eval", TIGHT), "batchnorm_eval: running statistics unchanged");
    harness_free(&h);

    h = harness_new();
    mod_norm_init(&n, h.ps, "", MOD_NORM_FROZEN_BATCH, 4, 0);
    ref_load_params(h.ps, "frozenbatchnorm");
    nn_tensor *x = ref_input(h.c, "frozenbatchnorm", "x", 1);
    nn_tensor *y = mod_norm_forward(h.c, &n, x);
    ref_check_output("frozenbatchnorm", "y", y, 0, NORMAL);
    if (ref_backward(h.c, "frozenbatchnorm", "y", y, 0)) ref_check_input_grad("frozenbatchnorm", "x", x, 0, NORMAL);
    tap_ok(nn_params_trainable(h.ps) == 0, "frozenbatchnorm: nothing trainable (%ld floats)", nn_params_trainable(h.ps));
    harness_free(&h);
}

/* ---------------------------------------------------------------- attention */
static void test_attention(void)
{
    const char *cs = "mha";
    harness h = harness_new();
    mod_attention a;
    mod_attention_init(&a, h.ps, NULL, "", 8, 2, 0.0f);
    ref_load_params(h.ps, cs);
    nn_tensor *q = ref_input_seq(h.c, cs, "query", 1);
    nn_tensor *k = ref_input_seq(h.c, cs, "key", 1);
    nn_tensor *v = ref_input_seq(h.c, cs, "value", 1);
    unsigned char *kpm = ref_key_padding(cs, "key_padding_mask");
    float *am = ref_attn_mask(cs, "attn_mask");
    nn_tensor *y = mod_attention_forward(h.c, &a, q, k, v, am, kpm);
    ref_check_output(cs, "y", y, 1, NORMAL);
    if (ref_backward(h.c, cs, "y", y, 1)) {
        ref_check_input_grad(cs, "query", q, 1, NORMAL);
        ref_check_input_grad(cs, "key", k, 1, NORMAL);
        ref_check_input_grad(cs, "value", v, 1, NORMAL);
        ref_check_param_grads(h.ps, cs, NORMAL);
    }
    free(kpm);
    free(am);
    harness_free(&h);

    cs = "mha_float_mask";
    h = harness_new();
    mod_attention_init(&a, h.ps, NULL, "", 8, 2, 0.0f);
    ref_load_params(h.ps, cs);
    nn_tensor *xq = ref_input_seq(h.c, cs, "x", 1), *xv = ref_input_seq(h.c, cs, "v", 1);
    kpm = ref_key_padding(cs, "key_padding_mask");
    ref_array fm;
    if (ref_load(REF_ROOT "/mha_float_mask/in.attn_mask.npy", &fm) == 0) {
        y = mod_attention_forward(h.c, &a, xq, xq, xv, fm.data, kpm);
        ref_check_output(cs, "y", y, 1, NORMAL);
        if (ref_backward(h.c, cs, "y", y, 1)) {
            ref_check_input_grad(cs, "x", xq, 1, NORMAL);
            ref_check_input_grad(cs, "v", xv, 1, NORMAL);
            ref_check_param_grads(h.ps, cs, NORMAL);
        }
        ref_free(&fm);
    }
    free(kpm);
    harness_free(&h);

    cs = "mha_self";
    h = harness_new();
    mod_attention_init(&a, h.ps, NULL, "", 8, 2, 0.0f);
    ref_load_params(h.ps, cs);
    nn_tensor *x = ref_input_seq(h.c, cs, "x", 1);
    y = mod_attention_forward(h.c, &a, x, x, x, NULL, NULL);
    ref_check_output(cs, "y", y, 1, NORMAL);
    if (ref_backward(h.c, cs, "y", y, 1)) {
        ref_check_input_grad(cs, "x", x, 1, NORMAL);
        ref_check_param_grads(h.ps, cs, NORMAL);
    }
    harness_free(&h);
}

/* ---------------------------------------------------------------- transformer layers */
static void check_encoder_first(const char *cs, mod_transformer_config cfg);
static void check_decoder_zero(const char *cs, mod_transformer_config cfg);

static void test_transformer(void)
{
    for (int pre = 0; pre < 2; pre++) {
        mod_transformer_config cfg = {16, 4, 32, 0.0f, pre ? MOD_ACT_GELU : MOD_ACT_RELU, pre};
        const char *cs = pre ? "encoder_prenorm" : "encoder_postnorm";
        harness h = harness_new();
        mod_encoder_layer enc;
        mod_encoder_layer_init(&enc, h.ps, NULL, "", &cfg);
        ref_load_params(h.ps, cs);
        nn_tensor *src = ref_input_seq(h.c, cs, "src", 1);
        nn_tensor *pos = ref_input_seq(h.c, cs, "pos", 1);
        unsigned char *kpm = ref_key_padding(cs, "key_padding_mask");
        nn_tensor *y = mod_encoder_layer_forward(h.c, &enc, src, pos, kpm);
        ref_check_output(cs, "y", y, 1, NORMAL);
        if (ref_backward(h.c, cs, "y", y, 1)) {
            ref_check_input_grad(cs, "src", src, 1, NORMAL);
            ref_check_input_grad(cs, "pos", pos, 1, NORMAL);
            ref_check_param_grads(h.ps, cs, NORMAL);
        }
        free(kpm);
        harness_free(&h);
        check_encoder_first(cs, cfg);

        cs = pre ? "decoder_prenorm" : "decoder_postnorm";
        h = harness_new();
        mod_decoder_layer dec;
        mod_decoder_layer_init(&dec, h.ps, NULL, "", &cfg);
        ref_load_params(h.ps, cs);
        nn_tensor *tgt = ref_input_seq(h.c, cs, "tgt", 1);
        nn_tensor *memory = ref_input_seq(h.c, cs, "memory", 1);
        pos = ref_input_seq(h.c, cs, "pos", 1);
        nn_tensor *query_pos = ref_input_seq(h.c, cs, "query_pos", 1);
        kpm = ref_key_padding(cs, "memory_key_padding_mask");
        y = mod_decoder_layer_forward(h.c, &dec, tgt, memory, pos, query_pos, kpm);
        ref_check_output(cs, "y", y, 1, NORMAL);
        if (ref_backward(h.c, cs, "y", y, 1)) {
            ref_check_input_grad(cs, "tgt", tgt, 1, NORMAL);
            ref_check_input_grad(cs, "memory", memory, 1, NORMAL);
            ref_check_input_grad(cs, "pos", pos, 1, NORMAL);
            ref_check_input_grad(cs, "query_pos", query_pos, 1, NORMAL);
            ref_check_param_grads(h.ps, cs, NORMAL);
        }
        free(kpm);
        harness_free(&h);
        check_decoder_zero(cs, cfg);
    }
}

/* what check_decoder_zero and check_encoder_first hold: two runs' parameter gradients, the
 * key padding, the two contexts and the parameters */
static void pair_free(float *pgrad[2], unsigned char *kpm, nn_ctx *c[2], nn_params *ps)
{
    free(pgrad[0]);
    free(pgrad[1]);
    free(kpm);
    nn_ctx_free(c[0]);
    nn_ctx_free(c[1]);
    nn_params_free(ps);
}

/* mod_decoder_layer_forward_zero equals the layer on a zero target: values, and the gradients
 * of memory, positions and parameters (dropout 0, recording), on PyTorch's reference inputs. */
static void check_decoder_zero(const char *cs, mod_transformer_config cfg)
{
    nn_params *ps = nn_params_new();
    mod_decoder_layer dec;
    mod_decoder_layer_init(&dec, ps, NULL, "", &cfg);
    ref_load_params(ps, cs);
    unsigned char *kpm = ref_key_padding(cs, "memory_key_padding_mask");
    nn_ctx *c[2] = {nn_ctx_new(8 << 20), nn_ctx_new(8 << 20)};
    nn_tensor *mem[2], *pos[2], *qp[2], *y[2];
    float *pgrad[2];
    for (int k = 0; k < 2; k++) {
        mem[k] = ref_input_seq(c[k], cs, "memory", 1);
        pos[k] = ref_input_seq(c[k], cs, "pos", 1);
        qp[k] = ref_input_seq(c[k], cs, "query_pos", 1);
        nn_tensor *tgt = ref_input_seq(c[k], cs, "tgt", 0);
        nn_params_zero_grad(ps);
        y[k] = NULL;
        if (mem[k] && tgt) {
            int B = tgt->shape[0], T = tgt->shape[1];
            y[k] = k ? mod_decoder_layer_forward_zero(c[k], &dec, B, T, mem[k], pos[k], qp[k], kpm)
                     : mod_decoder_layer_forward(c[k], &dec, nn_zeros(c[k], 3, tgt->shape), mem[k], pos[k], qp[k], kpm);
        }
        int ok = y[k] != NULL;
        float *r = calloc(ok ? (size_t)y[k]->size : 1, sizeof(float));
        for (long i = 0; ok && i < y[k]->size; i++) r[i] = 0.01f * (float)(i * 7 % 11 - 5);
        ok = ok && nn_backward_from(c[k], y[k], r) == 0;
        free(r);
        pgrad[k] = malloc(sizeof(float) * (size_t)ps->total);
        memcpy(pgrad[k], ps->grad, sizeof(float) * (size_t)ps->total);
        if (!ok) y[k] = NULL;
    }
    float worst = 0;
    int ok = y[0] && y[1] && nn_same_shape(y[0], y[1]);
    if (ok) {
        for (long i = 0; i < y[0]->size; i++) worst = fmaxf(worst, fabsf(y[0]->data[i] - y[1]->data[i]));
        for (long i = 0; i < mem[0]->size; i++) worst = fmaxf(worst, fabsf(mem[0]->grad[i] - mem[1]->grad[i]));
        for (long i = 0; i < pos[0]->size; i++) worst = fmaxf(worst, fabsf(pos[0]->grad[i] - pos[1]->grad[i]));
        for (long i = 0; i < qp[0]->size; i++) worst = fmaxf(worst, fabsf(qp[0]->grad[i] - qp[1]->grad[i]));
        for (long i = 0; i < ps->total; i++) worst = fmaxf(worst, fabsf(pgrad[0][i] - pgrad[1][i]));
    }
    tap_ok(ok && worst < 1e-5f, "%s: the zero-target layer equals the layer on zeros (values and gradients, max diff %.2g)",
           cs, worst);
    /* at inference too (no tape) */
    for (int k = 0; k < 2; k++) {
        nn_ctx_reset(c[k]);
        nn_ctx_set_train(c[k], 0);
        nn_ctx_set_record(c[k], 0);
        mem[k] = ref_input_seq(c[k], cs, "memory", 0);
        pos[k] = ref_input_seq(c[k], cs, "pos", 0);
        qp[k] = ref_input_seq(c[k], cs, "query_pos", 0);
        nn_tensor *tgt = ref_input_seq(c[k], cs, "tgt", 0);
        y[k] = !tgt ? NULL
               : k  ? mod_decoder_layer_forward_zero(c[k], &dec, tgt->shape[0], tgt->shape[1], mem[k], pos[k], qp[k], kpm)
                    : mod_decoder_layer_forward(c[k], &dec, nn_zeros(c[k], 3, tgt->shape), mem[k], pos[k], qp[k], kpm);
    }
    worst = 0;
    ok = y[0] && y[1] && nn_same_shape(y[0], y[1]);
    for (long i = 0; ok && i < y[0]->size; i++) worst = fmaxf(worst, fabsf(y[0]->data[i] - y[1]->data[i]));
    tap_ok(ok && worst < 1e-5f, "%s: the same at inference (max diff %.2g)", cs, worst);
    pair_free(pgrad, kpm, c, ps);
}

/* mod_encoder_layer_forward_first(n) equals rows [0, n) of the full layer: values, the input
 * gradients and the parameter gradients of a loss on those rows (PyTorch's reference inputs). */
static void check_encoder_first(const char *cs, mod_transformer_config cfg)
{
    const int n = 2;
    nn_params *ps = nn_params_new();
    mod_encoder_layer enc;
    mod_encoder_layer_init(&enc, ps, NULL, "", &cfg);
    ref_load_params(ps, cs);
    nn_ctx *c[2] = {nn_ctx_new(8 << 20), nn_ctx_new(8 << 20)};
    unsigned char *kpm = ref_key_padding(cs, "key_padding_mask");
    nn_tensor *src[2], *pos[2], *y[2];
    float *pgrad[2];
    for (int k = 0; k < 2; k++) {
        src[k] = ref_input_seq(c[k], cs, "src", 1);
        pos[k] = ref_input_seq(c[k], cs, "pos", 1);
        nn_params_zero_grad(ps);
        y[k] = k ? mod_encoder_layer_forward_first(c[k], &enc, src[k], pos[k], kpm, n)
                 : mod_encoder_layer_forward(c[k], &enc, src[k], pos[k], kpm);
        int ok = y[k] != NULL;
        float *r = calloc(ok ? (size_t)y[0]->size : 1, sizeof(float));
        if (ok) {   /* output gradient: a fixed pattern on rows < n of every sample, zero elsewhere */
            int B = y[0]->shape[0], L = y[0]->shape[1], E = y[0]->shape[2];
            for (int b = 0; b < B; b++)
                for (int t = 0; t < n; t++)
                    for (int e = 0; e < E; e++) r[((long)b * (k ? n : L) + t) * E + e] = 0.01f * (float)((b * 7 + t * 5 + e * 3) % 11 - 5);
            ok = nn_backward_from(c[k], y[k], r) == 0;
        }
        free(r);
        pgrad[k] = malloc(sizeof(float) * (size_t)ps->total);
        memcpy(pgrad[k], ps->grad, sizeof(float) * (size_t)ps->total);
        if (!ok) y[k] = NULL;
    }
    float worst = 0;
    int ok = y[0] && y[1] && y[1]->shape[1] == n;
    if (ok) {
        int B = y[0]->shape[0], L = y[0]->shape[1], E = y[0]->shape[2];
        for (int b = 0; b < B; b++)
            for (long i = 0; i < (long)n * E; i++)
                worst = fmaxf(worst, fabsf(y[0]->data[(long)b * L * E + i] - y[1]->data[(long)b * n * E + i]));
        for (long i = 0; i < src[0]->size; i++) worst = fmaxf(worst, fabsf(src[0]->grad[i] - src[1]->grad[i]));
        for (long i = 0; i < pos[0]->size; i++) worst = fmaxf(worst, fabsf(pos[0]->grad[i] - pos[1]->grad[i]));
        for (long i = 0; i < ps->total; i++) worst = fmaxf(worst, fabsf(pgrad[0][i] - pgrad[1][i]));
    }
    tap_ok(ok && worst < 1e-5f, "%s: first-%d-outputs layer equals those rows of the full layer (values and gradients, max diff %.2g)",
           cs, n, worst);
    pair_free(pgrad, kpm, c, ps);
}

/* ---------------------------------------------------------------- Diffusion Policy blocks */
static void test_unet_blocks(void)
{
    static const struct { const char *name; int in, predict_scale; } cases[] = {
        {"condres1d_film_scale", 4, 1}, {"condres1d_film_bias", 4, 0}, {"condres1d_film_same", 8, 1}};
    for (int i = 0; i < 3; i++) {
        const char *cs = cases[i].name;
        harness h = harness_new();
        mod_cond_res_block1d b;
        mod_cond_res_block1d_init(&b, h.ps, NULL, "", cases[i].in, 8, 6, 3, 4, cases[i].predict_scale);
        ref_load_params(h.ps, cs);
        nn_tensor *x = ref_input(h.c, cs, "x", 1);
        nn_tensor *cond = ref_input(h.c, cs, "cond", 1);
        nn_tensor *y = mod_cond_res_block1d_forward(h.c, &b, x, cond);
        ref_check_output(cs, "y", y, 0, NORMAL);
        if (ref_backward(h.c, cs, "y", y, 0)) {
            ref_check_input_grad(cs, "x", x, 0, NORMAL);
            ref_check_input_grad(cs, "cond", cond, 0, NORMAL);
            ref_check_param_grads(h.ps, cs, NORMAL);
        }
        harness_free(&h);
    }

    /* the whole ConditionalUnet1D: 2-D actions, horizon 8, down dims 8/16, FiLM scale */
    const char *cs = "cond_unet1d";
    harness u = harness_new();
    mod_cond_unet1d unet;
    static const int down_dims[2] = {8, 16};
    if (mod_cond_unet1d_init(&unet, u.ps, NULL, "", 2, 6, 8, down_dims, 2, 3, 4, 1) == 0) {
        ref_load_params(u.ps, cs);
        nn_tensor *sample = ref_input(u.c, cs, "sample", 1);
        nn_tensor *global = ref_input(u.c, cs, "global_cond", 1);
        ref_array steps;
        if (ref_load(REF_ROOT "/cond_unet1d/in.timesteps.npy", &steps) == 0) {
            nn_tensor *y = mod_cond_unet1d_forward(u.c, &unet, sample, steps.data, global);
            ref_check_output(cs, "y", y, 0, NORMAL);
            if (ref_backward(u.c, cs, "y", y, 0)) {
                ref_check_input_grad(cs, "sample", sample, 0, NORMAL);
                ref_check_input_grad(cs, "global_cond", global, 0, NORMAL);
                ref_check_param_grads(u.ps, cs, NORMAL);
            }
            /* sampling's FiLM table (every step's cond_encoder outputs at once) gives each step's
             * output bit for bit as the per-step forward, with the weights frozen as a policy has them */
            nn_ctx_set_record(u.c, 0);
            nn_params_freeze(u.ps, 1);
            const int B = sample->shape[0], S = 3;
            const float ts[3] = {97, 41, 0};
            float *film = malloc(sizeof(float) * mod_cond_unet1d_film_floats(&unet, S * B));
            int same = film && mod_cond_unet1d_films(u.c, &unet, ts, S, B, global, film) == 0;
            for (int k = 0; same && k < S; k++) {
                float tk[16];
                for (int b = 0; b < B && b < 16; b++) tk[b] = ts[k];
                nn_tensor *a = mod_cond_unet1d_forward(u.c, &unet, sample, tk, global);
                nn_tensor *f = mod_cond_unet1d_forward_film(u.c, &unet, sample, film, k, S);
                same = B <= 16 && a && f && a->size == f->size && !memcmp(a->data, f->data, sizeof(float) * a->size);
            }
            tap_ok(same, "%s: the FiLM table of %d steps gives each step's output bit for bit", cs, S);
            tap_ok(!mod_cond_unet1d_forward_film(u.c, &unet, sample, film, S, S), "%s: a step outside the table: %s", cs,
                   error_get());
            free(film);
            ref_free(&steps);
        }
    } else {
        tap_ok(0, "%s: init: %s", cs, error_get());
    }
    harness_free(&u);

    harness h = harness_new();
    ref_array t;
    if (ref_load(REF_ROOT "/step_embedding/in.t.npy", &t) == 0) {
        nn_tensor *e = nn_sinusoidal_pos_emb(h.c, t.data, (int)t.size, 16);
        ref_check_output("step_embedding", "y", e, 0, (ref_tol){2e-5, 1e-4});
        ref_free(&t);
    }
    harness_free(&h);
}

int main(void)
{
    test_linear_conv();
    test_norms();
    test_attention();
    test_transformer();
    test_unet_blocks();
    return tap_done();
}
