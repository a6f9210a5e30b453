/* tensor.c — the arena, the context, arena tensors and the backward walk over the tape. */
#include "nn/tensor.h"
#include "nn/tape.h"
#include "util/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */
#define ARENA_ALIGN 64
#define ARENA_MAX_BLOCKS 48

typedef struct { char *base; size_t size, used; } arena_block;

struct nn_arena {
    arena_block blocks[ARENA_MAX_BLOCKS];
    int n_blocks, cur;
    size_t peak;
    long failures;           /* allocations refused (checked by nn_backward) */
};

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

static int arena_add_block(nn_arena *a, size_t size)
{
    if (a->n_blocks == ARENA_MAX_BLOCKS) return error_set("nn arena: too many blocks");
    void *p = NULL;
    if (posix_memalign(&p, ARENA_ALIGN, size) != 0) return error_set("nn arena: out of memory allocating %zu bytes", size);
    a->blocks[a->n_blocks++] = (arena_block){ p, size, 0 };
    return 0;
}

nn_arena *nn_arena_new(size_t initial_bytes)
{
    nn_arena *a = calloc(1, sizeof *a);
    if (!a) { error_set("nn arena: out of memory"); return NULL; }
    if (arena_add_block(a, align_up(initial_bytes ? initial_bytes : (1u << 20))) < 0) { free(a); return NULL; }
    return a;
}

void nn_arena_free(nn_arena *a)
{
    if (!a) return;
    for (int i = 0; i < a->n_blocks; i++) free(a->blocks[i].base);
    free(a);
}

size_t nn_arena_mark(const nn_arena *a)
{
    size_t pos = 0;
    for (int i = 0; i < a->cur; i++) pos += a->blocks[i].size;
    return pos + a->blocks[a->cur].used;
}

size_t nn_arena_used(const nn_arena *a) { return nn_arena_mark(a); }
size_t nn_arena_peak(const nn_arena *a) { return a->peak; }

void nn_arena_release(nn_arena *a, size_t mark)
{
    int i = 0;
    while (i < a->n_blocks - 1 && mark > a->blocks[i].size) { mark -= a->blocks[i].size; i++; }
    a->cur = i;
    a->blocks[i].used = mark;
    for (int j = i + 1; j < a->n_blocks; j++) a->blocks[j].used = 0;
}

void *nn_arena_alloc(nn_arena *a, size_t bytes)
{
    bytes = align_up(bytes ? bytes : 1);
    for (;;) {
        arena_block *b = &a->blocks[a->cur];
        if (b->size - b->used >= bytes) {
            void *p = b->base + b->used;
            b->used += bytes;
            size_t now = nn_arena_mark(a);
            if (now > a->peak) a->peak = now;
            return p;
        }
        if (a->cur + 1 < a->n_blocks) {
            /* a later block exists (kept after a release): use it if big enough, else drop it */
            if (a->blocks[a->cur + 1].size >= bytes) { a->cur++; a->blocks[a->cur].used = 0; continue; }
            for (int j = a->cur + 1; j < a->n_blocks; j++) free(a->blocks[j].base);
            a->n_blocks = a->cur + 1;
        }
        size_t grow = b->size * 2 > bytes ? b->size * 2 : bytes;
        if (arena_add_block(a, grow) < 0) { a->failures++; return NULL; }
        a->cur = a->n_blocks - 1;
    }
}

void nn_arena_reset(nn_arena *a)
{
    if (a->n_blocks > 1) {
        /* This step needed more than one block: replace them with one block as large as the
         * step's peak (which counts the unused tails of full blocks, so it is an upper bound),
         * so that the next step of the same shape never mallocs or faults in fresh pages. */
        size_t total = 0;
        for (int i = 0; i < a->n_blocks; i++) { total += a->blocks[i].size; free(a->blocks[i].base); }
        if (a->peak > total) total = a->peak;
        a->n_blocks = 0;
        if (arena_add_block(a, align_up(total + total / 16)) < 0) {
            /* keep a usable (small) arena; the next alloc reports the failure if it recurs */
            a->n_blocks = 0;
            arena_add_block(a, 1u << 20);
        }
    }
    a->cur = 0;
    a->blocks[0].used = 0;
}

/* ---------------------------------------------------------------- context */
nn_ctx *nn_ctx_new(size_t arena_bytes)
{
    nn_ctx *c = calloc(1, sizeof *c);
    if (!c) { error_set("nn: out of memory"); return NULL; }
    c->arena = nn_arena_new(arena_bytes);
    if (!c->arena) { free(c); return NULL; }
    c->train = 1;
    c->record = 1;
    return c;
}

void nn_ctx_set_sample_key(nn_ctx *c, uint64_t seed, uint64_t step, int64_t first_index, int batch)
{
    c->key = (nn_sample_key){batch, seed, step, first_index, 0};
}

rng_t nn_sample_rng(const nn_ctx *c, int i, uint64_t stream)
{
    /* stream + 1 through an odd multiplier: no stream gives the plain rng_keyed(seed, ...) that
     * a model may draw its other per-sample numbers from */
    return rng_keyed(c->key.seed ^ ((stream + 1) * 0x9E3779B97F4A7C15ULL), c->key.step,
                     (uint64_t)(c->key.first_index + i));
}

void nn_ctx_free(nn_ctx *c)
{
    if (!c) return;
    nn_arena_free(c->arena);
    free(c);
}

void nn_ctx_reset(nn_ctx *c)
{
    nn_arena_reset(c->arena);
    c->tape = NULL;
    c->n_nodes = 0;
}

/* ---------------------------------------------------------------- tensors */
long nn_shape_size(int ndim, const int *shape)
{
    long n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

int nn_same_shape(const nn_tensor *a, const nn_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *nn_shape_str(const nn_tensor *t, char *buf, size_t len)
{
    size_t k = 0;
    k += snprintf(buf + k, len - k, "[");
    for (int i = 0; i < t->ndim && k < len; i++) k += snprintf(buf + k, len - k, i ? ",%d" : "%d", t->shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

float *nn_alloc_floats(nn_ctx *c, long n)
{
    return nn_arena_alloc(c->arena, (size_t)n * sizeof(float));
}

static nn_tensor *tensor_header(nn_ctx *c, int ndim, const int *shape)
{
    if (ndim < 0 || ndim > NN_MAX_DIMS) { error_set("nn: tensor with %d dims (at most %d)", ndim, NN_MAX_DIMS); return NULL; }
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) { error_set("nn: tensor dim %d is %d (must be positive)", i, shape[i]); return NULL; }
    nn_tensor *t = nn_arena_alloc(c->arena, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->size = nn_shape_size(ndim, shape);
    return t;
}

nn_tensor *nn_wrap(nn_ctx *c, float *data, int ndim, const int *shape)
{
    nn_tensor *t = tensor_header(c, ndim, shape);
    if (t) t->data = data;
    return t;
}

nn_tensor *nn_new(nn_ctx *c, int ndim, const int *shape)
{
    nn_tensor *t = tensor_header(c, ndim, shape);
    if (!t) return NULL;
    t->data = nn_alloc_floats(c, t->size);
    return t->data ? t : NULL;
}

nn_tensor *nn_zeros(nn_ctx *c, int ndim, const int *shape)
{
    nn_tensor *t = nn_new(c, ndim, shape);
    if (t) memset(t->data, 0, (size_t)t->size * sizeof(float));
    return t;
}

nn_tensor *nn_full(nn_ctx *c, float value, int ndim, const int *shape)
{
    nn_tensor *t = nn_new(c, ndim, shape);
    if (t)
        for (long i = 0; i < t->size; i++) t->data[i] = value;
    return t;
}

nn_tensor *nn_from(nn_ctx *c, const float *data, int ndim, const int *shape)
{
    nn_tensor *t = nn_new(c, ndim, shape);
    if (t) memcpy(t->data, data, (size_t)t->size * sizeof(float));
    return t;
}

float *nn_grad(nn_ctx *c, nn_tensor *t)
{
    if (!t->grad) {
        t->grad = nn_alloc_floats(c, t->size);
        if (t->grad) memset(t->grad, 0, (size_t)t->size * sizeof(float));
    }
    return t->grad;
}

float *nn_in_grad_fresh(nn_ctx *c, nn_node *n, int k, int *fresh)
{
    nn_tensor *t = n->in[k];
    *fresh = 0;
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad) {
        t->grad = nn_alloc_floats(c, t->size);
        *fresh = t->grad != NULL;
    }
    return t->grad;
}

/* ---------------------------------------------------------------- tape */
int nn_needs_grad(const nn_ctx *c, int n, nn_tensor *const *in)
{
    if (!c->record) return 0;
    for (int k = 0; k < n; k++)
        if (in[k] && in[k]->requires_grad) return 1;
    return 0;
}

nn_node *nn_record(nn_ctx *c, const char *op, void (*backward)(nn_ctx *, nn_node *), nn_tensor *out,
                   int n_in, nn_tensor *const *in)
{
    nn_node *n = nn_arena_alloc(c->arena, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->backward = backward;
    n->op = op;
    n->out = out;
    for (int k = 0; k < n_in && k < NN_NODE_MAX_IN; k++) n->in[k] = in[k];
    n->prev = c->tape;
    c->tape = n;
    c->n_nodes++;
    out->requires_grad = 1;
    return n;
}

float *nn_in_grad(nn_ctx *c, nn_node *n, int k)
{
    nn_tensor *t = n->in[k];
    if (!t || !t->requires_grad) return NULL;
    return nn_grad(c, t);
}

int nn_grad_adopt(nn_node *n, int k)
{
    nn_tensor *t = n->in[k];
    if (!t || !t->requires_grad || t->grad || t->size != n->out->size) return 0;
    t->grad = n->out->grad;
    return 1;
}

int nn_backward_from(nn_ctx *c, nn_tensor *out, const float *out_grad)
{
    if (!out) return error_set("nn backward: no output (an earlier op failed)");
    if (!out->requires_grad) return error_set("nn backward: the output does not depend on any trainable parameter (or recording was off)");
    float *g = nn_grad(c, out);
    if (!g) return -1;
    for (long i = 0; i < out->size; i++) g[i] += out_grad ? out_grad[i] : 1.0f;
    long failures = c->arena->failures;
    for (nn_node *n = c->tape; n; n = n->prev) {
        if (!n->out->grad) continue;            /* does not lead to the output */
        n->backward(c, n);
        if (c->arena->failures != failures)
            return error_prefix("nn backward of %s: ", n->op);   /* the arena's message follows */
    }
    return 0;
}

int nn_backward(nn_ctx *c, nn_tensor *loss)
{
    if (loss && loss->size != 1) {
        char b[64];
        return error_set("nn backward: loss has shape %s, expected one element", nn_shape_str(loss, b, sizeof b));
    }
    return nn_backward_from(c, loss, NULL);
}
