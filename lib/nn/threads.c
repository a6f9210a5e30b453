/* threads.c — nn_set_threads (our pool; OpenBLAS kept at one thread) and a parallel-for on a
 * small pthread pool whose workers sleep on a condition variable between loops.
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
#include <unistd.h>

#define MAX_THREADS 64
#define CHUNKS_PER_THREAD 4

static struct {
    pthread_t tid[MAX_THREADS];
    int n_workers;                   /* pool threads besides the caller */
    int n_threads;                   /* in effect (>= 1) */
    pthread_mutex_t mu;
    pthread_mutex_t run;             /* held by the thread driving a loop; others run inline */
    pthread_cond_t start, done;
    long generation;
    int pending;                     /* workers still inside the current loop */
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

static void *worker(void *unused)
{
    long seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.generation == seen && !pool.quit) pthread_cond_wait(&pool.start, &pool.mu);
        if (pool.quit) break;
        seen = pool.generation;
        void (*fn)(void *, long, long) = pool.fn;
        void *arg = pool.arg;
        long n = pool.n;
        int parts = pool.parts;
        pthread_mutex_unlock(&pool.mu);
        take_chunks(fn, arg, n, parts);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static void pool_stop(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.quit = 1;
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
        if (pthread_create(&pool.tid[i], NULL, worker, NULL) != 0) break;
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
    pool.pending = pool.n_workers;
    pool.generation++;
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.mu);
    take_chunks(fn, arg, n, (int)parts);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.run);
}
