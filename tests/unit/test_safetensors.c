/* test_safetensors.c — the safetensors codec (lib/io/safetensors.h): round trip of float32
 * tensors (a scalar, an empty one) and metadata; F64, F16 and BF16 read as float32; each
 * damaged header a clear error. With `--write PATH` it only writes the small file the fuzz
 * corpus starts from (tests/fuzz/make_corpus.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "tap.h"
#include "util/error.h"

static int write_small(const char *path)
{
    safetensors_writer *w = safetensors_writer_new();
    const float x[6] = {1, -2.5f, 3e-8f, 1e30f, 0, -0.0f}, s = 7;
    if (!w || safetensors_writer_add_f32(w, "model.weight", x, 2, (int64_t[]){2, 3}) < 0 ||
        safetensors_writer_add_f32(w, "model.bias", x, 1, (int64_t[]){3}) < 0 ||
        safetensors_writer_add_f32(w, "scalar", &s, 0, NULL) < 0 || safetensors_writer_add_f32(w, "empty", x, 2, (int64_t[]){0, 4}) < 0 ||
        safetensors_writer_metadata(w, "format", "pt") < 0)
        return -1;
    return safetensors_writer_save(w, path);
}

/* Parse header + data bytes; 0 or -1 with the message in error_get(). */
static int parse(const char *header, const uint8_t *data, size_t n_data, safetensors_file *f)
{
    size_t n = strlen(header);
    uint8_t *buf = malloc(8 + n + n_data + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    if (n_data) memcpy(buf + 8 + n, data, n_data);
    int rc = safetensors_parse(buf, 8 + n + n_data, "t.safetensors", f);
    free(buf);
    return rc;
}

static void expect_error(const char *header, size_t n_data, const char *want, const char *what)
{
    uint8_t data[64] = {0};
    safetensors_file f;
    int rc = parse(header, data, n_data, &f);
    tap_ok(rc < 0 && strstr(error_get(), want), "%s: %s", what, rc < 0 ? error_get() : "accepted");
    if (rc == 0) safetensors_free(&f);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        if (write_small(argv[2]) < 0) { fprintf(stderr, "test_safetensors: %s\n", error_get()); return 1; }
        return 0;
    }
    char path[] = "/tmp/test_safetensors_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    safetensors_file f;
    int rc = write_small(path) == 0 ? safetensors_read(path, &f) : -1;
    tap_ok(rc == 0, "write and read back: %s", rc ? error_get() : "ok");
    if (rc == 0) {
        float *v = NULL;
        int ndim = 0;
        int64_t shape[SAFETENSORS_MAX_DIMS];
        const float x[6] = {1, -2.5f, 3e-8f, 1e30f, 0, -0.0f};
        tap_ok(f.n_tensors == 4 && !strcmp(f.tensors[0].name, "empty") && !strcmp(f.tensors[3].name, "scalar"),
               "4 tensors, sorted by name (%zu)", f.n_tensors);
        tap_ok(safetensors_get_f32(&f, "model.weight", &v, &ndim, shape) == 0 && ndim == 2 && shape[0] == 2 && shape[1] == 3 &&
               !memcmp(v, x, sizeof x), "model.weight [2,3] bit for bit");
        free(v);
        tap_ok(safetensors_get_f32(&f, "scalar", &v, &ndim, shape) == 0 && ndim == 0 && v[0] == 7, "a scalar");
        free(v);
        tap_ok(safetensors_find(&f, "empty")->nbytes == 0, "an empty tensor");
        const char *meta = safetensors_metadata(&f, "format");
        tap_ok(meta && !strcmp(meta, "pt") && !safetensors_metadata(&f, "other"), "metadata");
        tap_ok(safetensors_get_f32(&f, "nothing", &v, &ndim, shape) < 0 && strstr(error_get(), "no tensor 'nothing'"), "%s", error_get());
        tap_ok((f.tensors[0].data - f.bytes - 8) % 8 == 0, "the header is padded to a multiple of 8");
        safetensors_free(&f);
    }
    unlink(path);

    /* other float dtypes: 1.5 as F64, F16 (0x3E00) and BF16 (0x3FC0); -2 as F16 (0xC000) */
    const uint8_t data[] = {0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0x00, 0x3E, 0x00, 0xC0, 0xC0, 0x3F};
    rc = parse("{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
               "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
               "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[12,14]}}", data, sizeof data, &f);
    float *d = NULL, *h = NULL, *b = NULL;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    int got = rc == 0 && safetensors_get_f32(&f, "d", &d, &ndim, shape) == 0 && safetensors_get_f32(&f, "h", &h, &ndim, shape) == 0 &&
              safetensors_get_f32(&f, "b", &b, &ndim, shape) == 0;
    tap_ok(got && d[0] == 1.5f && h[0] == 1.5f && h[1] == -2 && b[0] == 1.5f, "F64, F16, BF16 read as float32: %g %g %g %g",
           got ? d[0] : 0, got ? h[0] : 0, got ? h[1] : 0, got ? b[0] : 0);
    free(d), free(h), free(b);
    if (rc == 0) safetensors_free(&f);

    /* damage */
    const char *entry = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 16, "tensors 'a' and 'b' overlap", "overlapping offsets");
    expect_error(entry, 4, "run past the end of the data (4 bytes)", "offsets past the end");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16, "hold 8 bytes, its F32 shape needs 12",
                 "offsets that do not match the shape");
    expect_error("{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16, "unknown dtype 'F4'", "unknown dtype");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 16, "is not a range", "begin after end");
    expect_error("{\"a\":1,\"a\":2}", 0, "not valid JSON", "duplicate names");
    expect_error("[1,2]", 0, "not a JSON object", "an array header");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0] is not a size", "a negative size");
    expect_error("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ 'k' is not a string", "non-string metadata");
    uint8_t big[16] = {0, 0, 0, 0x40, 0, 0, 0, 0};   /* a header length of 1 GiB */
    rc = safetensors_parse(big, sizeof big, "big.safetensors", &f);
    tap_ok(rc < 0 && strstr(error_get(), "more than safetensors' limit of 100 MB"), "%s", error_get());
    uint8_t longer[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    rc = safetensors_parse(longer, 10, "short.safetensors", &f);
    tap_ok(rc < 0 && strstr(error_get(), "the header is 100 bytes, the file has only 2"), "%s", error_get());
    rc = safetensors_parse(longer, 5, "tiny.safetensors", &f);
    tap_ok(rc < 0 && strstr(error_get(), "too short"), "%s", error_get());
    rc = safetensors_read("/nonexistent.safetensors", &f);
    tap_ok(rc < 0 && strstr(error_get(), "/nonexistent.safetensors: No such file"), "%s", error_get());
    return tap_done();
}
