/* test_util.c — option parsers, the seeded generator, temporary files. */
#include "tap.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/rng.h"
#include "util/tempfile.h"

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void touch(const char *path)
{
    FILE *fp = fopen(path, "w");
    if (fp) fclose(fp);
}

/* A temporary named <path>.tmp.<pid>, committed by rename; temporaries of dead writers removed,
 * those of live ones and other names kept. */
static void test_tempfile(void)
{
    char dir[] = "/tmp/ilt-tempfile-XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    char path[512], tmp[TEMPFILE_MAX], stale[600], live[600], other[600], kept[600];
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0); /* a process id that is not alive (until reused) */
    snprintf(stale, sizeof stale, "%s/ckpt.step4.h5.tmp.%ld", dir, (long)child);
    snprintf(live, sizeof live, "%s/ckpt.h5.tmp.%ld", dir, (long)getppid());
    snprintf(other, sizeof other, "%s/other.h5.tmp.%ld", dir, (long)child);
    snprintf(kept, sizeof kept, "%s/ckpt.h5.tmp.x%ld", dir, (long)child);
    touch(stale), touch(live), touch(other), touch(kept);
    tap_ok(tempfile_begin(path, tmp, sizeof tmp) == 0 && strstr(tmp, "ckpt.h5.tmp.") && !exists(tmp),
           "tempfile_begin names %s and creates nothing", tmp);
    tap_ok(!exists(stale) && exists(live) && exists(other) && exists(kept),
           "a dead writer's temporary of the same stem is removed; a live one's, another stem's and other names stay");
    touch(tmp);
    tap_ok(tempfile_commit(tmp, path) == 0 && exists(path) && !exists(tmp), "commit renames into place");
    tap_ok(tempfile_begin(path, tmp, sizeof tmp) == 0 && (touch(tmp), 1) && (tempfile_discard(tmp), 1) && !exists(tmp),
           "discard removes the temporary");
    tap_ok(tempfile_commit(tmp, path) < 0 && strstr(error_get(), "cannot sync") && exists(path),
           "committing a missing temporary fails and keeps the file: %s", error_get());
    tap_ok(tempfile_clean_stale(dir, "other.") == 1 && !exists(other), "tempfile_clean_stale with a prefix");
    unlink(path), unlink(live), unlink(kept);
    tap_ok(rmdir(dir) == 0, "nothing else was left in the folder");
}

int main(void)
{
    int64_t *list;
    size_t n;
    tap_ok(parse_index_list("0-3,7,2", 100, &list, &n) == 0 && n == 5 && list[0] == 0 && list[3] == 3 &&
               list[4] == 7, "index list 0-3,7,2 sorted and deduplicated");
    tap_ok(index_list_contains(list, n, 7) && !index_list_contains(list, n, 5), "index list membership");
    free(list);
    tap_ok(parse_index_list("5-", 8, &list, &n) == 0 && n == 4 && list[3] == 8, "open range 5- ends at max");
    free(list);
    tap_ok(parse_index_list("3-1", 8, &list, &n) < 0 && strstr(error_get(), "3-1"), "reversed range rejected");
    tap_ok(parse_index_list("1,,2", 8, &list, &n) < 0, "empty element rejected");
    tap_ok(parse_index_list("a", 8, &list, &n) < 0, "letters rejected");

    int64_t start, stop;
    tap_ok(parse_span("10:20", &start, &stop) == 0 && start == 10 && stop == 20, "span 10:20");
    tap_ok(parse_span(":5", &start, &stop) == 0 && start == 0 && stop == 5, "span :5");
    tap_ok(parse_span("7:", &start, &stop) == 0 && start == 7 && stop == -1, "span 7:");
    tap_ok(parse_span("9:3", &start, &stop) < 0, "span with STOP before START rejected");

    int h, w;
    tap_ok(parse_size_hw("96x128", &h, &w) == 0 && h == 96 && w == 128, "size 96x128");
    tap_ok(parse_size_hw("96x", &h, &w) < 0 && parse_size_hw("0x4", &h, &w) < 0, "bad sizes rejected");

    long v;
    tap_ok(parse_long("42", 0, 100, &v) == 0 && v == 42, "integer");
    tap_ok(parse_long("42x", 0, 100, &v) < 0 && parse_long("101", 0, 100, &v) < 0, "bad integers rejected");
    double d;
    tap_ok(parse_double("1e-4", 0, 1, &d) == 0 && d == 1e-4, "number");
    tap_ok(parse_double("nan", 0, 1, &d) < 0, "nan rejected");

    size_t count;
    char **names = strlist_split("top,angle,,x", ',', &count);
    tap_ok(names && count == 4 && !strcmp(names[1], "angle") && !strcmp(names[2], "") && names[4] == NULL,
           "comma list split");
    strlist_free(names);

    rng_t a, b;
    rng_seed(&a, 1234);
    rng_seed(&b, 1234);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= rng_u64(&a) == rng_u64(&b);
    tap_ok(same, "same seed gives the same stream");
    rng_seed(&b, 1235);
    tap_ok(rng_u64(&a) != rng_u64(&b), "different seeds differ");
    {
        rng_t k1 = rng_keyed(7, 3, 5), k2 = rng_keyed(7, 3, 5), k3 = rng_keyed(7, 5, 3), k4 = rng_keyed(7, 3, 6);
        uint64_t v1 = rng_u64(&k1);
        tap_ok(v1 == rng_u64(&k2) && v1 != rng_u64(&k3) && v1 != rng_u64(&k4),
               "keyed generators: same key same stream; swapped or changed keys differ");
    }

    enum { N = 200000 };
    static float x[N];
    rng_fill_normal(&a, x, N, 0, 1);
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += x[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= N;
    tap_ok(fabs(mean) < 0.01 && fabs(var - 1) < 0.02, "normal fill: mean %.4f var %.4f", mean, var);
    rng_fill_uniform(&a, x, N, -2, 2);
    float lo = 9, hi = -9;
    mean = 0;
    for (int i = 0; i < N; i++) { lo = fminf(lo, x[i]); hi = fmaxf(hi, x[i]); mean += x[i]; }
    tap_ok(lo >= -2 && hi < 2 && fabs(mean / N) < 0.02, "uniform fill in [-2,2)");
    rng_fill_dropout(&a, x, N, 0.9f, 1 / 0.9f);
    long kept = 0;
    for (int i = 0; i < N; i++) kept += x[i] != 0;
    tap_ok(fabs((double)kept / N - 0.9) < 0.005, "dropout keeps 90%% (%.4f)", (double)kept / N);
    /* the mask is the definition's (four 16-bit uniforms per draw, low bits first, kept below
     * round(keep * 65536)) for every tail length, keep and seed: the vector fill and the
     * generator state it leaves behind */
    int as_defined = 1;
    for (int len = 0; len < 40 && as_defined; len++)
        for (int q = 1; q <= 3; q++) {
            float keep = q * 0.3f, scale = 1 / keep;
            rng_t g1, g2;
            rng_seed(&g1, (uint64_t)len * 7 + q);
            g2 = g1;
            float m[40];
            rng_fill_dropout(&g1, m, (size_t)len, keep, scale);
            uint32_t thr = (uint32_t)(keep * 65536.0f + 0.5f);
            for (int i = 0; i < len; i += 4) {
                uint64_t r = rng_u64(&g2);
                for (int k = 0; k < 4 && i + k < len; k++) {
                    float want = (uint32_t)((r >> (16 * k)) & 0xffff) < thr ? scale : 0.0f;
                    if (memcmp(&m[i + k], &want, sizeof want)) as_defined = 0;
                }
            }
            if (rng_u64(&g1) != rng_u64(&g2)) as_defined = 0;
        }
    tap_ok(as_defined, "dropout mask as defined, every tail length, generator state after it");
    int64_t idx[10];
    for (int i = 0; i < 10; i++) idx[i] = i;
    rng_shuffle(&a, idx, 10);
    int64_t sum = 0;
    for (int i = 0; i < 10; i++) sum += idx[i];
    tap_ok(sum == 45, "shuffle is a permutation");
    test_tempfile();
    return tap_done();
}
