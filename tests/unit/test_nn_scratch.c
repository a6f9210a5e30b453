/* test_nn_scratch.c — the engine's per-thread scratch buffers (scratch.h) are freed when their
 * thread exits: a thread's own buffer; a pool worker's, when nn_set_threads stops it; twenty
 * thread-count changes, each with both threads growing a buffer, hold no more than two threads'
 * buffers; the packed operands of a product split over the pool, once the pool is stopped and
 * the application thread gone; and a buffer keeps its address and contents while it does not
 * grow. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/kernels.h"
#include "nn/scratch.h"
#include "nn/threads.h"
#include "tap.h"

#define N 384           /* a product nn_gemm splits over two threads */
#define TASK_FLOATS 4096 /* what each thread of the parallel task grows */

static float *A, *B, *C;
static atomic_int arrived, round_no;

static void product(void) { nn_gemm(0, 1, N, N, N, 1.0f, A, N, B, N, 0.0f, C, N); }

/* every chunk grows its thread's buffer; the first chunk a thread takes waits (up to 10 s) until
 * the other thread has taken one, so both threads grow theirs whatever the scheduling */
static void grow_task(void *arg, long begin, long end)
{
    static __thread nn_scratch s;
    static __thread int waited_in;   /* the round this thread last waited in */
    (void)arg;
    for (long i = begin; i < end; i++) nn_scratch_grow(&s, TASK_FLOATS);
    if (waited_in == atomic_load(&round_no)) return;
    waited_in = atomic_load(&round_no);
    atomic_fetch_add(&arrived, 1);
    for (int ms = 0; ms < 10000 && atomic_load(&arrived) < 2; ms++) nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

static void both_threads_grow(void)
{
    atomic_store(&arrived, 0);
    atomic_fetch_add(&round_no, 1);
    nn_parallel_for(8, 1, grow_task, NULL);
}

typedef struct { size_t grown, during, after_stop, product; } seen;

static void *own_buffer(void *arg)
{
    static __thread nn_scratch s;
    seen *r = arg;
    size_t before = nn_scratch_held();
    float *p = nn_scratch_grow(&s, 1000);
    r->grown = p && ((uintptr_t)p % 64 == 0) ? nn_scratch_held() - before : 0;
    return NULL;
}

static void *pool_user(void *arg)
{
    seen *r = arg;
    size_t before = nn_scratch_held();
    nn_set_threads(2);
    both_threads_grow();
    r->during = nn_scratch_held() - before;
    nn_set_threads(1);   /* the worker exits */
    r->after_stop = nn_scratch_held() - before;
    nn_set_threads(2);
    product();
    r->product = nn_scratch_held() - before;
    nn_set_threads(1);
    return NULL;
}

int main(void)
{
    A = malloc(sizeof(float) * N * N);
    B = malloc(sizeof(float) * N * N);
    C = malloc(sizeof(float) * N * N);
    for (int i = 0; i < N * N; i++) A[i] = B[i] = (float)(i % 7) - 3.0f;
    const size_t one = TASK_FLOATS * sizeof(float);

    size_t start = nn_scratch_held();
    seen r = { 0, 0, 0, 0 };
    pthread_t t;
    pthread_create(&t, NULL, own_buffer, &r);
    pthread_join(t, NULL);
    tap_ok(r.grown == 1000 * sizeof(float), "a thread's buffer: 64-byte aligned, %zu bytes held while it lives", r.grown);
    tap_ok(nn_scratch_held() == start, "and none once it has exited (%zu -> %zu bytes)", start, nn_scratch_held());

    pthread_create(&t, NULL, pool_user, &r);
    pthread_join(t, NULL);
    tap_ok(r.during == 2 * one, "a parallel loop on two threads: %zu bytes held (%zu each)", r.during, one);
    tap_ok(r.after_stop == one, "nn_set_threads(1) frees the stopped worker's: %zu held", r.after_stop);
    tap_ok(r.product > r.after_stop, "a product split over the pool: %zu bytes of packed operands held", r.product);
    tap_ok(nn_scratch_held() == start, "all freed once the pool is stopped and the thread gone (%zu bytes held)",
           nn_scratch_held());

    size_t most = 0;
    for (int i = 0; i < 20; i++) {
        nn_set_threads(1);
        nn_set_threads(2);
        both_threads_grow();
        if (atomic_load(&arrived) < 2) tap_diag("round %d: one thread only", i);
        if (nn_scratch_held() - start > most) most = nn_scratch_held() - start;
    }
    tap_ok(most == 2 * one, "20 thread-count changes, both threads growing a buffer each time: at most %zu bytes held",
           most);
    nn_set_threads(1);

    static __thread nn_scratch s;
    float *p = nn_scratch_grow(&s, 64);
    for (int i = 0; i < 64; i++) p[i] = (float)i;
    float *q = nn_scratch_grow(&s, 32);
    tap_ok(q == p && q[63] == 63.0f, "a smaller request keeps the buffer and its contents");
    float *g = nn_scratch_grow(&s, 1 << 20);
    tap_ok(g && (uintptr_t)g % 64 == 0 && s.cap == (size_t)1 << 20, "a larger one grows it (64-byte aligned)");
    free(A);
    free(B);
    free(C);
    return tap_done();
}
