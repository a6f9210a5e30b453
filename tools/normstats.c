/* normstats — normalization statistics (mean, std, min, max, count) of every numeric feature of
 * a sample stream, written as a one-sample stream (key "stats") or as stats.json. See normstats(1). */
#include "io/stats.h"
#include "io/stream.h"
#include "util/error.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void usage(void)
{
    printf("Usage: normstats [--json] [FILE|-]\n"
           "Read a sample stream (default stdin) and write, for every numeric feature, its mean, std,\n"
           "min, max (per element; images per channel as [3,1,1] scaled to [0,1]) and count as a\n"
           "one-sample stream with key 'stats' and fields <feature>.mean, .std, .min, .max, .count.\n\n"
           "      --json     write LeRobot-style stats.json instead\n"
           "      --help     this text\n"
           "      --version  version\n");
    exit(tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS);
}

int main(int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {{"json", no_argument, 0, OPT_JSON},
                                             {"help", no_argument, 0, OPT_HELP},
                                             {"version", no_argument, 0, OPT_VERSION},
                                             {0, 0, 0, 0}};
    int json = 0, c;
    tool_init("normstats");
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_HELP: usage();
        case OPT_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    if (argc - optind > 1) tool_usage_error("at most one input");
    const char *input = optind < argc ? argv[optind] : "-";

    stream_reader *r = stream_reader_open(input);
    if (!r) tool_die(EXIT_DATA, "%s", error_get());
    stats_accumulator *acc = stats_accumulator_new();
    stream_sample s;
    stream_sample_init(&s);
    int rc;
    while ((rc = stream_reader_next(r, &s)) > 0)
        if (stats_accumulator_add(acc, &s) < 0) tool_die(EXIT_DATA, "%s: %s", stream_reader_name(r), error_get());
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    if (stats_accumulator_count(acc) == 0) tool_die(EXIT_DATA, "%s: no samples", stream_reader_name(r));

    if (json) {
        if (stats_accumulator_json(acc, stdout) < 0) tool_die(EXIT_DATA, "%s", error_get());
    } else {
        stream_writer *w = stream_writer_open(stdout);
        if (!w || stats_accumulator_sample(acc, &s) < 0 || stream_writer_put(w, &s) < 0 || stream_writer_close(w) < 0)
            tool_die(EXIT_DATA, "%s", error_get());
    }
    stream_sample_free(&s);
    stats_accumulator_free(acc);
    stream_reader_close(r);
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
}
