/* params.c — the parameter store: one block for every parameter and buffer, gradients in the
 * same layout, registration by PyTorch name, and PyTorch's default initialisers. */
#include "nn/params.h"
#include "nn/gemm_packed.h"
#include "nn/threads.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PARAM_ALIGN 16   /* floats: each parameter starts on a 64-byte boundary */

/* The data and gradient blocks grow by doubling as modules register their parameters. As
 * anonymous mappings they grow by mremap, which moves page tables instead of copying, and the
 * pages a block gains come zeroed from the kernel: the copy and memset of each doubling took
 * 0.5-1 s of building the ACT paper model (most of a tool's start). Under AddressSanitizer
 * they are malloc'd blocks instead, so that its checks cover them. A block's floats past the
 * last parameter are zero either way. */
#if defined(__SANITIZE_ADDRESS__)   /* GCC */
#define PARAM_BLOCKS_MAPPED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)   /* clang */
#define PARAM_BLOCKS_MAPPED 0
#endif
#endif
#ifndef PARAM_BLOCKS_MAPPED
#define PARAM_BLOCKS_MAPPED 1
#endif

static size_t block_bytes(long floats)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), b = (size_t)floats * sizeof(float);
    return (b + page - 1) / page * page;
}

static void block_free(float *p, long cap)
{
    if (!p) return;
    if (PARAM_BLOCKS_MAPPED) munmap(p, block_bytes(cap));
    else free(p);
}

/* The block `old` of old_cap floats, used_n of them in use, as one of new_cap floats (larger
 * or smaller): its first min(used_n, new_cap) floats kept, the rest zero; NULL when out of
 * memory (old is then untouched). */
static float *block_resize(float *old, long old_cap, long used_n, long new_cap)
{
    if (PARAM_BLOCKS_MAPPED) {
        void *p = old ? mremap(old, block_bytes(old_cap), block_bytes(new_cap), MREMAP_MAYMOVE)
                      : mmap(NULL, block_bytes(new_cap), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)new_cap * sizeof(float)) != 0) return NULL;
    long keep = used_n < new_cap ? used_n : new_cap;
    if (keep) memcpy(p, old, (size_t)keep * sizeof(float));
    memset((float *)p + keep, 0, (size_t)(new_cap - keep) * sizeof(float));
    free(old);
    return p;
}

nn_params *nn_params_new(void)
{
    nn_params *ps = calloc(1, sizeof *ps);
    if (!ps) error_set("nn params: out of memory");
    return ps;
}

void nn_params_free(nn_params *ps)
{
    if (!ps) return;
    nn_params_freeze(ps, 0);
    for (int i = 0; i < ps->count; i++) {
        free((char *)ps->list[i].t->name);
        free(ps->list[i].t);
    }
    free(ps->list);
    block_free(ps->data, ps->capacity);
    block_free(ps->grad, ps->capacity);
    free(ps);
}

void nn_params_freeze(nn_params *ps, int freeze)
{
    for (int i = 0; i < ps->count; i++) {
        nn_tensor *t = ps->list[i].t;
        t->frozen = freeze;
        if (!freeze) {
            nn_packed_free(t->packed);
            t->packed = NULL;
        }
    }
}

static void repoint(nn_params *ps)
{
    for (int i = 0; i < ps->count; i++) {
        nn_param_info *p = &ps->list[i];
        p->t->data = ps->data + p->offset;
        p->t->grad = (p->flags & (NN_FROZEN | NN_BUFFER)) ? NULL : ps->grad + p->offset;
        p->t->requires_grad = p->t->grad != NULL;
    }
}

void nn_params_inference_only(nn_params *ps)
{
    block_free(ps->grad, ps->capacity);
    ps->grad = NULL;
    long size = ps->total > 0 ? ps->total : PARAM_ALIGN;
    float *d = size < ps->capacity ? block_resize(ps->data, ps->capacity, ps->total, size) : NULL;
    if (d) ps->data = d, ps->capacity = size;   /* out of memory: keep the larger block */
    for (int i = 0; i < ps->count; i++) {
        nn_param_info *p = &ps->list[i];
        p->t->data = ps->data + p->offset;
        p->t->grad = NULL;
        p->t->requires_grad = 0;
        p->flags |= NN_FROZEN;
    }
}

nn_tensor *nn_param(nn_params *ps, const char *name, unsigned flags, int ndim, const int *shape)
{
    if (ndim < 0 || ndim > NN_MAX_DIMS) { error_set("nn param %s: %d dims (at most %d)", name, ndim, NN_MAX_DIMS); return NULL; }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) { error_set("nn param %s: dim %d is %d", name, i, shape[i]); return NULL; }
    if (nn_param_find(ps, name)) { error_set("nn param %s: registered twice", name); return NULL; }
    long size = nn_shape_size(ndim, shape);
    long offset = ps->total;
    long end = (offset + size + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    if (end > ps->capacity) {
        long cap = ps->capacity ? ps->capacity : 4096;
        while (cap < end) cap *= 2;
        float *d = block_resize(ps->data, ps->capacity, ps->total, cap);
        if (!d) { error_set("nn param %s: out of memory", name); return NULL; }
        float *g = block_resize(ps->grad, ps->capacity, ps->total, cap);
        if (!g) {   /* the data block back to the grad's size (a shrink: it does not fail), or none */
            if (ps->capacity == 0) {
                block_free(d, cap);
                ps->data = NULL;
            } else {
                float *back = block_resize(d, cap, ps->total, ps->capacity);
                ps->data = back ? back : d;
            }
            repoint(ps);
            error_set("nn param %s: out of memory", name);
            return NULL;
        }
        ps->data = d;
        ps->grad = g;
        ps->capacity = cap;
    }
    if (ps->count == ps->list_cap) {
        int n = ps->list_cap ? 2 * ps->list_cap : 64;
        nn_param_info *l = realloc(ps->list, (size_t)n * sizeof *l);
        if (!l) { error_set("nn param %s: out of memory", name); return NULL; }
        ps->list = l;
        ps->list_cap = n;
    }
    nn_tensor *t = calloc(1, sizeof *t);
    char *nm = strdup(name);
    if (!t || !nm) { free(t); free(nm); error_set("nn param %s: out of memory", name); return NULL; }
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->size = size;
    t->name = nm;
    ps->list[ps->count++] = (nn_param_info){ t, offset, flags, 0 };
    ps->total = end;
    repoint(ps);
    return t;
}

nn_tensor *nn_param_find(const nn_params *ps, const char *name)
{
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->list[i].t->name, name) == 0) return ps->list[i].t;
    return NULL;
}

nn_param_info *nn_param_info_of(const nn_params *ps, const nn_tensor *t)
{
    for (int i = 0; i < ps->count; i++)
        if (ps->list[i].t == t) return &ps->list[i];
    return NULL;
}

int nn_param_set_group(nn_params *ps, const char *prefix, int group)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < ps->count; i++)
        if (strncmp(ps->list[i].t->name, prefix, len) == 0) { ps->list[i].group = group; n++; }
    if (!n) return error_set("nn params: no parameter named %s*", prefix);
    return n;
}

int nn_param_set_flags(nn_params *ps, const char *prefix, unsigned flags, int set)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < ps->count; i++) {
        nn_param_info *p = &ps->list[i];
        if (strncmp(p->t->name, prefix, len) != 0) continue;
        p->flags = set ? (p->flags | flags) : (p->flags & ~flags);
        if (p->flags & (NN_FROZEN | NN_BUFFER)) memset(ps->grad + p->offset, 0, (size_t)p->t->size * sizeof(float));
        n++;
    }
    if (!n) return error_set("nn params: no parameter named %s*", prefix);
    repoint(ps);
    return n;
}

static void zero_range(void *arg, long k0, long k1) { memset((float *)arg + k0, 0, (size_t)(k1 - k0) * sizeof(float)); }

void nn_params_zero_grad(nn_params *ps)
{
    if (ps->total) nn_parallel_for(ps->total, 1L << 16, zero_range, ps->grad);
}

long nn_params_trainable(const nn_params *ps)
{
    long n = 0;
    for (int i = 0; i < ps->count; i++)
        if (!(ps->list[i].flags & (NN_FROZEN | NN_BUFFER))) n += ps->list[i].t->size;
    return n;
}

/* ---------------------------------------------------------------- initialisers */
void nn_init_uniform(nn_tensor *t, rng_t *rng, float lo, float hi) { rng_fill_uniform(rng, t->data, (size_t)t->size, lo, hi); }
void nn_init_normal(nn_tensor *t, rng_t *rng, float mean, float std) { rng_fill_normal(rng, t->data, (size_t)t->size, mean, std); }

void nn_init_const(nn_tensor *t, float value)
{
    for (long i = 0; i < t->size; i++) t->data[i] = value;
}

void nn_init_kaiming_uniform_default(nn_tensor *t, rng_t *rng, long fan_in)
{
    float bound = fan_in > 0 ? 1.0f / sqrtf((float)fan_in) : 0.0f;
    nn_init_uniform(t, rng, -bound, bound);
}

static long receptive(const nn_tensor *t)
{
    long r = 1;
    for (int i = 2; i < t->ndim; i++) r *= t->shape[i];
    return r;
}

void nn_init_kaiming_normal_fan_out(nn_tensor *t, rng_t *rng)
{
    long fan_out = (long)t->shape[0] * receptive(t);
    nn_init_normal(t, rng, 0.0f, sqrtf(2.0f / (float)fan_out));
}

void nn_init_xavier_uniform(nn_tensor *t, rng_t *rng)
{
    long fan_out = (long)t->shape[0] * receptive(t);
    long fan_in = (t->ndim > 1 ? t->shape[1] : 1) * receptive(t);
    float a = sqrtf(6.0f / (float)(fan_in + fan_out));
    nn_init_uniform(t, rng, -a, a);
}
