/* test_diffusion.c — Diffusion Policy on tiny configurations: the noise schedule and the DDPM/DDIM
 * steps against the NumPy transcription of diffusers 0.11.1 (tests/dp_schedule_ref.py), the
 * limits normaliser, configuration errors, whole-model random-direction gradient checks, the
 * per-sample draws (a batch split in two gives the same loss and gradients), training and
 * sampling sanity, the checkpoint round trip (trained and EMA weights, identical predictions) and
 * the "diffusion" policy class (history padding at reset, Ta actions per query, options). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn.h"
#include "npy_load.h"
#include "policy/diffusion.h"
#include "policy/policy.h"
#include "tap.h"
#include "util/error.h"

#define SCHEDULE_DIR "dp_ref/schedule"

static int load_schedule(const char *name, ref_array *a)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.npy", SCHEDULE_DIR, name);
    return ref_load(path, a);
}

static double max_diff(const float *a, const float *b, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void schedule(void)
{
    dp_schedule s;
    ref_array betas, ab, mo, sample, noise;
    if (dp_schedule_init(&s, 100) < 0 || load_schedule("betas", &betas) < 0 || load_schedule("alphas_cumprod", &ab) < 0 ||
        load_schedule("model_output", &mo) < 0 || load_schedule("sample", &sample) < 0 || load_schedule("noise", &noise) < 0) {
        tap_ok(0, "schedule references (run tests/dp_schedule_ref.py): %s", error_get());
        return;
    }
    tap_ok(max_diff(s.betas, betas.data, 100) == 0 && max_diff(s.alphas_cumprod, ab.data, 100) == 0,
           "squaredcos_cap_v2 betas and alphas_cumprod (double accumulation) equal diffusers' bit for bit");
    static const struct { const char *name; dp_sampler sampler; int steps; } lists[] = {
        {"timesteps.ddpm_8", DP_SAMPLER_DDPM, 8}, {"timesteps.ddpm_100", DP_SAMPLER_DDPM, 100},
        {"timesteps.ddim_8", DP_SAMPLER_DDIM, 8}, {"timesteps.ddim_10", DP_SAMPLER_DDIM, 10}};
    for (int i = 0; i < 4; i++) {
        ref_array want;
        int t[128], n = dp_schedule_timesteps(&s, lists[i].sampler, lists[i].steps, t, 128), same = 0;
        if (load_schedule(lists[i].name, &want) == 0) {
            same = n == want.size;
            for (int j = 0; same && j < n; j++) same = t[j] == (int)want.data[j];
            ref_free(&want);
        }
        tap_ok(same, "%s: %d timesteps from %d, as diffusers", lists[i].name, n, t[0]);
    }
    const long n = mo.size;
    float *out = malloc(sizeof(float) * n);
    struct { const char *name; int ddim, t, prev, sample_prediction; } steps[] = {
        {"ddpm_t37", 0, 37, 0, 0}, {"ddpm_t0", 0, 0, 0, 0}, {"ddpm_sample_t37", 0, 37, 0, 1},
        {"ddim_t72_n8", 1, 72, 60, 0}, {"ddim_t0_n10", 1, 0, -10, 0}, {"ddim_sample_t90_n10", 1, 90, 80, 1}};
    for (int i = 0; i < 6; i++) {
        dp_prediction pred = steps[i].sample_prediction ? DP_PREDICT_SAMPLE : DP_PREDICT_EPSILON;
        if (steps[i].ddim) dp_ddim_step(&s, pred, steps[i].t, steps[i].prev, mo.data, sample.data, out, n);
        else dp_ddpm_step(&s, pred, steps[i].t, mo.data, sample.data, noise.data, out, n);
        ref_array want;
        double d = load_schedule(steps[i].name, &want) == 0 && want.size == n ? max_diff(out, want.data, n) : INFINITY;
        tap_ok(d <= 2e-7, "%s step matches the NumPy transcription (max diff %.2g)", steps[i].name, d);
        if (isfinite(d)) ref_free(&want);
    }
    dp_add_noise(&s, 50, sample.data, noise.data, out, n);
    ref_array want;
    double d = load_schedule("add_noise_t50", &want) == 0 ? max_diff(out, want.data, n) : INFINITY;
    tap_ok(d == 0, "add_noise at t = 50 matches (max diff %.2g)", d);
    if (isfinite(d)) ref_free(&want);
    /* the in-place step (prev == sample) the sampler uses gives the same values */
    float *copy = malloc(sizeof(float) * n);
    memcpy(copy, sample.data, sizeof(float) * n);
    dp_ddpm_step(&s, DP_PREDICT_EPSILON, 37, mo.data, copy, noise.data, copy, n);
    dp_ddpm_step(&s, DP_PREDICT_EPSILON, 37, mo.data, sample.data, noise.data, out, n);
    tap_ok(memcmp(copy, out, sizeof(float) * n) == 0, "a step computed in place equals the out-of-place one");
    free(copy);
    free(out);
    ref_free(&betas), ref_free(&ab), ref_free(&mo), ref_free(&sample), ref_free(&noise);
}

static void limits(void)
{
    const float lo[3] = {-2.0f, 0.5f, 1.0f}, hi[3] = {2.0f, 0.50005f, 3.0f};
    float scale[3], offset[3];
    dp_limits(lo, hi, 3, scale, offset);
    tap_ok(scale[0] == 0.5f && offset[0] == 0.0f && scale[1] == 1.0f && offset[1] == -0.5f && scale[2] == 1.0f &&
               offset[2] == -2.0f,
           "limits: [min,max] -> [-1,1]; a range below 1e-4 gives scale 1, offset -min");
}

/* ---------------------------------------------------------------- tiny models */
enum { B = 2, TO = 2, HZ = 8, A = 2, IMG = 40, CROP = 36, S = 3 };

static dp_config tiny_config(dp_encoder_kind encoder)
{
    dp_config cfg;
    dp_config_default(&cfg);
    cfg.encoder = encoder;
    if (encoder != DP_ENCODER_LOWDIM) {
        cfg.n_cameras = 1;
        strcpy(cfg.camera_names[0], "top");
    } else {
        cfg.n_cameras = 0;
    }
    cfg.height = cfg.width = IMG;
    cfg.crop_height = cfg.crop_width = CROP;
    cfg.num_keypoints = 4, cfg.feature_dim = 5;
    cfg.n_lowdim = 1;
    strcpy(cfg.lowdim_names[0], "observation.state");
    cfg.lowdim_dims[0] = S;
    cfg.action_dim = A, cfg.n_obs_steps = TO, cfg.horizon = HZ, cfg.n_action_steps = 4;
    cfg.n_levels = 2, cfg.down_dims[0] = 8, cfg.down_dims[1] = 16;
    cfg.kernel_size = 3, cfg.n_groups = 4, cfg.step_embed_dim = 8;
    return cfg;
}

/* Raw observations and actions for sample i (deterministic from i). */
static void raw_sample(int i, uint8_t *image, float *state, float *action)
{
    for (int p = 0; p < TO * IMG * IMG * 3; p++) image[p] = (uint8_t)(p * 13 + i * 71 + (p >> 7));
    for (int p = 0; p < TO * S; p++) state[p] = sinf(0.7f * p + i) * 2.0f;
    for (int p = 0; p < HZ * A; p++) action[p] = cosf(0.3f * p + 2.0f * i);
}

static int fill(dp_batch *b, const dp_model *m, int first)
{
    uint8_t image[TO * IMG * IMG * 3];
    float state[TO * S], action[HZ * A];
    for (int i = 0; i < b->batch; i++) {
        raw_sample(first + i, image, state, action);
        const uint8_t *images[1] = {image};
        const float *lowdim[1] = {state};
        if (dp_batch_set(b, m, i, images, lowdim, action) < 0) return -1;
    }
    return 0;
}

static void set_tiny_limits(dp_model *m)
{
    const float amin[A] = {-1.2f, -1.1f}, amax[A] = {1.3f, 1.0f}, smin[S] = {-2.0f, -2.0f, 0.0f}, smax[S] = {2.0f, 2.0f, 0.0f};
    dp_model_set_limits(m, "action", amin, amax, A);
    dp_model_set_limits(m, "observation.state", smin, smax, S);
}

static double loss_at(nn_ctx *c, dp_model *m, const dp_batch *b, long first)
{
    nn_ctx_reset(c);
    nn_tensor *loss = dp_model_loss(c, m, b, 42, 3, first, NULL);
    return loss ? loss->data[0] : NAN;
}

/* TransformerForDiffusion, small: 2 layers, 2 heads, 16 features, attention dropout 0.3. */
static dp_config transformer_config(void)
{
    dp_config cfg = tiny_config(DP_ENCODER_HYBRID);
    cfg.net = DP_NET_TRANSFORMER;
    cfg.horizon = 6;
    cfg.n_layer = 2, cfg.n_head = 2, cfg.n_emb = 16;
    return cfg;
}

static void gradient_check(const char *label, dp_config cfg)
{
    rng_t rng;
    rng_seed(&rng, 7);
    dp_model m;
    dp_batch b;
    if (dp_model_init(&m, &cfg, &rng) < 0 || dp_batch_alloc(&b, &m, B) < 0) {
        tap_ok(0, "%s: init: %s", label, error_get());
        return;
    }
    set_tiny_limits(&m);
    fill(&b, &m, 0);
    nn_ctx *c = nn_ctx_new(32 << 20);
    nn_params *ps = m.ps;
    const long total = ps->total;
    float *base = malloc(sizeof(float) * total), *dir = calloc(total, sizeof(float));
    memcpy(base, ps->data, sizeof(float) * total);
    double norm2 = 0;
    for (int i = 0; i < ps->count; i++) {
        nn_param_info *p = &ps->list[i];
        if (p->flags & (NN_BUFFER | NN_FROZEN)) continue;
        for (long j = 0; j < p->t->size; j++) {
            dir[p->offset + j] = (float)rng_normal(&rng);
            norm2 += (double)dir[p->offset + j] * dir[p->offset + j];
        }
    }
    nn_params_zero_grad(ps);
    nn_ctx_reset(c);
    nn_tensor *loss = dp_model_loss(c, &m, &b, 42, 3, 0, NULL);
    if (!loss || nn_backward(c, loss) < 0) {
        tap_ok(0, "%s: forward/backward: %s", label, error_get());
    } else {
        /* half random, half along the gradient (test_act.c explains why) */
        double gnorm2 = 0;
        for (long j = 0; j < total; j++) if (dir[j] != 0) gnorm2 += (double)ps->grad[j] * ps->grad[j];
        for (long j = 0; j < total; j++)
            if (dir[j] != 0) dir[j] = (float)(dir[j] / sqrt(norm2) + (gnorm2 > 0 ? ps->grad[j] / sqrt(gnorm2) : 0));
        double analytic = 0;
        for (long j = 0; j < total; j++) analytic += (double)ps->grad[j] * dir[j];
        const float eps = 1e-3f;
        double l[2];
        for (int s = 0; s < 2; s++) {
            for (long j = 0; j < total; j++) ps->data[j] = base[j] + (s ? -eps : eps) * dir[j];
            l[s] = loss_at(c, &m, &b, 0);
        }
        double numeric = (l[0] - l[1]) / (2 * eps), rel = fabs(numeric - analytic) / fmax(1e-3, fabs(numeric));
        tap_ok(rel < 1e-2, "%s: whole-model random-direction gradient: analytic %.6g, central difference %.6g (rel %.2g)",
               label, analytic, numeric, rel);
    }
    free(base);
    free(dir);
    nn_ctx_free(c);
    dp_batch_free(&b);
    dp_model_free(&m);
}

/* The loss of a batch of 2 equals the mean of its halves' losses with first_index 0 and 1, and
 * the gradients add up: the draws belong to the sample, not to its place in the batch. */
static void batch_split(void)
{
    rng_t rng;
    rng_seed(&rng, 5);
    dp_config cfg = tiny_config(DP_ENCODER_HYBRID);
    dp_model m;
    dp_batch whole, half;
    dp_model_init(&m, &cfg, &rng);
    set_tiny_limits(&m);
    dp_batch_alloc(&whole, &m, 2);
    dp_batch_alloc(&half, &m, 1);
    fill(&whole, &m, 0);
    nn_ctx *c = nn_ctx_new(32 << 20);
    const long total = m.ps->total;
    float *g_whole = malloc(sizeof(float) * total);
    nn_params_zero_grad(m.ps);
    nn_tensor *loss = dp_model_loss(c, &m, &whole, 9, 17, 0, NULL);
    double l_whole = loss ? loss->data[0] : NAN;
    nn_backward(c, loss);
    memcpy(g_whole, m.ps->grad, sizeof(float) * total);
    double l_halves = 0;
    nn_params_zero_grad(m.ps);
    for (int i = 0; i < 2; i++) {
        fill(&half, &m, i);
        nn_ctx_reset(c);
        loss = dp_model_loss(c, &m, &half, 9, 17, i, NULL);
        l_halves += loss ? loss->data[0] / 2 : NAN;
        nn_backward(c, loss);
    }
    double worst = 0, scale = 0;
    for (long j = 0; j < total; j++) {
        worst = fmax(worst, fabs(g_whole[j] - 0.5 * m.ps->grad[j]));
        scale = fmax(scale, fabs(g_whole[j]));
    }
    tap_ok(fabs(l_whole - l_halves) < 1e-6 * fabs(l_whole) && worst < 1e-5 * scale,
           "a batch split in two gives the same loss (%.9g vs %.9g) and gradients (max diff %.2g of %.2g)", l_whole,
           l_halves, worst, scale);
    int t1, t2, crops1[TO * 2], crops2[TO * 2];
    float n1[HZ * A], n2[HZ * A];
    dp_sample_draws(&m, 9, 17, 4, &t1, n1, crops1);
    dp_sample_draws(&m, 9, 17, 5, &t2, n2, crops2);
    int in_range = t1 >= 0 && t1 < 100 && t2 >= 0 && t2 < 100;
    for (int j = 0; j < TO * 2; j++) in_range &= crops1[j] >= 0 && crops1[j] <= IMG - CROP;
    tap_ok(in_range && memcmp(n1, n2, sizeof n1) != 0, "draws: timestep %d and %d, crops within 0..%d, noise per sample",
           t1, t2, IMG - CROP);
    free(g_whole);
    nn_ctx_free(c);
    dp_batch_free(&whole);
    dp_batch_free(&half);
    dp_model_free(&m);
}

/* Training lowers the loss; sampling is reproducible from its seed and, x0 being clipped, ends
 * inside the action limits with either sampler — up to 1e-4 of the range for DDPM, whose last
 * step multiplies x0 by beta_0 / (1 - alpha_0), 1.000014 in float32 as in diffusers. */
static void train_and_sample(dp_model *m)
{
    dp_batch b;
    dp_batch_alloc(&b, m, B);
    fill(&b, m, 0);
    nn_ctx *c = nn_ctx_new(32 << 20);
    nn_adamw opt;
    nn_adamw_init(&opt, m->ps, 3e-3f, 1e-6f);
    double first = 0, last = 0;
    const int steps = 60;
    for (int step = 0; step < steps; step++) {
        /* the same draws every step, so that the loss is comparable */
        nn_tensor *loss = dp_model_loss(c, m, &b, 1, 0, 0, NULL);
        if (!loss) break;
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
        nn_params_zero_grad(m->ps);
        nn_backward(c, loss);
        nn_adamw_step(&opt, 1.0f);
        nn_ctx_reset(c);
    }
    tap_ok(last < 0.5 * first, "training lowers the loss on a fixed batch: %.4f -> %.4f in %d steps", first, last, steps);
    float a1[B * HZ * A], a2[B * HZ * A], a3[B * HZ * A];
    for (int s = 0; s < 2; s++) {
        dp_sampler sampler = s ? DP_SAMPLER_DDIM : DP_SAMPLER_DDPM;
        rng_t r1, r2, r3;
        rng_seed(&r1, 11), rng_seed(&r2, 11), rng_seed(&r3, 12);
        int ok = dp_model_sample(c, m, &b, sampler, s ? 10 : 0, &r1, a1) == 0 &&
                 dp_model_sample(c, m, &b, sampler, s ? 10 : 0, &r2, a2) == 0 &&
                 dp_model_sample(c, m, &b, sampler, s ? 10 : 0, &r3, a3) == 0;
        int inside = ok;
        for (int i = 0; i < B * HZ * A; i++) {
            float lo = m->norm.action_min[i % A], hi = m->norm.action_max[i % A], margin = 1e-4f * (hi - lo);
            inside &= a1[i] >= lo - margin && a1[i] <= hi + margin;
        }
        tap_ok(ok && memcmp(a1, a2, sizeof a1) == 0 && memcmp(a1, a3, sizeof a1) != 0 && inside,
               "%s sampling repeats from its seed, changes with it, ends inside the action limits (%s)",
               s ? "DDIM 10-step" : "DDPM 100-step", ok ? "ok" : error_get());
    }
    nn_adamw_free(&opt);
    nn_ctx_free(c);
    dp_batch_free(&b);
}

static void configuration(void)
{
    dp_config cfg = transformer_config();
    dp_model m;
    int ok = dp_model_init(&m, &cfg, NULL) == 0;
    nn_param_info *enc = ok ? nn_param_info_of(m.ps, nn_param_find(m.ps, "obs_encoder.obs_nets.top_image.nets.3.bias")) : NULL;
    nn_param_info *pos_emb = ok ? nn_param_info_of(m.ps, nn_param_find(m.ps, "model.pos_emb")) : NULL;
    nn_param_info *emb = ok ? nn_param_info_of(m.ps, nn_param_find(m.ps, "model.input_emb.weight")) : NULL;
    tap_ok(enc && pos_emb && emb && enc->group == 1 && !(enc->flags & NN_NO_DECAY) && pos_emb->group == 0 &&
               (pos_emb->flags & NN_NO_DECAY) && emb->group == 0 && !(emb->flags & NN_NO_DECAY),
           "transformer: DP's optimizer groups (encoder group 1, every entry decayed; pos_emb not decayed)");
    char path[] = "/tmp/test_diffusion_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    dp_model back;
    ok = ok && dp_checkpoint_save(path, &m, NULL, NULL, 0, NULL) == 0 && dp_checkpoint_load(path, &back, DP_WEIGHTS_EMA) == 0;
    tap_ok(ok && memcmp(&back.cfg, &cfg, sizeof cfg) == 0 && back.ps->total == m.ps->total,
           "transformer: configuration and parameters through a checkpoint (%s)", ok ? "ok" : error_get());
    if (ok) dp_model_free(&back);
    dp_model_free(&m);
    cfg.n_head = 3;
    tap_ok(dp_config_check(&cfg) < 0 && strstr(error_get(), "n_head 3"), "transformer: n_head must divide n_emb: %s",
           error_get());
    cfg = tiny_config(DP_ENCODER_HYBRID);
    cfg.horizon = 7;
    tap_ok(dp_config_check(&cfg) < 0 && strstr(error_get(), "horizon 7"), "a horizon the UNet cannot halve: %s",
           error_get());
    cfg = tiny_config(DP_ENCODER_HYBRID);
    cfg.crop_width = IMG + 1;
    tap_ok(dp_config_check(&cfg) < 0 && strstr(error_get(), "crop"), "a crop larger than the image: %s", error_get());
    cfg = tiny_config(DP_ENCODER_HYBRID);
    dp_model_init(&m, &cfg, NULL);
    static const char *expected[] = {
        "obs_encoder.obs_nets.top_image.backbone.nets.0.weight", "obs_encoder.obs_nets.top_image.backbone.nets.1.weight",
        "obs_encoder.obs_nets.top_image.backbone.nets.7.1.conv2.weight", "obs_encoder.obs_nets.top_image.pool.nets.weight",
        "obs_encoder.obs_nets.top_image.pool.pos_x", "obs_encoder.obs_nets.top_image.pool.temperature",
        "obs_encoder.obs_nets.top_image.nets.3.weight", "model.diffusion_step_encoder.1.weight",
        "model.mid_modules.0.blocks.0.block.0.weight", "model.final_conv.1.weight", NULL};
    int missing = 0;
    for (int i = 0; expected[i]; i++)
        if (!nn_param_find(m.ps, expected[i])) tap_diag("missing %s", expected[i]), missing++;
    nn_tensor *pos = nn_param_find(m.ps, "obs_encoder.obs_nets.top_image.pool.pos_x");
    tap_ok(!missing && pos && pos->shape[1] == 4 && pos->data[1] == 1.0f,
           "parameters carry DP's state_dict names (pos_x over the 2x2 map of a 36x36 crop)");
    stats_feature f[2] = {{.feature = "action", .ndim = 1, .n = A}, {.feature = "other", .ndim = 1, .n = S}};
    float lo[S] = {0, 0, 0}, hi[S] = {1, 2, 3};
    f[0].min = f[1].min = lo, f[0].max = f[1].max = hi;
    stats_set st = {.features = f, .n_features = 2};
    tap_ok(dp_model_set_stats(&m, &st) < 0 && strstr(error_get(), "observation.state"),
           "statistics without a low-dim key are refused: %s", error_get());
    f[1].feature = "observation.state";
    tap_ok(dp_model_set_stats(&m, &st) == 0 && m.norm.action_scale[1] == 1.0f && m.norm.lowdim_offset[2] == -1.0f,
           "limits from normstats' min and max");
    dp_batch b;
    dp_batch_alloc(&b, &m, 1);
    fill(&b, &m, 0);
    nn_ctx *c = nn_ctx_new(16 << 20);
    const int crops[TO * 2] = {0, 0, IMG - CROP + 1, 0};
    tap_ok(!dp_encode_obs(c, &m, &b, crops) && strstr(error_get(), "crop offset (5, 0)"),
           "a crop offset beyond the image is an error: %s", error_get());
    nn_ctx_free(c);
    dp_batch_free(&b);
    dp_model_free(&m);
    /* a camera-less model keeps its empty camera list through a checkpoint */
    cfg = tiny_config(DP_ENCODER_LOWDIM);
    cfg.sampler = DP_SAMPLER_DDIM, cfg.inference_steps = 16, cfg.prediction = DP_PREDICT_SAMPLE;
    dp_config_add_lowdim(&cfg, "robot0_eef_quat", 4);
    dp_model low;
    ok = dp_model_init(&low, &cfg, NULL) == 0;
    const float qmin[4] = {-1, -0.5f, 0, 0.25f}, qmax[4] = {1, 0.5f, 1, 0.75f};
    ok = ok && dp_model_set_limits(&low, "robot0_eef_quat", qmin, qmax, 4) == 0;
    tap_ok(ok && cfg.lowdim_norm[1] == DP_NORM_IDENTITY && cfg.lowdim_norm[0] == DP_NORM_LIMITS &&
               low.norm.lowdim_scale[S + 1] == 1.0f && low.norm.lowdim_offset[S + 3] == 0.0f &&
               low.norm.lowdim_max[S + 3] == 0.75f,
           "a key ending in quat is normalised by identity (DP's robomimic rule), its limits kept");
    ok = ok && dp_checkpoint_save(path, &low, NULL, NULL, 3, NULL) == 0 && dp_checkpoint_load(path, &back, DP_WEIGHTS_EMA) == 0;
    tap_ok(ok && memcmp(&back.cfg, &cfg, sizeof cfg) == 0 && back.norm.lowdim_scale[S + 1] == 1.0f &&
               back.norm.lowdim_max[S + 3] == 0.75f,
           "a lowdim model's configuration and identity key survive a checkpoint (%s)", ok ? "ok" : error_get());
    if (ok) dp_model_free(&back);
    dp_model_free(&low);
    /* DP's low-dim rule: one scale 1/max|limits| over every dimension of every maxabs key */
    cfg = tiny_config(DP_ENCODER_LOWDIM);
    dp_config_add_lowdim(&cfg, "observation.object", 2);
    cfg.lowdim_norm[0] = cfg.lowdim_norm[1] = DP_NORM_MAXABS;
    ok = dp_model_init(&low, &cfg, NULL) == 0;
    float smin[S], smax[S];
    for (int i = 0; i < S; i++) smin[i] = -0.5f + 0.01f * i, smax[i] = 0.5f + 0.01f * i;
    const float omin[2] = {0.8f, -4e-4f}, omax[2] = {0.85f, 3e-4f};   /* the second barely moves */
    ok = ok && dp_model_set_limits(&low, "observation.object", omin, omax, 2) == 0 &&
         dp_model_set_limits(&low, "observation.state", smin, smax, S) == 0;
    int same = ok;
    for (int i = 0; i < S + 2; i++) same &= low.norm.lowdim_scale[i] == 1.0f / 0.85f && low.norm.lowdim_offset[i] == 0.0f;
    tap_ok(same, "maxabs: every dimension of the maxabs keys scaled by 1/0.85 (the largest |limit|), no offset: "
                 "a dimension with range 7e-4 is not magnified");
    ok = ok && dp_checkpoint_save(path, &low, NULL, NULL, 3, NULL) == 0 && dp_checkpoint_load(path, &back, DP_WEIGHTS_EMA) == 0;
    tap_ok(ok && back.cfg.lowdim_norm[1] == DP_NORM_MAXABS &&
               memcmp(back.norm.lowdim_scale, low.norm.lowdim_scale, sizeof(float) * (S + 2)) == 0 &&
               memcmp(back.norm.lowdim_offset, low.norm.lowdim_offset, sizeof(float) * (S + 2)) == 0,
           "maxabs keys and their scale survive a checkpoint (%s)", ok ? "ok" : error_get());
    if (ok) dp_model_free(&back);
    dp_model_free(&low);
    /* limits with a range_eps of 0.01: the dimension with range 7e-4 only shifted, the other scaled */
    cfg = tiny_config(DP_ENCODER_LOWDIM);
    dp_config_add_lowdim(&cfg, "observation.object", 2);
    cfg.lowdim_range_eps = 0.01f;
    ok = dp_model_init(&low, &cfg, NULL) == 0 && dp_model_set_limits(&low, "observation.object", omin, omax, 2) == 0;
    tap_ok(ok && low.norm.lowdim_scale[S + 1] == 1.0f && low.norm.lowdim_offset[S + 1] == 4e-4f &&
               low.norm.lowdim_scale[S] == 2.0f / (0.85f - 0.8f),
           "lowdim_range_eps 0.01: a range of 7e-4 is only shifted (scale %g), a range of 0.05 scaled (%g)",
           ok ? low.norm.lowdim_scale[S + 1] : 0, ok ? low.norm.lowdim_scale[S] : 0);
    ok = ok && dp_checkpoint_save(path, &low, NULL, NULL, 3, NULL) == 0 && dp_checkpoint_load(path, &back, DP_WEIGHTS_EMA) == 0;
    tap_ok(ok && back.cfg.lowdim_range_eps == 0.01f && back.norm.lowdim_scale[S + 1] == 1.0f,
           "lowdim_range_eps survives a checkpoint (%s)", ok ? "ok" : error_get());
    if (ok) dp_model_free(&back);
    dp_model_free(&low);
    FILE *fp = fopen(path, "w");
    fputs("not hdf5", fp);
    fclose(fp);
    tap_ok(dp_checkpoint_load(path, &back, DP_WEIGHTS_EMA) < 0 && strstr(error_get(), path),
           "a file that is not a checkpoint is an error naming it: %s", error_get());
    unlink(path);
}

/* ---------------------------------------------------------------- checkpoints and the policy */

static void checkpoint_and_policy(void)
{
    rng_t rng;
    rng_seed(&rng, 3);
    dp_config cfg = tiny_config(DP_ENCODER_HYBRID);
    dp_model m;
    dp_model_init(&m, &cfg, &rng);
    set_tiny_limits(&m);
    train_and_sample(&m);
    char path[] = "/tmp/test_diffusion_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    nn_adamw opt;
    nn_ema ema;
    nn_adamw_init(&opt, m.ps, 1e-4f, 1e-6f);
    opt.step = 77;
    nn_ema_init(&ema, m.ps);
    for (long j = 0; j < m.ps->total; j++) ema.shadow[j] *= 0.5f;
    ema.optimization_step = 76;
    const char *extra[] = {"lr", "0.0001", NULL};
    int saved = dp_checkpoint_save(path, &m, &ema, &opt, 77, extra) == 0;
    dp_model trained, averaged;
    int loaded = saved && dp_checkpoint_load(path, &trained, DP_WEIGHTS_TRAINED) == 0 &&
                 dp_checkpoint_load(path, &averaged, DP_WEIGHTS_EMA) == 0;
    tap_ok(loaded, "checkpoint saves and loads (%s)", loaded ? "ok" : error_get());
    if (!loaded) return;
    const size_t bytes = sizeof(float) * m.ps->total;
    tap_ok(memcmp(&trained.cfg, &m.cfg, sizeof m.cfg) == 0 && memcmp(trained.ps->data, m.ps->data, bytes) == 0 &&
               memcmp(averaged.ps->data, ema.shadow, bytes) == 0 &&
               memcmp(trained.norm.action_offset, m.norm.action_offset, sizeof(float) * A) == 0 &&
               memcmp(trained.norm.lowdim_min, m.norm.lowdim_min, sizeof(float) * S) == 0,
           "round trip: configuration, limits, /params = trained weights, /ema = the EMA weights");
    nn_adamw opt2;
    nn_ema ema2;
    long step = 0;
    nn_adamw_init(&opt2, trained.ps, 1e-4f, 1e-6f);
    nn_ema_init(&ema2, trained.ps);
    tap_ok(dp_checkpoint_load_state(path, &ema2, &opt2, &step) == 0 && step == 77 && opt2.step == 77 &&
               ema2.optimization_step == 76 && memcmp(ema2.shadow, ema.shadow, bytes) == 0,
           "resume state: step, optimizer and EMA");
    char kind[32] = "";
    policy_checkpoint_kind(path, kind, sizeof kind);
    tap_ok(strcmp(kind, "diffusion") == 0 && policy_class_find("diffusion"), "root attribute policy = '%s', class registered",
           kind);

    /* identical predictions after the round trip (no EMA in this file) */
    dp_checkpoint_save(path, &m, NULL, NULL, 0, NULL);
    dp_model back;
    dp_checkpoint_load(path, &back, DP_WEIGHTS_EMA);
    dp_batch b;
    dp_batch_alloc(&b, &m, 1);
    fill(&b, &m, 0);
    nn_ctx *c = nn_ctx_new(16 << 20);
    float before[HZ * A], after[HZ * A];
    rng_t r1, r2;
    rng_seed(&r1, 5), rng_seed(&r2, 5);
    int ok = dp_model_sample(c, &m, &b, DP_SAMPLER_DDIM, 10, &r1, before) == 0 &&
             dp_model_sample(c, &back, &b, DP_SAMPLER_DDIM, 10, &r2, after) == 0;
    tap_ok(ok && memcmp(before, after, sizeof before) == 0, "the loaded model predicts exactly as the saved one");

    /* the policy class: history padded with the first observation, chunk from To-1, Ta per query */
    policy_env_t env = {.task = "tiny", .state_dim = S, .velocity_dim = S, .action_dim = A, .n_cameras = 1,
                        .camera_names = {"top"}, .height = IMG, .width = IMG, .control_hz = 10, .max_steps = 20};
    const policy_class_t *cls = policy_class_find("diffusion");
    policy_options_t o = policy_default_options();
    int chunk = 0, exec = 0;
    void *self = cls->open(path, &env, &o, &chunk, &exec);
    tap_ok(self && chunk == HZ - TO + 1 && exec == 4, "policy opens: chunk %d (horizon - To + 1), executes %d (Ta)", chunk,
           exec);
    if (!self) return;
    tap_ok(dp_policy_set_option(self, "sampler", "ddim") == 0 && dp_policy_set_option(self, "steps", "10") == 0 &&
               dp_policy_set_option(self, "steps", "0") < 0 && dp_policy_set_option(self, "sampler", "euler") < 0 &&
               dp_policy_set_option(self, "eta", "1") < 0,
           "options sampler and steps, bad values refused: %s", error_get());
    policy_t *p = policy_wrap(cls, self, &env, &o, chunk, exec);
    uint8_t frames[6][IMG * IMG * 3];
    float states[6][S], got[6][A];
    for (int t = 0; t < 6; t++) {
        for (int q = 0; q < IMG * IMG * 3; q++) frames[t][q] = (uint8_t)(q * 7 + t * 40);
        for (int d = 0; d < S; d++) states[t][d] = 0.3f * t - 0.2f * d;
    }
    int good = p && policy_reset(p, 21) == 0;
    for (int t = 0; good && t < 6; t++) {
        policy_observation_t obs = {.step = t, .state = states[t], .velocity = states[t], .images = {frames[t]}};
        good = policy_step(p, &obs, got[t]) == 0;
    }
    tap_ok(good, "policy steps 6 times (%s)", good ? "ok" : error_get());
    /* the same by hand: query 1 at step 0 on [obs0, obs0], query 2 at step 4 on [obs3, obs4],
     * both from one generator seeded 21, with the weights packed as the policy has them */
    nn_params_freeze(back.ps, 1);
    rng_t r;
    rng_seed(&r, 21);
    float q1[HZ * A], q2[HZ * A];
    uint8_t hist[TO * IMG * IMG * 3];
    float shist[TO * S];
    const uint8_t *images[1] = {hist};
    const float *lowdim[1] = {shist};
    const size_t frame = IMG * IMG * 3;
    memcpy(hist, frames[0], frame), memcpy(hist + frame, frames[0], frame);
    memcpy(shist, states[0], sizeof states[0]), memcpy(shist + S, states[0], sizeof states[0]);
    ok = dp_batch_set(&b, &back, 0, images, lowdim, NULL) == 0 && dp_model_sample(c, &back, &b, DP_SAMPLER_DDIM, 10, &r, q1) == 0;
    memcpy(hist, frames[3], frame), memcpy(hist + frame, frames[4], frame);
    memcpy(shist, states[3], sizeof states[3]), memcpy(shist + S, states[4], sizeof states[4]);
    ok = ok && dp_batch_set(&b, &back, 0, images, lowdim, NULL) == 0 &&
         dp_model_sample(c, &back, &b, DP_SAMPLER_DDIM, 10, &r, q2) == 0;
    int same = ok;
    for (int t = 0; t < 4; t++) same &= memcmp(got[t], q1 + (TO - 1 + t) * A, sizeof got[t]) == 0;
    same &= memcmp(got[4], q2 + (TO - 1) * A, sizeof got[4]) == 0 && memcmp(got[5], q2 + TO * A, sizeof got[5]) == 0;
    tap_ok(same, "steps 0-3 execute query 1 (history: the first observation twice) from index To-1, step 4 queries "
                 "again on the last two observations");
    policy_free(p);
    env.action_dim = 3;
    void *bad = cls->open(path, &env, &o, &chunk, &exec);
    tap_ok(!bad && strstr(error_get(), "gives 2 actions"), "a wrong action size is refused: %s", error_get());
    env.action_dim = A;
    env.state_dim = 4;
    bad = cls->open(path, &env, &o, &chunk, &exec);
    tap_ok(!bad && strstr(error_get(), "observation.state"), "a wrong state size is refused: %s", error_get());
    unlink(path);
    nn_ctx_free(c);
    dp_batch_free(&b);
    dp_model_free(&back);
    nn_adamw_free(&opt), nn_adamw_free(&opt2);
    nn_ema_free(&ema), nn_ema_free(&ema2);
    dp_model_free(&trained), dp_model_free(&averaged), dp_model_free(&m);
}

int main(void)
{
    nn_set_threads(1);
    schedule();
    limits();
    configuration();
    gradient_check("hybrid encoder, epsilon", tiny_config(DP_ENCODER_HYBRID));
    dp_config cfg = tiny_config(DP_ENCODER_LOWDIM);
    cfg.prediction = DP_PREDICT_SAMPLE;
    cfg.cond_predict_scale = 0;
    gradient_check("lowdim, sample prediction, FiLM bias only", cfg);
    gradient_check("resnet encoder", tiny_config(DP_ENCODER_RESNET));
    gradient_check("transformer with attention dropout (keyed masks)", transformer_config());
    batch_split();
    checkpoint_and_policy();
    return tap_done();
}
