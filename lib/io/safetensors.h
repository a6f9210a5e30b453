/* safetensors.h — the safetensors format (Hugging Face), read and written, for exchanging
 * checkpoints with PyTorch and LeRobot.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 *   {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...,
 *    "__metadata__": {"KEY": "string value", ...}}
 * then the data: each tensor's little-endian values in C order at [BEGIN, END) from the start
 * of the data. Reading refuses, naming the file and the tensor: a file shorter than its header,
 * a header over 100 MB (SAFETENSORS_MAX_HEADER), JSON that is not an object of such entries
 * (parsed by jansson, duplicate names refused), an unknown dtype, an offset range that does not
 * match the shape, runs past the end of the file or overlaps another tensor's.
 *
 *   safetensors_file f;
 *   if (safetensors_read("model.safetensors", &f) < 0) tool_die(1, "%s", error_get());
 *   float *w; int ndim; int64_t shape[SAFETENSORS_MAX_DIMS];
 *   if (safetensors_get_f32(&f, "model.action_head.weight", &w, &ndim, shape) < 0) ...
 *   safetensors_free(&f);
 *
 *   safetensors_writer *w = safetensors_writer_new();
 *   safetensors_writer_add_f32(w, "x", data, 2, (int64_t[]){2, 3});
 *   safetensors_writer_metadata(w, "format", "pt");
 *   safetensors_writer_save(w, "out.safetensors");     // temporary name, renamed; frees w
 */
#ifndef ILT_IO_SAFETENSORS_H
#define ILT_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_HEADER (100u << 20)
#define SAFETENSORS_MAX_DIMS 8

typedef enum {
    SAFETENSORS_F64, SAFETENSORS_F32, SAFETENSORS_F16, SAFETENSORS_BF16, SAFETENSORS_I64, SAFETENSORS_I32,
    SAFETENSORS_I16, SAFETENSORS_I8, SAFETENSORS_U8, SAFETENSORS_BOOL
} safetensors_dtype;

typedef struct {
    char *name;
    safetensors_dtype dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    const uint8_t *data;            /* into the file's bytes */
    size_t nbytes;
} safetensors_tensor;

typedef struct {
    char *name;                     /* for messages */
    uint8_t *bytes;                 /* the whole file */
    size_t size;
    safetensors_tensor *tensors;    /* in the header's order */
    size_t n_tensors;
    char **meta_keys, **meta_values;
    size_t n_meta;
} safetensors_file;

/* The dtype's name ("F32") and size in bytes. */
const char *safetensors_dtype_name(safetensors_dtype d);
size_t safetensors_dtype_size(safetensors_dtype d);

int safetensors_read(const char *path, safetensors_file *f);
/* Parse bytes (the file's contents; f keeps a copy); name is used in messages. */
int safetensors_parse(const uint8_t *bytes, size_t size, const char *name, safetensors_file *f);
void safetensors_free(safetensors_file *f);
const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);
/* A metadata value, or NULL. */
const char *safetensors_metadata(const safetensors_file *f, const char *key);
/* A tensor's values as float32 (F32 as stored; F64, F16 and BF16 converted): *data malloc'ed.
 * A missing tensor or an integer dtype is an error naming it. */
int safetensors_get_f32(const safetensors_file *f, const char *name, float **data, int *ndim,
                        int64_t shape[SAFETENSORS_MAX_DIMS]);

typedef struct safetensors_writer safetensors_writer;
safetensors_writer *safetensors_writer_new(void);
/* The data is copied. Tensors are written sorted by name. */
int safetensors_writer_add_f32(safetensors_writer *w, const char *name, const float *data, int ndim, const int64_t *shape);
int safetensors_writer_metadata(safetensors_writer *w, const char *key, const char *value);
/* Write to "<path>.tmp.<pid>" and rename; frees w whatever happens. */
int safetensors_writer_save(safetensors_writer *w, const char *path);
void safetensors_writer_free(safetensors_writer *w);

#endif
