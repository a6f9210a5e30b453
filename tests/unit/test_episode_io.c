/* test_episode_io.c — episode writer -> reader round trips in both layouts, atomic writing,
 * image resampling, statistics accumulation and the stats loader, action chunks. */
#include "io/chunk.h"
#include "io/episode.h"
#include "io/episode_write.h"
#include "io/image_resize.h"
#include "io/stats.h"
#include "tap.h"
#include "util/error.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static int keep; /* ILT_KEEP_EPISODES=DIR: write there and keep the files (tests/io.bats checks them with h5py) */

static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_act_round_trip(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/episode_7.hdf5", dir);
    episode_writer_options o = {.layout = EPISODE_LAYOUT_ACT, .sim = 1, .gzip_level = 1};
    episode_writer *w = episode_writer_create(path, &o);
    tap_ok(w && episode_writer_begin(w) == 0, "ACT writer opens");
    int qpos = episode_writer_dataset(w, "observations/qpos", NPY_F32, 1, (int64_t[]){4});
    int top = episode_writer_dataset(w, "observations/images/top", NPY_U8, 3, (int64_t[]){6, 8, 3});
    int act = episode_writer_dataset(w, "action", NPY_F64, 1, (int64_t[]){2});
    const int T = 5000; /* several low-dim chunks */
    uint8_t img[6 * 8 * 3];
    for (int t = 0; t < T; t++) {
        float q[4] = {t, -t, 0.1f * t, 1e-3f};
        double a[2] = {t * 0.25, 1.0 / (t + 1)};
        for (int i = 0; i < (int)sizeof img; i++) img[i] = (uint8_t)(t + i);
        if (episode_writer_append(w, qpos, q) < 0 || episode_writer_append(w, act, a) < 0 ||
            (t < 40 && episode_writer_append(w, top, img) < 0))
            break;
        if (t == 39) tap_ok(access(path, F_OK) != 0 && count_files() == 1, "while writing only the temporary file exists");
    }
    /* images stopped at 40 frames: lengths differ */
    tap_ok(episode_writer_end(w) < 0 && strstr(error_get(), "observations/images/top"),
           "different lengths rejected: %s", error_get());
    episode_writer_abort(w);
    tap_ok(count_files() == 0, "abort removes the temporary file");

    w = episode_writer_create(path, &o);
    episode_writer_begin(w);
    qpos = episode_writer_dataset(w, "observations/qpos", NPY_F32, 1, (int64_t[]){4});
    top = episode_writer_dataset(w, "observations/images/top", NPY_U8, 3, (int64_t[]){6, 8, 3});
    act = episode_writer_dataset(w, "action", NPY_F64, 1, (int64_t[]){2});
    for (int t = 0; t < 300; t++) {
        float q[4] = {t, -t, 0.1f * t, 1e-3f};
        double a[2] = {t * 0.25, 1.0 / (t + 1)};
        for (int i = 0; i < (int)sizeof img; i++) img[i] = (uint8_t)(t + i);
        episode_writer_append(w, qpos, q);
        episode_writer_append(w, act, a);
        episode_writer_append(w, top, img);
    }
    tap_ok(episode_writer_end(w) == 300 && episode_writer_close(w) == 0 && access(path, F_OK) == 0 && count_files() == 1,
           "300-frame episode committed under its name");

    episode_file *f = episode_file_open(path, EPISODE_LAYOUT_AUTO);
    tap_ok(f && episode_file_layout(f) == EPISODE_LAYOUT_ACT && episode_number_from_path(path) == 7,
           "read back as an ACT episode, number 7 from the name");
    episode_reader *r = f ? episode_reader_open(f, 0, 7, NULL) : NULL;
    tap_ok(r && episode_reader_length(r) == 300, "300 frames");
    stream_sample s;
    stream_sample_init(&s);
    int good = r != NULL;
    for (int t = 0; good && t < 300; t++) {
        good &= episode_reader_frame(r, t, &s) == 0;
        const npy_array *q = stream_sample_get(&s, "observation.state"), *a = stream_sample_get(&s, "action"),
                        *im = stream_sample_get(&s, "observation.images.top");
        good &= q && a && im && q->shape[0] == 4 && a->dtype == NPY_F32 && im->shape[1] == 8;
        if (!good) break;
        good &= ((float *)q->data)[1] == -t && ((float *)a->data)[1] == (float)(1.0 / (t + 1));
        good &= ((uint8_t *)im->data)[5] == (uint8_t)(t + 5);
        good &= strcmp(s.key, t == 299 ? "ep000007_t000299" : s.key) == 0;
    }
    tap_ok(good, "every frame's state, action (float64 -> float32) and image read back");
    tap_ok(stream_sample_get(&s, "observation.velocity") == NULL, "no qvel dataset, no velocity feature");
    episode_reader_close(r);
    char *features[] = {"observation.velocity", NULL};
    episode_read_options ro = {.features = features};
    tap_ok(episode_reader_open(f, 0, 7, &ro) == NULL && strstr(error_get(), "missing dataset /observations/qvel"),
           "requested feature absent: %s", error_get());
    episode_file_close(f);
    stream_sample_free(&s);
    if (!keep) unlink(path);
}

static void test_robomimic_round_trip(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/demo.hdf5", dir);
    episode_writer_options o = {.layout = EPISODE_LAYOUT_ROBOMIMIC, .env_args = "{\"env_name\": \"Lift\"}"};
    episode_writer *w = episode_writer_create(path, &o);
    int lengths[3] = {4, 9, 2};
    for (int d = 0; d < 3; d++) {
        episode_writer_begin(w);
        int pos = episode_writer_dataset(w, "obs/robot0_eef_pos", NPY_F64, 1, (int64_t[]){3});
        int quat = episode_writer_dataset(w, "obs/robot0_eef_quat", NPY_F32, 1, (int64_t[]){4});
        int grip = episode_writer_dataset(w, "obs/robot0_gripper_qpos", NPY_F32, 1, (int64_t[]){2});
        int cam = episode_writer_dataset(w, "obs/agentview_image", NPY_U8, 3, (int64_t[]){4, 4, 3});
        int act = episode_writer_dataset(w, "actions", NPY_F32, 1, (int64_t[]){7});
        int rew = episode_writer_dataset(w, "rewards", NPY_F64, 0, NULL);
        int done = episode_writer_dataset(w, "dones", NPY_I64, 0, NULL);
        for (int t = 0; t < lengths[d]; t++) {
            double p[3] = {d, t, 0.5};
            float q[4] = {1, 0, 0, (float)t}, g[2] = {0.04f, -0.04f}, a[7] = {(float)d, (float)t};
            uint8_t img[48];
            memset(img, d * 10 + t, sizeof img);
            double r = t == lengths[d] - 1;
            int64_t dn = t == lengths[d] - 1;
            episode_writer_append(w, pos, p);
            episode_writer_append(w, quat, q);
            episode_writer_append(w, grip, g);
            episode_writer_append(w, cam, img);
            episode_writer_append(w, act, a);
            episode_writer_append(w, rew, &r);
            episode_writer_append(w, done, &dn);
        }
        tap_ok(episode_writer_end(w) == lengths[d], "demo_%d has %d frames", d, lengths[d]);
    }
    tap_ok(episode_writer_mask(w, "train", (int64_t[]){0, 2}, 2) == 0, "mask/train written");
    tap_ok(episode_writer_close(w) == 0, "robomimic file committed");

    episode_file *f = episode_file_open(path, EPISODE_LAYOUT_AUTO);
    tap_ok(f && episode_file_layout(f) == EPISODE_LAYOUT_ROBOMIMIC && episode_file_count(f) == 3,
           "three demos found");
    tap_ok(episode_file_apply_mask(f, "train") == 0 && episode_file_count(f) == 2 && episode_file_number(f, 1) == 2,
           "mask train keeps demos 0 and 2");
    episode_reader *r = episode_reader_open(f, 1, 2, NULL);
    stream_sample s;
    stream_sample_init(&s);
    int ok = r && episode_reader_length(r) == 2 && episode_reader_frame(r, 1, &s) == 0;
    const npy_array *st = ok ? stream_sample_get(&s, "observation.state") : NULL;
    ok = ok && st && st->shape[0] == 9 && ((float *)st->data)[0] == 2 && ((float *)st->data)[6] == 1 &&
         ((float *)st->data)[8] == -0.04f;
    tap_ok(ok, "state is pos+quat+gripper concatenated (9 values)");
    const npy_array *done = stream_sample_get(&s, "next.done"), *rew = stream_sample_get(&s, "next.reward");
    tap_ok(done && done->dtype == NPY_BOOL && *(uint8_t *)done->data == 1 && rew && *(float *)rew->data == 1,
           "last frame: next.done true, next.reward 1");
    const npy_array *img = stream_sample_get(&s, "observation.images.agentview");
    tap_ok(img && ((uint8_t *)img->data)[0] == 21, "agentview_image -> observation.images.agentview");
    episode_reader_close(r);
    tap_ok(episode_file_apply_mask(f, "valid") < 0 && strstr(error_get(), "no mask valid"), "absent mask: %s", error_get());
    episode_file_close(f);
    stream_sample_free(&s);
    if (!keep) unlink(path);
}

static void test_resize(void)
{
    uint8_t src[4 * 4 * 3], dst[2 * 2 * 3], up[8 * 8 * 3];
    for (int i = 0; i < 48; i++) src[i] = (uint8_t)(i * 5);
    image_resizer *r = image_resizer_new(4, 4, 2, 2, 3);
    image_resizer_run(r, src, dst);
    image_resizer_free(r);
    /* output (0,0) channel 0 averages pixels (0,0),(0,1),(1,0),(1,1) channel 0: 0,15,60,75 -> 37.5 */
    tap_ok(dst[0] == 38 || dst[0] == 37, "area average of a 2x2 block (%d)", dst[0]);
    memset(src, 77, sizeof src);
    r = image_resizer_new(4, 4, 8, 8, 3);
    image_resizer_run(r, src, up);
    image_resizer_free(r);
    int flat = 1;
    for (int i = 0; i < 192; i++) flat &= up[i] == 77;
    tap_ok(flat, "bilinear enlargement keeps a flat image flat");
}

static void test_stats(void)
{
    stats_accumulator *acc = stats_accumulator_new();
    stream_sample s;
    stream_sample_init(&s);
    const int N = 1000;
    double sum = 0, sumsq = 0;
    for (int i = 0; i < N; i++) {
        stream_sample_reset(&s, "s%d", i);
        double x = 1e6 + (i % 7) * 0.125 + i * 1e-3;
        sum += x;
        npy_array *a = stream_sample_add(&s, "action", NPY_F64, 1, (int64_t[]){1});
        ((double *)a->data)[0] = x;
        npy_array *img = stream_sample_add(&s, "observation.images.cam", NPY_U8, 3, (int64_t[]){2, 2, 3});
        for (int k = 0; k < 12; k++) ((uint8_t *)img->data)[k] = (uint8_t)(k % 3 == 0 ? 255 : (i + k) % 256);
        stats_accumulator_add(acc, &s);
    }
    double mean = sum / N;
    for (int i = 0; i < N; i++) {
        double x = 1e6 + (i % 7) * 0.125 + i * 1e-3;
        sumsq += (x - mean) * (x - mean);
    }
    double std = sqrt(sumsq / N);
    stream_sample out;
    stream_sample_init(&out);
    stats_set st;
    tap_ok(stats_accumulator_sample(acc, &out) == 0 && stats_from_sample(&out, &st) == 0, "stats sample built and parsed");
    const stats_feature *a = stats_find(&st, "action"), *im = stats_find(&st, "observation.images.cam");
    tap_ok(a && a->count == N && fabs(a->std[0] - std) / std < 1e-6, "std at offset 1e6 (%.9g vs %.9g)", a ? a->std[0] : 0, std);
    tap_ok(im && im->n == 3 && im->ndim == 3 && im->shape[0] == 3 && im->mean[0] == 1.0f && im->std[0] == 0,
           "image stats per channel [3,1,1], scaled to [0,1]");
    stats_free(&st);
    /* the stats stream on disk, read back with stats_load as a trainer does */
    char path[512];
    snprintf(path, sizeof path, "%s/stats.tar", dir);
    FILE *fp = fopen(path, "wb");
    stream_writer *w = stream_writer_open(fp);
    int wrote = stream_writer_put(w, &out) == 0 && stream_writer_close(w) == 0;
    fclose(fp);
    tap_ok(wrote && stats_load(path, &st) == 0 && st.n_features == 2 && (a = stats_find(&st, "action")) &&
               a->n == 1 && fabs(a->mean[0] - mean) < 0.07 && stats_find(&st, "nope") == NULL,
           "stats_load reads the stats stream back");
    stats_free(&st);
    unlink(path);
    stream_sample_reset(&s, "bad");
    npy_array *x = stream_sample_add(&s, "action", NPY_F64, 1, (int64_t[]){1});
    ((double *)x->data)[0] = NAN;
    stream_sample_add(&s, "observation.images.cam", NPY_U8, 3, (int64_t[]){2, 2, 3});
    stream_sample_add_i64(&s, "episode_index", 4);
    tap_ok(stats_accumulator_add(acc, &s) < 0, "a sample with another field set is rejected: %s", error_get());
    stream_sample_remove(&s, "episode_index");
    tap_ok(stats_accumulator_add(acc, &s) < 0 && strstr(error_get(), "NaN in feature action"), "NaN rejected: %s", error_get());
    stats_accumulator_free(acc);
    stream_sample_free(&s);
    stream_sample_free(&out);
}

/* A million float64 samples at offset 1e6 with a spread of 1e-3: a naive sum of squares loses
 * every digit here. NumPy's answer, from
 *   i = np.arange(1000000.); x = 1e6 + 1e-3*np.sin(i*0.7) + 1e-4*(i % 13); x.std(), x.mean()
 * is 0.000799999678078852 and 1000000.000600002. */
static void test_stats_million(void)
{
    stats_accumulator *acc = stats_accumulator_new();
    stream_sample s, out;
    stream_sample_init(&s);
    stream_sample_init(&out);
    stream_sample_reset(&s, "x");
    npy_array *a = stream_sample_add(&s, "observation.state", NPY_F64, 1, (int64_t[]){1});
    int ok = 1;
    for (int i = 0; i < 1000000 && ok; i++) {
        ((double *)a->data)[0] = 1e6 + 1e-3 * sin(i * 0.7) + 1e-4 * (i % 13);
        ok = stats_accumulator_add(acc, &s) == 0;
    }
    char *json = NULL;
    size_t json_size = 0;
    FILE *mem = open_memstream(&json, &json_size);
    ok = ok && stats_accumulator_json(acc, mem) == 0;
    fclose(mem);
    const char *p = json ? strstr(json, "\"std\": [") : NULL;
    double got = p ? strtod(p + 8, NULL) : 0, want = 0.000799999678078852;
    tap_ok(ok && fabs(got - want) / want < 1e-9, "1e6 samples at offset 1e6: std %.15g, NumPy %.15g (JSON, double)", got, want);
    p = json ? strstr(json, "\"mean\": [") : NULL;
    got = p ? strtod(p + 9, NULL) : 0;
    tap_ok(fabs(got - 1000000.000600002) / 1e6 < 1e-12, "and the mean to 1e-12 relative (%.15f)", got);
    free(json);
    ok = stats_accumulator_sample(acc, &out) == 0;
    const npy_array *std = stream_sample_get(&out, "observation.state.std");
    got = ok && std ? ((float *)std->data)[0] : 0;
    tap_ok(fabs(got - want) / want < 1e-6, "float32 std in the stats stream %.9g", got);
    stats_accumulator_free(acc);
    stream_sample_free(&s);
    stream_sample_free(&out);
}

static void test_chunk(void)
{
    stream_sample frames[5];
    for (int t = 0; t < 5; t++) {
        stream_sample_init(&frames[t]);
        stream_sample_reset(&frames[t], "ep000000_t%06d", t);
        npy_array *a = stream_sample_add(&frames[t], "action", NPY_F32, 1, (int64_t[]){2});
        ((float *)a->data)[0] = (float)t;
        ((float *)a->data)[1] = -(float)t;
        stream_sample_add_f32(&frames[t], "observation.state", 10.0f + t);
    }
    stream_sample out;
    stream_sample_init(&out);
    chunk_options o = {.chunk = 3, .obs_steps = 2};
    chunk_build(frames, 5, 4, &o, &out);
    const npy_array *a = stream_sample_get(&out, "action"), *p = stream_sample_get(&out, "action_is_pad"),
                    *st = stream_sample_get(&out, "observation.state");
    const float *av = a->data;
    const uint8_t *pv = p->data;
    tap_ok(a->shape[0] == 3 && av[0] == 4 && av[2] == 4 && av[4] == 4 && pv[0] == 0 && pv[1] == 1 && pv[2] == 1,
           "last frame: chunk padded with the last action");
    tap_ok(st->ndim == 1 && st->shape[0] == 2 && ((float *)st->data)[0] == 13, "observation history [2]");
    o.pad_zero = 1;
    chunk_build(frames, 5, 4, &o, &out);
    av = stream_sample_get(&out, "action")->data;
    tap_ok(av[0] == 4 && av[2] == 0 && av[5] == 0, "zero padding");
    o.pad_zero = 0;
    o.action_start = 1;
    chunk_build(frames, 5, 0, &o, &out);
    av = stream_sample_get(&out, "action")->data;
    pv = stream_sample_get(&out, "action_is_pad")->data;
    st = stream_sample_get(&out, "observation.state");
    tap_ok(av[0] == 0 && av[2] == 0 && av[4] == 1 && pv[0] == 1 && pv[1] == 0 && ((float *)st->data)[0] == 10 &&
               ((float *)st->data)[1] == 10,
           "first frame with action_start: the row before the start is padding, observation repeated");
    for (int t = 0; t < 5; t++) stream_sample_free(&frames[t]);
    stream_sample_free(&out);
}

int main(void)
{
    const char *keep_dir = getenv("ILT_KEEP_EPISODES");
    keep = keep_dir != NULL;
    snprintf(dir, sizeof dir, "%s", keep ? keep_dir : "/tmp/test_episode_io.XXXXXX");
    if (!keep && !mkdtemp(dir)) return 1;
    test_act_round_trip();
    test_robomimic_round_trip();
    test_resize();
    test_stats();
    test_stats_million();
    test_chunk();
    if (!keep) rmdir(dir);
    return tap_done();
}
