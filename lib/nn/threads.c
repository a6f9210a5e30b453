/* threads.c — nn_set_threads (OpenBLAS + our pool) and a fixed-partition parallel-for on a
 * small pthread pool whose workers sleep on a condition variable between loops. */
#include "nn/threads.h"

#include <cblas.h>
#include <pthread.h>
#include <unistd.h>

#define MAX_THREADS 64

static struct {
    pthread_t tid[MAX_THREADS];
    int n_workers;                   /* pool threads besides the caller */
    int n_threads;                   /* in effect (>= 1) */
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    long generation;
    int pending;
    int busy;                        /* a loop is running: nested calls run inline */
    void (*fn)(void *, long, long);
    void *arg;
    long n;
    int quit;
} pool = { .n_threads = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .start = PTHREAD_COND_INITIALIZER,
           .done = PTHREAD_COND_INITIALIZER };

static void chunk(long n, int parts, int k, long *begin, long *end)
{
    *begin = n * k / parts;
    *end = n * (k + 1) / parts;
}

static void *worker(void *p)
{
    int k = (int)(long)p;            /* chunk index, 1..n_workers */
    long seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.generation == seen && !pool.quit) pthread_cond_wait(&pool.start, &pool.mu);
        if (pool.quit) break;
        seen = pool.generation;
        int parts = pool.n_workers + 1;
        long n = pool.n;
        void (*fn)(void *, long, long) = pool.fn;
        void *arg = pool.arg;
        pthread_mutex_unlock(&pool.mu);
        long b, e;
        chunk(n, parts, k, &b, &e);
        if (e > b) fn(arg, b, e);
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
    openblas_set_num_threads(n);
    if (n == pool.n_threads) return n;
    pool_stop();
    pool.n_threads = 1;
    for (int i = 0; i < n - 1; i++) {
        if (pthread_create(&pool.tid[i], NULL, worker, (void *)(long)(i + 1)) != 0) break;
        pool.n_workers++;
    }
    pool.n_threads = pool.n_workers + 1;
    return pool.n_threads;
}

int nn_get_threads(void) { return pool.n_threads; }

void nn_parallel_for(long n, long min_per_thread, void (*fn)(void *arg, long begin, long end), void *arg)
{
    if (n <= 0) return;
    if (pool.n_workers == 0 || pool.busy || n < 2 * (min_per_thread > 0 ? min_per_thread : 1)) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.busy = 1;
    pool.fn = fn;
    pool.arg = arg;
    pool.n = n;
    pool.pending = pool.n_workers;
    pool.generation++;
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.mu);
    long b, e;
    chunk(n, pool.n_workers + 1, 0, &b, &e);
    if (e > b) fn(arg, b, e);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pool.busy = 0;
    pthread_mutex_unlock(&pool.mu);
}
