/* dist.c — the processes of a data-parallel run over MPI (see dist.h): start, rank-order sums
 * through MPI_Alltoallv and MPI_Allgatherv in pieces, and the end of the job on a failure.
 * ILT_MPI (set by the Makefile when Open MPI is found) selects the MPI side. */
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/progress.h"

#ifdef ILT_MPI
#include <mpi.h>
#endif

static int rank_, size_ = 1, started_;
static double seconds_;

/* The number of processes an MPI launcher says this job has (0: not started by one). */
static long launcher_size(void)
{
    static const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return getenv("PMIX_RANK") ? 2 : 0;
}

int dist_rank(void) { return rank_; }
int dist_size(void) { return size_; }
double dist_seconds(void) { return seconds_; }

#ifndef ILT_MPI

int dist_available(void) { return 0; }

int dist_init(void)
{
    long n = launcher_size();
    if (n > 1)
        return error_set("started as one of %ld MPI processes, but built without MPI (make MPI=0): "
                         "rebuild with Open MPI (libopenmpi-dev) or run one process", n);
    return 0;
}

int dist_sum_floats(float *x, long n) { return 0; }
int dist_sum_doubles(double *x, int n) { return 0; }
int dist_sum_i64(int64_t *x, int n) { return 0; }
void dist_abort(const char *message, int status) {}
void dist_finish(void) {}

#else

int dist_available(void) { return 1; }

int dist_init(void)
{
    if (started_ || launcher_size() == 0) return 0;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return error_set("MPI_Init failed");
    started_ = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    return 0;
}

void dist_finish(void)
{
    if (!started_) return;
    MPI_Finalize();
    started_ = 0;
}

void dist_abort(const char *message, int status)
{
    if (size_ < 2) return;
    fprintf(stderr, "%s: rank %d of %d: %s; ending every process\n", tool_name(), rank_, size_, message);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
}

/* Segment r of a piece of n values: [start, start + count). */
static void segment(long n, int r, int *start, int *count)
{
    long lo = n * r / size_, hi = n * (r + 1) / size_;
    *start = (int)lo;
    *count = (int)(hi - lo);
}

int dist_sum_floats(float *x, long n)
{
    if (size_ < 2 || n == 0) return 0;
    const long piece = DIST_PIECE_BYTES / (long)sizeof(float);
    const long most = n < piece ? n : piece;
    const long mine = most / size_ + 1;
    /* kept from call to call: fresh buffers of this size would fault their pages in every step */
    static int *counts;
    static float *recv, *sum;
    static long capacity;
    if (capacity < mine) {
        free(counts), free(recv), free(sum);
        counts = malloc(sizeof(int) * 4 * (size_t)size_);
        recv = malloc(sizeof(float) * (size_t)(mine * size_));
        sum = malloc(sizeof(float) * (size_t)mine);
        capacity = counts && recv && sum ? mine : 0;
        if (!capacity) return error_set("out of memory for the gradient exchange (%ld values)", mine * (size_ + 1));
    }
    int *send_counts = counts, *send_starts = counts + size_, *recv_counts = counts + 2 * size_,
        *recv_starts = counts + 3 * size_;
    double t0 = time_now();
    for (long off = 0; off < n; off += piece) {
        long len = n - off < piece ? n - off : piece;
        int my_start, my_count;
        segment(len, rank_, &my_start, &my_count);
        for (int r = 0; r < size_; r++) {
            segment(len, r, &send_starts[r], &send_counts[r]);
            recv_counts[r] = my_count;
            recv_starts[r] = r * my_count;
        }
        MPI_Alltoallv(x + off, send_counts, send_starts, MPI_FLOAT, recv, recv_counts, recv_starts, MPI_FLOAT,
                      MPI_COMM_WORLD);
        memcpy(sum, recv, sizeof(float) * (size_t)my_count);
        for (int r = 1; r < size_; r++) {
            const float *part = recv + (size_t)r * my_count;
            for (int i = 0; i < my_count; i++) sum[i] += part[i];
        }
        /* send_counts/send_starts are every process's segment of the piece */
        MPI_Allgatherv(sum, my_count, MPI_FLOAT, x + off, send_counts, send_starts, MPI_FLOAT, MPI_COMM_WORLD);
    }
    seconds_ += time_now() - t0;
    return 0;
}

int dist_sum_doubles(double *x, int n)
{
    if (size_ < 2 || n == 0) return 0;
    double *all = malloc(sizeof(double) * (size_t)n * size_);
    if (!all) return error_set("out of memory");
    double t0 = time_now();
    MPI_Allgather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
        x[i] = all[i];
        for (int r = 1; r < size_; r++) x[i] += all[(size_t)r * n + i];
    }
    seconds_ += time_now() - t0;
    free(all);
    return 0;
}

int dist_sum_i64(int64_t *x, int n)
{
    if (size_ < 2 || n == 0) return 0;
    int64_t *sum = malloc(sizeof(int64_t) * (size_t)n);
    if (!sum) return error_set("out of memory");
    MPI_Allreduce(x, sum, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);   /* integers: any order */
    memcpy(x, sum, sizeof(int64_t) * (size_t)n);
    free(sum);
    return 0;
}

#endif
