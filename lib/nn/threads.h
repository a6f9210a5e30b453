/* threads.h — the one thread-count knob (--threads N) and our own parallel loops.
 *
 * nn_set_threads(n) sets OpenBLAS's thread count and the size of a small pthread pool. Our loops
 * (im2col, elementwise, norms) never run at the same time as an sgemm, so the two sets of
 * threads take turns on the cores instead of fighting; pool workers sleep on a condition
 * variable, they do not spin. A parallel loop splits [0, n) into one fixed contiguous chunk
 * per thread, so results are bit-identical for a given thread count. */
#ifndef ILT_NN_THREADS_H
#define ILT_NN_THREADS_H

/* n <= 0: number of online CPUs. Returns the count in effect. */
int nn_set_threads(int n);
int nn_get_threads(void);
/* Call fn(arg, begin, end) on disjoint chunks covering [0, n); runs inline when n is small
 * (below min_per_thread per thread) or one thread is set. Not reentrant: fn must not call
 * nn_parallel_for itself (it then runs inline). */
void nn_parallel_for(long n, long min_per_thread, void (*fn)(void *arg, long begin, long end), void *arg);

#endif
