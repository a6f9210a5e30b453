/* dataset.h — a training set in memory: the samples of a stream (any fields, any per-sample
 * shapes, observation histories included), read whole, each field stored as it came (uint8
 * images stay uint8) in blocks so that growing never copies them, with a memory check that stops
 * before the machine runs out. It knows no model: a trainer says which fields it needs and reads
 * them back per sample; the episode of every sample drives the validation split.
 *
 *   dataset_request want[] = {{"observation.state"}, {"action"}, {"action_is_pad", .optional = 1},
 *                              {"observation.images.*"}};          // ".*": every field so named
 *   dataset_t ds;
 *   if (dataset_read(&ds, reader, want, 4, 0, NULL, NULL) < 0) tool_die(1, "%s", error_get());
 *   int f = dataset_find(&ds, "observation.state");
 *   const float *state = dataset_at(&ds, f, i);                  // sample i's values
 *
 * The first sample fixes every field's dtype and shape; a later sample that lacks a field or
 * has another dtype or shape is an error naming the sample, the field, the expected and the
 * actual shape. episode_index / frame_index (chunkify writes them) are kept for every sample
 * (0 and the sample's position when a stream has none). */
#ifndef ILT_IO_DATASET_H
#define ILT_IO_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "io/stream.h"

#define DATASET_MAX_FIELDS 32
#define DATASET_BLOCK 256       /* samples per storage block */

/* A field the trainer needs. A name ending in ".*" takes every field of the first sample that
 * starts with what comes before the '*', in sorted order. optional: absent from the first
 * sample is not an error (the field is then absent from the data set). */
typedef struct {
    char name[96];
    int optional;
} dataset_request;

typedef struct {
    char name[96];
    npy_dtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];   /* per sample */
    size_t bytes;                  /* per sample */
    uint8_t **blocks;              /* capacity / DATASET_BLOCK blocks of DATASET_BLOCK samples */
} dataset_field;

typedef struct dataset {
    int64_t n, capacity;
    int n_fields;
    dataset_field fields[DATASET_MAX_FIELDS];
    int64_t *episode, *frame;      /* [n] */
} dataset_t;

/* What the data may take by default: the memory available now (MemAvailable) less 512 MiB,
 * or half of it when it is less than 1 GiB. */
size_t dataset_default_memory_limit(void);
/* Read every sample of r (memory_limit bytes at most; 0: dataset_default_memory_limit()). check, when given, is called once the first sample has fixed the
 * layout (a trainer's shape checks, before the rest of the stream is read). */
int dataset_read(dataset_t *ds, stream_reader *r, const dataset_request *want, int n_want,
                       size_t memory_limit, int (*check)(const dataset_t *ds, void *context), void *context);
/* Append one sample (the first one fixes the layout; limit 0: no memory check). */
int dataset_add(dataset_t *ds, const stream_sample *s, const dataset_request *want, int n_want,
                      size_t limit);
void dataset_free(dataset_t *ds);

/* Index of a field, or -1 when the data set does not hold it. */
int dataset_find(const dataset_t *ds, const char *name);
/* Sample i's data of field f (dtype and shape as in ds->fields[f]). */
static inline const void *dataset_at(const dataset_t *ds, int f, int64_t i)
{
    const dataset_field *x = &ds->fields[f];
    return x->blocks[i / DATASET_BLOCK] + x->bytes * (size_t)(i % DATASET_BLOCK);
}
/* "[2,84,84,3]" of field f, for messages. */
const char *dataset_field_shape_text(const dataset_field *f, char *buf, size_t size);
/* Sorted distinct episode indices (malloc'd) and their count. */
int dataset_episodes(const dataset_t *ds, int64_t **episodes, size_t *count);

/* Split the samples into training and validation by episode: the episodes listed in
 * val_episodes ("0-4,9"), or else round(val_fraction * episodes) of them drawn with a
 * generator seeded from seed (at least one, and never all). *train and *val are malloc'd lists
 * of sample indices. No training sample left is an error. */
int dataset_split(const dataset_t *ds, const char *val_episodes, double val_fraction, uint64_t seed,
                        int64_t **train, int64_t *n_train, int64_t **val, int64_t *n_val, size_t *n_val_episodes,
                        size_t *n_episodes);

#endif
