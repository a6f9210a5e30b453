/* scratch.h — the engine's per-thread scratch buffers (the packed operands of a product, a
 * transposed result): each thread grows its own as needed and keeps it between calls, and the
 * buffers a thread holds are freed when that thread exits (a pool worker stopped by
 * nn_set_threads, an application thread that has used the engine), so a program that changes the
 * thread count or starts threads for a while holds no memory for threads that are gone.
 *
 *   static __thread nn_scratch pack;
 *   float *p = nn_scratch_grow(&pack, floats);   // NULL when out of memory
 */
#ifndef ILT_NN_SCRATCH_H
#define ILT_NN_SCRATCH_H

#include <stddef.h>

typedef struct {
    float *p;        /* 64-byte aligned; its contents are kept only while it does not grow */
    size_t cap;      /* floats; 0 until first grown, and again once freed */
} nn_scratch;

/* s's buffer (s a __thread variable of the calling thread) with room for at least `floats`
 * floats; NULL when memory runs out (s keeps what it had). */
float *nn_scratch_grow(nn_scratch *s, size_t floats);

/* Bytes held by every thread's scratch buffers together (tests and diagnostics). */
size_t nn_scratch_held(void);

#endif
