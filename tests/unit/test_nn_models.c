/* test_nn_models.c — whole networks: ResNet18 (BatchNorm in training mode, FrozenBatchNorm,
 * GroupNorm) against torchvision (names, shapes, layer4 output, input and parameter gradients,
 * running statistics), a small ResNet + transformer model's loss and gradients against PyTorch,
 * and a random-direction gradient check (kann's kad_check_grad) through a small model that
 * strings every module together. */
#include "nn_ref.h"
#include "nn/modules.h"

/* Parameters of the ResNet references come from make_refs.py's hash (no files needed). */
static void hash_fill_store(nn_params *ps, const char *strip_prefix)
{
    size_t skip = strip_prefix ? strlen(strip_prefix) : 0;
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        if (skip && strncmp(t->name, strip_prefix, skip)) continue;
        ref_hash_fill(t->name + skip, t->data, t->ndim, t->shape);
    }
}

/* names.txt ("name d0xd1x...") against the store: same set of names, same shapes. */
static int check_names(nn_params *ps, const char *case_name)
{
    char path[512], line[512];
    snprintf(path, sizeof path, REF_ROOT "/%s/names.txt", case_name);
    FILE *f = fopen(path, "r");
    if (!f) return tap_ok(0, "%s: %s readable", case_name, path);
    int lines = 0, good = 1;
    while (fgets(line, sizeof line, f)) {
        char name[400], dims[100];
        if (sscanf(line, "%399s %99s", name, dims) != 2) continue;
        lines++;
        nn_tensor *t = nn_param_find(ps, name);
        char here[100] = "";
        if (t)
            for (int d = 0, n = 0; d < t->ndim; d++)
                n += snprintf(here + n, sizeof here - (size_t)n, d ? "x%d" : "%d", t->shape[d]);
        if (!t || strcmp(here, dims)) {
            tap_diag("%s: torchvision has %s [%s], we have %s", case_name, name, dims, t ? here : "nothing");
            good = 0;
        }
    }
    fclose(f);
    return tap_ok(good && lines == ps->count, "%s: %d parameters and buffers with torchvision's names and shapes (we have %d)",
                  case_name, lines, ps->count);
}

static void test_resnet(void)
{
    static const struct { const char *name; mod_norm_kind kind; } cases[] = {
        {"resnet18_batchnorm", MOD_NORM_BATCH}, {"resnet18_frozenbatchnorm", MOD_NORM_FROZEN_BATCH},
        {"resnet18_groupnorm", MOD_NORM_GROUP}};
    /* Training-mode BatchNorm's gradients here sit on a discrete decision (a ReLU or max-pool
     * choice flipped by the last bit of a product) that float32 product kernels take either way:
     * OpenBLAS's own SSE3 (Prescott) kernel and the engine's FMA tiles both land on the other
     * side from PyTorch, with the same differences (0.018 on 4.1 in x's gradient; 0.105 in
     * conv1.weight's, 5e-4 of its RMS; 0.11 in layer2.0.bn1.bias's), and OpenBLAS's Haswell
     * kernel on PyTorch's side (5e-5). That case is held to 1e-3 of the RMS and 1% in the
     * parameter gradients, and to 0.02 and 1% in x's gradient (values up to about 5). */
    const ref_tol tol = {2e-4, 2e-3}, tol_batch = {1e-3, 1e-2}, tol_batch_x = {2e-2, 1e-2};
    for (int i = 0; i < 3; i++) {
        const char *cs = cases[i].name;
        nn_params *ps = nn_params_new();
        nn_ctx *c = nn_ctx_new(64 << 20);
        mod_resnet18 r;
        if (mod_resnet18_init(&r, ps, NULL, "", cases[i].kind) < 0) {
            tap_ok(0, "%s: init: %s", cs, error_get());
            continue;
        }
        check_names(ps, cs);
        hash_fill_store(ps, NULL);
        nn_tensor *x = ref_input(c, cs, "x", 1);
        nn_tensor *y = mod_resnet18_forward(c, &r, x);
        ref_check_output(cs, "y", y, 0, tol);
        if (ref_backward(c, cs, "y", y, 0)) {
            ref_check_input_grad(cs, "x", x, 0, cases[i].kind == MOD_NORM_BATCH ? tol_batch_x : tol);
            ref_check_param_grads(ps, cs, cases[i].kind == MOD_NORM_BATCH ? tol_batch : tol);
        }
        if (cases[i].kind == MOD_NORM_BATCH)
            tap_ok(ref_check_buffers(ps, cs, (ref_tol){1e-5, 1e-4}), "%s: running statistics as PyTorch", cs);
        nn_ctx_free(c);
        nn_params_free(ps);
    }

    /* robomimic's (Diffusion Policy's) sequential names */
    {
        nn_params *sp = nn_params_new();
        mod_resnet18 sr;
        if (mod_resnet18_init_named(&sr, sp, NULL, "", MOD_NORM_GROUP, MOD_RESNET_SEQUENTIAL) == 0)
            check_names(sp, "resnet18_sequential_groupnorm");
        else
            tap_ok(0, "sequential resnet: %s", error_get());
        nn_params_free(sp);
    }

    /* the name prefix ACT uses */
    nn_params *ps = nn_params_new();
    mod_resnet18 r;
    mod_resnet18_init(&r, ps, NULL, "model.backbones.0.0.body.", MOD_NORM_FROZEN_BATCH);
    tap_ok(nn_param_find(ps, "model.backbones.0.0.body.layer4.1.bn2.running_var") != NULL &&
               nn_params_trainable(ps) == 11166912,
           "resnet18: prefix applied; %ld trainable floats with FrozenBatchNorm (torchvision conv weights: 11166912)",
           nn_params_trainable(ps));
    nn_params_free(ps);
}

/* ---------------------------------------------------------------- small ResNet + transformer model */
typedef struct small_model {
    mod_resnet18 backbone;
    mod_conv input_proj;
    mod_encoder_layer encoder;
    mod_decoder_layer decoder;
    nn_tensor *query_embed;
    mod_linear head;
} small_model;

static int small_model_init(small_model *m, nn_params *ps, rng_t *rng)
{
    mod_transformer_config cfg = {16, 2, 32, 0.0f, MOD_ACT_RELU, 0};
    if (mod_resnet18_init(&m->backbone, ps, rng, "backbone.", MOD_NORM_GROUP) < 0 ||
        mod_conv2d_init(&m->input_proj, ps, rng, "input_proj.", 512, 16, 1, 1, 0, 1) < 0 ||
        mod_encoder_layer_init(&m->encoder, ps, rng, "encoder.", &cfg) < 0 ||
        mod_decoder_layer_init(&m->decoder, ps, rng, "decoder.", &cfg) < 0) return -1;
    m->query_embed = nn_param(ps, "query_embed.weight", 0, NN_DIMS(3, 16));
    if (!m->query_embed) return -1;
    return mod_linear_init(&m->head, ps, rng, "head.", 16, 4, 1);
}

static nn_tensor *small_model_loss(nn_ctx *c, small_model *m, nn_tensor *x, nn_tensor *pos, nn_tensor *target)
{
    static const int perm[3] = {0, 2, 1};
    nn_tensor *f = mod_conv2d_forward(c, &m->input_proj, mod_resnet18_forward(c, &m->backbone, x));
    if (!f) return NULL;
    int B = f->shape[0], D = f->shape[1], L = f->shape[2] * f->shape[3];
    nn_tensor *src = nn_permute(c, nn_reshape(c, f, NN_DIMS(B, D, L)), perm);      /* [B,L,D] */
    nn_tensor *pos3 = nn_reshape(c, pos, NN_DIMS(1, L, D));
    nn_tensor *memory = mod_encoder_layer_forward(c, &m->encoder, src, pos3, NULL);
    nn_tensor *query_pos = nn_reshape(c, m->query_embed, NN_DIMS(1, 3, D));
    nn_tensor *tgt = nn_zeros(c, NN_DIMS(B, 3, D));
    nn_tensor *h = mod_decoder_layer_forward(c, &m->decoder, tgt, memory, pos3, query_pos, NULL);
    return nn_l1_loss_masked(c, mod_linear_forward(c, &m->head, h), target, NULL);
}

static void test_small_model(void)
{
    const char *cs = "small_model";
    nn_params *ps = nn_params_new();
    nn_ctx *c = nn_ctx_new(64 << 20);
    small_model m;
    if (small_model_init(&m, ps, NULL) < 0) {
        tap_ok(0, "%s: init: %s", cs, error_get());
        return;
    }
    hash_fill_store(ps, "backbone.");
    /* the non-backbone parameters are stored */
    char dir[512];
    ref_dir(dir, sizeof dir, cs);
    int loaded = 0;
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        if (!strncmp(t->name, "backbone.", 9)) continue;
        ref_array a;
        if (ref_load_entry(dir, "param", t->name, &a, 0) == 0 && a.size == t->size) {
            memcpy(t->data, a.data, (size_t)a.size * sizeof(float));
            loaded++;
        }
        ref_free(&a);
    }
    tap_ok(loaded == 35, "%s: %d non-backbone parameters loaded", cs, loaded);
    nn_tensor *x = ref_input(c, cs, "x", 0), *pos = ref_input(c, cs, "pos", 0), *target = ref_input(c, cs, "target", 0);
    nn_tensor *loss = small_model_loss(c, &m, x, pos, target);
    ref_check_output(cs, "loss", loss, 0, (ref_tol){1e-5, 1e-4});
    float recorded = loss ? loss->data[0] : NAN;
    if (loss && nn_backward(c, loss) == 0) ref_check_param_grads(ps, cs, (ref_tol){1e-4, 2e-3});
    else tap_ok(0, "%s: backward: %s", cs, error_get());
    /* inference mode: the same ops without a tape give the same value, and keep no tape */
    nn_ctx_reset(c);
    nn_ctx_set_record(c, 0);
    x = ref_input(c, cs, "x", 0), pos = ref_input(c, cs, "pos", 0), target = ref_input(c, cs, "target", 0);
    loss = small_model_loss(c, &m, x, pos, target);
    tap_ok(loss && loss->data[0] == recorded && c->n_nodes == 0 && !loss->requires_grad,
           "%s: inference mode (no tape) gives the same loss bit for bit, %ld tape nodes", cs, c->n_nodes);
    nn_ctx_free(c);
    nn_params_free(ps);
}

/* ---------------------------------------------------------------- random-direction gradient check */
/* Every module on one path: conv + BatchNorm (training) + ReLU + max-pool -> tokens -> encoder
 * (pre-norm, GELU) -> decoder (post-norm, ReLU, key padding) -> MLP; plus a conditional 1-D
 * block (FiLM scale) fed by the step encoder, a transposed conv and a GroupNorm conv. */
typedef struct check_model {
    mod_conv stem;
    mod_norm bn;
    mod_linear proj;
    mod_encoder_layer encoder;
    mod_decoder_layer decoder;
    nn_tensor *queries;
    mod_mlp head;
    mod_step_encoder step;
    mod_cond_res_block1d block;
    mod_conv up;
} check_model;

static int check_model_init(check_model *m, nn_params *ps, rng_t *rng)
{
    mod_transformer_config enc = {8, 2, 16, 0.0f, MOD_ACT_GELU, 1}, dec = {8, 2, 16, 0.0f, MOD_ACT_RELU, 0};
    static const int dims[3] = {8, 12, 3};
    if (mod_conv2d_init(&m->stem, ps, rng, "stem.", 3, 6, 3, 2, 1, 0) < 0 ||
        mod_norm_init(&m->bn, ps, "bn.", MOD_NORM_BATCH, 6, 0) < 0 ||
        mod_linear_init(&m->proj, ps, rng, "proj.", 6, 8, 1) < 0 ||
        mod_encoder_layer_init(&m->encoder, ps, rng, "encoder.", &enc) < 0 ||
        mod_decoder_layer_init(&m->decoder, ps, rng, "decoder.", &dec) < 0 ||
        mod_mlp_init(&m->head, ps, rng, "head.", dims, 2, MOD_ACT_MISH) < 0 ||
        mod_step_encoder_init(&m->step, ps, rng, "step.", 8) < 0 ||
        mod_cond_res_block1d_init(&m->block, ps, rng, "block.", 3, 8, 8, 3, 4, 1) < 0 ||
        mod_conv_transpose1d_init(&m->up, ps, rng, "up.", 8, 4, 4, 2, 1, 1) < 0) return -1;
    m->queries = nn_param(ps, "queries", 0, NN_DIMS(1, 3, 8));
    if (!m->queries) return -1;
    nn_init_normal(m->queries, rng, 0.0f, 1.0f);
    /* non-trivial norm affine parameters */
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        const char *last = strrchr(t->name, '.');
        if (t->ndim == 1 && last && (!strcmp(last, ".weight") || !strcmp(last, ".bias")) &&
            !(ps->list[i].flags & NN_BUFFER))
            for (long j = 0; j < t->size; j++) t->data[j] += 0.3f * (rng_uniformf(rng) - 0.5f);
    }
    return 0;
}

static nn_tensor *check_model_loss(nn_ctx *c, check_model *m, nn_tensor *image,
                                   const float *steps, nn_tensor *target, const unsigned char *pad)
{
    static const int perm[3] = {0, 2, 1};
    nn_tensor *f = nn_relu(c, mod_norm_forward(c, &m->bn, mod_conv2d_forward(c, &m->stem, image)));
    f = nn_max_pool2d(c, f, 2, 2, 0);                                     /* [2,6,2,2] */
    if (!f) return NULL;
    int B = f->shape[0], L = f->shape[2] * f->shape[3];
    nn_tensor *tokens = mod_linear_forward(c, &m->proj, nn_permute(c, nn_reshape(c, f, NN_DIMS(B, 6, L)), perm));
    nn_tensor *pos = nn_sine_table_1d(c, L, 8);
    nn_tensor *memory = mod_encoder_layer_forward(c, &m->encoder, tokens, nn_reshape(c, pos, NN_DIMS(1, L, 8)), pad);
    nn_tensor *tgt = nn_zeros(c, NN_DIMS(B, 3, 8));
    nn_tensor *h = mod_decoder_layer_forward(c, &m->decoder, tgt, memory, NULL, m->queries, pad);
    nn_tensor *pred = mod_mlp_forward(c, &m->head, h);                    /* [B,3,3] */
    nn_tensor *cond = mod_step_encoder_forward(c, &m->step, steps, B);    /* [B,8] */
    nn_tensor *y = mod_cond_res_block1d_forward(c, &m->block, nn_permute(c, pred, perm), cond);  /* [B,8,3] */
    y = mod_conv_transpose1d_forward(c, &m->up, y);                      /* [B,4,6] */
    return nn_add(c, nn_mse_loss(c, nn_reshape(c, y, NN_DIMS(B, 24)), target), nn_mean(c, nn_mul(c, pred, pred)));
}

static void test_gradient_direction(void)
{
    rng_t rng;
    rng_seed(&rng, 42);
    nn_params *ps = nn_params_new();
    check_model m;
    if (check_model_init(&m, ps, &rng) < 0) {
        tap_ok(0, "gradcheck model init: %s", error_get());
        return;
    }
    nn_ctx *c = nn_ctx_new(16 << 20);
    float image[2 * 3 * 8 * 8], target[2 * 24], steps[2] = {3, 70};
    rng_fill_normal(&rng, image, 2 * 3 * 8 * 8, 0, 1);
    rng_fill_normal(&rng, target, 2 * 24, 0, 1);
    unsigned char pad[2 * 4] = {0, 0, 0, 0, 0, 0, 1, 1};

    /* double-precision bookkeeping; the engine is float32, so the step is large-ish and the
     * tolerance 2e-3 (measured 5e-5..2e-4; a BatchNorm weight gradient missing one batch entry
     * gave 2e-2): a wrong sign or a missing term is far outside it. */
    long total = ps->total;
    float *base = malloc((size_t)total * sizeof(float)), *dir = malloc((size_t)total * sizeof(float));
    memcpy(base, ps->data, (size_t)total * sizeof(float));
    for (int trial = 0; trial < 3; trial++) {
        memset(dir, 0, (size_t)total * sizeof(float));
        double norm = 0;
        for (int i = 0; i < ps->count; i++) {
            nn_param_info *p = &ps->list[i];
            if (p->flags & (NN_BUFFER | NN_FROZEN)) continue;
            for (long j = 0; j < p->t->size; j++) {
                dir[p->offset + j] = (float)rng_normal(&rng);
                norm += (double)dir[p->offset + j] * dir[p->offset + j];
            }
        }
        for (long j = 0; j < total; j++) dir[j] /= (float)sqrt(norm);

        memcpy(ps->data, base, (size_t)total * sizeof(float));
        nn_params_zero_grad(ps);
        nn_ctx_reset(c);
        nn_tensor *loss = check_model_loss(c, &m, nn_from(c, image, NN_DIMS(2, 3, 8, 8)), steps,
                                           nn_from(c, target, NN_DIMS(2, 24)), pad);
        if (!loss || nn_backward(c, loss) < 0) {
            tap_ok(0, "gradcheck: %s", error_get());
            break;
        }
        double analytic = 0;
        for (long j = 0; j < total; j++) analytic += (double)ps->grad[j] * dir[j];
        const float eps = 1e-2f;
        double l[2];
        for (int s = 0; s < 2; s++) {
            for (long j = 0; j < total; j++) ps->data[j] = base[j] + (s ? -eps : eps) * dir[j];
            nn_ctx_reset(c);
            nn_tensor *lv = check_model_loss(c, &m, nn_from(c, image, NN_DIMS(2, 3, 8, 8)), steps,
                                             nn_from(c, target, NN_DIMS(2, 24)), pad);
            l[s] = lv ? lv->data[0] : NAN;
        }
        double numeric = (l[0] - l[1]) / (2 * eps);
        double rel = fabs(numeric - analytic) / fmax(1e-3, fabs(numeric));
        tap_ok(rel < 2e-3, "whole-model random-direction gradient check %d: analytic %.6g, central difference %.6g "
               "(relative error %.2g)", trial, analytic, numeric, rel);
    }
    memcpy(ps->data, base, (size_t)total * sizeof(float));
    free(base);
    free(dir);
    nn_ctx_free(c);
    nn_params_free(ps);
}

/* ---------------------------------------------------------------- initialisation */
static void stats_of(const nn_tensor *t, double *mean, double *std, double *maxabs)
{
    double s = 0, s2 = 0, m = 0;
    for (long i = 0; i < t->size; i++) {
        s += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
        if (fabs(t->data[i]) > m) m = fabs(t->data[i]);
    }
    *mean = s / (double)t->size;
    *std = sqrt(s2 / (double)t->size - *mean * *mean);
    *maxabs = m;
}

/* PyTorch's default initialisations: torchvision ResNet kaiming_normal(fan_out), norm weight 1
 * bias 0; Linear/Conv U(+-1/sqrt(fan_in)); attention in_proj xavier_uniform, biases 0. */
static void test_init(void)
{
    rng_t rng;
    rng_seed(&rng, 9);
    nn_params *ps = nn_params_new();
    mod_resnet18 r;
    mod_attention a;
    mod_linear l;
    mod_resnet18_init(&r, ps, &rng, "", MOD_NORM_BATCH);
    mod_attention_init(&a, ps, &rng, "attn.", 64, 4, 0.1f);
    mod_linear_init(&l, ps, &rng, "lin.", 400, 300, 1);
    double mean, std, maxabs;
    stats_of(nn_param_find(ps, "layer3.0.conv2.weight"), &mean, &std, &maxabs);
    double want = sqrt(2.0 / (256 * 9));
    tap_ok(fabs(std / want - 1) < 0.02 && fabs(mean) < 0.05 * want, "resnet conv init: std %.5f (kaiming fan_out %.5f)", std, want);
    stats_of(nn_param_find(ps, "layer3.0.bn2.weight"), &mean, &std, &maxabs);
    tap_ok(mean == 1 && std == 0, "norm weight starts at 1");
    stats_of(nn_param_find(ps, "layer3.0.bn2.running_var"), &mean, &std, &maxabs);
    tap_ok(mean == 1 && std == 0, "running variance starts at 1");
    stats_of(a.in_proj_weight, &mean, &std, &maxabs);
    double bound = sqrt(6.0 / (64 + 3 * 64));
    tap_ok(maxabs <= bound && maxabs > 0.98 * bound && fabs(std / (bound / sqrt(3.0)) - 1) < 0.03,
           "in_proj_weight xavier_uniform: max %.4f, bound %.4f", maxabs, bound);
    stats_of(a.in_proj_bias, &mean, &std, &maxabs);
    double b2;
    stats_of(a.out_proj.bias, &b2, &std, &maxabs);
    tap_ok(mean == 0 && b2 == 0 && maxabs == 0, "attention biases start at 0");
    stats_of(l.weight, &mean, &std, &maxabs);
    bound = 1 / sqrt(400.0);
    tap_ok(maxabs <= bound && maxabs > 0.99 * bound && fabs(std / (bound / sqrt(3.0)) - 1) < 0.02,
           "Linear weight U(+-1/sqrt(in)): max %.4f, bound %.4f", maxabs, bound);
    stats_of(l.bias, &mean, &std, &maxabs);
    tap_ok(maxabs <= bound && maxabs > 0.9 * bound, "Linear bias U(+-1/sqrt(in)): max %.4f", maxabs);
    tap_ok(nn_param_info_of(ps, l.bias)->flags & NN_NO_DECAY && !(nn_param_info_of(ps, l.weight)->flags & NN_NO_DECAY) &&
               nn_param_info_of(ps, nn_param_find(ps, "layer1.0.bn1.running_mean"))->flags & NN_BUFFER,
           "biases and norms excluded from weight decay, running statistics are buffers");
    nn_params_free(ps);
}

int main(void)
{
    test_init();
    test_resnet();
    test_small_model();
    test_gradient_direction();
    return tap_done();
}
