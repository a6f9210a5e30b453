/* diffusion_normalizer.c — DP's LinearNormalizer in mode "limits" for actions and low-dimensional
 * observations: per-dimension scale and offset from the data's min and max (normstats output),
 * held in the model so that they travel inside the checkpoint; per low-dim key and for the
 * action also "identity" and DP's low-dim datasets' "maxabs" (diffusion.h). */
#include "policy/diffusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void dp_limits(const float *min, const float *max, int n, float *scale, float *offset)
{
    dp_limits_eps(min, max, n, DP_RANGE_EPS, scale, offset);
}

void dp_limits_eps(const float *min, const float *max, int n, float eps, float *scale, float *offset)
{
    for (int i = 0; i < n; i++) {
        float range = max[i] - min[i];
        if (range < eps) {   /* a constant dimension: output range 2 over input range 2 */
            scale[i] = 1.0f;
            offset[i] = 0.0f - min[i];
        } else {
            scale[i] = 2.0f / range;
            offset[i] = -1.0f - scale[i] * min[i];
        }
    }
}

/* The largest |min| or |max| of n limits, at least top. */
static float abs_top(const float *lo, const float *hi, int n, float top)
{
    for (int i = 0; i < n; i++) top = fmaxf(top, fmaxf(fabsf(lo[i]), fabsf(hi[i])));
    return top;
}

/* DP's low-dim rule: one scale 1/m for every dimension of every maxabs key, m the largest |min|
 * or |max| among them (1 where that is 0), offset 0. Recomputed each time a maxabs key's limits
 * are set, so it is right once all are (keys not yet set hold the allocation's -1, 1). */
static void maxabs_scales(dp_model *m)
{
    dp_normalizer *z = &m->norm;
    float top = 0;
    for (int j = 0, at = 0; j < m->cfg.n_lowdim; at += m->cfg.lowdim_dims[j], j++)
        if (m->cfg.lowdim_norm[j] == DP_NORM_MAXABS) top = abs_top(z->lowdim_min + at, z->lowdim_max + at, m->cfg.lowdim_dims[j], top);
    const float scale = top > 0 ? 1.0f / top : 1.0f;
    for (int j = 0, at = 0; j < m->cfg.n_lowdim; at += m->cfg.lowdim_dims[j], j++)
        if (m->cfg.lowdim_norm[j] == DP_NORM_MAXABS)
            for (int i = at; i < at + m->cfg.lowdim_dims[j]; i++) z->lowdim_scale[i] = scale, z->lowdim_offset[i] = 0.0f;
}

/* Where a feature's limits are: *key the low-dim key index (-1: the action), *start and *n within
 * the action or the concatenated low-dim vectors. */
static int feature_slot(const dp_model *m, const char *feature, int *key, int *start, int *n)
{
    *key = -1;
    *start = 0;
    *n = m->cfg.action_dim;
    if (strcmp(feature, "action") == 0) return 0;
    for (int j = 0, offset = 0; j < m->cfg.n_lowdim; offset += m->cfg.lowdim_dims[j], j++)
        if (strcmp(m->cfg.lowdim_names[j], feature) == 0) {
            *key = j;
            *start = offset;
            *n = m->cfg.lowdim_dims[j];
            return 0;
        }
    return error_set("Diffusion Policy: '%s' is neither action nor a low-dim key of the model", feature);
}

int dp_model_set_limits(dp_model *m, const char *feature, const float *min, const float *max, int n)
{
    int key, start, size;
    if (feature_slot(m, feature, &key, &start, &size) < 0) return -1;
    if (n != size) return error_set("Diffusion Policy: limits of '%s' have %d values, %d expected", feature, n, size);
    for (int i = 0; i < n; i++)
        if (!(min[i] <= max[i]))
            return error_set("Diffusion Policy: limits of '%s'[%d]: min %g is not <= max %g", feature, i, min[i], max[i]);
    dp_normalizer *z = &m->norm;
    const int is_action = key < 0;
    const dp_norm_mode mode = is_action ? m->cfg.action_norm : m->cfg.lowdim_norm[key];
    if (is_action && mode == DP_NORM_IDENTITY)   /* the samplers clip x0 to [-1, 1] */
        for (int i = 0; i < n; i++)
            if (min[i] < -1.0f || max[i] > 1.0f)
                return error_set("Diffusion Policy: action normalisation identity: action[%d] ranges over [%g, %g], "
                                 "outside the [-1, 1] the samplers clip to (use limits or maxabs)", i, min[i], max[i]);
    float *lo = is_action ? z->action_min : z->lowdim_min, *hi = is_action ? z->action_max : z->lowdim_max;
    float *scale = is_action ? z->action_scale : z->lowdim_scale, *offset = is_action ? z->action_offset : z->lowdim_offset;
    memcpy(lo + start, min, sizeof(float) * n);
    memcpy(hi + start, max, sizeof(float) * n);
    if (mode == DP_NORM_IDENTITY) {
        for (int i = start; i < start + n; i++) scale[i] = 1.0f, offset[i] = 0.0f;
    } else if (mode == DP_NORM_MAXABS && !is_action) {
        maxabs_scales(m);   /* one scale over every maxabs key */
    } else if (mode == DP_NORM_MAXABS) {
        const float top = abs_top(min, max, n, 0);
        for (int i = start; i < start + n; i++) scale[i] = top > 0 ? 1.0f / top : 1.0f, offset[i] = 0.0f;
    } else {
        dp_limits_eps(min, max, n, is_action ? DP_RANGE_EPS : m->cfg.lowdim_range_eps, scale + start, offset + start);
    }
    return 0;
}

int dp_model_set_stats(dp_model *m, const stats_set *st)
{
    for (int j = -1; j < m->cfg.n_lowdim; j++) {
        const char *name = j < 0 ? "action" : m->cfg.lowdim_names[j];
        const stats_feature *f = stats_find(st, name);
        if (!f) return error_set("the statistics have no feature '%s'", name);
        if (!f->min || !f->max) return error_set("the statistics of '%s' have no min/max", name);
        if (dp_model_set_limits(m, name, f->min, f->max, (int)f->n) < 0) return -1;
    }
    return 0;
}

/* Allocation (identity limits: min -1, max 1) and release; used by dp_model_init/free. */
int dp_normalizer_alloc(dp_normalizer *z, const dp_config *cfg)
{
    const int A = cfg->action_dim, L = dp_lowdim_total(cfg);
    float **arrays[8] = {&z->action_min, &z->action_max, &z->action_scale, &z->action_offset,
                         &z->lowdim_min, &z->lowdim_max, &z->lowdim_scale, &z->lowdim_offset};
    for (int k = 0; k < 8; k++) {
        int n = k < 4 ? A : L;
        *arrays[k] = malloc(sizeof(float) * (n > 0 ? n : 1));
        if (!*arrays[k]) return error_set("out of memory");
        for (int i = 0; i < n; i++) (*arrays[k])[i] = (k % 4 == 0) ? -1.0f : (k % 4 == 1 || k % 4 == 2) ? 1.0f : 0.0f;
    }
    return 0;
}

void dp_normalizer_free(dp_normalizer *z)
{
    free(z->action_min), free(z->action_max), free(z->action_scale), free(z->action_offset);
    free(z->lowdim_min), free(z->lowdim_max), free(z->lowdim_scale), free(z->lowdim_offset);
    memset(z, 0, sizeof *z);
}
