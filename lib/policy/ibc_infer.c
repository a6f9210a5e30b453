/* ibc_infer.c — IBC's inference: the action sequence that maximises the energy model's logit for
 * one observation, by derivative-free optimisation (DP's two variants, google-research/ibc's
 * iterative DFO) or by Langevin MCMC with dlogit/da from the engine's autograd. The observation's
 * features are given (computed once per query); every logit evaluation is one product per layer
 * over all N samples, the first layer's observation part once (ibc_logits). */
#include "policy/ibc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define IBC_MAX_ACTION 64

/* What one optimisation works with. */
typedef struct {
    nn_ctx *c;
    const ibc_model *m;
    const float *features;           /* [F] */
    int F, N, D, A;
    float lo[IBC_MAX_ACTION], hi[IBC_MAX_ACTION];   /* normalised bounds per action dimension */
    float *samples, *next;           /* [N][D] */
    float *logits;                   /* [N] */
    double *cdf;                     /* [N] */
} search_t;

/* logits[0..N) of the samples; the context is reset afterwards. */
static int evaluate(search_t *s)
{
    nn_ctx *c = s->c;
    nn_tensor *out = ibc_logits(c, s->m, nn_wrap(c, (float *)s->features, NN_DIMS(1, s->F)),
                                nn_wrap(c, s->samples, NN_DIMS(1, s->N, s->D)), NULL);
    if (!out) return -1;
    memcpy(s->logits, out->data, sizeof(float) * s->N);
    nn_ctx_reset(c);
    for (int i = 0; i < s->N; i++)
        if (!isfinite(s->logits[i])) return error_set("IBC: the logit of sample %d is %g", i, (double)s->logits[i]);
    return 0;
}

/* The softmax of the logits as a cumulative distribution (unnormalised, in double). */
static void cumulative(search_t *s)
{
    float top = s->logits[0];
    for (int i = 1; i < s->N; i++) top = s->logits[i] > top ? s->logits[i] : top;
    double sum = 0;
    for (int i = 0; i < s->N; i++) s->cdf[i] = sum += exp((double)s->logits[i] - top);
}

/* One index drawn in proportion to the softmax (cumulative() first). */
static int draw(const search_t *s, rng_t *rng)
{
    const double u = rng_uniform(rng) * s->cdf[s->N - 1];
    int lo = 0, hi = s->N - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s->cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* N draws with replacement in proportion to the softmax of the logits, then + N(0, sigma),
 * clamped to the bounds when clamp is set. */
static void resample(search_t *s, rng_t *rng, float sigma, int clamp)
{
    cumulative(s);
    for (int i = 0; i < s->N; i++) memcpy(s->next + (size_t)i * s->D, s->samples + (size_t)draw(s, rng) * s->D, sizeof(float) * s->D);
    float *t = s->samples;
    s->samples = s->next, s->next = t;
    for (int i = 0; i < s->N; i++)
        for (int j = 0; j < s->D; j++) {
            float *x = &s->samples[(size_t)i * s->D + j];
            *x += sigma * (float)rng_normal(rng);
            if (clamp) *x = fminf(fmaxf(*x, s->lo[j % s->A]), s->hi[j % s->A]);
        }
}

static int argmax(const search_t *s)
{
    int best = 0;
    for (int i = 1; i < s->N; i++) best = s->logits[i] > s->logits[best] ? i : best;
    return best;
}

int ibc_logit_grad(nn_ctx *c, const ibc_model *m, const float *features, const float *candidates, int K, float *logits,
                   float *grad)
{
    const int F = ibc_input_dim(&m->cfg) - m->cfg.obs.n_action_steps * m->cfg.obs.action_dim;
    const int D = m->cfg.obs.n_action_steps * m->cfg.obs.action_dim, record = c->record;
    nn_ctx_set_record(c, 1);
    nn_tensor *a = nn_from(c, candidates, NN_DIMS(1, K, D));
    if (a) a->requires_grad = 1;
    nn_tensor *out = ibc_logits(c, m, nn_wrap(c, (float *)features, NN_DIMS(1, F)), a, NULL);
    int rc = out && nn_backward_from(c, out, NULL) == 0 ? 0 : -1;
    if (rc == 0) {
        if (logits) memcpy(logits, out->data, sizeof(float) * K);
        memcpy(grad, a->grad, sizeof(float) * (size_t)K * D);
    }
    nn_ctx_reset(c);
    nn_ctx_set_record(c, record);
    return rc;
}

/* google-research/ibc's Langevin MCMC, the chain run twice (see ibc.h). */
static int langevin(search_t *s, const ibc_inference *set, rng_t *rng)
{
    const int K = ibc_inference_iterations(set);
    const float noise = ibc_inference_noise(set);
    float *grad = s->next;
    for (int chain = 0; chain < 2; chain++)
        for (int k = 0; k < K; k++) {
            const double frac = K > 1 ? 1.0 - (double)k / (K - 1) : 1.0;
            const float step = (float)((1e-1 - 1e-5) * frac * frac + 1e-5);
            if (ibc_logit_grad(s->c, s->m, s->features, s->samples, s->N, NULL, grad) < 0) return -1;
            for (long i = 0; i < (long)s->N * s->D; i++) {
                const int a = (int)(i % s->A);
                const float limit = 0.1f * 0.5f * (s->hi[a] - s->lo[a]);
                float delta = step * (0.5f * grad[i] + noise * (float)rng_normal(rng));
                delta = fminf(fmaxf(delta, -limit), limit);
                s->samples[i] = fminf(fmaxf(s->samples[i] + delta, s->lo[a]), s->hi[a]);
            }
        }
    return evaluate(s);
}

static int optimize(search_t *s, const ibc_inference *set, rng_t *rng, float *action)
{
    const int K = ibc_inference_iterations(set);
    const float sigma = ibc_inference_noise(set);
    for (long i = 0; i < (long)s->N * s->D; i++) {
        const int a = (int)(i % s->A);
        s->samples[i] = s->lo[a] + (s->hi[a] - s->lo[a]) * rng_uniformf(rng);
    }
    int chosen;
    switch (set->sampler) {
    case IBC_DFO:   /* K evaluations, resampling between them; one draw from the last */
        for (int it = 0; it < K; it++) {
            if (evaluate(s) < 0) return -1;
            if (it < K - 1) resample(s, rng, sigma, 0);
        }
        cumulative(s);
        chosen = draw(s, rng);
        break;
    case IBC_DFO_ARGMAX:   /* K resamplings with clamping, then the argmax of one more evaluation */
        for (int it = 0; it < K; it++) {
            if (evaluate(s) < 0) return -1;
            resample(s, rng, sigma, 1);
        }
        if (evaluate(s) < 0) return -1;
        chosen = argmax(s);
        break;
    case IBC_DFO_IBC: {   /* noise halved at each iteration */
        float std = sigma;
        if (evaluate(s) < 0) return -1;
        for (int it = 1; it < K; it++) {
            resample(s, rng, std, 1);
            std *= 0.5f;
            if (evaluate(s) < 0) return -1;
        }
        chosen = argmax(s);
        break;
    }
    case IBC_LANGEVIN:
        if (langevin(s, set, rng) < 0) return -1;
        chosen = argmax(s);
        break;
    default:
        return error_set("IBC: unknown sampler %d", (int)set->sampler);
    }
    memcpy(action, s->samples + (size_t)chosen * s->D, sizeof(float) * s->D);
    return 0;
}

int ibc_optimize(nn_ctx *c, const ibc_model *m, const float *features, const ibc_inference *set, rng_t *rng,
                 float *action)
{
    if (ibc_inference_check(set) < 0) return -1;
    const int A = m->cfg.obs.action_dim, D = m->cfg.obs.n_action_steps * A, N = set->samples;
    if (A > IBC_MAX_ACTION) return error_set("IBC: at most %d action dimensions, got %d", IBC_MAX_ACTION, A);
    search_t s = {.c = c, .m = m, .features = features, .F = ibc_input_dim(&m->cfg) - D, .N = N, .D = D, .A = A};
    ibc_action_bounds(m, s.lo, s.hi);
    s.samples = malloc(sizeof(float) * (size_t)N * D);
    s.next = malloc(sizeof(float) * (size_t)N * D);
    s.logits = malloc(sizeof(float) * N);
    s.cdf = malloc(sizeof(double) * N);
    const int train = c->train, record = c->record;
    nn_ctx_reset(c);
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    int rc = s.samples && s.next && s.logits && s.cdf ? optimize(&s, set, rng, action) : error_set("out of memory");
    nn_ctx_reset(c);
    nn_ctx_set_train(c, train);
    nn_ctx_set_record(c, record);
    free(s.samples), free(s.next), free(s.logits), free(s.cdf);
    return rc;
}

int ibc_infer(nn_ctx *c, const ibc_model *m, const dp_batch *b, const ibc_inference *set, rng_t *rng, float *actions)
{
    const dp_config *cfg = &m->cfg.obs;
    const int B = b->batch, A = cfg->action_dim, D = cfg->n_action_steps * A;
    const int train = c->train, record = c->record;
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    nn_tensor *f = dp_encode_obs(c, &m->obs, b, NULL);
    float *features = f ? malloc(sizeof(float) * f->size) : NULL;
    int rc = features ? 0 : f ? error_set("out of memory") : -1;
    const int F = f ? f->shape[1] : 0;
    if (features) memcpy(features, f->data, sizeof(float) * f->size);
    nn_ctx_reset(c);
    for (int i = 0; rc == 0 && i < B; i++) {
        float *x = actions + (size_t)i * D;
        rc = ibc_optimize(c, m, features + (size_t)i * F, set, rng, x);
        for (int j = 0; rc == 0 && j < D; j++)
            x[j] = (x[j] - m->obs.norm.action_offset[j % A]) / m->obs.norm.action_scale[j % A];
    }
    free(features);
    nn_ctx_set_train(c, train);
    nn_ctx_set_record(c, record);
    return rc;
}

int ibc_dfo_counter_examples(nn_ctx *c, const ibc_model *m, nn_tensor *features, float *candidates, int K, int first,
                             int count, int iterations, float noise, uint64_t seed, long step, long first_index)
{
    const dp_config *cfg = &m->cfg.obs;
    const int B = features->shape[0], A = cfg->action_dim, D = cfg->n_action_steps * A, N = K - 1;
    if (count <= 0 || iterations < 2) return 0;   /* one evaluation resamples nothing */
    if (A > IBC_MAX_ACTION) return error_set("IBC: at most %d action dimensions, got %d", IBC_MAX_ACTION, A);
    if (first < 0 || first + count > N) return error_set("IBC: DFO counter-examples %d..%d of %d", first, first + count, N);
    const int train = c->train, record = c->record;
    nn_ctx_set_train(c, 0);
    nn_ctx_set_record(c, 0);
    const size_t mark = nn_arena_mark(c->arena);
    float *pop = malloc(sizeof(float) * (size_t)B * N * D), *next = malloc(sizeof(float) * (size_t)N * D);
    float *logits = malloc(sizeof(float) * (size_t)B * N);
    double *cdf = malloc(sizeof(double) * N);
    rng_t *rngs = malloc(sizeof(rng_t) * B);
    int rc = pop && next && logits && cdf && rngs ? 0 : error_set("out of memory");
    for (int i = 0; rc == 0 && i < B; i++)
        rngs[i] = rng_keyed(seed ^ 0x44464f2d6e6567ULL, (uint64_t)step, (uint64_t)(first_index + i));
    for (int i = 0; rc == 0 && i < B; i++)
        memcpy(pop + (size_t)i * N * D, candidates + ((size_t)i * K + 1) * D, sizeof(float) * (size_t)N * D);
    float lo[IBC_MAX_ACTION], hi[IBC_MAX_ACTION];
    ibc_action_bounds(m, lo, hi);
    float std = noise;
    for (int it = 0; rc == 0 && it < iterations - 1; it++, std *= 0.5f) {
        const size_t before = nn_arena_mark(c->arena);
        nn_tensor *out = ibc_logits(c, m, features, nn_wrap(c, pop, NN_DIMS(B, N, D)), NULL);
        if (!out) {
            rc = -1;
            break;
        }
        memcpy(logits, out->data, sizeof(float) * (size_t)B * N);
        nn_arena_release(c->arena, before);
        for (int i = 0; rc == 0 && i < B; i++) {
            search_t s = {.c = c, .m = m, .N = N, .D = D, .A = A, .samples = pop + (size_t)i * N * D, .next = next,
                          .logits = logits + (size_t)i * N, .cdf = cdf};
            memcpy(s.lo, lo, sizeof lo);
            memcpy(s.hi, hi, sizeof hi);
            for (int k = 0; k < N; k++)
                if (!isfinite(s.logits[k])) rc = error_set("IBC: the logit of counter-example %d is %g", k, (double)s.logits[k]);
            if (rc < 0) break;
            resample(&s, &rngs[i], std, 1);
            if (s.samples != pop + (size_t)i * N * D) memcpy(pop + (size_t)i * N * D, s.samples, sizeof(float) * (size_t)N * D);
        }
    }
    for (int i = 0; rc == 0 && i < B; i++)
        memcpy(candidates + ((size_t)i * K + 1 + first) * D, pop + ((size_t)i * N + first) * D, sizeof(float) * (size_t)count * D);
    nn_arena_release(c->arena, mark);
    free(pop), free(next), free(logits), free(cdf), free(rngs);
    nn_ctx_set_train(c, train);
    nn_ctx_set_record(c, record);
    return rc;
}
