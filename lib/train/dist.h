/* dist.h — the processes of a data-parallel training run (MPI): which one this is, how many there
 * are, sums across them in a fixed order, and ending all of them when one fails. Built without
 * MPI (make MPI=0) every run is one process, and a start under an MPI launcher is an error.
 *
 *   if (dist_init() < 0) return -1;                 // MPI_Init under mpirun/srun, else nothing
 *   ... each process computes its micro-batches' gradients into g ...
 *   dist_sum_floats(g, n);                          // every process: g_0 + g_1 + ... in rank order
 *   if (dist_rank() == 0) write the checkpoint;
 *   dist_finish();
 *
 * The sums are done in rank order, whatever the transport: the n values are cut in pieces of at
 * most DIST_PIECE_BYTES; each piece is cut into one segment per process; MPI_Alltoallv hands
 * segment r of every process to process r, which adds them as (x_0 + x_1) + x_2 + ..., and
 * MPI_Allgatherv hands the sums back to every process. So two processes give the bits of one
 * process adding its two micro-batches' gradients, and the result does not depend on the MPI
 * library's reduction algorithm. */
#ifndef ILT_TRAIN_DIST_H
#define ILT_TRAIN_DIST_H

#include <stdint.h>

/* 16 MB pieces: one MPI exchange of 67 MB took 470-770 ms here, the same bytes in 16 MB pieces
 * 20 ms (page faults of the library's large temporary buffers). */
#define DIST_PIECE_BYTES ((long)16 << 20)

/* Start: MPI_Init when this process was started by an MPI launcher (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK in the environment), else one process. Built without MPI, a start as
 * one of several processes is an error (-1, error_set). */
int dist_init(void);
int dist_rank(void);
int dist_size(void);
/* 1 when built with MPI. */
int dist_available(void);
/* x[0..n) := the sum over processes of their x, in rank order, the same bits on every process.
 * -1 with error_set when out of memory. One process: nothing to do. */
int dist_sum_floats(float *x, long n);
int dist_sum_doubles(double *x, int n);
int dist_sum_i64(int64_t *x, int n);
/* Wall-clock seconds spent in the sums so far (for the benchmark's share of the step). */
double dist_seconds(void);
/* End every process of the job with status, after printing "tool: rank R: message" (several
 * processes only; the caller handles one process's failure as usual). */
void dist_abort(const char *message, int status);
/* MPI_Finalize (nothing without MPI). */
void dist_finish(void);

#endif
