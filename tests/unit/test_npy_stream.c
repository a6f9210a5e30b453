/* test_npy_stream.c — the .npy codec (layout, alignment, rejected headers) and the tar sample
 * stream (round trip, field lookup, sorted fields, truncation, concatenation). */
#include "io/npy.h"
#include "io/stream.h"
#include "tap.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* A .npy with a hand-written header (dict padded to a 64-byte boundary) and `data_bytes` zeros. */
static size_t make_npy(char *buf, const char *dict, size_t data_bytes)
{
    size_t dict_len = strlen(dict);
    size_t total = (10 + dict_len + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, dict_len);
    memset(buf + 10 + dict_len, ' ', total - 10 - dict_len - 1);
    buf[total - 1] = '\n';
    memset(buf + total, 0, data_bytes);
    return total + data_bytes;
}

static void test_codec(void)
{
    char header[256];
    int n = npy_encode_header(NPY_F32, 2, (int64_t[]){3, 4}, header, sizeof header);
    tap_ok(n % 64 == 0 && header[n - 1] == '\n', "header padded to a multiple of 64 bytes, ends with newline (%d)", n);
    header[n - 1] = 0;
    tap_ok(strstr(header + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }") != NULL,
           "header dict as NumPy writes it");
    n = npy_encode_header(NPY_I64, 1, (int64_t[]){5}, header, sizeof header);
    header[n - 1] = 0;
    tap_ok(strstr(header + 10, "'shape': (5,)") != NULL, "one-dimensional shape has a trailing comma");
    n = npy_encode_header(NPY_BOOL, 0, NULL, header, sizeof header);
    header[n - 1] = 0;
    tap_ok(strstr(header + 10, "'descr': '|b1'") && strstr(header + 10, "'shape': ()"), "bool scalar header");

    npy_array a, b;
    npy_array_alloc(&a, NPY_F64, 3, (int64_t[]){2, 1, 3});
    for (int i = 0; i < 6; i++) ((double *)a.data)[i] = i * 0.1 - 1e300 * (i == 5);
    FILE *fp = tmpfile();
    npy_write(fp, &a);
    long size = ftell(fp);
    rewind(fp);
    char *buf = malloc(size);
    tap_ok(fread(buf, 1, size, fp) == (size_t)size, "read back the written .npy");
    fclose(fp);
    tap_ok(npy_decode(buf, size, &b) == 0 && npy_array_same_layout(&a, &b) &&
               memcmp(a.data, b.data, npy_array_nbytes(&a)) == 0,
           "float64 [2,1,3] round trip bit for bit");
    tap_ok(npy_decode(buf, size - 1, &b) < 0 && strstr(error_get(), "bytes"), "one byte short: size mismatch (%s)", error_get());
    free(buf);
    npy_array_free(&a);
    npy_array_free(&b);

    char raw[20000];
    size_t len = make_npy(raw, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
    tap_ok(npy_decode(raw, len, &b) < 0 && strstr(error_get(), "Fortran"), "Fortran order rejected: %s", error_get());
    len = make_npy(raw, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16);
    tap_ok(npy_decode(raw, len, &b) < 0 && strstr(error_get(), "dtype '<c8'"), "complex dtype rejected: %s", error_get());
    len = make_npy(raw, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
    tap_ok(npy_decode(raw, len, &b) < 0 && strstr(error_get(), "'>f4'"), "big-endian rejected: %s", error_get());
    len = make_npy(raw, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", 3);
    tap_ok(npy_decode(raw, len, &b) == 0 && b.dtype == NPY_U8 && b.shape[0] == 3, "'|u1' accepted");
    npy_array_free(&b);
    len = make_npy(raw, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20);
    tap_ok(npy_decode(raw, len, &b) < 0 && strstr(error_get(), "20 bytes, its shape needs 24"), "size mismatch: %s", error_get());
    char big_dict[12000];
    snprintf(big_dict, sizeof big_dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), %*s}", 11000, "");
    len = make_npy(raw, big_dict, 4);
    tap_ok(npy_decode(raw, len, &b) < 0 && strstr(error_get(), "limit 10000"), "header over 10000 bytes rejected: %s", error_get());
    tap_ok(npy_decode("\x93NUMPX\x01\x00\x10\x00", 10, &b) < 0 && strstr(error_get(), "magic"), "bad magic rejected");
    len = make_npy(raw, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, }", 8);
    tap_ok(npy_decode(raw, len, &b) < 0, "unterminated shape rejected: %s", error_get());
}

static void fill_sample(stream_sample *s, int t)
{
    stream_sample_reset(s, "ep000003_t%06d", t);
    npy_array *img = stream_sample_add(s, "observation.images.top", NPY_U8, 3, (int64_t[]){4, 5, 3});
    for (int i = 0; i < 60; i++) ((uint8_t *)img->data)[i] = (uint8_t)(i * 7 + t);
    npy_array *act = stream_sample_add(s, "action", NPY_F32, 1, (int64_t[]){3});
    for (int i = 0; i < 3; i++) ((float *)act->data)[i] = 0.5f * i - t;
    stream_sample_add_i64(s, "frame_index", t);
    stream_sample_add_i64(s, "episode_index", 3);
}

static void test_stream(void)
{
    stream_sample s, r;
    stream_sample_init(&s);
    stream_sample_init(&r);
    tap_ok(stream_sample_add(&s, "", NPY_F32, 0, NULL) == NULL, "empty field name rejected");
    fill_sample(&s, 0);
    tap_ok(stream_sample_add(&s, "action", NPY_F32, 0, NULL) == NULL && strstr(error_get(), "twice"),
           "duplicate field rejected");
    int64_t v;
    tap_ok(stream_sample_get_i64(&s, "frame_index", &v) == 0 && v == 0, "scalar lookup");
    tap_ok(stream_sample_get(&s, "nope") == NULL, "absent field gives NULL");
    tap_ok(stream_sample_require(&s, "action", NPY_U8) == NULL && strstr(error_get(), "float32"),
           "require with the wrong dtype names it: %s", error_get());

    FILE *fp = tmpfile();
    stream_writer *w = stream_writer_open(fp);
    for (int t = 0; t < 3; t++) {
        fill_sample(&s, t);
        if (stream_writer_put(w, &s) < 0) tap_diag("%s", error_get());
    }
    tap_ok(stream_writer_close(w) == 0, "writer closes");
    long size = ftell(fp);
    tap_ok(size % 512 == 0, "archive is whole 512-byte blocks (%ld)", size);
    rewind(fp);
    stream_reader *rd = stream_reader_open_fp(fp, "mem");
    int t = 0, rc, good = 1, sorted = 0;
    while ((rc = stream_reader_next(rd, &r)) > 0) {
        fill_sample(&s, t);
        stream_sample_sort(&s);
        good &= r.n_fields == 4 && strcmp(r.key, s.key) == 0;
        for (size_t i = 0; good && i < r.n_fields; i++)
            good &= strcmp(r.fields[i].name, s.fields[i].name) == 0 &&
                    npy_array_same_layout(&r.fields[i].array, &s.fields[i].array) &&
                    memcmp(r.fields[i].array.data, s.fields[i].array.data, npy_array_nbytes(&s.fields[i].array)) == 0;
        sorted = strcmp(r.fields[0].name, "action") == 0 && strcmp(r.fields[3].name, "observation.images.top") == 0;
        t++;
    }
    tap_ok(rc == 0 && t == 3 && good, "three samples round trip, fields sorted, values equal");
    tap_ok(sorted, "fields sorted by name");
    stream_reader_close(rd);

    /* truncation: cut the archive inside the second sample's image member */
    rewind(fp);
    char *buf = malloc(size);
    if (fread(buf, 1, size, fp) != (size_t)size) tap_diag("short read");
    fclose(fp);
    FILE *cut = tmpfile();
    fwrite(buf, 1, size / 2 + 100, cut);
    rewind(cut);
    rd = stream_reader_open_fp(cut, "cut.tar");
    while ((rc = stream_reader_next(rd, &r)) > 0) {}
    tap_ok(rc < 0 && strstr(error_get(), "cut.tar") && strstr(error_get(), "runcated"), "truncated stream: %s", error_get());
    stream_reader_close(rd);
    fclose(cut);

    /* two archives back to back read as one stream */
    FILE *two = tmpfile();
    fwrite(buf, 1, size, two);
    fwrite(buf, 1, size, two);
    rewind(two);
    rd = stream_reader_open_fp(two, "two.tar");
    int count = 0;
    while ((rc = stream_reader_next(rd, &r)) > 0) count++;
    tap_ok(rc == 0 && count == 6, "concatenated streams give 6 samples (%d, %s)", count, rc < 0 ? error_get() : "");
    stream_reader_close(rd);
    fclose(two);
    free(buf);
    stream_sample_free(&s);
    stream_sample_free(&r);
}

int main(void)
{
    test_codec();
    test_stream();
    return tap_done();
}
