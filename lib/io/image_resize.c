/* image_resize.c — separable area/bilinear resampling of uint8 images (see image_resize.h). */
#include "io/image_resize.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>

/* One axis: output i takes taps[i] source indices index[start[i] ..] with weights weight[..]. */
typedef struct {
    int *start, *taps, *index;
    float *weight;
} axis_filter;

struct image_resizer {
    int sh, sw, dh, dw, c;
    axis_filter rows, cols;
    float *tmp; /* sh x dw x c, after the horizontal pass */
};

static void axis_free(axis_filter *a)
{
    free(a->start);
    free(a->taps);
    free(a->index);
    free(a->weight);
}

static int axis_build(axis_filter *a, int src, int dst)
{
    double scale = (double)src / dst;
    int max_taps = scale > 1 ? (int)ceil(scale) + 2 : 2;
    a->start = malloc(sizeof(int) * dst);
    a->taps = malloc(sizeof(int) * dst);
    a->index = malloc(sizeof(int) * (size_t)dst * max_taps);
    a->weight = malloc(sizeof(float) * (size_t)dst * max_taps);
    if (!a->start || !a->taps || !a->index || !a->weight) return -1;
    int used = 0;
    for (int i = 0; i < dst; i++) {
        a->start[i] = used;
        int n = 0;
        if (scale > 1) { /* area: source interval [i*scale, (i+1)*scale) */
            double lo = i * scale, hi = (i + 1) * scale;
            for (int s = (int)floor(lo); s < src && s < hi; s++) {
                double overlap = fmin(hi, s + 1.0) - fmax(lo, (double)s);
                if (overlap <= 1e-12) continue;
                a->index[used + n] = s;
                a->weight[used + n] = (float)(overlap / scale);
                n++;
            }
        } else { /* bilinear with half-pixel centres, edges clamped */
            double x = (i + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            int s0 = (int)floor(x);
            if (s0 > src - 1) s0 = src - 1;
            int s1 = s0 + 1 < src ? s0 + 1 : src - 1;
            double f = x - s0;
            a->index[used] = s0;
            a->weight[used] = (float)(1 - f);
            a->index[used + 1] = s1;
            a->weight[used + 1] = (float)f;
            n = 2;
        }
        a->taps[i] = n;
        used += n;
    }
    return 0;
}

image_resizer *image_resizer_new(int sh, int sw, int dh, int dw, int c)
{
    if (sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || c <= 0)
        return error_set("cannot resize %dx%d to %dx%d", sh, sw, dh, dw), NULL;
    image_resizer *r = calloc(1, sizeof *r);
    if (!r) return error_set("out of memory"), NULL;
    *r = (image_resizer){.sh = sh, .sw = sw, .dh = dh, .dw = dw, .c = c};
    r->tmp = malloc(sizeof(float) * (size_t)sh * dw * c);
    if (!r->tmp || axis_build(&r->rows, sh, dh) < 0 || axis_build(&r->cols, sw, dw) < 0) {
        image_resizer_free(r);
        return error_set("out of memory"), NULL;
    }
    return r;
}

void image_resizer_run(image_resizer *r, const uint8_t *src, uint8_t *dst)
{
    const int c = r->c;
    for (int y = 0; y < r->sh; y++) { /* horizontal pass into tmp */
        const uint8_t *row = src + (size_t)y * r->sw * c;
        float *out = r->tmp + (size_t)y * r->dw * c;
        for (int x = 0; x < r->dw; x++) {
            const int *idx = r->cols.index + r->cols.start[x];
            const float *wt = r->cols.weight + r->cols.start[x];
            for (int k = 0; k < c; k++) {
                float acc = 0;
                for (int t = 0; t < r->cols.taps[x]; t++) acc += wt[t] * row[idx[t] * c + k];
                out[x * c + k] = acc;
            }
        }
    }
    const size_t stride = (size_t)r->dw * c;
    for (int y = 0; y < r->dh; y++) { /* vertical pass, rounding */
        const int *idx = r->rows.index + r->rows.start[y];
        const float *wt = r->rows.weight + r->rows.start[y];
        uint8_t *out = dst + (size_t)y * stride;
        for (size_t i = 0; i < stride; i++) {
            float acc = 0;
            for (int t = 0; t < r->rows.taps[y]; t++) acc += wt[t] * r->tmp[idx[t] * stride + i];
            acc = acc < 0 ? 0 : acc > 255 ? 255 : acc;
            out[i] = (uint8_t)lrintf(acc);
        }
    }
}

void image_resizer_free(image_resizer *r)
{
    if (!r) return;
    axis_free(&r->rows);
    axis_free(&r->cols);
    free(r->tmp);
    free(r);
}
