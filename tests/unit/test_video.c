/* test_video.c — tiling, labels and the video writer (MP4 and GIF files appear only on finish;
 * aborting leaves nothing). The frame counts and codecs are checked with ffprobe in
 * tests/vidwrite.bats. */
#include "tap.h"
#include "util/error.h"
#include "video/encode.h"
#include "video/tile.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)st.st_size : -1;
}

static int count_temp_files(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -c '^\\.' ", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n - 2; /* . and .. */
}

static int write_frames(const char *path, int height, int width, int frames)
{
    video_options_t options = {.fps = 10, .crf = 30, .preset = "ultrafast"};
    video_writer_t *v = video_writer_open(path, height, width, &options);
    if (!v) return -1;
    uint8_t *rgb = malloc((size_t)height * width * 3);
    for (int f = 0; f < frames; f++) {
        for (int i = 0; i < height * width * 3; i++) rgb[i] = (uint8_t)(i * 7 + f * 13);
        if (video_writer_add(v, rgb) < 0) {
            free(rgb);
            video_writer_abort(v);
            return -1;
        }
    }
    free(rgb);
    return video_writer_finish(v);
}

int main(void)
{
    /* ---- tiling */
    uint8_t a[2 * 3 * 3], b[4 * 2 * 3];
    memset(a, 10, sizeof a);
    memset(b, 20, sizeof b);
    video_tile_t tiles[2] = {{"a", a, 2, 3}, {"b", b, 4, 2}};
    int h, w;
    video_tile_size(tiles, 2, &h, &w);
    tap_ok(h == 4 && w == 5, "tile size of 2x3 and 4x2 side by side is 4x5 (got %dx%d)", h, w);
    uint8_t frame[4 * 5 * 3];
    video_tile_compose(tiles, 2, 0, frame);
    tap_ok(frame[0] == 10 && frame[(0 * 5 + 3) * 3] == 20 && frame[(3 * 5 + 0) * 3] == 0 &&
               frame[(3 * 5 + 4) * 3] == 20,
           "tiles placed left to right, top-aligned, black below the shorter one");

    uint8_t canvas[12 * 40 * 3];
    memset(canvas, 100, sizeof canvas);
    video_draw_text(canvas, 12, 40, 0, 0, 1, "top");
    int white = 0, dark = 0;
    for (int i = 0; i < 12 * 40; i++) {
        white += canvas[i * 3] == 255;
        dark += canvas[i * 3] == 33;
    }
    tap_ok(white > 15 && dark > 40, "label draws white glyphs on a darkened box (%d white, %d dark)", white, dark);
    memset(canvas, 100, sizeof canvas);
    video_draw_text(canvas, 12, 40, 35, 8, 2, "clipped_label");
    tap_ok(1, "text running off the image is clipped (no crash)");

    /* ---- writer */
    char dir[] = "/tmp/test_video.XXXXXX";
    if (!mkdtemp(dir)) return tap_ok(0, "mkdtemp"), 1;
    char path[256];
    video_kind_t kind;
    tap_ok(video_kind_from_path("x/ep0.MP4", &kind) == 0 && kind == VIDEO_KIND_H264, ".MP4 is H.264");
    tap_ok(video_kind_from_path("ep0.gif", &kind) == 0 && kind == VIDEO_KIND_GIF, ".gif is GIF");
    tap_ok(video_kind_from_path("ep0.avi", &kind) < 0 && strstr(error_get(), "ep0.avi"), "unknown extension rejected");

    error_clear();
    snprintf(path, sizeof path, "%s/even.mp4", dir);
    tap_ok(write_frames(path, 16, 24, 5) == 0 && file_size(path) > 100, "5 frames 16x24 to MP4: %s", error_get());
    snprintf(path, sizeof path, "%s/odd.mp4", dir);
    tap_ok(write_frames(path, 15, 21, 3) == 0 && file_size(path) > 100, "odd size 15x21 padded to MP4: %s",
           error_get());
    snprintf(path, sizeof path, "%s/anim.gif", dir);
    tap_ok(write_frames(path, 15, 21, 4) == 0 && file_size(path) > 30, "4 frames to GIF: %s", error_get());

    snprintf(path, sizeof path, "%s/aborted.mp4", dir);
    video_options_t options = {.fps = 10, .crf = 23};
    video_writer_t *v = video_writer_open(path, 8, 8, &options);
    uint8_t pixels[8 * 8 * 3] = {0};
    tap_ok(v && video_writer_add(v, pixels) == 0, "writer opened and took a frame");
    video_writer_abort(v);
    tap_ok(file_size(path) < 0 && count_temp_files(dir) == 0, "abort leaves neither the file nor a temporary");
    snprintf(path, sizeof path, "%s/empty.mp4", dir);
    v = video_writer_open(path, 8, 8, &options);
    tap_ok(video_writer_finish(v) < 0 && file_size(path) < 0 && count_temp_files(dir) == 0,
           "finishing with no frames is an error and leaves nothing");
    snprintf(path, sizeof path, "%s/no/such/dir/x.mp4", dir);
    tap_ok(video_writer_open(path, 8, 8, &options) == NULL && strstr(error_get(), "x.mp4"),
           "unwritable directory is an error naming the file: %s", error_get());

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
