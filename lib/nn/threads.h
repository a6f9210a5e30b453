/* threads.h — the one thread-count knob (--threads N) and our own parallel loops.
 *
 * nn_set_threads(n) sizes a small pthread pool (n-1 workers + the caller) and sets OpenBLAS to ONE
 * thread: nn_gemm (kernels.h) splits a large product into slices of C, one single-threaded
 * product (the engine's kernel, or sgemm under ILT_KERNEL=openblas) per pool thread. So one set
 * of threads does everything (im2col, products, elementwise, norms) and there are no OpenBLAS
 * workers spinning (sched_yield) against ours between calls — measured: with OpenBLAS's own 2
 * threads, a quarter of the conv benchmark's CPU time went to their sched_yield loop. Code
 * outside lib/nn should call nn_gemm, not cblas_sgemm. Pool workers sleep on a condition
 * variable between loops. A parallel loop cuts [0, n) into a fixed set of contiguous chunks (up
 * to 4 per thread, a function of n and the thread count only) that the threads take from a
 * shared counter: results are bit-identical for a given thread count (each output element is
 * computed inside one chunk, in one order), and a core stolen by another process for a while
 * does not stall the loop. */
#ifndef ILT_NN_THREADS_H
#define ILT_NN_THREADS_H

/* n <= 0: number of online CPUs. Returns the count in effect. */
int nn_set_threads(int n);
int nn_get_threads(void);
/* Call fn(arg, begin, end) on disjoint chunks covering [0, n), each at least min_per_thread
 * long; fn must not depend on which thread runs it. Runs inline when n is small
 * (below 2*min_per_thread), one thread is set, or the pool is already running a loop
 * (a nested call from fn, or a second application thread using nn at the same time). */
void nn_parallel_for(long n, long min_per_thread, void (*fn)(void *arg, long begin, long end), void *arg);

#endif
