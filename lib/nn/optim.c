/* optim.c — AdamW (torch.optim.AdamW semantics) with parameter groups, global-norm gradient
 * clipping, constant/cosine learning-rate schedules with warmup, and Diffusion Policy's EMA. */
#include "nn/optim.h"
#include "nn/threads.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int trainable(const nn_param_info *p) { return !(p->flags & (NN_FROZEN | NN_BUFFER)); }

/* ---------------------------------------------------------------- AdamW */
/* n floats (at least one) zeroed by writing, not by calloc: calloc'd pages come as the shared
 * zero page, which the first update reads and then writes, two faults per page, the second a
 * copy-on-write with a TLB shootdown across the pool's threads; written here, each page faults
 * once. (malloc and memset would be folded back into calloc by the compiler; posix_memalign is
 * not.) NULL when out of memory. */
static float *zeroed_floats(long n)
{
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return memset(p, 0, bytes);
}

int nn_adamw_init(nn_adamw *opt, nn_params *ps, float lr, float weight_decay)
{
    memset(opt, 0, sizeof *opt);
    opt->ps = ps;
    opt->m = zeroed_floats(ps->total);
    opt->v = zeroed_floats(ps->total);
    if (!opt->m || !opt->v) { nn_adamw_free(opt); return error_set("nn adamw: out of memory for %ld moments", ps->total); }
    opt->total = ps->total;
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->n_groups = NN_MAX_GROUPS;
    for (int g = 0; g < NN_MAX_GROUPS; g++) opt->groups[g] = (nn_adamw_group){ lr, weight_decay };
    return 0;
}

void nn_adamw_free(nn_adamw *opt)
{
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void nn_adamw_set_group(nn_adamw *opt, int group, float lr, float weight_decay)
{
    if (group >= 0 && group < NN_MAX_GROUPS) opt->groups[group] = (nn_adamw_group){ lr, weight_decay };
}

typedef struct {
    float *w; float *g; float *m, *v;
    float decay, step_size, b1, b2, eps, bc2_sqrt;
    int zero;
} adamw_job;

static void adamw_range(void *arg, long k0, long k1)
{
    const adamw_job *j = arg;
    float *restrict w = j->w, *restrict m = j->m, *restrict v = j->v, *restrict g = j->g;
    const float decay = j->decay, step_size = j->step_size, b1 = j->b1, b2 = j->b2, eps = j->eps, bc = j->bc2_sqrt;
    for (long b0 = k0; b0 < k1; b0 += 4096) {   /* blocks, so that zeroing finds g in cache */
        long b1e = b0 + 4096 < k1 ? b0 + 4096 : k1;
        for (long k = b0; k < b1e; k++) {
            w[k] *= decay;
            m[k] = b1 * m[k] + (1.0f - b1) * g[k];
            v[k] = b2 * v[k] + (1.0f - b2) * g[k] * g[k];
            w[k] -= step_size * m[k] / (sqrtf(v[k]) / bc + eps);
        }
        if (j->zero) memset(g + b0, 0, (size_t)(b1e - b0) * sizeof(float));
    }
}

int nn_adamw_step(nn_adamw *opt, float lr_factor)
{
    nn_params *ps = opt->ps;
    if (ps->total != opt->total)
        return error_set("nn adamw: %ld parameter floats now, %ld when the optimizer was set up (register every parameter first)",
                         ps->total, opt->total);
    opt->step++;
    const float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    const double bc1 = 1.0 - pow(b1, (double)opt->step), bc2 = 1.0 - pow(b2, (double)opt->step);
    const float bc2_sqrt = (float)sqrt(bc2);
    for (int i = 0; i < ps->count; i++) {
        const nn_param_info *p = &ps->list[i];
        if (!trainable(p)) continue;
        int gi = p->group >= 0 && p->group < NN_MAX_GROUPS ? p->group : 0;
        float lr = opt->groups[gi].lr * lr_factor;
        float wd = (p->flags & NN_NO_DECAY) ? 0.0f : opt->groups[gi].weight_decay;
        adamw_job j = { ps->data + p->offset, ps->grad + p->offset, opt->m + p->offset, opt->v + p->offset,
                        1.0f - lr * wd, (float)(lr / bc1), b1, b2, eps, bc2_sqrt, opt->zero_grad };
        /* memory-bound (four arrays in, three out): split large tensors over the pool */
        nn_parallel_for(p->t->size, 1L << 15, adamw_range, &j);
    }
    return 0;
}

/* ---------------------------------------------------------------- clipping */
float nn_grad_norm(const nn_params *ps)
{
    double s = 0;
    for (int i = 0; i < ps->count; i++) {
        const nn_param_info *p = &ps->list[i];
        if (!trainable(p)) continue;
        const float *g = ps->grad + p->offset;
        for (long k = 0; k < p->t->size; k++) s += (double)g[k] * g[k];
    }
    return (float)sqrt(s);
}

float nn_clip_grad_norm(nn_params *ps, float max_norm)
{
    float norm = nn_grad_norm(ps);
    float f = max_norm / (norm + 1e-6f);
    if (f < 1.0f)
        for (int i = 0; i < ps->count; i++) {
            const nn_param_info *p = &ps->list[i];
            if (!trainable(p)) continue;
            float *g = ps->grad + p->offset;
            for (long k = 0; k < p->t->size; k++) g[k] *= f;
        }
    return norm;
}

/* ---------------------------------------------------------------- schedules */
float nn_lr_constant(long step, long warmup_steps)
{
    if (step < warmup_steps) return (float)step / (float)warmup_steps;
    return 1.0f;
}

float nn_lr_cosine(long step, long warmup_steps, long total_steps)
{
    if (step < warmup_steps) return (float)step / (float)(warmup_steps > 1 ? warmup_steps : 1);
    double progress = (double)(step - warmup_steps) / (double)(total_steps - warmup_steps > 1 ? total_steps - warmup_steps : 1);
    if (progress > 1) progress = 1;
    double f = 0.5 * (1.0 + cos(M_PI * progress));
    return (float)(f > 0 ? f : 0);
}

/* ---------------------------------------------------------------- EMA */
int nn_ema_init(nn_ema *ema, nn_params *ps)
{
    memset(ema, 0, sizeof *ema);
    ema->ps = ps;
    ema->shadow = malloc((size_t)(ps->total ? ps->total : 1) * sizeof(float));
    if (!ema->shadow) return error_set("nn ema: out of memory");
    if (ps->total) memcpy(ema->shadow, ps->data, (size_t)ps->total * sizeof(float));
    ema->total = ps->total;
    ema->power = 0.75f;
    ema->max_decay = 0.9999f;
    ema->min_decay = 0.0f;
    return 0;
}

void nn_ema_free(nn_ema *ema)
{
    free(ema->shadow);
    ema->shadow = NULL;
}

float nn_ema_decay(const nn_ema *ema, long k)
{
    long s = k - 1;                /* update_after_step 0: step = max(0, k - 0 - 1) */
    if (s <= 0) return 0.0f;
    double v = 1.0 - pow(1.0 + (double)s, -ema->power);
    if (v > ema->max_decay) v = ema->max_decay;
    if (v < ema->min_decay) v = ema->min_decay;
    return (float)v;
}

int nn_ema_update(nn_ema *ema)
{
    nn_params *ps = ema->ps;
    if (ps->total != ema->total)
        return error_set("nn ema: %ld parameter floats now, %ld when the EMA was set up", ps->total, ema->total);
    float d = nn_ema_decay(ema, ema->optimization_step);
    ema->last_decay = d;
    for (int i = 0; i < ps->count; i++) {
        const nn_param_info *p = &ps->list[i];
        float *s = ema->shadow + p->offset;
        const float *w = ps->data + p->offset;
        if (!trainable(p) || (p->flags & NN_EMA_COPY)) { memcpy(s, w, (size_t)p->t->size * sizeof(float)); continue; }
        for (long k = 0; k < p->t->size; k++) s[k] = d * s[k] + (1.0f - d) * w[k];
    }
    ema->optimization_step++;
    return 0;
}

void nn_ema_swap(nn_ema *ema)
{
    float *t = ema->ps->data;
    if (ema->ps->total != ema->total) return;
    /* swap contents, not pointers: the parameter tensors point into ps->data */
    for (long k = 0; k < ema->ps->total; k++) {
        float x = t[k];
        t[k] = ema->shadow[k];
        ema->shadow[k] = x;
    }
}
