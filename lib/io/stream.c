/* stream.c — samples (key + named arrays) and their tar-of-.npy stream, through libarchive. */
#include "io/stream.h"
#include "util/error.h"
#include "util/tempfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- samples */

void stream_sample_init(stream_sample *s) { memset(s, 0, sizeof *s); }

static void drop_fields(stream_sample *s)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        free(s->fields[i].name);
        npy_array_free(&s->fields[i].array);
    }
    s->n_fields = 0;
}

static int set_key(stream_sample *s, const char *key)
{
    char *k = strdup(key);
    if (!k) return error_set("out of memory");
    free(s->key);
    s->key = k;
    return 0;
}

int stream_sample_reset(stream_sample *s, const char *key_fmt, ...)
{
    char key[1024];
    va_list ap;
    va_start(ap, key_fmt);
    vsnprintf(key, sizeof key, key_fmt, ap);
    va_end(ap);
    drop_fields(s);
    return set_key(s, key);
}

void stream_sample_free(stream_sample *s)
{
    drop_fields(s);
    free(s->fields);
    free(s->key);
    memset(s, 0, sizeof *s);
}

static int check_name(const stream_sample *s, const char *name)
{
    if (!name[0] || strchr(name, '/')) return error_set("invalid field name '%s'", name);
    if (stream_sample_get(s, name)) return error_set("sample %s: field %s appears twice", s->key ? s->key : "", name);
    return 0;
}

static stream_field *new_field(stream_sample *s, const char *name)
{
    if (s->n_fields == s->capacity) {
        size_t cap = s->capacity ? s->capacity * 2 : 8;
        stream_field *f = realloc(s->fields, cap * sizeof *f);
        if (!f) return error_set("out of memory"), NULL;
        s->fields = f;
        s->capacity = cap;
    }
    stream_field *f = &s->fields[s->n_fields];
    memset(f, 0, sizeof *f);
    if (!(f->name = strdup(name))) return error_set("out of memory"), NULL;
    s->n_fields++;
    return f;
}

npy_array *stream_sample_add(stream_sample *s, const char *name, npy_dtype dtype, int ndim, const int64_t *shape)
{
    if (check_name(s, name) < 0) return NULL;
    npy_array a;
    if (npy_array_alloc(&a, dtype, ndim, shape) < 0) return NULL;
    stream_field *f = new_field(s, name);
    if (!f) {
        npy_array_free(&a);
        return NULL;
    }
    f->array = a;
    return &f->array;
}

int stream_sample_take(stream_sample *s, const char *name, npy_array *array)
{
    if (check_name(s, name) < 0) return -1;
    stream_field *f = new_field(s, name);
    if (!f) return -1;
    f->array = *array;
    memset(array, 0, sizeof *array);
    return 0;
}

int stream_sample_add_copy(stream_sample *s, const char *name, const npy_array *array)
{
    npy_array *a = stream_sample_add(s, name, array->dtype, array->ndim, array->shape);
    if (!a) return -1;
    memcpy(a->data, array->data, npy_array_nbytes(array));
    return 0;
}

int stream_sample_add_i64(stream_sample *s, const char *name, int64_t value)
{
    npy_array *a = stream_sample_add(s, name, NPY_I64, 0, NULL);
    if (!a) return -1;
    *(int64_t *)a->data = value;
    return 0;
}

int stream_sample_add_f32(stream_sample *s, const char *name, float value)
{
    npy_array *a = stream_sample_add(s, name, NPY_F32, 0, NULL);
    if (!a) return -1;
    *(float *)a->data = value;
    return 0;
}

npy_array *stream_sample_get(const stream_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].name, name) == 0) return &s->fields[i].array;
    return NULL;
}

npy_array *stream_sample_require(const stream_sample *s, const char *name, npy_dtype dtype)
{
    npy_array *a = stream_sample_get(s, name);
    if (!a) return error_set("sample %s has no field %s", s->key ? s->key : "", name), NULL;
    if (a->dtype != dtype)
        return error_set("sample %s: field %s is %s, expected %s", s->key ? s->key : "", name,
                         npy_dtype_name(a->dtype), npy_dtype_name(dtype)), NULL;
    return a;
}

int stream_sample_get_i64(const stream_sample *s, const char *name, int64_t *value)
{
    npy_array *a = stream_sample_get(s, name);
    if (!a) return error_set("sample %s has no field %s", s->key ? s->key : "", name);
    if (npy_array_count(a) != 1 || npy_dtype_is_float(a->dtype))
        return error_set("sample %s: field %s is not an integer scalar", s->key ? s->key : "", name);
    switch (a->dtype) {
    case NPY_I64: *value = *(int64_t *)a->data; break;
    case NPY_U64: *value = (int64_t) * (uint64_t *)a->data; break;
    default: *value = (int64_t)npy_array_get_double(a, 0); break;
    }
    return 0;
}

int stream_sample_remove(stream_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        if (strcmp(s->fields[i].name, name) != 0) continue;
        free(s->fields[i].name);
        npy_array_free(&s->fields[i].array);
        memmove(&s->fields[i], &s->fields[i + 1], (s->n_fields - i - 1) * sizeof *s->fields);
        s->n_fields--;
        return 0;
    }
    return -1;
}

static int field_cmp(const void *a, const void *b)
{
    return strcmp(((const stream_field *)a)->name, ((const stream_field *)b)->name);
}

void stream_sample_sort(stream_sample *s)
{
    if (s->n_fields > 1) qsort(s->fields, s->n_fields, sizeof *s->fields, field_cmp);
}

/* ---------------------------------------------------------------- reading */

struct stream_reader {
    struct archive *ar;
    FILE *fp;
    int own_fp, finished;
    char *name;
    char *last_member; /* for messages about what follows it */
    unsigned char *buf; /* one member's bytes */
    size_t buf_cap;
    /* a member already read that starts the next sample */
    int have_pending;
    char *pending_key, *pending_field;
    npy_array pending_array;
};

stream_reader *stream_reader_open_fp(FILE *fp, const char *name)
{
    stream_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) {
        free(r);
        return error_set("out of memory"), NULL;
    }
    r->fp = fp;
    r->ar = archive_read_new();
    if (!r->ar) {
        stream_reader_close(r);
        return error_set("%s: cannot start libarchive", name), NULL;
    }
    archive_read_support_format_tar(r->ar);
    archive_read_support_format_empty(r->ar); /* an empty input is a stream of no samples */
    /* `cat a.tar b.tar | tool` reads both: skip end-of-archive blocks between archives */
    archive_read_set_options(r->ar, "tar:read_concatenated_archives");
    if (archive_read_open_FILE(r->ar, fp) != ARCHIVE_OK) {
        error_set("%s: %s", name, archive_error_string(r->ar));
        stream_reader_close(r);
        return NULL;
    }
    return r;
}

stream_reader *stream_reader_open(const char *path)
{
    if (strcmp(path, "-") == 0) return stream_reader_open_fp(stdin, "stdin");
    FILE *fp = fopen(path, "rb");
    if (!fp) return error_set("%s: cannot open:", path), NULL;
    stream_reader *r = stream_reader_open_fp(fp, path);
    if (!r) {
        fclose(fp);
        return NULL;
    }
    r->own_fp = 1;
    return r;
}

const char *stream_reader_name(const stream_reader *r) { return r->name; }

void stream_reader_close(stream_reader *r)
{
    if (!r) return;
    if (r->ar) archive_read_free(r->ar);
    if (r->own_fp && r->fp) fclose(r->fp);
    free(r->name);
    free(r->last_member);
    free(r->buf);
    free(r->pending_key);
    free(r->pending_field);
    npy_array_free(&r->pending_array);
    free(r);
}

/* Split "dir/ep1_t2.observation.state.npy" into key "dir/ep1_t2" and field "observation.state". */
static int split_member_name(const char *path, char **key, char **field)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strchr(base, '.');
    size_t len = strlen(path);
    if (len < 4 || strcmp(path + len - 4, ".npy") != 0) return error_set("member %s is not a .npy file", path);
    if (!dot || dot == base || path + len - 4 <= dot + 1)
        return error_set("member %s has no key.field.npy name", path);
    *key = strndup(path, dot - path);
    *field = strndup(dot + 1, path + len - 4 - (dot + 1));
    if (!*key || !*field) {
        free(*key);
        free(*field);
        return error_set("out of memory");
    }
    return 0;
}

/* A member's bytes are read this many at a time. */
#define READ_STEP ((size_t)1 << 20)

/* Read the next .npy member: 1 with key/field/array, 0 at the end, -1 on error. */
static int read_member(stream_reader *r, char **key, char **field, npy_array *array)
{
    struct archive_entry *entry;
    for (;;) {
        int rc = archive_read_next_header(r->ar, &entry);
        if (rc == ARCHIVE_EOF) return 0;
        if (rc == ARCHIVE_WARN) {
            /* e.g. a header checksum warning; the entry is still usable */
        } else if (rc != ARCHIVE_OK) {
            if (r->last_member)
                return error_set("%s: after member %s: %s", r->name, r->last_member, archive_error_string(r->ar));
            return error_set("%s: %s", r->name, archive_error_string(r->ar));
        }
        if (archive_entry_filetype(entry) == AE_IFREG) break;
        /* directories and other entries carry no sample data */
    }
    const char *path = archive_entry_pathname(entry);
    if (!path) return error_set("%s: member without a name", r->name);
    char *copy = strdup(path);
    if (!copy) return error_set("out of memory");
    free(r->last_member);
    r->last_member = copy;
    if (split_member_name(path, key, field) < 0) return error_prefix("%s: ", r->name);
    int64_t size = archive_entry_size(entry);
    if (size < 0 || (uint64_t)size > SIZE_MAX / 2) goto fail_size;
    /* The buffer grows with the data that actually arrives (at most doubling), so that a header
     * declaring a huge member in a short stream allocates no more than the stream holds. */
    size_t got = 0;
    while (got < (size_t)size) {
        size_t want = (size_t)size - got;
        if (want > READ_STEP) want = READ_STEP;
        if (got + want > r->buf_cap) {
            size_t cap = r->buf_cap * 2 > got + want ? r->buf_cap * 2 : got + want;
            if (cap > (size_t)size) cap = (size_t)size;
            unsigned char *nb = realloc(r->buf, cap);
            if (!nb) {
                error_set("%s: member %s: out of memory for %zu bytes", r->name, path, cap);
                goto fail;
            }
            r->buf = nb;
            r->buf_cap = cap;
        }
        la_ssize_t n = archive_read_data(r->ar, r->buf + got, want);
        if (n < 0) {
            error_set("%s: member %s: %s", r->name, path, archive_error_string(r->ar));
            goto fail;
        }
        if (n == 0) {
            error_set("%s: member %s: truncated tar archive (%zu of %" PRId64 " bytes)", r->name, path, got, size);
            goto fail;
        }
        got += (size_t)n;
    }
    if (npy_decode(r->buf, got, array) < 0) {
        error_prefix("%s: member %s: ", r->name, path);
        goto fail;
    }
    return 1;
fail_size:
    error_set("%s: member %s: bad size", r->name, path);
fail:
    free(*key);
    free(*field);
    *key = *field = NULL;
    return -1;
}

int stream_reader_next(stream_reader *r, stream_sample *s)
{
    drop_fields(s);
    if (r->finished) return 0;
    if (r->have_pending) {
        r->have_pending = 0;
        int rc = set_key(s, r->pending_key);
        free(r->pending_key);
        r->pending_key = NULL;
        if (rc == 0) rc = stream_sample_take(s, r->pending_field, &r->pending_array);
        free(r->pending_field);
        r->pending_field = NULL;
        if (rc < 0) return -1;
    }
    for (;;) {
        char *key = NULL, *field = NULL;
        npy_array array;
        int rc = read_member(r, &key, &field, &array);
        if (rc < 0) return -1;
        if (rc == 0) {
            r->finished = 1;
            if (s->n_fields) stream_sample_sort(s);
            return s->n_fields ? 1 : 0;
        }
        if (s->n_fields && strcmp(key, s->key) != 0) {
            r->pending_key = key;
            r->pending_field = field;
            r->pending_array = array;
            r->have_pending = 1;
            stream_sample_sort(s);
            return 1;
        }
        int bad = (!s->n_fields && set_key(s, key) < 0);
        if (!bad && stream_sample_take(s, field, &array) < 0) bad = 1;
        free(key);
        free(field);
        if (bad) {
            npy_array_free(&array);
            return error_prefix("%s: ", r->name);
        }
    }
}

/* ---------------------------------------------------------------- writing */

struct stream_writer {
    struct archive *ar;
    struct archive_entry *entry;
    FILE *fp;
    char *path;
    size_t path_cap;
    int closed;
};

stream_writer *stream_writer_open(FILE *fp)
{
    stream_writer *w = calloc(1, sizeof *w);
    if (!w) return error_set("out of memory"), NULL;
    w->fp = fp;
    w->ar = archive_write_new();
    w->entry = archive_entry_new();
    if (!w->ar || !w->entry) goto fail;
    /* ustar headers (pax only for names over 100 bytes); 64 KiB writes; no padding after the
     * end-of-archive blocks so that streams concatenate compactly */
    if (archive_write_set_format_pax_restricted(w->ar) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(w->ar, 65536) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w->ar, 1) != ARCHIVE_OK ||
        archive_write_open_FILE(w->ar, fp) != ARCHIVE_OK)
    {
        error_set("stdout: %s", archive_error_string(w->ar));
        stream_writer_abort(w);
        return NULL;
    }
    return w;
fail:
    stream_writer_abort(w);
    return error_set("out of memory"), NULL;
}

int stream_writer_put(stream_writer *w, stream_sample *s)
{
    if (!s->key || !s->key[0] || strchr(s->key, '.'))
        return error_set("sample key '%s' is empty or contains a dot", s->key ? s->key : "");
    stream_sample_sort(s);
    for (size_t i = 0; i < s->n_fields; i++) {
        const stream_field *f = &s->fields[i];
        size_t need = strlen(s->key) + strlen(f->name) + 8;
        if (need > w->path_cap) {
            char *np = realloc(w->path, need);
            if (!np) return error_set("out of memory");
            w->path = np;
            w->path_cap = need;
        }
        snprintf(w->path, w->path_cap, "%s.%s.npy", s->key, f->name);
        char header[256];
        int hlen = npy_encode_header(f->array.dtype, f->array.ndim, f->array.shape, header, sizeof header);
        if (hlen < 0) return error_set("%s: cannot encode the .npy header", w->path);
        size_t nbytes = npy_array_nbytes(&f->array);
        archive_entry_clear(w->entry);
        archive_entry_set_pathname(w->entry, w->path);
        archive_entry_set_filetype(w->entry, AE_IFREG);
        archive_entry_set_perm(w->entry, 0644);
        archive_entry_set_size(w->entry, (la_int64_t)(hlen + nbytes));
        archive_entry_set_mtime(w->entry, 0, 0);
        if (archive_write_header(w->ar, w->entry) != ARCHIVE_OK ||
            archive_write_data(w->ar, header, hlen) != hlen ||
            (nbytes && archive_write_data(w->ar, f->array.data, nbytes) != (la_ssize_t)nbytes))
            return error_set("stdout: writing %s: %s", w->path, archive_error_string(w->ar));
    }
    return 0;
}

int stream_writer_close(stream_writer *w)
{
    int rc = 0;
    if (archive_write_close(w->ar) != ARCHIVE_OK)
        rc = error_set("stdout: finishing the stream: %s", archive_error_string(w->ar));
    w->closed = 1;
    stream_writer_abort(w);
    return rc;
}

void stream_writer_abort(stream_writer *w)
{
    if (!w) return;
    if (w->ar) {
        if (!w->closed) {
            archive_write_fail(w->ar); /* so that free writes no end blocks */
            if (w->fp) __fpurge(w->fp); /* and drop what stdio still holds */
        }
        archive_write_free(w->ar);
    }
    if (w->entry) archive_entry_free(w->entry);
    free(w->path);
    free(w);
}

/* ---------------------------------------------------------------- a stream file */

int stream_file_create(stream_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    if (strcmp(path, "-") == 0) {
        f->fp = stdout;
    } else {
        if (tempfile_begin(path, f->tmp, sizeof f->tmp) < 0) return -1;
        if (!(f->fp = fopen(f->tmp, "wb"))) {
            int e = errno;
            tempfile_discard(f->tmp);
            errno = e;
            return error_set("%s: %s", path, strerror(e));
        }
    }
    if (!(f->w = stream_writer_open(f->fp))) {
        if (f->fp != stdout) fclose(f->fp), tempfile_discard(f->tmp);
        f->fp = NULL;
        return -1;
    }
    return 0;
}

int stream_file_finish(stream_file *f, int failed)
{
    if (!f->w) return 0;
    int rc = 0;
    if (failed) stream_writer_abort(f->w);
    else if (stream_writer_close(f->w) < 0) rc = -1, failed = 1;
    f->w = NULL;
    if (f->fp == stdout) return rc;
    if (fclose(f->fp) != 0 && rc == 0) rc = error_set("%s: %s", f->path, strerror(errno)), failed = 1;
    f->fp = NULL;
    if (failed) tempfile_discard(f->tmp);   /* no half-written stream */
    else if (tempfile_commit(f->tmp, f->path) < 0) rc = -1;
    return rc;
}
