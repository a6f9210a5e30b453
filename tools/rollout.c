/* rollout — run a policy (the task's scripted expert or a trained checkpoint) in a simulated
 * task for N seeded episodes: report results as JSON lines, record episodes (ACT or robomimic
 * HDF5 layout), stream rendered frames for vidwrite; or summarize result lines. See rollout(1). */
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/episode_write.h"
#include "io/frames.h"
#include "io/stream.h"
#include "policy/policy.h"
#include "policy/results.h"
#include "rollout/record.h"
#include "rollout/runner.h"
#include "sim/task.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/progress.h"
#include "util/tempfile.h"

typedef struct {
    const char *task, *policy, *output, *frames, *final_frames, *action_noise;
    episode_layout layout;
    long episodes, seed, max_steps;
    int only_success, stop_on_success, quiet, gzip;
    char **cameras;
    size_t n_cameras;
    int height, width;
    int frame_height, frame_width;
    policy_options_t policy_options;
    int summarize;
    char **files;
    int n_files;
} options;

/* "  transfer_cube  cameras: top (training), angle, ..." for every task. */
static void print_tasks(void)
{
    sim_task_options_t physics_only = sim_task_default_options();
    physics_only.n_cameras = 0;
    for (const char *const *name = sim_task_names(); *name; name++) {
        sim_task_t *task = sim_task_create(*name, &physics_only);
        if (!task) continue;
        const sim_task_info_t *info = sim_task_info(task);
        printf("  %-14s %d-D actions at %g Hz, %d steps; cameras:", info->name, info->action_dim,
               info->control_hz, info->max_steps);
        for (int c = 0; c < info->n_scene_cameras; c++)
            printf("%s %s%s", c ? "," : "", info->scene_camera_names[c], c ? "" : " (default)");
        printf("\n");
        sim_task_free(task);
    }
}

static _Noreturn void usage(void)
{
    printf("Usage: rollout -t TASK -p scripted|CKPT.h5 [OPTIONS]\n"
           "       rollout --summarize [FILE...]\n"
           "Run a policy in a simulated task for N seeded episodes; print one JSON line per episode\n"
           "and a summary line; optionally record the episodes and stream the rendered frames.\n\n"
           "  -t, --task TASK        the task (listed below)\n"
           "  -p, --policy P         'scripted' (the task's expert) or a checkpoint file\n"
           "  -n, --episodes N       number of episodes (default 1)\n"
           "      --seed S           episode i uses seed S+i (default 0)\n"
           "      --max-steps N      steps per episode (default: the task's)\n"
           "  -o, --output PATH      record episodes: a directory of episode_<seed>.hdf5 (ACT layout)\n"
           "                         or, with --layout robomimic, one FILE.hdf5\n"
           "      --layout L         act (default) or robomimic\n"
           "      --only-success     record only successful episodes\n"
           "      --gzip N           gzip level of recorded images, 0 (none) to 9 (default 1)\n"
           "      --stop-on-success  end an episode at its first successful step\n"
           "      --cameras LIST     cameras to render, e.g. top,left_wrist (default: the task's default)\n"
           "      --image-size HxW   image size (default: the task's, 120x160 bimanual, 84x84 lift)\n"
           "      --frames FILE      write the rendered frames as a sample stream ('-': stdout,\n"
           "                         the results then go to stderr)\n"
           "      --final-frames FILE  write each episode's final state's frames as a sample stream\n"
           "      --frame-size HxW   render the frames of --frames and --final-frames at this size\n"
           "                         (default: the image size; the policy's images stay as they are)\n"
           "      --chunk-exec N     execute N actions of each predicted chunk (default: the policy's)\n"
           "      --temporal-agg[=K] ACT temporal ensembling, weights exp(-K*i), i = 0 the oldest (K 0.01)\n"
           "      --action-noise S   execute each action plus Gaussian noise of standard deviation S\n"
           "                         (one value, or one per action dimension, comma-separated) and\n"
           "                         record the policy's own action (DART demonstrations)\n"
           "      --threads N        threads for the policy's computation (default 1)\n"
           "      --weight-precision f32|f16  the policy's matrix-product weights in single (default)\n"
           "                         or half precision (half the bytes read per inference)\n"
           "      --policy-arg KEY=VAL  a setting of the policy's class, e.g. ddim_steps=10 (repeatable)\n"
           "      --summarize        read result lines from FILEs (or stdin) and print their summary\n"
           "  -q, --quiet            no progress on stderr\n"
           "      --help, --version\n\n"
           "Tasks:\n");
    print_tasks();
    exit(EXIT_SUCCESS);
}

static void parse_options(int argc, char **argv, options *o)
{
    enum { OPT_SEED = 256, OPT_MAX_STEPS, OPT_LAYOUT, OPT_ONLY_SUCCESS, OPT_STOP, OPT_CAMERAS, OPT_SIZE,
           OPT_FRAMES, OPT_FINAL_FRAMES, OPT_FRAME_SIZE, OPT_GZIP, OPT_CHUNK_EXEC, OPT_TEMPORAL, OPT_POLICY_ARG, OPT_NOISE, OPT_THREADS, OPT_PRECISION, OPT_SUMMARIZE, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        {"task", required_argument, 0, 't'},        {"policy", required_argument, 0, 'p'},
        {"episodes", required_argument, 0, 'n'},    {"seed", required_argument, 0, OPT_SEED},
        {"max-steps", required_argument, 0, OPT_MAX_STEPS}, {"output", required_argument, 0, 'o'},
        {"layout", required_argument, 0, OPT_LAYOUT}, {"only-success", no_argument, 0, OPT_ONLY_SUCCESS},
        {"stop-on-success", no_argument, 0, OPT_STOP}, {"cameras", required_argument, 0, OPT_CAMERAS},
        {"image-size", required_argument, 0, OPT_SIZE}, {"frames", required_argument, 0, OPT_FRAMES},
        {"final-frames", required_argument, 0, OPT_FINAL_FRAMES}, {"frame-size", required_argument, 0, OPT_FRAME_SIZE},
        {"chunk-exec", required_argument, 0, OPT_CHUNK_EXEC}, {"gzip", required_argument, 0, OPT_GZIP},
        {"temporal-agg", optional_argument, 0, OPT_TEMPORAL}, {"summarize", no_argument, 0, OPT_SUMMARIZE},
        {"threads", required_argument, 0, OPT_THREADS}, {"weight-precision", required_argument, 0, OPT_PRECISION}, {"policy-arg", required_argument, 0, OPT_POLICY_ARG},
        {"action-noise", required_argument, 0, OPT_NOISE},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, OPT_HELP},
        {"version", no_argument, 0, OPT_VERSION},   {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->episodes = 1;
    o->max_steps = -1;
    o->layout = EPISODE_LAYOUT_ACT;
    o->gzip = 1;
    o->policy_options = policy_default_options();
    long value;
    double k;
    int c;
    while ((c = getopt_long(argc, argv, "t:p:n:o:q", longopts, NULL)) != -1) {
        switch (c) {
        case 't': o->task = optarg; break;
        case 'p': o->policy = optarg; break;
        case 'n':
            if (parse_long(optarg, 1, 100000000, &o->episodes) < 0) tool_usage_error("--episodes: %s", error_get());
            break;
        case OPT_SEED:
            if (parse_long(optarg, 0, INT64_MAX / 2, &o->seed) < 0) tool_usage_error("--seed: %s", error_get());
            break;
        case OPT_MAX_STEPS:
            if (parse_long(optarg, 1, 1000000, &o->max_steps) < 0) tool_usage_error("--max-steps: %s", error_get());
            break;
        case 'o': o->output = optarg; break;
        case OPT_LAYOUT:
            if (strcmp(optarg, "act") == 0) o->layout = EPISODE_LAYOUT_ACT;
            else if (strcmp(optarg, "robomimic") == 0) o->layout = EPISODE_LAYOUT_ROBOMIMIC;
            else tool_usage_error("--layout: expected act or robomimic, not '%s'", optarg);
            break;
        case OPT_ONLY_SUCCESS: o->only_success = 1; break;
        case OPT_STOP: o->stop_on_success = 1; break;
        case OPT_CAMERAS:
            strlist_free(o->cameras);
            if (!(o->cameras = strlist_split(optarg, ',', &o->n_cameras))) tool_die(EXIT_DATA, "%s", error_get());
            for (size_t i = 0; i < o->n_cameras; i++)
                if (!*o->cameras[i]) tool_usage_error("--cameras: empty camera name in '%s'", optarg);
            if (o->n_cameras > SIM_MAX_CAMERAS) tool_usage_error("--cameras: at most %d cameras", SIM_MAX_CAMERAS);
            break;
        case OPT_SIZE:
            if (parse_size_hw(optarg, &o->height, &o->width) < 0) tool_usage_error("--image-size: %s", error_get());
            if (o->height > 2048 || o->width > 2048) tool_usage_error("--image-size: %s is larger than 2048x2048", optarg);
            break;
        case OPT_FRAMES: o->frames = optarg; break;
        case OPT_FINAL_FRAMES: o->final_frames = optarg; break;
        case OPT_FRAME_SIZE:
            if (parse_size_hw(optarg, &o->frame_height, &o->frame_width) < 0) tool_usage_error("--frame-size: %s", error_get());
            if (o->frame_height > 2048 || o->frame_width > 2048) tool_usage_error("--frame-size: %s is larger than 2048x2048", optarg);
            break;
        case OPT_GZIP:
            if (parse_long(optarg, 0, 9, &value) < 0) tool_usage_error("--gzip: %s", error_get());
            o->gzip = (int)value;
            break;
        case OPT_CHUNK_EXEC:
            if (parse_long(optarg, 1, 100000, &value) < 0) tool_usage_error("--chunk-exec: %s", error_get());
            o->policy_options.chunk_exec = (int)value;
            break;
        case OPT_TEMPORAL:
            o->policy_options.temporal_agg = 1;
            if (optarg) {
                if (parse_double(optarg, 0, 100, &k) < 0) tool_usage_error("--temporal-agg: %s", error_get());
                o->policy_options.temporal_k = k;
            }
            break;
        case OPT_THREADS:
            if (parse_long(optarg, 1, 256, &value) < 0) tool_usage_error("--threads: %s", error_get());
            o->policy_options.n_threads = (int)value;
            break;
        case OPT_PRECISION:
            if (policy_set_weight_precision(&o->policy_options, optarg) < 0)
                tool_usage_error("--weight-precision: %s", error_get());
            break;
        case OPT_POLICY_ARG:
            if (o->policy_options.n_args == POLICY_MAX_ARGS) tool_usage_error("--policy-arg: at most %d", POLICY_MAX_ARGS);
            o->policy_options.args[o->policy_options.n_args++] = optarg;
            break;
        case OPT_NOISE: o->action_noise = optarg; break;
        case OPT_SUMMARIZE: o->summarize = 1; break;
        case 'q': o->quiet = 1; break;
        case OPT_HELP: usage();
        case OPT_VERSION: tool_version();
        default: tool_usage_error("unknown option");
        }
    }
    o->files = argv + optind;
    o->n_files = argc - optind;
    if (o->summarize) return;
    if (o->n_files) tool_usage_error("unexpected argument '%s'", o->files[0]);
    if (!o->task) tool_usage_error("no task given (-t transfer_cube, insertion, ...)");
    if (!o->policy) tool_usage_error("no policy given (-p scripted or -p CKPT.h5)");
    if (o->only_success && !o->output) tool_usage_error("--only-success needs -o");
    if (o->policy_options.temporal_agg && o->policy_options.chunk_exec)
        tool_usage_error("--temporal-agg and --chunk-exec exclude each other (ensembling queries every step)");
    if (o->output && o->frames && strcmp(o->output, o->frames) == 0)
        tool_usage_error("-o and --frames name the same file");
    if (o->final_frames && ((o->output && strcmp(o->output, o->final_frames) == 0) ||
                            (o->frames && strcmp(o->frames, o->final_frames) == 0)))
        tool_usage_error("--final-frames names the same file as -o or --frames");
    if (o->final_frames && strcmp(o->final_frames, "-") == 0 && o->frames && strcmp(o->frames, "-") == 0)
        tool_usage_error("--frames and --final-frames cannot both go to stdout");
    if (o->frame_height && !o->frames && !o->final_frames)
        tool_usage_error("--frame-size needs --frames or --final-frames");
}

static int summarize(const options *o)
{
    results_summary_t s;
    memset(&s, 0, sizeof s);
    if (o->n_files == 0) {
        if (results_summary_read(&s, stdin, "stdin") < 0) tool_die(EXIT_DATA, "%s", error_get());
    }
    for (int i = 0; i < o->n_files; i++) {
        int is_stdin = strcmp(o->files[i], "-") == 0;
        FILE *fp = is_stdin ? stdin : fopen(o->files[i], "r");
        if (!fp) tool_die(EXIT_DATA, "%s: %s", o->files[i], strerror(errno));
        int rc = results_summary_read(&s, fp, is_stdin ? "stdin" : o->files[i]);
        if (!is_stdin) fclose(fp);
        if (rc < 0) tool_die(EXIT_DATA, "%s", error_get());
    }
    if (s.episodes == 0) tool_die(EXIT_DATA, "no result lines to summarize");
    results_summary_print(stdout, &s);
    return tool_close_stdout() < 0 ? EXIT_DATA : EXIT_SUCCESS;
}

/* ---------------------------------------------------------------- frame streams */

typedef struct {
    const options *o;
    sim_task_t *task;
    const sim_task_info_t *info;
    policy_t *policy;
    runner_t *runner;
    int max_steps;
    stream_file frames, final_frames;  /* --frames, --final-frames */
    stream_sample sample;
    /* Frames rendered here: every frame when --frame-size differs from the image size, else only
     * the final state's (a step's frames are its images); NULL when there are none. */
    uint8_t *frame_rgb[SIM_MAX_CAMERAS];
    int frames_resized;
    episode_recorder_t rec;        /* -o */
    int recording;
    float *action_noise;           /* --action-noise per action dimension, or NULL */
} rollout_t;

/* One frame sample (io/frames.h): the cameras at the frame size and where the episode stands, for
 * vidwrite --captions. images: the step's, or NULL for the state after the last step, rendered
 * here (the step's images are of the state before it). */
static int write_frame(rollout_t *r, stream_writer *w, long episode, int step, const uint8_t *const *images)
{
    const sim_task_info_t *info = r->info;
    const sim_status_t *status = sim_task_status(r->task);
    int h = info->frame_height, wd = info->frame_width;
    frame_status_t f = {.episode = episode, .frame = step, .stage = status->stage, .max_reward = info->max_reward,
                        .success = status->success};
    if (frame_sample_begin(&r->sample, &f) < 0) return -1;
    for (int c = 0; c < info->n_cameras; c++) {
        const uint8_t *rgb = images ? images[c] : NULL;
        if (!rgb || r->frames_resized) {
            if (sim_task_frame(r->task, c, r->frame_rgb[c]) < 0) return -1;
            rgb = r->frame_rgb[c];
        }
        if (frame_sample_add_camera(&r->sample, info->camera_names[c], h, wd, rgb) < 0) return -1;
    }
    return stream_writer_put(w, &r->sample);
}

static int frame_stream_close(stream_file *f, int failed)
{
    if (stream_file_finish(f, failed) < 0) tool_warn("%s", error_get()), failed = 1;
    return failed;
}

/* ---------------------------------------------------------------- interruption */
/* SIGINT, SIGTERM or SIGHUP: the episode under way stops at its next step and is dropped (its
 * temporary removed), the finished ones are kept (their files; the robomimic file is closed with
 * them), and rollout then dies of the signal. A second signal does not wait: it removes the
 * temporaries (tempfile_remove_on_signals) and kills at once. */
static volatile sig_atomic_t stop_signal;

static void stop_after_this_step(int sig)
{
    stop_signal = sig;
    tempfile_remove_on_signals();
}

static void install_stop_handlers(void)
{
    tempfile_remove_on_signals(); /* until the first signal, and where the parent ignores one */
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue; /* nohup */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = stop_after_this_step;
        sigfillset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

/* ---------------------------------------------------------------- one episode */
/* The runner's hooks: a signal stops the episode at its next step; each step's frame and
 * recording before the task steps, its reward after. */
static int stop_requested(void *context, const runner_step_t *s)
{
    if (!stop_signal) return 0;
    return error_set("interrupted by %s in episode %ld (seed %llu) at step %d; the episode is dropped",
                     signal_name(stop_signal), s->episode, (unsigned long long)s->seed, s->step);
}

static int before_step(void *context, const runner_step_t *s)
{
    rollout_t *r = context;
    if (r->frames.w && write_frame(r, r->frames.w, (long)s->seed, s->step, s->observation->images) < 0) return -1;
    if (r->recording && episode_recorder_step(&r->rec, r->task, s->observation, s->action) < 0) return -1;
    return 0;
}

static int after_step(void *context, const runner_step_t *s)
{
    rollout_t *r = context;
    if (r->recording) episode_recorder_reward(&r->rec, s->status->reward);
    return 0;
}

/* Run episode i; print its result line; record it. Returns success (0/1) or -1. */
static int run_episode(rollout_t *r, long i, FILE *results, results_summary_t *summary)
{
    const options *o = r->o;
    const sim_task_info_t *info = r->info;
    uint64_t seed = (uint64_t)o->seed + (uint64_t)i;
    double start = time_now();
    if (r->recording && episode_recorder_begin(&r->rec, seed) < 0) return -1;
    runner_episode_t e = {.episode = i, .seed = seed, .max_steps = r->max_steps, .stop_on_success = o->stop_on_success,
                          .stop = stop_requested, .before_step = before_step, .after_step = after_step, .context = r,
                          .action_noise = r->action_noise};
    int steps = runner_episode(r->runner, &e);
    if (steps < 0 || (r->final_frames.w && write_frame(r, r->final_frames.w, (long)seed, steps, NULL) < 0)) {
        episode_recorder_drop(&r->rec);
        return -1;
    }
    double wall = time_now() - start;
    const sim_status_t *status = sim_task_status(r->task);
    int success = status->success;
    if (r->recording && episode_recorder_end(&r->rec, !o->only_success || success) < 0) return -1;
    results_episode_t line = {.task = info->name, .policy = policy_kind(r->policy), .episode = i, .seed = seed,
                              .steps = steps, .max_stage = status->max_stage, .max_reward = info->max_reward,
                              .success = success, .success_lenient = status->success_lenient,
                              .episode_return = status->episode_return, .wall = wall};
    results_episode_print(results, &line, summary);
    return success;
}

/* ---------------------------------------------------------------- main */

/* The task: render what the policy, the recording or the frame stream needs. */
static sim_task_t *open_task(const options *o)
{
    int scripted = strcmp(o->policy, "scripted") == 0;
    sim_task_options_t task_options = sim_task_default_options();
    task_options.height = o->height;
    task_options.width = o->width;
    task_options.frame_height = o->frame_height;
    task_options.frame_width = o->frame_width;
    if (o->cameras) {
        task_options.n_cameras = (int)o->n_cameras;
        for (size_t c = 0; c < o->n_cameras; c++) task_options.cameras[c] = o->cameras[c];
    }
    int render = !scripted || o->output || o->frames || o->final_frames;
    if (!render) task_options.n_cameras = 0;
    sim_task_t *task = sim_task_create(o->task, &task_options);
    if (!task) tool_usage_error("%s", error_get());
    return task;
}

/* --action-noise: one standard deviation for every action dimension or one per dimension. */
static float *parse_action_noise(const char *text, const sim_task_info_t *info)
{
    size_t n;
    char **items = strlist_split(text, ',', &n);
    float *noise = calloc((size_t)info->action_dim, sizeof(float));
    if (!items || !noise) tool_die(EXIT_DATA, "out of memory");
    if (n != 1 && n != (size_t)info->action_dim)
        tool_usage_error("--action-noise: %zu values; %s has %d action dimensions (give 1 or %d)", n, info->name,
                         info->action_dim, info->action_dim);
    for (int i = 0; i < info->action_dim; i++) noise[i] = (float)tool_option_double("action-noise", items[n == 1 ? 0 : i], 0, 1e6);
    strlist_free(items);
    return noise;
}

/* The runner and the outputs: results on stdout unless the frames go there (returned). */
static FILE *open_outputs(rollout_t *r, const options *o, sim_task_t *task, policy_t *policy)
{
    const sim_task_info_t *info = sim_task_info(task);
    memset(r, 0, sizeof *r);
    r->o = o;
    r->task = task;
    r->info = info;
    r->policy = policy;
    r->max_steps = (int)(o->max_steps > 0 ? o->max_steps : info->max_steps);
    if (o->action_noise) r->action_noise = parse_action_noise(o->action_noise, info);
    if (!(r->runner = runner_create(task, policy))) tool_die(EXIT_DATA, "%s", error_get());
    if ((o->frames && stream_file_create(&r->frames, o->frames) < 0) ||
        (o->final_frames && stream_file_create(&r->final_frames, o->final_frames) < 0))
        tool_die(EXIT_DATA, "%s", error_get());
    stream_sample_init(&r->sample);
    if (o->output) {
        if (episode_recorder_open(&r->rec, o->output, o->layout, info, r->max_steps, o->gzip) < 0)
            tool_die(EXIT_DATA, "%s", error_get());
        r->recording = 1;
    }
    r->frames_resized = info->frame_height != info->height || info->frame_width != info->width;
    if (r->frames_resized || o->final_frames)
        for (int c = 0; c < info->n_cameras; c++)
            if (!(r->frame_rgb[c] = calloc((size_t)info->frame_height * info->frame_width * 3, 1)))
                tool_die(EXIT_DATA, "out of memory");
    return r->frames.fp == stdout || r->final_frames.fp == stdout ? stderr : stdout;
}

/* Close the files (after a failure, remove them: the robomimic file of an interrupted run is
 * kept with its finished demos) and free. Returns failed. */
static int close_outputs(rollout_t *r, int failed, long finished)
{
    if (r->recording && episode_recorder_close(&r->rec, !failed || (stop_signal && finished > 0)) < 0)
        tool_warn("%s", error_get()), failed = 1;
    failed = frame_stream_close(&r->frames, failed);
    failed = frame_stream_close(&r->final_frames, failed);
    stream_sample_free(&r->sample);
    for (int c = 0; c < SIM_MAX_CAMERAS; c++) free(r->frame_rgb[c]);
    runner_free(r->runner);
    free(r->action_noise);
    return failed;
}

int main(int argc, char **argv)
{
    tool_init("rollout");
    options o;
    parse_options(argc, argv, &o);
    if (o.summarize) return summarize(&o);
    install_stop_handlers();
    sim_task_t *task = open_task(&o);
    const sim_task_info_t *info = sim_task_info(task);
    policy_t *policy = runner_policy_open(o.policy, task, &o.policy_options);
    if (!policy) tool_die(EXIT_DATA, "%s", error_get());
    rollout_t r;
    FILE *results = open_outputs(&r, &o, task, policy);

    results_summary_t summary;
    memset(&summary, 0, sizeof summary);
    summary.task = info->name;
    summary.max_reward = info->max_reward;
    progress_t progress;
    progress_start(&progress, "rollout", o.episodes, o.quiet);
    char extra[64];
    int failed = 0;
    for (long i = 0; i < o.episodes; i++) {
        if (run_episode(&r, i, results, &summary) < 0) {
            tool_warn("%s", error_get());
            failed = 1;
            break;
        }
        if (stop_signal) {
            tool_warn("interrupted by %s after episode %ld", signal_name(stop_signal), i);
            failed = 1;
            break;
        }
        snprintf(extra, sizeof extra, "success %ld/%ld", summary.successes, summary.episodes);
        progress_update(&progress, i + 1, extra);
    }
    if (!failed) progress_finish(&progress, summary.episodes, extra);

    failed = close_outputs(&r, failed, summary.episodes);
    if (!failed) results_summary_print(results, &summary);
    policy_free(policy);
    sim_task_free(task);
    strlist_free(o.cameras);
    if (tool_close_stdout() < 0) return EXIT_DATA;
    if (stop_signal) {   /* die of it, as the caller expects of an interrupted program */
        signal(stop_signal, SIG_DFL);
        raise(stop_signal);
    }
    return failed ? EXIT_DATA : EXIT_SUCCESS;
}
