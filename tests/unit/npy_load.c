/* npy_load.c — test helper: a tiny .npy reader for the PyTorch reference files and the
 * counter-based hash that fills the ResNet references' parameters (see npy_load.h). */
#include "npy_load.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_shape(const char *header, ref_array *a)
{
    const char *p = strstr(header, "'shape':");
    if (!p) return -1;
    p = strchr(p, '(');
    if (!p) return -1;
    p++;
    a->ndim = 0;
    a->size = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        long d = strtol(p, &end, 10);
        if (end == p || d < 0 || a->ndim >= REF_MAX_DIMS) return -1;
        a->shape[a->ndim++] = (int)d;
        a->size *= d;
        p = end;
    }
    return 0;
}

int ref_load(const char *path, ref_array *a)
{
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "npy_load: cannot open %s\n", path);
        return -1;
    }
    unsigned char pre[12];
    int ok = fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY", 6);
    long header_len = 0;
    if (ok && pre[6] == 1) {
        header_len = pre[8] | (pre[9] << 8);
    } else if (ok && (pre[6] == 2 || pre[6] == 3) && fread(pre + 10, 1, 2, f) == 2) {
        header_len = pre[8] | (pre[9] << 8) | ((long)pre[10] << 16) | ((long)pre[11] << 24);
    } else {
        ok = 0;
    }
    char *header = ok ? calloc(1, (size_t)header_len + 1) : NULL;
    if (!header || fread(header, 1, (size_t)header_len, f) != (size_t)header_len || parse_shape(header, a) < 0 ||
        strstr(header, "'fortran_order': True")) {
        fprintf(stderr, "npy_load: %s: not a C-order .npy file\n", path);
        free(header);
        fclose(f);
        return -1;
    }
    int is_f8 = strstr(header, "'<f8'") != NULL;
    if (!is_f8 && !strstr(header, "'<f4'")) {
        fprintf(stderr, "npy_load: %s: dtype is not float32/float64: %s\n", path, header);
        free(header);
        fclose(f);
        return -1;
    }
    free(header);
    a->data = malloc((size_t)(a->size ? a->size : 1) * sizeof(float));
    if (is_f8) {
        for (long i = 0; i < a->size; i++) {
            double v;
            if (fread(&v, sizeof v, 1, f) != 1) { ok = 0; break; }
            a->data[i] = (float)v;
        }
    } else {
        ok = fread(a->data, sizeof(float), (size_t)a->size, f) == (size_t)a->size;
    }
    fclose(f);
    if (!ok) {
        fprintf(stderr, "npy_load: %s: truncated\n", path);
        ref_free(a);
        return -1;
    }
    return 0;
}

int ref_load_entry(const char *dir, const char *kind, const char *name, ref_array *a, int quiet)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.npy", dir, kind, name);
    if (quiet) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            memset(a, 0, sizeof *a);
            return -1;
        }
        fclose(f);
    }
    return ref_load(path, a);
}

void ref_free(ref_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- hash-filled parameters */
static uint32_t fnv1a32(const char *s)
{
    uint32_t h = 0x811C9DC5u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x01000193u;
    return h;
}

void ref_hash_uniform(const char *name, float *out, long n)
{
    uint32_t seed = fnv1a32(name);
    for (long i = 0; i < n; i++) {
        uint32_t x = (uint32_t)i * 0x9E3779B9u + seed;
        x ^= x >> 16;
        x *= 0x7FEB352Du;
        x ^= x >> 15;
        x *= 0x846CA68Bu;
        x ^= x >> 16;
        out[i] = (float)(x >> 8) * 0x1p-23f - 1.0f;
    }
}

void ref_hash_fill(const char *name, float *out, int ndim, const int *shape)
{
    long n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    ref_hash_uniform(name, out, n);
    const char *dot = strrchr(name, '.');
    const char *last = dot ? dot + 1 : name;
    for (long i = 0; i < n; i++) {
        float u = out[i];
        volatile float t;  /* no fused multiply-add: match NumPy's separate rounding */
        if (!strcmp(last, "running_var")) {
            t = 0.5f * u;
            out[i] = 1.0f + t;
        } else if (!strcmp(last, "running_mean")) {
            out[i] = 0.1f * u;
        } else if (ndim == 1 && !strcmp(last, "weight")) {
            t = 0.1f * u;
            out[i] = 1.0f + t;
        } else if (ndim == 1) {
            out[i] = 0.1f * u;
        } else {
            out[i] = u * (1.0f / sqrtf((float)(n / shape[0])));
        }
    }
}
