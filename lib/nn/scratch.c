/* scratch.c — per-thread scratch buffers freed at thread exit (scratch.h): each thread keeps a
 * list of the buffers it has grown, and a pthread key's destructor, which runs in the exiting
 * thread while its thread-local storage is still there, frees them. */
#include "nn/scratch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MAX_SCRATCH 16 /* kinds of scratch buffer in the engine; more are grown but not freed */

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;
static __thread nn_scratch *mine[MAX_SCRATCH];
static __thread int n_mine;
static atomic_size_t held;

static void release(void *unused)
{
    (void)unused;
    for (int i = 0; i < n_mine; i++) {
        atomic_fetch_sub(&held, mine[i]->cap * sizeof(float));
        free(mine[i]->p);
        mine[i]->p = NULL;
        mine[i]->cap = 0;
    }
    n_mine = 0;
}

static void make_key(void) { exit_key_ok = pthread_key_create(&exit_key, release) == 0; }

float *nn_scratch_grow(nn_scratch *s, size_t floats)
{
    if (floats <= s->cap) return s->p;
    float *nb = NULL;
    if (posix_memalign((void **)&nb, 64, floats * sizeof(float)) != 0) return NULL;
    if (s->cap == 0) {   /* first grown by this thread: listed to be freed at its exit */
        pthread_once(&exit_once, make_key);
        /* a non-NULL value makes the key's destructor run when this thread exits */
        if (exit_key_ok && n_mine < MAX_SCRATCH && pthread_setspecific(exit_key, (void *)1) == 0) mine[n_mine++] = s;
    }
    atomic_fetch_add(&held, (floats - s->cap) * sizeof(float));
    free(s->p);
    s->p = nb;
    s->cap = floats;
    return nb;
}

size_t nn_scratch_held(void) { return atomic_load(&held); }
