/* rng.h — the one seeded random-number generator every tool uses (xoshiro256**, seeded
 * through splitmix64). Same seed, same sequence, on every machine. Bulk fills are the fast
 * path for dropout masks and noise; rng_split derives an independent stream (for a worker
 * thread, an episode, a data loader) without disturbing determinism. */
#ifndef ILT_UTIL_RNG_H
#define ILT_UTIL_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t s[4]; } rng_t;

void rng_seed(rng_t *rng, uint64_t seed);
/* A child generator whose stream is independent of the parent's; advances the parent by one. */
rng_t rng_split(rng_t *rng);

/* The generator of one training sample's random numbers (noise, crops, counter-examples, dropout),
 * keyed by (seed, step, the sample's index in the global batch): the draws of a sample do not
 * depend on how a batch is split into micro-batches or processes. Different keys give
 * independent streams. */
rng_t rng_keyed(uint64_t seed, uint64_t step, uint64_t index);

uint64_t rng_u64(rng_t *rng);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t rng_below(rng_t *rng, uint64_t n);
/* Uniform in [0, 1): 53-bit double, 24-bit float. */
double rng_uniform(rng_t *rng);
float rng_uniformf(rng_t *rng);
/* Standard normal (Box-Muller, no cached spare: the stream stays position-independent). */
double rng_normal(rng_t *rng);

/* out[i] = lo + (hi-lo) * U[0,1) */
void rng_fill_uniform(rng_t *rng, float *out, size_t n, float lo, float hi);
/* out[i] = mean + std * N(0,1) */
void rng_fill_normal(rng_t *rng, float *out, size_t n, float mean, float std);
/* Dropout mask: out[i] = scale with probability keep, else 0 (scale = 1/keep for inverted dropout). */
void rng_fill_dropout(rng_t *rng, float *out, size_t n, float keep, float scale);
/* Fisher-Yates shuffle of n indices. */
void rng_shuffle(rng_t *rng, int64_t *idx, size_t n);

#endif
