/* rng.c — xoshiro256** with splitmix64 seeding; bulk fills for noise and dropout masks. */
#include "util/rng.h"

#include <math.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(rng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

/* one step of xoshiro256**, inlined into the bulk fills */
static inline uint64_t next(uint64_t *s)
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_u64(rng_t *rng) { return next(rng->s); }

rng_t rng_keyed(uint64_t seed, uint64_t step, uint64_t index)
{
    /* each key word passes through splitmix64 before the next is mixed in, so (1,2,3) and
     * (2,1,3) differ */
    uint64_t x = seed ^ 0x6b65796564726e67ULL;
    uint64_t h = splitmix64(&x);
    x = h ^ step;
    h = splitmix64(&x);
    x = h ^ index;
    rng_t r;
    rng_seed(&r, splitmix64(&x));
    return r;
}

rng_t rng_split(rng_t *rng)
{
    rng_t child;
    rng_seed(&child, rng_u64(rng) ^ 0x6a09e667f3bcc909ULL);
    return child;
}

uint64_t rng_below(rng_t *rng, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_u64(rng); while (x >= limit);
    return x % n;
}

double rng_uniform(rng_t *rng) { return (double)(rng_u64(rng) >> 11) * 0x1.0p-53; }
float rng_uniformf(rng_t *rng) { return (float)(rng_u64(rng) >> 40) * 0x1.0p-24f; }

double rng_normal(rng_t *rng)
{
    double u1 = 1.0 - rng_uniform(rng); /* (0,1] */
    double u2 = rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void rng_fill_uniform(rng_t *rng, float *out, size_t n, float lo, float hi)
{
    float span = hi - lo;
    for (size_t i = 0; i < n; i++) out[i] = lo + span * rng_uniformf(rng);
}

void rng_fill_normal(rng_t *rng, float *out, size_t n, float mean, float std)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t r = rng_u64(rng);
        /* two 32-bit uniforms from one draw; u1 in (0,1] */
        float u1 = ((float)(r >> 40) + 1.0f) * 0x1.0p-24f;
        float u2 = (float)((r >> 8) & 0xffffff) * 0x1.0p-24f;
        float radius = sqrtf(-2.0f * logf(u1));
        float angle = 6.28318530717958647692f * u2;
        out[i] = mean + std * radius * cosf(angle);
        out[i + 1] = mean + std * radius * sinf(angle);
    }
    if (i < n) out[i] = mean + std * (float)rng_normal(rng);
}

/* value k (0-3) of a draw's dropout mask: its k-th 16 bits against the threshold */
static inline float mask_value(uint64_t r, int k, uint32_t threshold, float scale)
{
    return (uint32_t)((r >> (16 * k)) & 0xffff) < threshold ? scale : 0.0f;
}

void rng_fill_dropout(rng_t *rng, float *out, size_t n, float keep, float scale)
{
    /* one 64-bit draw gives four 16-bit uniforms: threshold compare, no float conversion. The
     * four compares and selects of a draw run in one SSE register (the scalar form spent about
     * three times as long per value as the generator itself). */
    uint32_t threshold = (uint32_t)(keep * 65536.0f + 0.5f);
    uint64_t s[4] = { rng->s[0], rng->s[1], rng->s[2], rng->s[3] };
    size_t i = 0;
#ifdef __SSE2__
    const __m128i thr = _mm_set1_epi32((int)threshold), zero = _mm_setzero_si128();
    const __m128 sc = _mm_set1_ps(scale);
    for (; i + 3 < n; i += 4) {
        __m128i u = _mm_unpacklo_epi16(_mm_cvtsi64_si128((long long)next(s)), zero);   /* 16-bit k in lane k */
        _mm_storeu_ps(out + i, _mm_and_ps(_mm_castsi128_ps(_mm_cmplt_epi32(u, thr)), sc));
    }
#endif
    for (; i < n; i += 4) {   /* the tail (every value without SSE2) */
        uint64_t r = next(s);
        for (int k = 0; k < 4 && i + k < n; k++) out[i + k] = mask_value(r, k, threshold, scale);
    }
    for (int k = 0; k < 4; k++) rng->s[k] = s[k];
}

void rng_shuffle(rng_t *rng, int64_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(rng, i);
        int64_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
