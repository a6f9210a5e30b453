/* tensor.h — float32 tensors (up to 5-D, explicit shapes), the per-step arena they live in,
 * and the context (nn_ctx) that every op takes: arena + tape + mode flags + RNG.
 *
 * Memory owners: activations, their gradients and the tape come from the context's arena and
 * die together at nn_ctx_reset(); parameters live in an nn_params store (params.h).
 *
 * Errors: an op that gets a bad shape calls error_set() and returns NULL; every op given a NULL
 * input returns NULL at once, so a model is written straight through and the caller checks the
 * final loss (or output) once:  if (!loss) tool_die(1, "%s", error_get());
 *
 * Modes (independent):
 *   train  — dropout drops, BatchNorm uses batch statistics and updates running stats.
 *   record — ops are recorded on the tape and save what backward needs. With record off (the
 *            inference mode) the same op calls compute the same forward values and keep nothing.
 */
#ifndef ILT_NN_TENSOR_H
#define ILT_NN_TENSOR_H

#include <stddef.h>
#include "util/rng.h"

#define NN_MAX_DIMS 5

typedef struct nn_tensor {
    float *data;            /* size floats, C order */
    float *grad;            /* same layout; NULL until backward needs it (activations), always
                               set for trainable parameters, NULL for frozen ones and buffers */
    long size;              /* product of shape */
    int ndim;
    int shape[NN_MAX_DIMS];
    int requires_grad;      /* trainable parameter, or computed from one while recording; set
                               on an arena input (nn_from, nn_wrap) to get its gradient in
                               ->grad after nn_backward (the tests' input gradients) */
    const char *name;       /* parameters only (PyTorch name), else NULL */
    int frozen;             /* parameters after nn_params_freeze: its precision (NN_PACK_F32 or
                               NN_PACK_F16; 0: not frozen); the values no longer change, so
                               linear and convolution ops keep a packed copy (below) */
    struct nn_packed *packed;   /* that copy (gemm_packed.h), made on first use; owned by the
                               parameter store */
} nn_tensor;

/* Shape literal: nn_new(ctx, NN_DIMS(8, 3, 84, 84)) expands to  4, (const int[]){8,3,84,84}. */
#define NN_DIMS(...) (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), (const int[]){__VA_ARGS__}

/* ---------------------------------------------------------------- arena */
/* A bump allocator (64-byte aligned). It grows by chaining blocks the first time a step needs
 * more; nn_arena_reset() then merges them into one block, so later steps do not malloc at all. */
typedef struct nn_arena nn_arena;
nn_arena *nn_arena_new(size_t initial_bytes);
void nn_arena_free(nn_arena *a);
void *nn_arena_alloc(nn_arena *a, size_t bytes);      /* NULL + error_set on out of memory */
void nn_arena_reset(nn_arena *a);
size_t nn_arena_used(const nn_arena *a);               /* bytes in use now */
size_t nn_arena_peak(const nn_arena *a);               /* most bytes in use since creation */
/* Scratch memory for one op: mark, allocate, release back to the mark. */
size_t nn_arena_mark(const nn_arena *a);
void nn_arena_release(nn_arena *a, size_t mark);

/* ---------------------------------------------------------------- context */
typedef struct nn_node nn_node;              /* a tape entry (tape.h, internal to ops) */
/* The key of a training batch's per-sample randomness: sample i of the batch draws from
 * rng_keyed(seed, step, first_index + i) mixed with a stream number, so that its draws do not
 * depend on how the global batch is split into micro-batches or processes (util/rng.h). */
typedef struct nn_sample_key {
    int batch;                               /* samples in the batch; 0: no key (dropout from rng) */
    uint64_t seed, step;
    int64_t first_index;                     /* the batch's first sample in the global batch */
    uint64_t dropouts;                       /* dropout masks drawn so far under this key */
} nn_sample_key;

typedef struct nn_ctx {
    nn_arena *arena;
    nn_node *tape;                           /* last recorded node; walked backwards */
    long n_nodes;
    int train;                               /* 1: training behaviour of dropout/BatchNorm */
    int record;                              /* 1: record the tape (needed for nn_backward) */
    rng_t *rng;                              /* dropout masks without a sample key */
    nn_sample_key key;                       /* per-sample dropout masks (nn_ctx_set_sample_key) */
} nn_ctx;

/* A context in training mode with recording on (train=1, record=1) and no RNG. */
nn_ctx *nn_ctx_new(size_t arena_bytes);
void nn_ctx_free(nn_ctx *c);
/* Forget every activation, gradient and tape node of the step (parameters are untouched). */
void nn_ctx_reset(nn_ctx *c);
static inline void nn_ctx_set_train(nn_ctx *c, int train) { c->train = train; }
static inline void nn_ctx_set_record(nn_ctx *c, int record) { c->record = record; }
static inline void nn_ctx_set_rng(nn_ctx *c, rng_t *rng) { c->rng = rng; }
/* Key the batch's per-sample randomness (batch samples, the first at first_index of the global
 * batch); batch 0 removes the key. With a key, a dropout mask over a tensor whose leading
 * dimension is the batch gives each sample's slice its own generator, the k-th mask of the
 * forward pass stream k; without one masks come from c->rng. Restarts the stream count. */
void nn_ctx_set_sample_key(nn_ctx *c, uint64_t seed, uint64_t step, int64_t first_index, int batch);
/* Sample i's generator for the caller's stream (a constant per purpose: the latent noise of a
 * CVAE, ...); streams below 2^32 are the dropout masks'. c must have a key. */
rng_t nn_sample_rng(const nn_ctx *c, int i, uint64_t stream);

/* ---------------------------------------------------------------- tensors in the arena */
nn_tensor *nn_new(nn_ctx *c, int ndim, const int *shape);            /* uninitialised */
nn_tensor *nn_zeros(nn_ctx *c, int ndim, const int *shape);
nn_tensor *nn_full(nn_ctx *c, float value, int ndim, const int *shape);
/* Copy n = prod(shape) floats from data (an input batch, a noise sample). */
nn_tensor *nn_from(nn_ctx *c, const float *data, int ndim, const int *shape);
/* Wrap caller-owned memory without copying (must outlive the step). */
nn_tensor *nn_wrap(nn_ctx *c, float *data, int ndim, const int *shape);
/* Shape helpers. */
long nn_shape_size(int ndim, const int *shape);
int nn_same_shape(const nn_tensor *a, const nn_tensor *b);
/* "[8,3,84,84]" into buf (for error messages); returns buf. */
const char *nn_shape_str(const nn_tensor *t, char *buf, size_t len);
/* Gradient buffer of t, allocated zeroed from the arena on first use. */
float *nn_grad(nn_ctx *c, nn_tensor *t);

/* ---------------------------------------------------------------- autograd */
/* Seed d(loss)/d(loss) = 1 (loss must have one element) and walk the tape in reverse, adding
 * into every parameter's grad (parameter gradients accumulate across calls until
 * nn_params_zero_grad). Returns 0, or -1 with error_set. */
int nn_backward(nn_ctx *c, nn_tensor *loss);
/* Same with an explicit output gradient (same shape as out), for tests and for chaining. */
int nn_backward_from(nn_ctx *c, nn_tensor *out, const float *out_grad);

#endif
