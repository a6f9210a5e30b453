/* ckpt-convert — convert ACT checkpoints between ours (HDF5) and the PyTorch world: LeRobot's
 * pretrained-model directory (config.json + model.safetensors) or a safetensors state dict with
 * the original ACT names. The direction follows the input: an HDF5 checkpoint is exported, a
 * directory or a .safetensors file imported. See ckpt-convert(1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/exchange.h"
#include "policy/policy.h"
#include "util/error.h"

static _Noreturn void usage(void)
{
    printf("Usage: ckpt-convert [-f lerobot|act] INPUT OUTPUT\n"
           "Convert an ACT checkpoint. INPUT an HDF5 checkpoint: write OUTPUT as a LeRobot pretrained-model\n"
           "directory (config.json + model.safetensors, LeRobot's names) or, with -f act, as one safetensors\n"
           "file with the original ACT names. INPUT a LeRobot directory (or its config.json) or such a\n"
           "safetensors file: write our HDF5 checkpoint OUTPUT.\n\n"
           "  -f, --format F   lerobot (default) or act, for export\n"
           "      --help, --version\n");
    exit(tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS);
}

int main(int argc, char **argv)
{
    enum { O_HELP = 256, O_VERSION };
    static const struct option longopts[] = {{"format", required_argument, 0, 'f'}, {"help", no_argument, 0, O_HELP},
                                             {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    exchange_format format = EXCHANGE_LEROBOT;
    int c;
    tool_init("ckpt-convert");
    while ((c = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "lerobot") == 0) format = EXCHANGE_LEROBOT;
            else if (strcmp(optarg, "act") == 0) format = EXCHANGE_ACT;
            else tool_usage_error("--format: '%s' is not lerobot or act", optarg);
            break;
        case O_HELP: usage();
        case O_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    if (argc - optind != 2) tool_usage_error("an INPUT and an OUTPUT are required");
    const char *in = argv[optind], *out = argv[optind + 1];
    struct stat st;
    if (stat(in, &st) != 0) tool_die(EXIT_DATA, "%s: %s", in, strerror(errno));
    char kind[32];
    int export = !S_ISDIR(st.st_mode) && policy_checkpoint_kind(in, kind, sizeof kind) == 0;
    size_t len = strlen(in);
    int lerobot_in = S_ISDIR(st.st_mode) || (len >= 11 && strcmp(in + len - 11, "config.json") == 0);
    int rc = export ? exchange_export(in, format, out) : exchange_import(in, lerobot_in ? EXCHANGE_LEROBOT : EXCHANGE_ACT, out);
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
}
