/* ops_elementwise.c — activations, dropout, broadcasting add/sub/mul, scale. Unary ops share
 * one forward/backward pair keyed by the activation kind; large tensors are split over the
 * thread pool in fixed chunks (each element is computed by exactly one thread). */
#include "nn/ops.h"
#include "nn/tape.h"
#include "nn/threads.h"
#include "nn/vexp.h"
#include "util/error.h"

#include <math.h>
#include <string.h>

#define IN(...) ((nn_tensor *const[]){ __VA_ARGS__ })
#define PAR_MIN 16384

/* ---------------------------------------------------------------- unary activations */
enum { ACT_RELU, ACT_GELU, ACT_MISH, ACT_SILU, ACT_SIGMOID, ACT_TANH, ACT_EXP };
static const char *const act_names[] = { "relu", "gelu", "mish", "silu", "sigmoid", "tanh", "exp" };

/* Sigmoid, SiLU and Mish on the engine's own e^x (vexp.h), in 8 lanes where the machine has
 * AVX2+FMA and in the same operations one element at a time for the tails, so an element's
 * value does not depend on where a chunk starts. (The scalar code is not contracted into FMAs:
 * -std=c11 implies -ffp-contract=off.) */
static inline float sigmoidf(float x) { return 1.0f / (1.0f + exp_scalar(-x)); }
/* Mish with one e^x: tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2); its derivative
 * 4 e^x (e^x + 1) / (n + 2)^2. Above 20, tanh(softplus(x)) is 1 in float. */
static inline float mish_t(float x, float *dt)
{
    if (x > 20.0f) { *dt = 0.0f; return 1.0f; }
    float e = exp_scalar(x), n = e * (e + 2.0f), d = n + 2.0f;
    *dt = 4.0f * e * (e + 1.0f) / (d * d);
    return n / d;
}

#if defined(__AVX2__) && defined(__FMA__)
#define VEC_ACT 1
static inline __m256 sigmoid_8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp_8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
static inline __m256 mish_t8(__m256 x, __m256 *dt)
{
    __m256 e = exp_8(x);
    __m256 n = _mm256_mul_ps(e, _mm256_add_ps(e, _mm256_set1_ps(2.0f)));
    __m256 d = _mm256_add_ps(n, _mm256_set1_ps(2.0f));
    __m256 g = _mm256_div_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(4.0f), e), _mm256_add_ps(e, _mm256_set1_ps(1.0f))),
                             _mm256_mul_ps(d, d));
    __m256 t = _mm256_div_ps(n, d);
    __m256 big = _mm256_cmp_ps(x, _mm256_set1_ps(20.0f), _CMP_GT_OQ);
    *dt = _mm256_blendv_ps(g, _mm256_setzero_ps(), big);
    return _mm256_blendv_ps(t, _mm256_set1_ps(1.0f), big);
}
#else
#define VEC_ACT 0
#endif

typedef struct { int kind; const float *x, *y, *dy; float *out; int fresh; } unary_job;

static void unary_forward_chunk(void *arg, long i0, long i1)
{
    const unary_job *j = arg;
    const float *x = j->x;
    float *y = j->out;
    switch (j->kind) {
    case ACT_RELU: for (long i = i0; i < i1; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; break;
    case ACT_GELU: for (long i = i0; i < i1; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2)); break;
    case ACT_MISH: {
        long i = i0;
#if VEC_ACT
        for (; i + 8 <= i1; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), dt;
            _mm256_storeu_ps(y + i, _mm256_mul_ps(v, mish_t8(v, &dt)));
        }
#endif
        for (; i < i1; i++) {
            float dt;
            y[i] = x[i] * mish_t(x[i], &dt);
        }
        break;
    }
    case ACT_SILU: {
        long i = i0;
#if VEC_ACT
        for (; i + 8 <= i1; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i);
            _mm256_storeu_ps(y + i, _mm256_mul_ps(v, sigmoid_8(v)));
        }
#endif
        for (; i < i1; i++) y[i] = x[i] * sigmoidf(x[i]);
        break;
    }
    case ACT_SIGMOID: {
        long i = i0;
#if VEC_ACT
        for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(y + i, sigmoid_8(_mm256_loadu_ps(x + i)));
#endif
        for (; i < i1; i++) y[i] = sigmoidf(x[i]);
        break;
    }
    case ACT_TANH: for (long i = i0; i < i1; i++) y[i] = tanhf(x[i]); break;
    case ACT_EXP: for (long i = i0; i < i1; i++) y[i] = expf(x[i]); break;
    }
}

/* dx = (fresh ? 0 : dx) + dy * f'(x) */
#define ACCUMULATE(expr)                                                                  \
    do {                                                                                  \
        if (j->fresh) for (long i = i0; i < i1; i++) dx[i] = (expr);                      \
        else for (long i = i0; i < i1; i++) dx[i] += (expr);                              \
    } while (0)

static void unary_backward_chunk(void *arg, long i0, long i1)
{
    const unary_job *j = arg;
    const float *restrict x = j->x, *restrict y = j->y, *restrict dy = j->dy;
    float *restrict dx = j->out;
    switch (j->kind) {
    case ACT_RELU: ACCUMULATE(x[i] > 0 ? dy[i] : 0.0f); break;
    case ACT_GELU:
        ACCUMULATE(dy[i] * (0.5f * (1.0f + erff(x[i] * (float)M_SQRT1_2)) +
                            x[i] * expf(-0.5f * x[i] * x[i]) * 0.3989422804014327f));
        break;
    case ACT_MISH: {
        long i = i0;
#if VEC_ACT
        for (; i + 8 <= i1; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), dt, t = mish_t8(v, &dt);
            __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_add_ps(t, _mm256_mul_ps(v, dt)));
            _mm256_storeu_ps(dx + i, j->fresh ? g : _mm256_add_ps(_mm256_loadu_ps(dx + i), g));
        }
#endif
        for (; i < i1; i++) {
            float dt, t = mish_t(x[i], &dt), g = dy[i] * (t + x[i] * dt);
            dx[i] = j->fresh ? g : dx[i] + g;
        }
        break;
    }
    case ACT_SILU: {
        long i = i0;
#if VEC_ACT
        const __m256 one = _mm256_set1_ps(1.0f);
        for (; i + 8 <= i1; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), s = sigmoid_8(v);
            __m256 g = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(dy + i), s),
                                     _mm256_add_ps(one, _mm256_mul_ps(v, _mm256_sub_ps(one, s))));
            _mm256_storeu_ps(dx + i, j->fresh ? g : _mm256_add_ps(_mm256_loadu_ps(dx + i), g));
        }
#endif
        for (; i < i1; i++) {
            float s = sigmoidf(x[i]), g = dy[i] * s * (1.0f + x[i] * (1.0f - s));
            dx[i] = j->fresh ? g : dx[i] + g;
        }
        break;
    }
    case ACT_SIGMOID: ACCUMULATE(dy[i] * y[i] * (1.0f - y[i])); break;
    case ACT_TANH: ACCUMULATE(dy[i] * (1.0f - y[i] * y[i])); break;
    case ACT_EXP: ACCUMULATE(dy[i] * y[i]); break;
    }
}

static void unary_backward(nn_ctx *c, nn_node *n)
{
    int fresh;
    float *dx = nn_in_grad_fresh(c, n, 0, &fresh);
    if (!dx) return;
    unary_job j = { (int)n->i[0], n->in[0]->data, n->out->data, n->out->grad, dx, fresh };
    nn_parallel_for(n->out->size, PAR_MIN, unary_backward_chunk, &j);
}

static nn_tensor *unary(nn_ctx *c, nn_tensor *x, int kind)
{
    if (!x) return NULL;
    nn_tensor *y = nn_new(c, x->ndim, x->shape);
    if (!y) return NULL;
    unary_job j = { kind, x->data, NULL, NULL, y->data, 0 };
    nn_parallel_for(x->size, PAR_MIN, unary_forward_chunk, &j);
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, act_names[kind], unary_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->i[0] = kind;
    }
    return y;
}

nn_tensor *nn_relu(nn_ctx *c, nn_tensor *x) { return unary(c, x, ACT_RELU); }
nn_tensor *nn_gelu(nn_ctx *c, nn_tensor *x) { return unary(c, x, ACT_GELU); }
nn_tensor *nn_mish(nn_ctx *c, nn_tensor *x) { return unary(c, x, ACT_MISH); }
nn_tensor *nn_silu(nn_ctx *c, nn_tensor *x) { return unary(c, x, ACT_SILU); }
nn_tensor *nn_sigmoid(nn_ctx *c, nn_tensor *x) { return unary(c, x, ACT_SIGMOID); }
nn_tensor *nn_tanh(nn_ctx *c, nn_tensor *x) { return unary(c, x, ACT_TANH); }
nn_tensor *nn_exp(nn_ctx *c, nn_tensor *x) { return unary(c, x, ACT_EXP); }

/* ---------------------------------------------------------------- dropout and scale */
typedef struct { const float *m, *dy; float *dx; int fresh; } mask_job;

static void mask_backward_chunk(void *arg, long i0, long i1)
{
    const mask_job *j = arg;
    const float *restrict m = j->m, *restrict dy = j->dy;
    float *restrict dx = j->dx;
    ACCUMULATE(dy[i] * m[i]);
}

static void mask_backward(nn_ctx *c, nn_node *n)
{
    int fresh;
    float *dx = nn_in_grad_fresh(c, n, 0, &fresh);
    if (!dx) return;
    mask_job j = { n->saved[0], n->out->grad, dx, fresh };
    nn_parallel_for(n->out->size, PAR_MIN, mask_backward_chunk, &j);
}

/* Without a sample key: the mask in fixed blocks, each from its own generator split off the
 * context's in block order, the same mask whatever the thread count, filled in parallel. With
 * one: each sample's slice of the mask from the sample's generator for this mask's stream. */
#define DROP_BLOCK 65536L
typedef struct { rng_t *gens; float *m; const float *x; float *y; long n, block; float keep, scale; } drop_job;

static void drop_blocks(void *arg, long b0, long b1)
{
    const drop_job *j = arg;
    for (long b = b0; b < b1; b++) {
        long lo = b * j->block, hi = lo + j->block < j->n ? lo + j->block : j->n;
        rng_fill_dropout(&j->gens[b], j->m + lo, (size_t)(hi - lo), j->keep, j->scale);
        if (j->y) {
            const float *restrict x = j->x, *restrict m = j->m;
            float *restrict y = j->y;
            for (long i = lo; i < hi; i++) y[i] = x[i] * m[i];
        }
    }
}

int nn_dropout_fill(nn_ctx *c, float *m, long n, float p, const float *x, float *y)
{
    const int B = c->key.batch;
    if (B > 0 && n % B != 0)
        return error_set("nn dropout: %ld values are not a whole number per sample of a batch of %d", n, B);
    long block = B > 0 ? n / B : DROP_BLOCK, nb = B > 0 ? B : (n + DROP_BLOCK - 1) / DROP_BLOCK;
    size_t mark = nn_arena_mark(c->arena);
    rng_t *gens = nn_arena_alloc(c->arena, sizeof(rng_t) * (size_t)(nb ? nb : 1));
    if (!gens) return -1;
    uint64_t stream = B > 0 ? c->key.dropouts++ : 0;
    for (long b = 0; b < nb; b++) gens[b] = B > 0 ? nn_sample_rng(c, (int)b, stream) : rng_split(c->rng);
    drop_job j = { gens, m, x, y, n, block ? block : 1, 1.0f - p, 1.0f / (1.0f - p) };
    nn_parallel_for(nb, 1, drop_blocks, &j);
    nn_arena_release(c->arena, mark);
    return 0;
}

nn_tensor *nn_dropout(nn_ctx *c, nn_tensor *x, float p)
{
    if (!x) return NULL;
    if (!c->train || p <= 0.0f) return x;
    if (p >= 1.0f) { error_set("nn dropout: probability %g (must be below 1)", p); return NULL; }
    if (!c->rng && !c->key.batch) { error_set("nn dropout: no random generator or sample key set on the context"); return NULL; }
    nn_tensor *y = nn_new(c, x->ndim, x->shape);
    int rec = nn_needs_grad(c, 1, IN(x));
    size_t mark = nn_arena_mark(c->arena);
    float *m = y ? nn_alloc_floats(c, x->size) : NULL;
    if (!m || nn_dropout_fill(c, m, x->size, p, x->data, y->data) < 0) return NULL;
    if (rec) {
        nn_node *n = nn_record(c, "dropout", mask_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->saved[0] = m;
    } else {
        nn_arena_release(c->arena, mark);
    }
    return y;
}

static void scale_backward(nn_ctx *c, nn_node *n)
{
    float *dx = nn_in_grad(c, n, 0);
    const float *dy = n->out->grad;
    float a = n->f[0];
    if (dx)
        for (long i = 0; i < n->out->size; i++) dx[i] += a * dy[i];
}

nn_tensor *nn_scale(nn_ctx *c, nn_tensor *x, float alpha, float beta)
{
    if (!x) return NULL;
    nn_tensor *y = nn_new(c, x->ndim, x->shape);
    if (!y) return NULL;
    for (long i = 0; i < x->size; i++) y->data[i] = alpha * x->data[i] + beta;
    if (nn_needs_grad(c, 1, IN(x))) {
        nn_node *n = nn_record(c, "scale", scale_backward, y, 1, IN(x));
        if (!n) return NULL;
        n->f[0] = alpha;
    }
    return y;
}

/* ---------------------------------------------------------------- broadcasting binary ops */
enum { BIN_ADD, BIN_SUB, BIN_MUL };

/* Shapes right-aligned into 5 dims; element strides 0 along broadcast dims. */
typedef struct { int shape[NN_MAX_DIMS]; long sa[NN_MAX_DIMS], sb[NN_MAX_DIMS]; } bcast;

static int bcast_plan(const nn_tensor *a, const nn_tensor *b, bcast *p, int *ndim)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int as[NN_MAX_DIMS], bs[NN_MAX_DIMS];
    for (int d = 0; d < NN_MAX_DIMS; d++) {
        int k = d - (NN_MAX_DIMS - a->ndim), l = d - (NN_MAX_DIMS - b->ndim);
        as[d] = k >= 0 ? a->shape[k] : 1;
        bs[d] = l >= 0 ? b->shape[l] : 1;
        if (as[d] != bs[d] && as[d] != 1 && bs[d] != 1) return -1;
        p->shape[d] = as[d] > bs[d] ? as[d] : bs[d];
    }
    long ta = 1, tb = 1;
    for (int d = NN_MAX_DIMS - 1; d >= 0; d--) {
        p->sa[d] = as[d] == 1 ? 0 : ta;
        p->sb[d] = bs[d] == 1 ? 0 : tb;
        ta *= as[d];
        tb *= bs[d];
    }
    *ndim = nd;
    return 0;
}

/* Walk the broadcast index space; fn gets the three flat offsets of each innermost row. */
#define BCAST_LOOP(p, BODY)                                                                        \
    do {                                                                                           \
        long oi = 0;                                                                               \
        for (int i0 = 0; i0 < (p)->shape[0]; i0++)                                                 \
            for (int i1 = 0; i1 < (p)->shape[1]; i1++)                                             \
                for (int i2 = 0; i2 < (p)->shape[2]; i2++)                                         \
                    for (int i3 = 0; i3 < (p)->shape[3]; i3++) {                                   \
                        long ai = i0 * (p)->sa[0] + i1 * (p)->sa[1] + i2 * (p)->sa[2] + i3 * (p)->sa[3]; \
                        long bi = i0 * (p)->sb[0] + i1 * (p)->sb[1] + i2 * (p)->sb[2] + i3 * (p)->sb[3]; \
                        long sa4 = (p)->sa[4], sb4 = (p)->sb[4];                                   \
                        for (int i4 = 0; i4 < (p)->shape[4]; i4++, oi++) {                         \
                            long ia = ai + i4 * sa4, ib = bi + i4 * sb4; (void)ia; (void)ib;         \
                            BODY;                                                                  \
                        }                                                                          \
                    }                                                                              \
    } while (0)

static void binary_backward(nn_ctx *c, nn_node *n)
{
    bcast *p = n->saved[0];
    int kind = (int)n->i[0];
    /* a same-shape add hands its output gradient to the first input without copying (the
     * second input, if it is the same tensor, then accumulates into that buffer: 2*dy) */
    int adopted = kind == BIN_ADD && nn_grad_adopt(n, 0);
    float *da = adopted ? NULL : nn_in_grad(c, n, 0), *db = nn_in_grad(c, n, 1);
    const float *dy = n->out->grad, *a = n->in[0]->data, *b = n->in[1]->data;
    if (da) {
        if (kind == BIN_MUL) BCAST_LOOP(p, da[ia] += dy[oi] * b[ib]);
        else BCAST_LOOP(p, da[ia] += dy[oi]);
    }
    if (db) {
        if (kind == BIN_MUL) BCAST_LOOP(p, db[ib] += dy[oi] * a[ia]);
        else if (kind == BIN_SUB) BCAST_LOOP(p, db[ib] -= dy[oi]);
        else BCAST_LOOP(p, db[ib] += dy[oi]);
    }
}

typedef struct { int kind; const float *a, *b; float *y; } same_job;

static void same_chunk(void *arg, long i0, long i1)
{
    const same_job *j = arg;
    if (j->kind == BIN_ADD) for (long i = i0; i < i1; i++) j->y[i] = j->a[i] + j->b[i];
    else if (j->kind == BIN_SUB) for (long i = i0; i < i1; i++) j->y[i] = j->a[i] - j->b[i];
    else for (long i = i0; i < i1; i++) j->y[i] = j->a[i] * j->b[i];
}

static nn_tensor *binary(nn_ctx *c, nn_tensor *a, nn_tensor *b, int kind)
{
    static const char *const names[] = { "add", "sub", "mul" };
    if (!a || !b) return NULL;
    bcast plan, *p = &plan;
    int nd;
    if (bcast_plan(a, b, &plan, &nd) < 0) {
        char b1[64], b2[64];
        error_set("nn %s: shapes %s and %s do not broadcast", names[kind], nn_shape_str(a, b1, 64), nn_shape_str(b, b2, 64));
        return NULL;
    }
    nn_tensor *y = nn_new(c, nd, plan.shape + NN_MAX_DIMS - nd);
    if (!y) return NULL;
    float *yd = y->data;
    const float *ad = a->data, *bd = b->data;
    if (nn_same_shape(a, b)) {
        same_job j = { kind, ad, bd, yd };
        nn_parallel_for(y->size, PAR_MIN, same_chunk, &j);
    } else if (kind == BIN_ADD) BCAST_LOOP(p, yd[oi] = ad[ia] + bd[ib]);
    else if (kind == BIN_SUB) BCAST_LOOP(p, yd[oi] = ad[ia] - bd[ib]);
    else BCAST_LOOP(p, yd[oi] = ad[ia] * bd[ib]);
    if (nn_needs_grad(c, 2, IN(a, b))) {
        bcast *saved = nn_arena_alloc(c->arena, sizeof *saved);
        if (!saved) return NULL;
        *saved = plan;
        nn_node *n = nn_record(c, names[kind], binary_backward, y, 2, IN(a, b));
        if (!n) return NULL;
        n->saved[0] = saved;
        n->i[0] = kind;
    }
    return y;
}

nn_tensor *nn_add(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, a, b, BIN_ADD); }
nn_tensor *nn_sub(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, a, b, BIN_SUB); }
nn_tensor *nn_mul(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, a, b, BIN_MUL); }
