/* chunkify — turn a per-frame sample stream into training samples: action chunks [K,A] with
 * action_is_pad, optional observation histories [N,...], every S-th frame. See chunkify(1). */
#include "io/chunk.h"
#include "io/stream.h"
#include "util/error.h"
#include "util/parse.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    chunk_options chunk;
    long stride;
    const char *input;
} options;

static _Noreturn void usage(void)
{
    printf("Usage: chunkify [OPTIONS] [FILE|-]\n"
           "Read per-frame samples (grouped by episode, frames in order; default stdin) and write\n"
           "training samples: action becomes [K,A], the K actions from the frame on, with\n"
           "action_is_pad marking rows past the episode end.\n\n"
           "  -k, --chunk K          actions per chunk (default 1)\n"
           "      --pad last|zero    padding past the end: repeat the last action (default;\n"
           "                         absolute actions) or zeros (delta actions)\n"
           "      --obs-steps N      observation.* fields become [N,...], the N frames ending at\n"
           "                         the current one (first frame repeated at the episode start)\n"
           "      --action-start     the chunk starts at the first observation step (frame t-(N-1))\n"
           "  -s, --stride S         emit every S-th frame of each episode (default 1)\n"
           "      --help             this text\n"
           "      --version          version\n");
    exit(tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS);
}

static void parse_options(int argc, char **argv, options *o)
{
    enum { OPT_PAD = 256, OPT_OBS, OPT_ACTION_START, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        {"chunk", required_argument, 0, 'k'},   {"pad", required_argument, 0, OPT_PAD},
        {"obs-steps", required_argument, 0, OPT_OBS}, {"action-start", no_argument, 0, OPT_ACTION_START},
        {"stride", required_argument, 0, 's'},  {"help", no_argument, 0, OPT_HELP},
        {"version", no_argument, 0, OPT_VERSION}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->chunk.chunk = 1;
    o->stride = 1;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, "k:s:", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (parse_long(optarg, 1, 100000, &v) < 0) tool_usage_error("--chunk: %s", error_get());
            o->chunk.chunk = (int)v;
            break;
        case OPT_PAD:
            if (strcmp(optarg, "last") == 0) o->chunk.pad_zero = 0;
            else if (strcmp(optarg, "zero") == 0) o->chunk.pad_zero = 1;
            else tool_usage_error("--pad: '%s' is not last or zero", optarg);
            break;
        case OPT_OBS:
            if (parse_long(optarg, 1, 10000, &v) < 0) tool_usage_error("--obs-steps: %s", error_get());
            o->chunk.obs_steps = (int)v;
            break;
        case OPT_ACTION_START: o->chunk.action_start = 1; break;
        case 's':
            if (parse_long(optarg, 1, 1000000, &o->stride) < 0) tool_usage_error("--stride: %s", error_get());
            break;
        case OPT_HELP: usage();
        case OPT_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    if (o->chunk.action_start && o->chunk.obs_steps == 0) tool_usage_error("--action-start needs --obs-steps");
    if (argc - optind > 1) tool_usage_error("at most one input");
    o->input = optind < argc ? argv[optind] : "-";
}

/* The frames of the current episode, owned. */
typedef struct {
    stream_sample *frames;
    int64_t n, cap;
} episode_buffer;

static stream_sample *buffer_slot(episode_buffer *b)
{
    if (b->n == b->cap) {
        int64_t cap = b->cap ? b->cap * 2 : 256;
        stream_sample *nf = realloc(b->frames, (size_t)cap * sizeof *nf);
        if (!nf) return error_set("out of memory"), NULL;
        for (int64_t i = b->cap; i < cap; i++) stream_sample_init(&nf[i]);
        b->frames = nf;
        b->cap = cap;
    }
    return &b->frames[b->n];
}

/* Emit every stride-th frame of the buffered episode, then empty the buffer. */
static int flush_episode(episode_buffer *b, const options *o, stream_writer *w, stream_sample *out)
{
    for (int64_t i = 0; i < b->n; i += o->stride)
        if (chunk_build(b->frames, b->n, i, &o->chunk, out) < 0 || stream_writer_put(w, out) < 0) return -1;
    b->n = 0; /* samples keep their allocations and are reset when read into again */
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    tool_init("chunkify");
    parse_options(argc, argv, &o);

    stream_reader *r = stream_reader_open(o.input);
    if (!r) tool_die(EXIT_DATA, "%s", error_get());
    stream_writer *w = stream_writer_open(stdout);
    if (!w) tool_die(EXIT_DATA, "%s", error_get());
    episode_buffer buf = {0};
    chunk_order order = {0};
    stream_sample next, out;
    stream_sample_init(&next);
    stream_sample_init(&out);
    int rc, new_episode;
    for (;;) {
        stream_sample *slot = buffer_slot(&buf);
        if (!slot) goto fail;
        if ((rc = stream_reader_next(r, slot)) <= 0) break;
        if (chunk_order_next(&order, slot, &new_episode) < 0) {
            error_prefix("%s: ", stream_reader_name(r));
            goto fail;
        }
        if (new_episode && buf.n > 0) {
            /* the new sample sits in slot n; move it aside, flush, then put it first */
            stream_sample tmp = *slot;
            stream_sample_init(slot);
            if (flush_episode(&buf, &o, w, &out) < 0) goto fail;
            stream_sample_free(&buf.frames[0]);
            buf.frames[0] = tmp;
        }
        buf.n++;
    }
    if (rc < 0) goto fail;
    if (buf.n > 0 && flush_episode(&buf, &o, w, &out) < 0) goto fail;
    if (stream_writer_close(w) < 0) tool_die(EXIT_DATA, "%s", error_get());
    for (int64_t i = 0; i < buf.cap; i++) stream_sample_free(&buf.frames[i]);
    free(buf.frames);
    stream_sample_free(&out);
    chunk_order_free(&order);
    stream_reader_close(r);
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
fail:
    stream_writer_abort(w);
    tool_die(EXIT_DATA, "%s", error_get());
}
