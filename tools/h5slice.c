/* h5slice — read HDF5 episodes (ACT/ALOHA or robomimic) and write one sample per frame to stdout
 * as a tar stream of .npy members. See h5slice(1). */
#include "io/episode.h"
#include "io/stream.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/progress.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    episode_layout layout;
    int64_t *episodes;       /* NULL: all */
    size_t n_episodes;
    const char *mask;
    int64_t frame_start, frame_stop; /* stop -1: to the end */
    episode_read_options read;
    int quiet;
    char **files;
    int n_files;
} options;

static _Noreturn void usage(void)
{
    printf("Usage: h5slice [OPTIONS] FILE...\n"
           "Read ACT/ALOHA or robomimic HDF5 episodes and write one sample per frame to stdout\n"
           "(a tar stream of .npy members: episode_index, frame_index, observation.state,\n"
           "observation.velocity, observation.images.<cam>, action, next.reward, next.done).\n\n"
           "  -e, --episodes LIST    episodes to read, e.g. 0-39,45 (ACT: number in the file name;\n"
           "                         robomimic: N of demo_N)\n"
           "      --mask NAME        robomimic: only the demos listed in mask/NAME (train, valid)\n"
           "  -t, --frames START:STOP  frames START..STOP-1 of every episode\n"
           "  -f, --features LIST    features to write (default all), e.g. observation.state,action\n"
           "      --state KEYS       robomimic obs keys forming observation.state\n"
           "                         (default " EPISODE_DEFAULT_STATE_KEYS ")\n"
           "      --obs KEYS         robomimic obs keys written each as observation.<key>\n"
           "      --resize HxW       resample every image to HxW (area when shrinking, bilinear when growing)\n"
           "      --layout L         act, robomimic or auto (default auto)\n"
           "  -q, --quiet            no progress on stderr\n"
           "      --help             this text\n"
           "      --version          version\n");
    exit(tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS);
}

static void parse_options(int argc, char **argv, options *o)
{
    enum { OPT_MASK = 256, OPT_STATE, OPT_OBS, OPT_RESIZE, OPT_LAYOUT, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        {"episodes", required_argument, 0, 'e'}, {"mask", required_argument, 0, OPT_MASK},
        {"frames", required_argument, 0, 't'},   {"features", required_argument, 0, 'f'},
        {"state", required_argument, 0, OPT_STATE}, {"obs", required_argument, 0, OPT_OBS}, {"resize", required_argument, 0, OPT_RESIZE},
        {"layout", required_argument, 0, OPT_LAYOUT}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, OPT_HELP},      {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->frame_stop = -1;
    int c;
    while ((c = getopt_long(argc, argv, "e:t:f:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (parse_index_list(optarg, 1000000, &o->episodes, &o->n_episodes) < 0)
                tool_usage_error("--episodes: %s", error_get());
            break;
        case OPT_MASK: o->mask = optarg; break;
        case 't':
            if (parse_span(optarg, &o->frame_start, &o->frame_stop) < 0) tool_usage_error("--frames: %s", error_get());
            break;
        case 'f':
            if (!(o->read.features = strlist_split(optarg, ',', NULL))) tool_die(EXIT_DATA, "%s", error_get());
            for (char **p = o->read.features; *p; p++)
                if (!**p) tool_usage_error("--features: empty name in '%s'", optarg);
            break;
        case OPT_STATE:
            if (!(o->read.state_keys = strlist_split(optarg, ',', NULL))) tool_die(EXIT_DATA, "%s", error_get());
            for (char **p = o->read.state_keys; *p; p++)
                if (!**p) tool_usage_error("--state: empty key in '%s'", optarg);
            break;
        case OPT_OBS:
            if (!(o->read.obs_keys = strlist_split(optarg, ',', NULL))) tool_die(EXIT_DATA, "%s", error_get());
            for (char **p = o->read.obs_keys; *p; p++)
                if (!**p || strchr(*p, '/')) tool_usage_error("--obs: bad key in '%s'", optarg);
            break;
        case OPT_RESIZE:
            if (parse_size_hw(optarg, &o->read.resize_height, &o->read.resize_width) < 0)
                tool_usage_error("--resize: %s", error_get());
            break;
        case OPT_LAYOUT:
            if (episode_layout_parse(optarg, &o->layout) < 0) tool_usage_error("--layout: %s", error_get());
            break;
        case 'q': o->quiet = 1; break;
        case OPT_HELP: usage();
        case OPT_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    if (optind >= argc) tool_usage_error("no input files");
    o->files = argv + optind;
    o->n_files = argc - optind;
}

/* One episode to write: file, index in the file, episode_index. */
typedef struct {
    int file;
    size_t i;
    int64_t index;
} job;

int main(int argc, char **argv)
{
    options o;
    tool_init("h5slice");
    parse_options(argc, argv, &o);

    /* Open every file and check every selected episode before writing anything, so that a bad
     * file, a missing dataset or mismatched lengths leave stdout empty. */
    episode_file **files = calloc(o.n_files, sizeof *files);
    job *jobs = NULL;
    size_t n_jobs = 0;
    int64_t total_frames = 0;
    for (int k = 0; k < o.n_files; k++) {
        if (!(files[k] = episode_file_open(o.files[k], o.layout))) tool_die(EXIT_DATA, "%s", error_get());
        if (o.mask && episode_file_apply_mask(files[k], o.mask) < 0) tool_die(EXIT_DATA, "%s", error_get());
        for (size_t i = 0; i < episode_file_count(files[k]); i++) {
            int64_t index = episode_file_number(files[k], i);
            if (index < 0) index = episode_number_from_path(o.files[k]);
            if (index < 0) index = k;
            if (o.episodes && !index_list_contains(o.episodes, o.n_episodes, index)) continue;
            for (size_t j = 0; j < n_jobs; j++)
                if (jobs[j].index == index)
                    tool_die(EXIT_DATA, "episode %" PRId64 " appears twice (%s and %s)", index, o.files[jobs[j].file], o.files[k]);
            episode_reader *r = episode_reader_open(files[k], i, index, &o.read);
            if (!r) tool_die(EXIT_DATA, "%s", error_get());
            int64_t stop = o.frame_stop < 0 || o.frame_stop > episode_reader_length(r) ? episode_reader_length(r) : o.frame_stop;
            if (stop > o.frame_start) total_frames += stop - o.frame_start;
            episode_reader_close(r);
            if (!(jobs = realloc(jobs, (n_jobs + 1) * sizeof *jobs))) tool_die(EXIT_DATA, "out of memory");
            jobs[n_jobs++] = (job){k, i, index};
        }
    }
    if (n_jobs == 0) tool_die(EXIT_DATA, "no episode matches the selection");

    stream_writer *w = stream_writer_open(stdout);
    if (!w) tool_die(EXIT_DATA, "%s", error_get());
    stream_sample s;
    stream_sample_init(&s);
    progress_t progress;
    progress_start(&progress, "h5slice", total_frames, o.quiet || !isatty(STDERR_FILENO));
    int64_t done = 0;
    for (size_t j = 0; j < n_jobs; j++) {
        episode_reader *r = episode_reader_open(files[jobs[j].file], jobs[j].i, jobs[j].index, &o.read);
        if (!r) goto fail;
        int64_t stop = o.frame_stop < 0 || o.frame_stop > episode_reader_length(r) ? episode_reader_length(r) : o.frame_stop;
        for (int64_t t = o.frame_start; t < stop; t++) {
            if (episode_reader_frame(r, t, &s) < 0 || stream_writer_put(w, &s) < 0) {
                episode_reader_close(r);
                goto fail;
            }
            progress_update(&progress, ++done, NULL);
        }
        episode_reader_close(r);
    }
    progress_finish(&progress, done, NULL);
    if (stream_writer_close(w) < 0) tool_die(EXIT_DATA, "%s", error_get());
    stream_sample_free(&s);
    for (int k = 0; k < o.n_files; k++) episode_file_close(files[k]);
    free(files);
    free(jobs);
    free(o.episodes);
    strlist_free(o.read.features);
    strlist_free(o.read.state_keys);
    strlist_free(o.read.obs_keys);
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
fail:
    stream_writer_abort(w);
    tool_die(EXIT_DATA, "%s", error_get());
}
