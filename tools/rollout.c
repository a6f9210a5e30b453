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
#include <sys/stat.h>

#include "io/episode_write.h"
#include "io/frames.h"
#include "io/stream.h"
#include "policy/policy.h"
#include "policy/results.h"
#include "sim/task.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/progress.h"
#include "util/tempfile.h"

typedef struct {
    const char *task, *policy, *output, *frames, *final_frames;
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
           "      --threads N        threads for the policy's computation (default 1)\n"
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
           OPT_FRAMES, OPT_FINAL_FRAMES, OPT_FRAME_SIZE, OPT_GZIP, OPT_CHUNK_EXEC, OPT_TEMPORAL, OPT_POLICY_ARG, OPT_THREADS, OPT_SUMMARIZE, OPT_HELP, OPT_VERSION };
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
        {"threads", required_argument, 0, OPT_THREADS}, {"policy-arg", required_argument, 0, OPT_POLICY_ARG},
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
        case OPT_POLICY_ARG:
            if (o->policy_options.n_args == POLICY_MAX_ARGS) tool_usage_error("--policy-arg: at most %d", POLICY_MAX_ARGS);
            o->policy_options.args[o->policy_options.n_args++] = optarg;
            break;
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

/* ---------------------------------------------------------------- recording */

/* One episode's datasets in an episode writer. */
typedef struct {
    episode_writer *w;
    int qpos, qvel, action, images[SIM_MAX_CAMERAS];
    int rewards, dones, states, obs[SIM_MAX_OBS];
} recording_t;

static int recording_begin(recording_t *r, const sim_task_info_t *info, episode_layout layout)
{
    if (episode_writer_begin(r->w) < 0) return -1;
    int64_t state[1] = {info->state_dim}, velocity[1] = {info->velocity_dim}, action[1] = {info->action_dim};
    int64_t image[3] = {info->height, info->width, 3}, sim_state[1] = {info->sim_state_dim};
    char name[256];
    if (layout == EPISODE_LAYOUT_ACT) {
        if ((r->qpos = episode_writer_dataset(r->w, "observations/qpos", NPY_F32, 1, state)) < 0 ||
            (r->qvel = episode_writer_dataset(r->w, "observations/qvel", NPY_F32, 1, velocity)) < 0)
            return -1;
        for (int c = 0; c < info->n_cameras; c++) {
            snprintf(name, sizeof name, "observations/images/%s", info->camera_names[c]);
            if ((r->images[c] = episode_writer_dataset(r->w, name, NPY_U8, 3, image)) < 0) return -1;
        }
        if ((r->action = episode_writer_dataset(r->w, "action", NPY_F32, 1, action)) < 0) return -1;
        return 0;
    }
    /* robomimic: named observations when the task has them, qpos/qvel otherwise. */
    if (info->n_obs == 0) {
        if ((r->qpos = episode_writer_dataset(r->w, "obs/qpos", NPY_F32, 1, state)) < 0 ||
            (r->qvel = episode_writer_dataset(r->w, "obs/qvel", NPY_F32, 1, velocity)) < 0)
            return -1;
    }
    for (int i = 0; i < info->n_obs; i++) {
        int64_t dim[1] = {info->obs_dims[i]};
        snprintf(name, sizeof name, "obs/%s", info->obs_names[i]);
        if ((r->obs[i] = episode_writer_dataset(r->w, name, NPY_F32, 1, dim)) < 0) return -1;
    }
    for (int c = 0; c < info->n_cameras; c++) {
        snprintf(name, sizeof name, "obs/%s_image", info->camera_names[c]);
        if ((r->images[c] = episode_writer_dataset(r->w, name, NPY_U8, 3, image)) < 0) return -1;
    }
    if ((r->action = episode_writer_dataset(r->w, "actions", NPY_F32, 1, action)) < 0 ||
        (r->rewards = episode_writer_dataset(r->w, "rewards", NPY_F64, 0, NULL)) < 0 ||
        (r->dones = episode_writer_dataset(r->w, "dones", NPY_I64, 0, NULL)) < 0 ||
        (r->states = episode_writer_dataset(r->w, "states", NPY_F64, 1, sim_state)) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- one episode */

/* Buffers for one step's observation. */
typedef struct {
    float *state, *velocity, *action, *obs[SIM_MAX_OBS];
    double *sim_state;
    uint8_t *images[SIM_MAX_CAMERAS];
} step_buffers_t;

typedef struct {
    /* per step, for a robomimic recording kept in memory until the episode's outcome is known */
    float *state, *velocity, *action, *obs[SIM_MAX_OBS];
    double *sim_state, *rewards;
    int64_t *dones;
    uint8_t *images[SIM_MAX_CAMERAS];
    long steps;
} episode_buffer_t;

static int expert_callback(void *context, float *action) { return sim_task_expert_action(context, action); }

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) tool_die(EXIT_DATA, "out of memory");
    return p;
}

/* A frame stream: --frames or --final-frames. */
typedef struct {
    const char *path;
    char tmp[TEMPFILE_MAX];    /* written under this name, renamed to path at the end */
    FILE *fp;
    stream_writer *w;
} frame_stream_t;

typedef struct {
    const options *o;
    sim_task_t *task;
    const sim_task_info_t *info;
    policy_t *policy;
    int render;
    step_buffers_t buf;
    episode_buffer_t ep;
    frame_stream_t frames, final_frames;
    uint8_t *frame_rgb[SIM_MAX_CAMERAS]; /* frames at --frame-size; NULL: the images are the frames */
    stream_sample sample;
    episode_writer *robomimic;     /* one file for every demo */
    long max_steps;
} rollout_t;

static void observe(rollout_t *r, policy_observation_t *obs, int step)
{
    const sim_task_info_t *info = r->info;
    memset(obs, 0, sizeof *obs);
    obs->step = step;
    sim_task_state(r->task, r->buf.state);
    sim_task_velocity(r->task, r->buf.velocity);
    obs->state = r->buf.state;
    obs->velocity = r->buf.velocity;
    for (int i = 0; i < info->n_obs && i < POLICY_MAX_OBS; i++) {
        sim_task_obs(r->task, i, r->buf.obs[i]);
        obs->obs[i] = r->buf.obs[i];
    }
    if (r->render)
        for (int c = 0; c < info->n_cameras; c++) {
            if (sim_task_image(r->task, c, r->buf.images[c]) < 0) tool_die(EXIT_DATA, "%s", error_get());
            obs->images[c] = r->buf.images[c];
        }
}

/* One frame sample (io/frames.h): the cameras at the frame size and where the episode stands, for
 * vidwrite --captions. final: the state after the last step, rendered here (the step's images
 * are of the state before it). */
static int write_frame(rollout_t *r, stream_writer *w, long episode, int step, int final)
{
    const sim_task_info_t *info = r->info;
    const sim_status_t *status = sim_task_status(r->task);
    int h = info->frame_height, wd = info->frame_width;
    frame_status_t f = {.episode = episode, .frame = step, .stage = status->stage, .max_reward = info->max_reward,
                        .success = status->success};
    if (frame_sample_begin(&r->sample, &f) < 0) return -1;
    for (int c = 0; c < info->n_cameras; c++) {
        const uint8_t *rgb = r->buf.images[c];
        if (r->frame_rgb[c] || final) {
            uint8_t *out = r->frame_rgb[c] ? r->frame_rgb[c] : r->buf.images[c];
            if (sim_task_frame(r->task, c, out) < 0) return -1;
            rgb = out;
        }
        char name[128];
        snprintf(name, sizeof name, "observation.images.%s", info->camera_names[c]);
        npy_array *a = stream_sample_add(&r->sample, name, NPY_U8, 3, (int64_t[]){h, wd, 3});
        if (!a) return -1;
        memcpy(a->data, rgb, (size_t)h * wd * 3);
    }
    return stream_writer_put(w, &r->sample);
}

static void frame_stream_open(frame_stream_t *f, const char *path)
{
    f->path = path;
    if (!path) return;
    if (strcmp(path, "-") == 0) {
        f->fp = stdout;
    } else if (tempfile_begin(path, f->tmp, sizeof f->tmp) < 0) {
        tool_die(EXIT_DATA, "%s", error_get());
    } else if (!(f->fp = fopen(f->tmp, "wb"))) {
        tempfile_discard(f->tmp);
        tool_die(EXIT_DATA, "%s: %s", path, strerror(errno));
    }
    if (!(f->w = stream_writer_open(f->fp))) tool_die(EXIT_DATA, "%s", error_get());
}

/* Close (or, after a failure, abort and remove: no half-written stream). Returns failed. */
static int frame_stream_close(frame_stream_t *f, int failed)
{
    if (!f->w) return failed;
    if (failed) stream_writer_abort(f->w);
    else if (stream_writer_close(f->w) < 0) tool_warn("%s", error_get()), failed = 1;
    if (f->fp == stdout) return failed;
    if (fclose(f->fp) != 0) tool_warn("%s: %s", f->path, strerror(errno)), failed = 1;
    if (failed) tempfile_discard(f->tmp);   /* no half-written stream */
    else if (tempfile_commit(f->tmp, f->path) < 0) tool_warn("%s", error_get()), failed = 1;
    return failed;
}

static int episode_buffer_write(rollout_t *r)
{
    const sim_task_info_t *info = r->info;
    recording_t rec = {.w = r->robomimic};
    episode_buffer_t *e = &r->ep;
    if (recording_begin(&rec, info, EPISODE_LAYOUT_ROBOMIMIC) < 0) return -1;
    if (info->n_obs == 0 && (episode_writer_append_n(rec.w, rec.qpos, e->state, e->steps) < 0 ||
                             episode_writer_append_n(rec.w, rec.qvel, e->velocity, e->steps) < 0))
        return -1;
    for (int i = 0; i < info->n_obs; i++)
        if (episode_writer_append_n(rec.w, rec.obs[i], e->obs[i], e->steps) < 0) return -1;
    for (int c = 0; c < info->n_cameras; c++)
        if (episode_writer_append_n(rec.w, rec.images[c], e->images[c], e->steps) < 0) return -1;
    if (episode_writer_append_n(rec.w, rec.action, e->action, e->steps) < 0 ||
        episode_writer_append_n(rec.w, rec.rewards, e->rewards, e->steps) < 0 ||
        episode_writer_append_n(rec.w, rec.dones, e->dones, e->steps) < 0 ||
        episode_writer_append_n(rec.w, rec.states, e->sim_state, e->steps) < 0 || episode_writer_end(rec.w) < 0)
        return -1;
    return 0;
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

/* Run episode i; print its result line; record it. Returns success (0/1) or -1. */
static int run_episode(rollout_t *r, long i, FILE *results, results_summary_t *summary)
{
    const options *o = r->o;
    const sim_task_info_t *info = r->info;
    uint64_t seed = (uint64_t)o->seed + (uint64_t)i;
    double start = time_now();
    char path[4096];
    recording_t rec;
    memset(&rec, 0, sizeof rec);
    if (o->output && o->layout == EPISODE_LAYOUT_ACT) {
        snprintf(path, sizeof path, "%s/episode_%llu.hdf5", o->output, (unsigned long long)seed);
        episode_writer_options wo = {.layout = EPISODE_LAYOUT_ACT, .sim = 1, .gzip_level = o->gzip};
        if (!(rec.w = episode_writer_create(path, &wo)) || recording_begin(&rec, info, EPISODE_LAYOUT_ACT) < 0 ||
            episode_writer_attr_string(rec.w, "task", info->name) < 0)
            goto fail;
    }
    if (sim_task_reset(r->task, seed) < 0 || policy_reset(r->policy, seed) < 0) goto fail;
    r->ep.steps = 0;
    long steps = 0;
    const sim_status_t *status = sim_task_status(r->task);
    for (int t = 0; t < r->max_steps; t++) {
        if (stop_signal) {
            error_set("interrupted by %s in episode %ld (seed %llu) at step %d; the episode is dropped",
                      signal_name(stop_signal), i, (unsigned long long)seed, t);
            goto fail;
        }
        policy_observation_t obs;
        observe(r, &obs, t);
        if (policy_step(r->policy, &obs, r->buf.action) < 0) {
            error_prefix("episode %ld (seed %llu), step %d: ", i, (unsigned long long)seed, t);
            goto fail;
        }
        if (r->frames.w && write_frame(r, r->frames.w, (long)seed, t, 0) < 0) goto fail;
        if (rec.w) {
            if (episode_writer_append(rec.w, rec.qpos, r->buf.state) < 0 ||
                episode_writer_append(rec.w, rec.qvel, r->buf.velocity) < 0)
                goto fail;
            for (int c = 0; c < info->n_cameras; c++)
                if (episode_writer_append(rec.w, rec.images[c], r->buf.images[c]) < 0) goto fail;
            if (episode_writer_append(rec.w, rec.action, r->buf.action) < 0) goto fail;
        }
        if (r->robomimic) sim_task_sim_state(r->task, r->ep.sim_state + (size_t)t * info->sim_state_dim);
        if (sim_task_step(r->task, r->buf.action) < 0) {
            error_prefix("episode %ld (seed %llu): ", i, (unsigned long long)seed);
            goto fail;
        }
        steps = t + 1;
        if (r->robomimic) {
            episode_buffer_t *e = &r->ep;
            memcpy(e->state + (size_t)t * info->state_dim, r->buf.state, sizeof(float) * info->state_dim);
            memcpy(e->velocity + (size_t)t * info->velocity_dim, r->buf.velocity, sizeof(float) * info->velocity_dim);
            memcpy(e->action + (size_t)t * info->action_dim, r->buf.action, sizeof(float) * info->action_dim);
            for (int k = 0; k < info->n_obs; k++)
                memcpy(e->obs[k] + (size_t)t * info->obs_dims[k], r->buf.obs[k], sizeof(float) * info->obs_dims[k]);
            for (int c = 0; c < info->n_cameras; c++)
                memcpy(e->images[c] + (size_t)t * info->height * info->width * 3, r->buf.images[c],
                       (size_t)info->height * info->width * 3);
            e->rewards[t] = status->reward;
            e->dones[t] = 0;
            e->steps = steps;
        }
        if (o->stop_on_success && status->success) break;
    }
    if (r->robomimic && steps > 0) r->ep.dones[steps - 1] = 1;
    if (r->final_frames.w && write_frame(r, r->final_frames.w, (long)seed, (int)steps, 1) < 0) goto fail;
    double wall = time_now() - start;
    int success = status->success;
    if (rec.w) {
        if (o->only_success && !success) {
            episode_writer_abort(rec.w);
        } else if (episode_writer_end(rec.w) < 0 || episode_writer_close(rec.w) < 0) {
            rec.w = NULL;
            goto fail;
        }
        rec.w = NULL;
    }
    if (r->robomimic && (!o->only_success || success) && episode_buffer_write(r) < 0) goto fail;
    fprintf(results,
            "{\"task\":\"%s\",\"policy\":\"%s\",\"episode\":%ld,\"seed\":%llu,\"steps\":%ld,\"max_reward\":%d,"
            "\"reward_stages\":%d,\"success\":%s,\"success_lenient\":%s,\"return\":%.4f,\"wall_s\":%.3f}\n",
            info->name, policy_kind(r->policy), i, (unsigned long long)seed, steps, status->max_stage,
            info->max_reward, success ? "true" : "false", status->success_lenient ? "true" : "false",
            status->episode_return, wall);
    fflush(results);
    results_summary_add(summary, success, status->success_lenient, status->max_stage, status->episode_return, wall);
    return success;
fail:
    episode_writer_abort(rec.w);
    return -1;
}

static void allocate_buffers(rollout_t *r)
{
    const sim_task_info_t *info = r->info;
    step_buffers_t *b = &r->buf;
    b->state = xcalloc(info->state_dim, sizeof(float));
    b->velocity = xcalloc(info->velocity_dim, sizeof(float));
    b->action = xcalloc(info->action_dim, sizeof(float));
    for (int i = 0; i < info->n_obs; i++) b->obs[i] = xcalloc(info->obs_dims[i], sizeof(float));
    for (int c = 0; c < info->n_cameras; c++) b->images[c] = xcalloc((size_t)info->height * info->width * 3, 1);
    if (info->frame_height != info->height || info->frame_width != info->width)
        for (int c = 0; c < info->n_cameras; c++)
            r->frame_rgb[c] = xcalloc((size_t)info->frame_height * info->frame_width * 3, 1);
    if (!r->robomimic) return;
    episode_buffer_t *e = &r->ep;
    size_t T = (size_t)r->max_steps;
    e->state = xcalloc(T * info->state_dim, sizeof(float));
    e->velocity = xcalloc(T * info->velocity_dim, sizeof(float));
    e->action = xcalloc(T * info->action_dim, sizeof(float));
    for (int i = 0; i < info->n_obs; i++) e->obs[i] = xcalloc(T * info->obs_dims[i], sizeof(float));
    for (int c = 0; c < info->n_cameras; c++) e->images[c] = xcalloc(T * info->height * info->width * 3, 1);
    e->sim_state = xcalloc(T * info->sim_state_dim, sizeof(double));
    e->rewards = xcalloc(T, sizeof(double));
    e->dones = xcalloc(T, sizeof(int64_t));
}

static void free_buffers(rollout_t *r)
{
    step_buffers_t *b = &r->buf;
    episode_buffer_t *e = &r->ep;
    free(b->state), free(b->velocity), free(b->action);
    free(e->state), free(e->velocity), free(e->action), free(e->sim_state), free(e->rewards), free(e->dones);
    for (int i = 0; i < SIM_MAX_OBS; i++) free(b->obs[i]), free(e->obs[i]);
    for (int c = 0; c < SIM_MAX_CAMERAS; c++) free(b->images[c]), free(e->images[c]), free(r->frame_rgb[c]);
}

/* robomimic's env_args: enough for a reader to know the task, cameras and rate. */
static void env_args_json(const sim_task_info_t *info, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "{\"env_name\":\"%s\",\"type\":\"ilt_mujoco\",\"env_kwargs\":{\"camera_names\":[",
                                info->name);
    for (int c = 0; c < info->n_cameras && n < size; c++)
        n += (size_t)snprintf(out + n, size - n, "%s\"%s\"", c ? "," : "", info->camera_names[c]);
    if (n < size)
        snprintf(out + n, size - n, "],\"camera_height\":%d,\"camera_width\":%d,\"control_freq\":%g,\"horizon\":%d}}",
                 info->height, info->width, info->control_hz, info->max_steps);
}

int main(int argc, char **argv)
{
    tool_init("rollout");
    options o;
    parse_options(argc, argv, &o);
    if (o.summarize) return summarize(&o);
    install_stop_handlers();

    /* The task: render what the policy, the recording or the frame stream needs. */
    int scripted = strcmp(o.policy, "scripted") == 0;
    sim_task_options_t task_options = sim_task_default_options();
    task_options.height = o.height;
    task_options.width = o.width;
    task_options.frame_height = o.frame_height;
    task_options.frame_width = o.frame_width;
    if (o.cameras) {
        task_options.n_cameras = (int)o.n_cameras;
        for (size_t c = 0; c < o.n_cameras; c++) task_options.cameras[c] = o.cameras[c];
    }
    int render = !scripted || o.output || o.frames || o.final_frames;
    if (!render) task_options.n_cameras = 0;
    sim_task_t *task = sim_task_create(o.task, &task_options);
    if (!task) tool_usage_error("%s", error_get());
    const sim_task_info_t *info = sim_task_info(task);

    policy_env_t env;
    memset(&env, 0, sizeof env);
    env.task = info->name;
    env.state_dim = info->state_dim;
    env.velocity_dim = info->velocity_dim;
    env.action_dim = info->action_dim;
    env.n_cameras = info->n_cameras;
    for (int c = 0; c < info->n_cameras; c++) env.camera_names[c] = info->camera_names[c];
    env.height = info->height;
    env.width = info->width;
    env.n_obs = info->n_obs;
    for (int i = 0; i < info->n_obs; i++) env.obs_names[i] = info->obs_names[i], env.obs_dims[i] = info->obs_dims[i];
    env.control_hz = info->control_hz;
    env.max_steps = info->max_steps;
    policy_t *policy = scripted ? policy_open_scripted(&env, expert_callback, task)
                                : policy_open(o.policy, &env, &o.policy_options);
    if (!policy) tool_die(EXIT_DATA, "%s", error_get());

    rollout_t r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.task = task;
    r.info = info;
    r.policy = policy;
    r.render = render;
    r.max_steps = o.max_steps > 0 ? o.max_steps : info->max_steps;

    /* Outputs: results on stdout unless the frames go there. The writer keeps env_args. */
    FILE *results = stdout;
    char env_args[2048];
    frame_stream_open(&r.frames, o.frames);
    frame_stream_open(&r.final_frames, o.final_frames);
    if (r.frames.fp == stdout || r.final_frames.fp == stdout) results = stderr;
    stream_sample_init(&r.sample);
    if (o.output && o.layout == EPISODE_LAYOUT_ACT) {
        if (mkdir(o.output, 0777) < 0 && errno != EEXIST) tool_die(EXIT_DATA, "%s: cannot create the directory: %s", o.output, strerror(errno));
        tempfile_clean_stale(o.output, "episode_"); /* what a killed run left, whichever its seeds */
    } else if (o.output) {
        env_args_json(info, env_args, sizeof env_args);
        episode_writer_options wo = {.layout = EPISODE_LAYOUT_ROBOMIMIC, .env_args = env_args, .gzip_level = o.gzip};
        if (!(r.robomimic = episode_writer_create(o.output, &wo))) tool_die(EXIT_DATA, "%s", error_get());
    }
    allocate_buffers(&r);

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

    if (r.robomimic) {
        /* interrupted: the finished demos are kept, closed as a complete file */
        if (failed && !(stop_signal && summary.episodes > 0)) episode_writer_abort(r.robomimic);
        else if (episode_writer_close(r.robomimic) < 0) tool_warn("%s", error_get()), failed = 1;
    }
    failed = frame_stream_close(&r.frames, failed);
    failed = frame_stream_close(&r.final_frames, failed);
    stream_sample_free(&r.sample);
    if (!failed) results_summary_print(results, &summary);
    free_buffers(&r);
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
