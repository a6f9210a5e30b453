/* test_ibc.c — Implicit BC: the energy model and InfoNCE loss against PyTorch on a fixed batch with
 * fixed counter-examples and dropout masks (tests/ibc_torch_ref.py, tests/ibc_ref/), the wiring of
 * the keyed draws (positive = normalised actions from To-1 plus noise), a whole-loss random-
 * direction gradient check with dropout, the loss of a batch equal to its split halves', dlogit/da
 * by autograd against central differences, every sampler on a hand-made energy with a known
 * maximum (a quadratic for Langevin), determinism for a seed, the sampling bounds' rule and
 * configuration errors, and a checkpoint round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_ROOT "ibc_ref"
#include "io/checkpoint.h"
#include "nn_ref.h"
#include "policy/ibc.h"

static int load(const char *kind, const char *name, ref_array *a)
{
    char dir[256];
    ref_dir(dir, sizeof dir, "lowdim");
    return ref_load_entry(dir, kind, name, a, 0);
}

/* The reference case's model: keys a (3) and b (2), To 2, Ta 2, A 3, width 16, limits from the files. */
static int reference_model(ibc_model *m, rng_t *rng)
{
    ibc_config cfg;
    ibc_config_default(&cfg);
    cfg.obs.n_action_steps = 2;
    cfg.obs.action_dim = 3;
    cfg.width = 16;
    if (dp_config_add_lowdim(&cfg.obs, "observation.a", 3) < 0 || dp_config_add_lowdim(&cfg.obs, "observation.b", 2) < 0 ||
        ibc_model_init(m, &cfg, rng) < 0)
        return -1;
    const char *features[3] = {"observation.a", "observation.b", "action"};
    for (int k = 0; k < 3; k++) {
        char name[64];
        ref_array lo, hi;
        snprintf(name, sizeof name, "%s.min", features[k]);
        if (load("stats", name, &lo) < 0) return -1;
        snprintf(name, sizeof name, "%s.max", features[k]);
        if (load("stats", name, &hi) < 0) return -1;
        int rc = dp_model_set_limits(&m->obs, features[k], lo.data, hi.data, (int)lo.size);
        ref_free(&lo), ref_free(&hi);
        if (rc < 0) return -1;
    }
    return 0;
}

static int reference_batch(ibc_model *m, dp_batch *b)
{
    ref_array a, bb, action;
    if (load("in", "lowdim.observation.a", &a) < 0 || load("in", "lowdim.observation.b", &bb) < 0 ||
        load("in", "action", &action) < 0 || dp_batch_alloc(b, &m->obs, 3) < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        const float *low[2] = {a.data + i * 2 * 3, bb.data + i * 2 * 2};
        rc = dp_batch_set(b, &m->obs, i, NULL, low, action.data + i * 3 * 3);
    }
    ref_free(&a), ref_free(&bb), ref_free(&action);
    return rc;
}

static void torch_reference(void)
{
    ibc_model m;
    dp_batch b;
    if (reference_model(&m, NULL) < 0 || reference_batch(&m, &b) < 0) {
        tap_ok(0, "reference model: %s", error_get());
        return;
    }
    ref_load_params(m.obs.ps, "lowdim");
    /* the candidates: the positive from the normalised actions at To-1 plus the noise, then the counter-examples */
    ref_array noise, counter, masks;
    load("in", "noise", &noise), load("in", "counter", &counter), load("in", "masks", &masks);
    const int B = 3, K = 5, D = 6;
    float cand[3 * 5 * 6];
    for (int i = 0; i < B; i++) {
        for (int j = 0; j < D; j++) cand[(i * K) * D + j] = b.action[(i * 3 + 1) * 3 + j] + noise.data[i * D + j];
        memcpy(cand + (i * K + 1) * D, counter.data + i * (K - 1) * D, sizeof(float) * (K - 1) * D);
    }
    ref_tol tight = {1e-5, 1e-5};
    ref_check("lowdim", "out", "candidates", cand, NULL, 0, tight);
    nn_ctx *c = nn_ctx_new(8 << 20);
    nn_ctx_set_train(c, 0);
    ibc_losses L;
    nn_tensor *loss = ibc_model_loss_given(c, &m, &b, cand, K, NULL, NULL, &L);
    ref_array want;
    if (loss && load("out", "loss_eval", &want) == 0) {
        tap_ok(fabs(loss->data[0] - want.data[0]) < 1e-5, "InfoNCE without dropout: %.7f, PyTorch %.7f", loss->data[0],
               want.data[0]);
        ref_free(&want);
        nn_tensor *features = dp_encode_obs(c, &m.obs, &b, NULL);
        nn_tensor *logits = ibc_logits(c, &m, features, nn_wrap(c, cand, NN_DIMS(B, K, D)), NULL);
        ref_check_output("lowdim", "logits", logits, 0, tight);
    } else {
        tap_ok(0, "loss: %s", error_get());
    }
    nn_ctx_reset(c);
    nn_ctx_set_train(c, 1);
    nn_params_zero_grad(m.obs.ps);
    loss = ibc_model_loss_given(c, &m, &b, cand, K, NULL, masks.data, &L);
    if (loss && nn_backward(c, loss) == 0 && load("out", "loss", &want) == 0) {
        tap_ok(fabs(loss->data[0] - want.data[0]) < 1e-5, "InfoNCE with the given dropout masks: %.7f, PyTorch %.7f",
               loss->data[0], want.data[0]);
        ref_free(&want);
        ref_check_param_grads(m.obs.ps, "lowdim", (ref_tol){1e-5, 1e-4});
    } else {
        tap_ok(0, "loss with masks: %s", error_get());
    }
    /* ibc_model_loss draws the same things as ibc_sample_draws and builds the same candidates */
    nn_ctx_reset(c);
    nn_ctx_set_train(c, 0);
    float drawn[3 * 5 * 6], pnoise[6];
    int crops[1];
    for (int i = 0; i < B; i++) {
        ibc_sample_draws(&m, 9, 4, 10 + i, K - 1, pnoise, drawn + (i * K + 1) * D, crops, NULL, 0);
        for (int j = 0; j < D; j++) drawn[(i * K) * D + j] = b.action[(i * 3 + 1) * 3 + j] + pnoise[j];
    }
    float given = ibc_model_loss_given(c, &m, &b, drawn, K, NULL, NULL, NULL)->data[0];
    nn_ctx_reset(c);
    float keyed = ibc_model_loss(c, &m, &b, K - 1, 9, 4, 10, &L)->data[0];
    tap_ok(given == keyed, "the keyed loss is the given loss of ibc_sample_draws' candidates (%.7f, %.7f)", keyed, given);
    float lo[3], hi[3];
    ibc_action_bounds(&m, lo, hi);
    int inside = 1;
    for (int i = 0; i < B; i++)
        for (int k = 1; k < K; k++)
            for (int j = 0; j < D; j++) {
                float v = drawn[(i * K + k) * D + j];
                inside &= v >= lo[j % 3] && v <= hi[j % 3];
            }
    tap_ok(inside && fabsf(lo[0] + 1) < 1e-6f && fabsf(hi[2] - 1) < 1e-6f,
           "counter-examples lie in the normalised bounds [%g, %g]", lo[0], hi[2]);

    /* the gradient penalty with the same masks, weight 1e4 and margin 0.005 (tests/ibc_ref/lowdim_gp;
     * the weight makes the penalty's gradient dominate): its value, the total and every
     * parameter's gradient */
    nn_ctx_reset(c);
    nn_ctx_set_train(c, 1);
    nn_params_zero_grad(m.obs.ps);
    m.grad_penalty = 1e4f, m.grad_margin = 0.005f;
    char dir[256];
    ref_dir(dir, sizeof dir, "lowdim_gp");
    ref_array gp_want, total_want;
    loss = ibc_model_loss_given(c, &m, &b, cand, K, NULL, masks.data, &L);
    if (loss && nn_backward(c, loss) == 0 && ref_load_entry(dir, "out", "grad_penalty", &gp_want, 0) == 0 &&
        ref_load_entry(dir, "out", "loss", &total_want, 0) == 0) {
        tap_ok(L.grad_penalty > 1e-6f && fabs(L.grad_penalty - gp_want.data[0]) < 1e-4 * gp_want.data[0],
               "gradient penalty (||dE/da||_inf, squared): %.7f, PyTorch %.7f", L.grad_penalty, gp_want.data[0]);
        tap_ok(fabs(loss->data[0] - total_want.data[0]) < 1e-4 * total_want.data[0] && L.loss == loss->data[0] &&
                   fabsf(L.loss - L.info_nce - 1e4f * L.grad_penalty) < 1e-4f * L.loss,
               "InfoNCE + 1e4 x penalty: %.7f, PyTorch %.7f", loss->data[0], total_want.data[0]);
        ref_free(&gp_want), ref_free(&total_want);
        ref_check_param_grads(m.obs.ps, "lowdim_gp", (ref_tol){1e-5, 1e-4});
    } else {
        tap_ok(0, "loss with the gradient penalty: %s", error_get());
    }
    /* without dropout the penalty is the mean of max(0, max_j |dlogit/da_j| - margin)^2 over
     * ibc_logit_grad's gradients, per observation */
    nn_ctx_reset(c);
    nn_ctx_set_train(c, 0);
    m.grad_margin = 0.005f;
    loss = ibc_model_loss_given(c, &m, &b, cand, K, NULL, NULL, &L);
    double expect = 0;
    for (int i = 0; i < B && loss; i++) {
        nn_ctx *g = nn_ctx_new(8 << 20);
        nn_ctx_set_train(g, 0);
        nn_tensor *features = dp_encode_obs(g, &m.obs, &b, NULL);
        float row[64], logit[5], grad[5 * 6];
        memcpy(row, features->data + (size_t)i * features->shape[1], sizeof(float) * features->shape[1]);
        if (ibc_logit_grad(g, &m, row, cand + i * K * D, K, logit, grad) < 0) expect = NAN;
        for (int k = 0; k < K; k++) {
            float top = 0;
            for (int j = 0; j < D; j++) top = fmaxf(top, fabsf(grad[k * D + j]));
            float e = fmaxf(0.0f, top - 0.005f);
            expect += (double)e * e / (B * K);
        }
        nn_ctx_free(g);
    }
    tap_ok(loss && expect > 0 && fabs(L.grad_penalty - expect) < 1e-4 * expect,
           "the penalty without dropout from ibc_logit_grad's dlogit/da, margin 0.005: %.4g, %.4g", L.grad_penalty, expect);
    m.grad_penalty = 0.0f, m.grad_margin = 1.0f;
    ref_free(&noise), ref_free(&counter), ref_free(&masks);
    nn_ctx_free(c);
    dp_batch_free(&b);
    ibc_model_free(&m);
}

static double loss_at(nn_ctx *c, ibc_model *m, const dp_batch *b, long first_index)
{
    nn_ctx_reset(c);
    const int record = c->record;
    nn_ctx_set_record(c, 0);
    nn_tensor *loss = ibc_model_loss(c, m, b, 7, 42, 3, first_index, NULL);
    double v = loss ? loss->data[0] : NAN;
    nn_ctx_set_record(c, record);
    nn_ctx_reset(c);
    return v;
}

/* Whole-loss random-direction gradient (training mode: keyed dropout masks, the same at every
 * evaluation), and the loss of a batch equal to the mean of its halves'. */
static void gradient_and_split(void)
{
    rng_t rng;
    rng_seed(&rng, 7);
    ibc_model m;
    dp_batch b;
    if (reference_model(&m, &rng) < 0 || reference_batch(&m, &b) < 0) {
        tap_ok(0, "model: %s", error_get());
        return;
    }
    nn_params *ps = m.obs.ps;
    nn_ctx *c = nn_ctx_new(8 << 20);
    const long total = ps->total;
    float *base = malloc(sizeof(float) * total), *dir = malloc(sizeof(float) * total);
    memcpy(base, ps->data, sizeof(float) * total);
    double norm2 = 0, gnorm2 = 0, analytic = 0;
    for (long j = 0; j < total; j++) dir[j] = (float)rng_normal(&rng), norm2 += (double)dir[j] * dir[j];
    nn_params_zero_grad(ps);
    nn_tensor *loss = ibc_model_loss(c, &m, &b, 7, 42, 3, 0, NULL);
    if (!loss || nn_backward(c, loss) < 0) {
        tap_ok(0, "forward/backward: %s", error_get());
    } else {
        for (long j = 0; j < total; j++) gnorm2 += (double)ps->grad[j] * ps->grad[j];
        for (long j = 0; j < total; j++) dir[j] = (float)(dir[j] / sqrt(norm2) + ps->grad[j] / sqrt(gnorm2));
        for (long j = 0; j < total; j++) analytic += (double)ps->grad[j] * dir[j];
        const float eps = 1e-3f;
        double l[2];
        for (int s = 0; s < 2; s++) {
            for (long j = 0; j < total; j++) ps->data[j] = base[j] + (s ? -eps : eps) * dir[j];
            l[s] = loss_at(c, &m, &b, 0);
        }
        memcpy(ps->data, base, sizeof(float) * total);
        double numeric = (l[0] - l[1]) / (2 * eps), rel = fabs(numeric - analytic) / fmax(1e-3, fabs(numeric));
        tap_ok(rel < 1e-2, "whole-loss random-direction gradient with dropout: analytic %.6g, central difference %.6g",
               analytic, numeric);
    }
    /* split: samples 0..1 with first_index 0, sample 2 alone with first_index 2 */
    double whole = loss_at(c, &m, &b, 0);
    dp_batch half = b;
    half.batch = 2;
    double first = loss_at(c, &m, &half, 0);
    half.batch = 1;
    half.lowdim = b.lowdim + 2 * 2 * 5;
    half.action = b.action + 2 * 3 * 3;
    double second = loss_at(c, &m, &half, 2);
    double mean = (2 * first + second) / 3;
    tap_ok(fabs(whole - mean) < 1e-6, "the loss of a batch is its parts' (keyed draws and dropout): %.7f vs %.7f", whole,
           mean);
    free(base), free(dir);
    nn_ctx_free(c);
    dp_batch_free(&b);
    ibc_model_free(&m);
}

/* dlogit/da by autograd against central differences of the logits. */
static void action_gradient(void)
{
    rng_t rng;
    rng_seed(&rng, 3);
    ibc_model m;
    if (reference_model(&m, &rng) < 0) {
        tap_ok(0, "model: %s", error_get());
        return;
    }
    const int K = 4, D = 6, F = 10;
    float features[10], cand[4 * 6], grad[4 * 6], logits[4];
    rng_fill_uniform(&rng, features, F, -1, 1);
    rng_fill_uniform(&rng, cand, (size_t)K * D, -1, 1);
    nn_ctx *c = nn_ctx_new(8 << 20);
    nn_ctx_set_train(c, 0);
    int rc = ibc_logit_grad(c, &m, features, cand, K, logits, grad);
    double worst = 0;
    for (int i = 0; rc == 0 && i < K * D; i++) {
        const float h = 1e-2f, keep = cand[i];
        float value[2];
        for (int s = 0; s < 2; s++) {
            cand[i] = keep + (s ? -h : h);
            nn_ctx_set_record(c, 0);
            nn_tensor *out = ibc_logits(c, &m, nn_wrap(c, features, NN_DIMS(1, F)), nn_wrap(c, cand, NN_DIMS(1, K, D)), NULL);
            value[s] = out->data[i / D];
            nn_ctx_reset(c);
        }
        cand[i] = keep;
        worst = fmax(worst, fabs((value[0] - value[1]) / (2 * h) - grad[i]) / fmax(1e-2, fabs(grad[i])));
    }
    tap_ok(rc == 0 && worst < 1e-2, "dlogit/da by autograd against central differences (worst relative error %.2g)", worst);
    nn_ctx_free(c);
    ibc_model_free(&m);
}

/* A hand-made energy: Ta 1, A 2, the observation ignored; per action dimension j and sign s, units
 * relu(s (a_j - t_j) - k h), k = 0..9, h = 0.1, passed unchanged through the identity layers, the
 * output -scale * 2h * their sum = -scale (d^2 + h |d|) at the knots (d = a - t): a quadratic
 * (piecewise linear) with its maximum at t. */
static const float target[2] = {0.3f, -0.5f};

static int hand_model(ibc_model *m, float scale)
{
    ibc_config cfg;
    ibc_config_default(&cfg);
    cfg.obs.n_obs_steps = 1;
    cfg.obs.action_dim = 2;
    cfg.width = 40;
    cfg.dropout = 0;
    if (dp_config_add_lowdim(&cfg.obs, "observation.x", 1) < 0 || ibc_model_init(m, &cfg, NULL) < 0) return -1;
    const float lo[2] = {-1, -1}, hi[2] = {1, 1};
    if (dp_model_set_limits(&m->obs, "action", lo, hi, 2) < 0) return -1;
    const int W = 40;
    float *w0 = m->dense[0].weight->data, *b0 = m->dense[0].bias->data;   /* [W][1 + 2] */
    memset(w0, 0, sizeof(float) * W * 3);
    for (int j = 0, u = 0; j < 2; j++)
        for (int s = -1; s <= 1; s += 2)
            for (int k = 0; k < 10; k++, u++) {
                w0[u * 3 + 1 + j] = (float)s;
                b0[u] = -(float)s * target[j] - 0.1f * k;
            }
    for (int l = 1; l < IBC_LAYERS; l++) {
        memset(m->dense[l].weight->data, 0, sizeof(float) * W * W);
        memset(m->dense[l].bias->data, 0, sizeof(float) * W);
        for (int u = 0; u < W; u++) m->dense[l].weight->data[u * W + u] = 1;
    }
    for (int u = 0; u < W; u++) m->dense[IBC_LAYERS].weight->data[u] = -scale * 0.2f;
    m->dense[IBC_LAYERS].bias->data[0] = 0;
    return 0;
}

static void samplers(void)
{
    ibc_model sharp, soft;
    if (hand_model(&sharp, 2000) < 0 || hand_model(&soft, 20) < 0) {
        tap_ok(0, "hand-made energy: %s", error_get());
        return;
    }
    nn_ctx *c = nn_ctx_new(8 << 20);
    const float features[1] = {0.25f};
    for (int s = IBC_DFO; s <= IBC_LANGEVIN; s++) {
        ibc_inference set;
        ibc_inference_default(&set);
        set.sampler = (ibc_sampler)s;
        set.samples = s == IBC_LANGEVIN ? 128 : 1024;
        const ibc_model *m = s == IBC_LANGEVIN ? &soft : &sharp;
        float a[2], again[2], other[2];
        rng_t rng;
        rng_seed(&rng, 11);
        int rc = ibc_optimize(c, m, features, &set, &rng, a);
        rng_seed(&rng, 11);
        rc |= ibc_optimize(c, m, features, &set, &rng, again);
        rng_seed(&rng, 12);
        rc |= ibc_optimize(c, m, features, &set, &rng, other);
        tap_ok(rc == 0 && fabsf(a[0] - target[0]) < 0.03f && fabsf(a[1] - target[1]) < 0.03f,
               "%s (%d samples, %d iterations) finds the maximum at (%.2f, %.2f): (%.4f, %.4f)", ibc_sampler_name(set.sampler),
               set.samples, ibc_inference_iterations(&set), target[0], target[1], a[0], a[1]);
        tap_ok(memcmp(a, again, sizeof a) == 0 && memcmp(a, other, sizeof a) != 0,
               "%s: the same seed gives the same action, another seed another", ibc_sampler_name(set.sampler));
    }
    nn_ctx_free(c);
    ibc_model_free(&sharp);
    ibc_model_free(&soft);
}

/* google-research/ibc's DFO counter-examples on the hand-made energy: the uniform slots and the
 * positive untouched, the DFO slots in the bounds and near the maximum, the same draws for the
 * same key, and ibc_model_loss with dfo_fraction builds exactly these candidates. */
static void dfo_counter_examples(void)
{
    ibc_model m;
    dp_batch b;
    if (hand_model(&m, 2000) < 0 || dp_batch_alloc(&b, &m.obs, 2) < 0) {
        tap_ok(0, "hand-made energy: %s", error_get());
        return;
    }
    const int B = 2, K = 65, D = 2, first = 32, count = 32;
    for (int i = 0; i < B; i++) {
        const float x = 0.1f * (float)i, act[2] = {0.5f, 0.5f}, *low[1] = {&x};
        dp_batch_set(&b, &m.obs, i, NULL, low, act);
    }
    nn_ctx *c = nn_ctx_new(8 << 20);
    nn_ctx_set_train(c, 0);
    float uniform[2 * 65 * 2], cand[2 * 65 * 2], again[2 * 65 * 2], noise[2];
    int crops[1];
    for (int i = 0; i < B; i++) {
        ibc_sample_draws(&m, 5, 7, 3 + i, K - 1, noise, uniform + (i * K + 1) * D, crops, NULL, 0);
        for (int j = 0; j < D; j++) uniform[i * K * D + j] = b.action[i * D + j] + noise[j];
    }
    memcpy(cand, uniform, sizeof cand);
    memcpy(again, uniform, sizeof again);
    nn_tensor *features = dp_encode_obs(c, &m.obs, &b, NULL);
    int rc = ibc_dfo_counter_examples(c, &m, features, cand, K, first, count, 3, 0.33f, 5, 7, 3);
    rc |= ibc_dfo_counter_examples(c, &m, features, again, K, first, count, 3, 0.33f, 5, 7, 3);
    int kept = 1, inside = 1;
    double near_dfo = 0, near_uniform = 0;
    for (int i = 0; i < B; i++)
        for (int k = 0; k < K; k++) {
            const float *v = cand + (i * K + k) * D, *u = uniform + (i * K + k) * D;
            if (k <= first) kept &= memcmp(v, u, sizeof(float) * D) == 0;
            else {
                double d = hypot(v[0] - target[0], v[1] - target[1]), e = hypot(u[0] - target[0], u[1] - target[1]);
                near_dfo += d / (B * count), near_uniform += e / (B * count);
                inside &= v[0] >= -1 && v[0] <= 1 && v[1] >= -1 && v[1] <= 1;
            }
        }
    tap_ok(rc == 0 && kept && inside && memcmp(cand, again, sizeof cand) == 0,
           "DFO counter-examples: the positive and the uniform slots kept, the DFO slots in the bounds, the same draws twice");
    tap_ok(near_dfo < 0.5 * near_uniform, "DFO counter-examples lie near the energy's maximum: mean distance %.3f, uniform %.3f",
           near_dfo, near_uniform);
    nn_ctx_reset(c);
    float given = ibc_model_loss_given(c, &m, &b, cand, K, NULL, NULL, NULL)->data[0];
    nn_ctx_reset(c);
    m.dfo_fraction = 0.5f;
    nn_tensor *keyed = ibc_model_loss(c, &m, &b, K - 1, 5, 7, 3, NULL);
    tap_ok(keyed && keyed->data[0] == given, "ibc_model_loss with half DFO counter-examples: %.6f, the given candidates' %.6f",
           keyed ? keyed->data[0] : NAN, given);
    nn_ctx_free(c);
    dp_batch_free(&b);
    ibc_model_free(&m);
}

/* The sampling bounds' rule, configuration errors, and a checkpoint round trip. */
static void rules_and_checkpoint(void)
{
    ibc_model m;
    rng_t rng;
    rng_seed(&rng, 5);
    if (reference_model(&m, &rng) < 0) {
        tap_ok(0, "model: %s", error_get());
        return;
    }
    stats_set st = {0};
    const float amin[3] = {0, 1, 2}, amax[3] = {1, 1, 3}, lmin[5] = {0}, lmax[5] = {1, 1, 1, 1, 1};
    stats_feature f[3] = {{.feature = "action", .n = 3, .min = (float *)amin, .max = (float *)amax},
                          {.feature = "observation.a", .n = 3, .min = (float *)lmin, .max = (float *)lmax},
                          {.feature = "observation.b", .n = 2, .min = (float *)lmin, .max = (float *)lmax}};
    st.features = f;
    st.n_features = 3;
    int rc = ibc_model_set_stats(&m, &st);
    tap_ok(rc < 0 && strstr(error_get(), "action[1] has range 0"), "a constant action dimension is refused: %s", error_get());
    ibc_config cfg = m.cfg;
    cfg.width = 0;
    tap_ok(ibc_config_check(&cfg) < 0 && strstr(error_get(), "width"), "width 0 is refused: %s", error_get());
    cfg = m.cfg;
    cfg.dropout = 1;
    tap_ok(ibc_config_check(&cfg) < 0 && strstr(error_get(), "dropout"), "dropout 1 is refused: %s", error_get());
    ibc_inference set;
    ibc_inference_default(&set);
    set.samples = 0;
    tap_ok(ibc_inference_check(&set) < 0 && strstr(error_get(), "samples"), "0 samples are refused: %s", error_get());

    const char *path = "ibc_roundtrip.h5";
    checkpoint_writer *w = checkpoint_create(path);
    rc = w && ibc_checkpoint_write(w, &m) == 0 ? checkpoint_commit(w) : -1;
    ibc_model back;
    rc = rc == 0 ? ibc_checkpoint_load(path, &back, DP_WEIGHTS_EMA) : -1;
    if (rc < 0) {
        tap_ok(0, "checkpoint round trip: %s", error_get());
    } else {
        int same = back.obs.ps->total == m.obs.ps->total &&
                   memcmp(back.obs.ps->data, m.obs.ps->data, sizeof(float) * m.obs.ps->total) == 0 &&
                   back.cfg.width == 16 && back.cfg.obs.n_action_steps == 2 && back.cfg.obs.horizon == 3 &&
                   memcmp(back.obs.norm.action_scale, m.obs.norm.action_scale, sizeof(float) * 3) == 0 &&
                   nn_param_find(back.obs.ps, "dense4.weight") && nn_param_find(back.obs.ps, "dense0.bias");
        tap_ok(same, "checkpoint round trip: DP's names, weights, limits and configuration");
        ibc_model_free(&back);
    }
    remove(path);
    ibc_model_free(&m);
}

int main(void)
{
    nn_set_threads(1);
    torch_reference();
    gradient_and_split();
    action_gradient();
    samplers();
    dfo_counter_examples();
    rules_and_checkpoint();
    return tap_done();
}
