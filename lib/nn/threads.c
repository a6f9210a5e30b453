/* threads.c — nn_set_threads (our pool; OpenBLAS kept at one thread) and a parallel-for on a
 * small pthread pool whose workers spin briefly (SPIN_NS) after a loop, then sleep on a
 * condition variable. A model runs hundreds of short loops per step (one per op), so waking a
 * sleeping worker for each — tens of microseconds of futex and scheduler time — was a visible
 * part of a batch-1 inference; spinning only for a short while keeps a worker that another
 * process needs (parallel evaluation jobs) from burning its core.
 *
 * A loop is cut into a fixed set of chunks (a function of n and the thread count only) and the
 * threads take chunks from a shared counter. Which thread runs a chunk varies from run to run,
 * but every caller computes each output element inside one chunk with no per-thread state, so
 * results are bit-identical for a given thread count; taking chunks dynamically keeps both
 * cores busy when another process steals one of them for a while. */
#include "nn/threads.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define MAX_THREADS 64
#define CHUNKS_PER_THREAD 4
/* how long a worker (and the caller waiting for the workers) spins before sleeping */
#define SPIN_NS 100000L

static struct {
    pthread_t tid[MAX_THREADS];
    int n_workers;                   /* pool threads besides the caller */
    int n_threads;                   /* in effect (>= 1) */
    pthread_mutex_t mu;
    pthread_mutex_t run;             /* held by the thread driving a loop; others run inline */
    pthread_cond_t start, done;
    atomic_long generation;          /* bumped (under mu) to start a loop */
    atomic_int pending;              /* workers still inside the current loop */
    void (*fn)(void *, long, long);
    void *arg;
    long n;
    int parts;
    atomic_long next;                /* next chunk to take */
    int quit;
} pool = { .n_threads = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .run = PTHREAD_MUTEX_INITIALIZER,
           .start = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };

static void take_chunks(void (*fn)(void *, long, long), void *arg, long n, int parts)
{
    for (;;) {
        long k = atomic_fetch_add(&pool.next, 1);
        if (k >= parts) return;
        long b = n * k / parts, e = n * (k + 1) / parts;
        if (e > b) fn(arg, b, e);
    }
}

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Spin until *v != value for up to SPIN_NS: 1 if it changed, 0 if the time ran out. */
static int spin_until_change(atomic_long *v, long value)
{
    long t0 = 0;
    for (int i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != value) return 1;
        cpu_relax();
        if ((i & 63) == 0) {
            long t = now_ns();
            if (!t0) t0 = t;
            else if (t - t0 > SPIN_NS) return 0;
        }
    }
}

static int spin_until_zero(atomic_int *v)
{
    long t0 = 0;
    for (int i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) == 0) return 1;
        cpu_relax();
        if ((i & 63) == 0) {
            long t = now_ns();
            if (!t0) t0 = t;
            else if (t - t0 > SPIN_NS) return 0;
        }
    }
}

/* arg: the generation when the worker was created (no loop runs during nn_set_threads); a
 * worker that started from 0 after earlier loops would rerun the last, finished loop and
 * decrement `pending` of a later one. */
static void *worker(void *arg)
{
    long seen = (long)(intptr_t)arg;
    for (;;) {
        if (!spin_until_change(&pool.generation, seen)) {
            pthread_mutex_lock(&pool.mu);
            while (atomic_load(&pool.generation) == seen && !pool.quit) pthread_cond_wait(&pool.start, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
        }
        pthread_mutex_lock(&pool.mu);   /* the loop's fields were written under mu */
        if (pool.quit) { pthread_mutex_unlock(&pool.mu); break; }
        seen = atomic_load(&pool.generation);
        void (*fn)(void *, long, long) = pool.fn;
        void *arg = pool.arg;
        long n = pool.n;
        int parts = pool.parts;
        pthread_mutex_unlock(&pool.mu);
        take_chunks(fn, arg, n, parts);
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    return NULL;
}

static void pool_stop(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.quit = 1;
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.n_workers; i++) pthread_join(pool.tid[i], NULL);
    pool.n_workers = 0;
    pool.quit = 0;
}

int nn_set_threads(int n)
{
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    if (n > MAX_THREADS) n = MAX_THREADS;
    /* OpenBLAS stays single-threaded: nn_gemm splits products over our pool instead, so that
     * OpenBLAS's spinning workers never compete with ours for the cores */
    openblas_set_num_threads(1);
    if (n == pool.n_threads) return n;
    pool_stop();
    pool.n_threads = 1;
    for (int i = 0; i < n - 1; i++) {
        if (pthread_create(&pool.tid[i], NULL, worker, (void *)(intptr_t)atomic_load(&pool.generation)) != 0) break;
        pool.n_workers++;
    }
    pool.n_threads = pool.n_workers + 1;
    return pool.n_threads;
}

int nn_get_threads(void) { return pool.n_threads; }

void nn_parallel_for(long n, long min_per_thread, void (*fn)(void *arg, long begin, long end), void *arg)
{
    if (n <= 0) return;
    if (min_per_thread < 1) min_per_thread = 1;
    if (pool.n_workers == 0 || n < 2 * min_per_thread || pthread_mutex_trylock(&pool.run) != 0) {
        /* small, single-threaded, or the pool is busy (a nested call from inside a loop, or
         * another application thread driving its own ops): run inline */
        fn(arg, 0, n);
        return;
    }
    long parts = (long)pool.n_threads * CHUNKS_PER_THREAD;
    if (parts > n / min_per_thread) parts = n / min_per_thread;
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.arg = arg;
    pool.n = n;
    pool.parts = (int)parts;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.pending, pool.n_workers);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.mu);
    take_chunks(fn, arg, n, (int)parts);
    if (!spin_until_zero(&pool.pending)) {
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.pending) > 0) pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.run);
}
