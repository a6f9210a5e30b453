/* chunk.h — turn per-frame samples into training samples (the work behind chunkify): action
 * chunks of K future actions with padding past the episode end, observation histories of N
 * frames padded at the episode start, and the grouping/ordering check of the input.
 *
 * For frame i of an episode of T frames (frames[0..T) in order):
 *   action         [K,A]: actions of frames s..s+K-1 with s = i (or i-(N-1) with action_start);
 *                  rows outside 0..T-1 are padding: the nearest frame's action (pad "last") or
 *                  zeros (pad "zero");
 *   action_is_pad  bool [K]: 1 on padded rows;
 *   observation.*  [N,...] frames i-N+1..i, the first frame repeated before the start (only when
 *                  obs_steps > 0; 0 leaves observations as they are);
 *   other fields   copied from frame i. The key is frame i's key. */
#ifndef ILT_IO_CHUNK_H
#define ILT_IO_CHUNK_H

#include "io/stream.h"

typedef struct {
    int chunk;          /* K >= 1 */
    int pad_zero;       /* 0: repeat the nearest action (absolute actions); 1: zeros (delta actions) */
    int obs_steps;      /* N; 0: observations unchanged */
    int action_start;   /* 1: the chunk starts at the first observation step, i-(N-1) */
} chunk_options;

/* Build the training sample for frame i of frames[0..n) into *out (reset first). Every frame
 * must have an action field of the same shape [A] (or scalar), and the same observation layouts. */
int chunk_build(const stream_sample *frames, int64_t n, int64_t i, const chunk_options *o, stream_sample *out);

/* Checks that the input is grouped by episode and ordered by frame. */
typedef struct {
    int started;
    int64_t episode, frame;
    int64_t *seen;          /* episodes already finished */
    size_t n_seen, cap_seen;
} chunk_order;

/* Look at the next sample: *new_episode is 1 when it starts an episode (the previous one is
 * complete). Error (naming episode and frame) when an episode reappears after another one, or a
 * frame is not the previous frame + 1. */
int chunk_order_next(chunk_order *order, const stream_sample *s, int *new_episode);
void chunk_order_free(chunk_order *order);

#endif
