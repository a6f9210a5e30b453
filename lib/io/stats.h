/* stats.h — normalization statistics of a sample stream (the work behind normstats) and the
 * loader that training tools use to read them back.
 *
 * For every numeric field of the samples: mean, std (population, ddof 0), min, max per element,
 * and count (the number of samples). Images (uint8 fields named observation.images.*, last
 * axis 3) are reduced per channel to shape [3,1,1] with values scaled to [0,1], as LeRobot does.
 * Accumulation is in double precision (Welford per element; per-sample moments merged with
 * Chan's formula for images), so large offsets do not lose precision.
 *
 * The stats stream is one sample with key "stats" and float32 fields "<feature>.mean",
 * "<feature>.std", "<feature>.min", "<feature>.max" and int64 "<feature>.count" ([1]).
 *
 *   stats_set st;
 *   if (stats_load("stats.tar", &st) < 0) tool_die(1, "%s", error_get());
 *   const stats_feature *a = stats_find(&st, "action");   // a->mean[i], a->std[i], a->n
 *   stats_free(&st);
 */
#ifndef ILT_IO_STATS_H
#define ILT_IO_STATS_H

#include "io/stream.h"

#include <stdio.h>

/* ---------------------------------------------------------------- loaded statistics */

typedef struct {
    char *feature;                  /* "observation.state" */
    int ndim;                       /* shape of mean/std/min/max: [D], [3,1,1], ... */
    int64_t shape[NPY_MAX_DIMS];
    int64_t n;                      /* elements in each of mean/std/min/max */
    float *mean, *std, *min, *max;
    int64_t count;                  /* samples seen */
} stats_feature;

typedef struct {
    stats_feature *features;
    size_t n_features;
} stats_set;

/* Read a stats stream (path or "-"). NaN, Inf, a value beyond float32, a negative std or count
 * is an error naming the field and element. */
int stats_load(const char *path, stats_set *out);
/* Build from the "stats" sample itself. */
int stats_from_sample(const stream_sample *s, stats_set *out);
/* NULL if absent. */
const stats_feature *stats_find(const stats_set *st, const char *feature);
void stats_free(stats_set *st);

/* ---------------------------------------------------------------- accumulation */

typedef struct stats_accumulator stats_accumulator;

stats_accumulator *stats_accumulator_new(void);
/* Add one sample. Every sample must have the same numeric fields with the same shapes.
 * NaN or Inf is an error naming the feature, the episode and the frame (from the sample's
 * episode_index/frame_index, or its key). */
int stats_accumulator_add(stats_accumulator *acc, const stream_sample *s);
/* Number of samples added. */
int64_t stats_accumulator_count(const stats_accumulator *acc);
/* The result as the "stats" sample (reset first). */
int stats_accumulator_sample(const stats_accumulator *acc, stream_sample *out);
/* The result as LeRobot-like stats.json: {"feature": {"mean": [...], "std": ..., "min": ...,
 * "max": ..., "count": [N]}, ...}. */
int stats_accumulator_json(const stats_accumulator *acc, FILE *fp);
void stats_accumulator_free(stats_accumulator *acc);

#endif
