/* vidwrite — turn a sample stream's camera images into a video: H.264 MP4, animated GIF, or a
 * PNG still of the last frame.
 *
 *   vidwrite -o OUT [--fps N] [--crf N] [--preset NAME] [--cameras LIST] [--label] [--captions] [-q] [FILE|-]
 *
 * Every sample of the stream is one video frame; its `observation.images.<camera>` fields (or
 * `images.<camera>`) are tiled left to right, in --cameras order or else sorted by name. */
#include "io/frames.h"
#include "io/stream.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/progress.h"
#include "util/tempfile.h"
#include "video/encode.h"
#include "video/tile.h"

#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *output, *input;
    video_options_t video;
    char **cameras; /* NULL: every camera of the first sample */
    size_t n_cameras;
    int label, captions, quiet;
} vidwrite_options_t;

static const char usage_text[] =
    "Usage: vidwrite -o OUT [options] [FILE|-]\n"
    "Write the camera images of a sample stream (observation.images.* fields) as a video.\n"
    "OUT ending in .gif gives an animated GIF; .mp4, .m4v, .mov, .mkv give H.264 (yuv420p);\n"
    ".png gives a still image of the last frame.\n\n"
    "  -o, --output OUT     video file to write (required; written atomically)\n"
    "  -r, --fps N          frames per second (default 30)\n"
    "  -c, --crf N          x264 quality 0..51, lower is better (default 23)\n"
    "      --preset NAME    x264 preset (default medium)\n"
    "  -C, --cameras LIST   cameras to show, comma-separated, in this order (default: all, sorted)\n"
    "  -l, --label          write each camera's name in its corner\n"
    "      --captions       also write the episode's seed, reward stage and success along the\n"
    "                       bottom (from the episode_index, reward_stage, max_reward and success\n"
    "                       fields rollout --frames writes)\n"
    "  -q, --quiet          no progress on stderr\n"
    "      --help           this text\n"
    "      --version        version\n";

static void parse_options(int argc, char **argv, vidwrite_options_t *o)
{
    enum { OPT_HELP = 256, OPT_VERSION, OPT_CAPTIONS };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"fps", required_argument, 0, 'r'},
        {"crf", required_argument, 0, 'c'},    {"preset", required_argument, 0, 'p'},
        {"cameras", required_argument, 0, 'C'}, {"label", no_argument, 0, 'l'},
        {"captions", no_argument, 0, OPT_CAPTIONS},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, OPT_HELP},
        {"version", no_argument, 0, OPT_VERSION},      {0, 0, 0, 0}};
    *o = (vidwrite_options_t){.input = "-", .video = {.fps = 30, .crf = 23, .preset = "medium"}};
    long value;
    int c;
    while ((c = getopt_long(argc, argv, "o:r:c:C:lq", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case 'r':
            if (parse_long(optarg, 1, 1000, &value) < 0) tool_usage_error("--fps: %s", error_get());
            o->video.fps = (int)value;
            break;
        case 'c':
            if (parse_long(optarg, 0, 51, &value) < 0) tool_usage_error("--crf: %s", error_get());
            o->video.crf = (int)value;
            break;
        case 'p': o->video.preset = optarg; break;
        case 'C':
            strlist_free(o->cameras);
            o->cameras = strlist_split(optarg, ',', &o->n_cameras);
            if (!o->cameras || o->n_cameras == 0) tool_usage_error("--cameras: %s", error_get());
            for (size_t i = 0; i < o->n_cameras; i++)
                if (!o->cameras[i][0]) tool_usage_error("--cameras: empty camera name in '%s'", optarg);
            break;
        case 'l': o->label = 1; break;
        case OPT_CAPTIONS: o->captions = o->label = 1; break;
        case 'q': o->quiet = 1; break;
        case OPT_HELP: fputs(usage_text, stdout); exit(tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS);
        case OPT_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    if (!o->output) tool_usage_error("-o OUT is required");
    if (strcmp(o->output, "-") == 0) tool_usage_error("-o: the output must be a file (MP4 needs seeking)");
    video_kind_t kind;
    if (video_kind_from_path(o->output, &kind) < 0) tool_usage_error("%s", error_get());
    if (optind < argc) o->input = argv[optind++];
    if (optind < argc) tool_usage_error("one input at most (got '%s' too)", argv[optind]);
}

/* "frame 17 of episode 3 (sample ep000003_t000017)" or "sample 42 (key abc)". */
static void describe_frame(const stream_sample *s, int64_t sample_index, char *buf, size_t size)
{
    int64_t episode, frame;
    if (stream_sample_get_i64(s, "episode_index", &episode) == 0 &&
        stream_sample_get_i64(s, "frame_index", &frame) == 0) {
        snprintf(buf, size, "frame %lld of episode %lld (sample %s)", (long long)frame, (long long)episode, s->key);
        return;
    }
    error_clear();
    long long e, f;
    int used = 0;
    if (sscanf(s->key, "ep%lld_t%lld%n", &e, &f, &used) == 2 && s->key[used] == 0)
        snprintf(buf, size, "frame %lld of episode %lld (sample %s)", f, e, s->key);
    else
        snprintf(buf, size, "sample %lld (key %s)", (long long)sample_index, s->key);
}

/* ---------------------------------------------------------------- captions */
/* Where the episode stands (io/frames.h) in the bottom-left corner; a frame with none of the
 * seed, stage and success fields is an error (the stream is not rollout's frames). */
static int draw_caption(const stream_sample *s, int64_t sample_index, const char *input_name, uint8_t *frame,
                        int height, int width)
{
    frame_status_t f;
    char text[160];
    frame_sample_status(s, &f);
    if (!(f.present & (FRAME_HAS_EPISODE | FRAME_HAS_STAGE | FRAME_HAS_SUCCESS))) {
        char where[256];
        describe_frame(s, sample_index, where, sizeof where);
        return error_set("%s: %s: --captions: no episode_index, reward_stage or success field (rollout --frames writes them)",
                         input_name, where);
    }
    frame_caption(&f, text, sizeof text);
    int scale = video_text_scale(height);
    video_draw_text(frame, height, width, scale, height - video_text_height(scale) - scale, scale, text);
    return 0;
}

/* ---------------------------------------------------------------- the frame loop */
typedef struct {
    char **cameras;
    size_t n_cameras;
    video_tile_t *tiles;    /* per camera: size fixed by the first frame */
    uint8_t **images;       /* per camera: converted pixels */
    uint8_t *frame;         /* tiled */
    video_writer_t *writer;
} frame_builder_t;

static int add_sample(frame_builder_t *b, const vidwrite_options_t *o, const stream_sample *s,
                      int64_t sample_index, const char *input_name)
{
    char where[256];
    for (size_t i = 0; i < b->n_cameras; i++) {
        const npy_array *a = frame_sample_camera(s, b->cameras[i]);
        int h = 0, w = 0;
        if (!a) {
            char present[256] = "";
            for (size_t f = 0; f < s->n_fields; f++) {
                const char *name = frame_camera_of_field(s->fields[f].name);
                size_t used = strlen(present);
                if (name) snprintf(present + used, sizeof present - used, "%s%s", used ? ", " : "", name);
            }
            describe_frame(s, sample_index, where, sizeof where);
            return error_set("%s: %s: no image for camera %s (cameras there: %s)", input_name, where, b->cameras[i],
                             present[0] ? present : "none");
        }
        if (frame_image_rgb(a, &b->images[i], &h, &w) < 0) {
            describe_frame(s, sample_index, where, sizeof where);
            return error_prefix("%s: %s: camera %s: ", input_name, where, b->cameras[i]);
        }
        if (!b->writer) {
            b->tiles[i] = (video_tile_t){.name = b->cameras[i], .height = h, .width = w};
        } else if (h != b->tiles[i].height || w != b->tiles[i].width) {
            describe_frame(s, sample_index, where, sizeof where);
            return error_set("%s: %s: camera %s image is %dx%d, but the first frame's was %dx%d", input_name, where,
                             b->cameras[i], h, w, b->tiles[i].height, b->tiles[i].width);
        }
        b->tiles[i].rgb = b->images[i];
    }
    int height, width;
    video_tile_size(b->tiles, (int)b->n_cameras, &height, &width);
    if (!b->writer) {
        b->frame = malloc((size_t)height * width * 3);
        if (!b->frame) return error_set("out of memory");
        b->writer = video_writer_open(o->output, height, width, &o->video);
        if (!b->writer) return -1;
    }
    video_tile_compose(b->tiles, (int)b->n_cameras, o->label, b->frame);
    if (o->captions && draw_caption(s, sample_index, input_name, b->frame, height, width) < 0) return -1;
    return video_writer_add(b->writer, b->frame);
}

static int write_video(const vidwrite_options_t *o)
{
    stream_reader *reader = stream_reader_open(o->input);
    if (!reader) return -1;
    const char *input_name = stream_reader_name(reader);
    stream_sample sample;
    stream_sample_init(&sample);
    frame_builder_t b = {0};
    progress_t progress;
    progress_start(&progress, "frames", 0, o->quiet);
    int64_t n = 0;
    int rc;
    while ((rc = stream_reader_next(reader, &sample)) > 0) {
        if (n == 0) {
            if (o->cameras) {
                b.cameras = o->cameras;
                b.n_cameras = o->n_cameras;
            } else {
                b.cameras = frame_sample_cameras(&sample, &b.n_cameras);
                if (!b.cameras) { rc = error_set("out of memory"); break; }
                if (b.n_cameras == 0) {
                    rc = error_set("%s: sample %s has no camera images (fields observation.images.<camera>)",
                                   input_name, sample.key);
                    break;
                }
            }
            b.tiles = calloc(b.n_cameras, sizeof *b.tiles);
            b.images = calloc(b.n_cameras, sizeof *b.images);
            if (!b.tiles || !b.images) { rc = error_set("out of memory"); break; }
        }
        if ((rc = add_sample(&b, o, &sample, n, input_name)) < 0) break;
        n++;
        progress_update(&progress, n, NULL);
    }
    if (rc == 0 && n == 0) rc = error_set("%s: no frames in the stream", input_name);
    if (rc == 0) {
        rc = video_writer_finish(b.writer);
        b.writer = NULL;
        progress_finish(&progress, n, NULL);
    }
    video_writer_abort(b.writer);
    if (b.cameras != o->cameras) strlist_free(b.cameras);
    for (size_t i = 0; b.images && i < b.n_cameras; i++) free(b.images[i]);
    free(b.images);
    free(b.tiles);
    free(b.frame);
    stream_sample_free(&sample);
    stream_reader_close(reader);
    return rc;
}

int main(int argc, char **argv)
{
    tool_init("vidwrite");
    tempfile_remove_on_signals(); /* Ctrl-C or a kill while encoding removes the temporary file */
    vidwrite_options_t options;
    parse_options(argc, argv, &options);
    if (write_video(&options) < 0) tool_die(EXIT_DATA, "%s", error_get());
    strlist_free(options.cameras);
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
}
