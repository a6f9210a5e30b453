/* ckpt-convert — convert checkpoints between ours (HDF5) and the PyTorch world: for ACT LeRobot's
 * pretrained-model directory (config.json + model.safetensors) or a safetensors state dict with
 * the original ACT names; for Diffusion Policy and IBC a safetensors state dict with Diffusion
 * Policy's names. The direction follows the input: an HDF5 checkpoint is exported, a directory or
 * a .safetensors file imported. See ckpt-convert(1). */
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
    printf("Usage: ckpt-convert [-f lerobot|act|dp] INPUT OUTPUT\n"
           "Convert a checkpoint. INPUT an HDF5 checkpoint: write OUTPUT as a LeRobot pretrained-model\n"
           "directory (config.json + model.safetensors, LeRobot's names; ACT), as one safetensors file with\n"
           "the original ACT names (-f act), or with Diffusion Policy's names (-f dp; Diffusion Policy and\n"
           "IBC). INPUT a LeRobot directory (or its config.json) or such a safetensors file: write our HDF5\n"
           "checkpoint OUTPUT.\n\n"
           "  -f, --format F   for export: lerobot (ACT's default), act, or dp (the default for\n"
           "                   Diffusion Policy and IBC checkpoints)\n"
           "      --help, --version\n");
    exit(tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS);
}

int main(int argc, char **argv)
{
    enum { O_HELP = 256, O_VERSION };
    static const struct option longopts[] = {{"format", required_argument, 0, 'f'}, {"help", no_argument, 0, O_HELP},
                                             {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    exchange_format format = EXCHANGE_LEROBOT;
    int c, format_given = 0;
    tool_init("ckpt-convert");
    while ((c = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "lerobot") == 0) format = EXCHANGE_LEROBOT;
            else if (strcmp(optarg, "act") == 0) format = EXCHANGE_ACT;
            else if (strcmp(optarg, "dp") == 0) format = EXCHANGE_DP;
            else tool_usage_error("--format: '%s' is not lerobot, act or dp", optarg);
            format_given = 1;
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
    if (export && !format_given && (strcmp(kind, "diffusion") == 0 || strcmp(kind, "ibc") == 0)) format = EXCHANGE_DP;
    size_t len = strlen(in);
    int lerobot_in = S_ISDIR(st.st_mode) || (len >= 11 && strcmp(in + len - 11, "config.json") == 0);
    int rc = export ? exchange_export(in, format, out) : exchange_import(in, lerobot_in ? EXCHANGE_LEROBOT : EXCHANGE_ACT, out);
    if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
}
