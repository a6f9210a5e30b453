/* stream.h — the sample stream between tools: an uncompressed tar archive of .npy members
 * (WebDataset convention), read and written with libarchive. See ilt-stream(5).
 *
 * A sample is a key plus named arrays. Member "ep000042_t000120.observation.state.npy" belongs
 * to the sample with key "ep000042_t000120" (everything before the first dot of the member's
 * base name, directories included) and holds field "observation.state" (everything between
 * that dot and the final ".npy"; field names themselves contain dots). Members of one sample
 * are consecutive; the writer emits fields in sorted (strcmp) order. Streams concatenate.
 *
 * Reading:
 *   stream_reader *r = stream_reader_open("-");        // path or "-" for stdin
 *   stream_sample s; stream_sample_init(&s);
 *   int rc;
 *   while ((rc = stream_reader_next(r, &s)) > 0) {
 *       const npy_array *state = stream_sample_get(&s, "observation.state");
 *       ...
 *   }
 *   if (rc < 0) tool_die(1, "%s", error_get());        // truncated stream, bad .npy, ...
 *   stream_sample_free(&s); stream_reader_close(r);
 *
 * Writing:
 *   stream_writer *w = stream_writer_open(stdout);
 *   stream_sample_reset(&s, "ep%06d_t%06d", ep, t);     // drop fields, set key
 *   npy_array *a = stream_sample_add(&s, "action", NPY_F32, 1, (int64_t[]){14});
 *   memcpy(a->data, action, 14 * sizeof(float));
 *   if (stream_writer_put(w, &s) < 0) ...
 *   if (stream_writer_close(w) < 0) ...                // end-of-archive blocks, flush
 *
 * Errors: every function returning int gives -1 with error_set() naming the stream (its path,
 * or "stdin"/"stdout"), the member and what was wrong. */
#ifndef ILT_IO_STREAM_H
#define ILT_IO_STREAM_H

#include "io/npy.h"
#include "util/tempfile.h"

#include <stdio.h>

/* ---------------------------------------------------------------- samples */

typedef struct {
    char *name;      /* "observation.images.top" */
    npy_array array;
} stream_field;

typedef struct {
    char *key;               /* "ep000042_t000120" ("" before the first reset) */
    stream_field *fields;    /* n_fields entries, in insertion order (sorted when read) */
    size_t n_fields, capacity;
} stream_sample;

void stream_sample_init(stream_sample *s);
/* Drop every field and set the key (printf format). */
int stream_sample_reset(stream_sample *s, const char *key_fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free everything; the sample can be initialised again. */
void stream_sample_free(stream_sample *s);

/* Add a zeroed field of the given dtype/shape and return its array to fill in (NULL on error:
 * a name already present, an empty name, a name with '/' or out of memory). */
npy_array *stream_sample_add(stream_sample *s, const char *name, npy_dtype dtype, int ndim,
                             const int64_t *shape);
/* Add a field that takes ownership of *array's data (array is left empty). */
int stream_sample_take(stream_sample *s, const char *name, npy_array *array);
/* Add a deep copy of an array. */
int stream_sample_add_copy(stream_sample *s, const char *name, const npy_array *array);
/* Convenience scalars: int64 (episode_index, frame_index) and float32. */
int stream_sample_add_i64(stream_sample *s, const char *name, int64_t value);
int stream_sample_add_f32(stream_sample *s, const char *name, float value);

/* The field named `name`, or NULL when absent. */
npy_array *stream_sample_get(const stream_sample *s, const char *name);
/* Like stream_sample_get, but an absent field or another dtype is an error naming the sample. */
npy_array *stream_sample_require(const stream_sample *s, const char *name, npy_dtype dtype);
/* Read a scalar int64 field such as episode_index (any integer dtype accepted). */
int stream_sample_get_i64(const stream_sample *s, const char *name, int64_t *value);
/* Remove a field (0 if it was there, -1 without error_set if absent). */
int stream_sample_remove(stream_sample *s, const char *name);
/* Sort the fields by name (the writer does this itself). */
void stream_sample_sort(stream_sample *s);

/* ---------------------------------------------------------------- reading */

typedef struct stream_reader stream_reader;

/* Open a path, or "-" for stdin. NULL on error. */
stream_reader *stream_reader_open(const char *path);
/* Read from an open FILE* (not closed by stream_reader_close); name is used in messages. */
stream_reader *stream_reader_open_fp(FILE *fp, const char *name);
/* Next sample into *s (its previous fields are dropped). Returns 1 when a sample was read,
 * 0 at the end of the stream, -1 on error (truncated archive, member that is not .npy, bad
 * .npy header, duplicate field in a sample). */
int stream_reader_next(stream_reader *r, stream_sample *s);
/* The name given at open ("stdin" for "-"), for messages. */
const char *stream_reader_name(const stream_reader *r);
void stream_reader_close(stream_reader *r);

/* ---------------------------------------------------------------- writing */

typedef struct stream_writer stream_writer;

/* Write to an open FILE* such as stdout (not closed by stream_writer_close; check it with
 * tool_close_stdout()). NULL on error. */
stream_writer *stream_writer_open(FILE *fp);
/* Write one sample: its fields in sorted order as "<key>.<field>.npy" members. The sample's
 * field order is sorted in place. */
int stream_writer_put(stream_writer *w, stream_sample *s);
/* Finish the archive (end blocks) and flush. Returns -1 if any write failed; frees w either way. */
int stream_writer_close(stream_writer *w);
/* Free without finishing the archive (after an error: nothing more goes to the output; what the
 * FILE still buffers is discarded). */
void stream_writer_abort(stream_writer *w);

/* A stream written to a file under a temporary name and renamed into place when it is finished,
 * so that a failed or interrupted run leaves no half-written stream; path "-" is stdout.
 *
 *   stream_file f;
 *   if (stream_file_create(&f, path) < 0) die;      then stream_writer_put(f.w, ...)
 *   if (stream_file_finish(&f, failed) < 0) warn;   failed: abort, remove the temporary */
typedef struct {
    const char *path;
    char tmp[TEMPFILE_MAX];        /* written under this name, renamed to path at the end */
    FILE *fp;                      /* stdout for "-" */
    stream_writer *w;
} stream_file;
int stream_file_create(stream_file *f, const char *path);
/* Finish (or, when failed is nonzero, abort: no half-written stream) and rename into place.
 * -1 with error_get() when finishing, closing or renaming failed (the temporary is then removed).
 * Nothing to do when f was never created. */
int stream_file_finish(stream_file *f, int failed);

#endif
