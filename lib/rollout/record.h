/* record.h — record the episodes a policy runs in a task as HDF5 (io/episode_write.h), in the two
 * layouts episodes are read in (rollout(1), io/episode.h):
 *
 *   ACT/ALOHA: one file per episode, written step by step: observations/qpos, observations/qvel,
 *     observations/images/<camera>, action; root attributes sim and task.
 *   robomimic: one file, a demo per episode, kept in memory until the episode's outcome says
 *     whether to keep it: obs/<key> (the task's named observations, or qpos and qvel when it has
 *     none), obs/<camera>_image, actions, rewards, dones (1 at the last step), states (the full
 *     simulator state before each step); data.env_args from recording_env_args.
 *
 * The hooks of a runner (rollout/runner.h) give the steps, the observation before the task steps
 * and the reward after it:
 *
 *   recording_t act = {0};
 *   recording_create_act(&act, "episodes/episode_7.hdf5", info, gzip_level);
 *   before_step: recording_append(&act, step->observation, step->action);
 *   after the episode: recording_finish(&act), or recording_abort(&act) to drop it
 *
 *   episode_buffer_t demo;
 *   episode_buffer_init(&demo, info, max_steps);            writer w: layout robomimic, env_args
 *   each episode: episode_buffer_clear(&demo);
 *     before_step: episode_buffer_observe(&demo, task, step->observation, step->action);
 *     after_step:  episode_buffer_reward(&demo, step->status->reward);
 *     after it:    episode_buffer_write(&demo, w);          the next demo_<i>
 *   episode_buffer_free(&demo); episode_writer_close(w);
 *
 * Or both layouts behind one recorder, as rollout(1) records with -o:
 *
 *   episode_recorder_t rec;
 *   episode_recorder_open(&rec, output, layout, info, max_steps, gzip_level);
 *   each episode: episode_recorder_begin(&rec, seed);
 *     before_step: episode_recorder_step(&rec, task, step->observation, step->action);
 *     after_step:  episode_recorder_reward(&rec, step->status->reward);
 *     after it:    episode_recorder_end(&rec, keep)  (or episode_recorder_drop after a failure)
 *   episode_recorder_close(&rec, keep_file);
 *
 * The observation must carry every camera of the task's info (a runner's does). Every function
 * returning int gives -1 with error_get() on failure. */
#ifndef ILT_ROLLOUT_RECORD_H
#define ILT_ROLLOUT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "io/episode_write.h"
#include "policy/policy.h"
#include "sim/task.h"

/* One episode's file in the ACT layout; w NULL when none is open. */
typedef struct {
    episode_writer *w;
    const sim_task_info_t *info;
    int qpos, qvel, action, images[SIM_MAX_CAMERAS];   /* dataset ids */
} recording_t;

/* Create path (written under a temporary name until recording_finish) with the episode's
 * datasets, `sim` true and `task` the task's name; images gzip_level 0 (none) to 9. */
int recording_create_act(recording_t *r, const char *path, const sim_task_info_t *info, int gzip_level);
/* One step: the observation's state, velocity and images, and the action. */
int recording_append(recording_t *r, const policy_observation_t *obs, const float *action);
/* End the episode, close the file under its name. The recording is closed even on failure. */
int recording_finish(recording_t *r);
/* Drop the episode (its file removed); nothing when none is open. */
void recording_abort(recording_t *r);

/* robomimic's data.env_args for the task into out[size]: the task's name, cameras, image size,
 * rate and horizon, enough for a reader to know what was recorded. The writer keeps the pointer
 * (episode_writer_options.env_args) until it closes. */
void recording_env_args(const sim_task_info_t *info, char *out, size_t size);

/* A robomimic demo in memory, up to `capacity` steps, one array per dataset. */
typedef struct {
    const sim_task_info_t *info;
    int capacity;                  /* steps it holds (the episodes' max_steps) */
    int steps;                     /* steps recorded since episode_buffer_clear */
    float *state, *velocity, *action, *obs[SIM_MAX_OBS];   /* [capacity][dim] */
    uint8_t *images[SIM_MAX_CAMERAS];                      /* [capacity][height][width][3] */
    double *sim_state, *rewards;   /* [capacity][sim_state_dim], [capacity] */
    int64_t *dones;                /* [capacity] */
} episode_buffer_t;

/* Allocate for max_steps steps of the task; -1 with "out of memory". */
int episode_buffer_init(episode_buffer_t *e, const sim_task_info_t *info, int max_steps);
void episode_buffer_free(episode_buffer_t *e);
/* Start an episode. */
void episode_buffer_clear(episode_buffer_t *e);
/* Before the task steps: the step's observation, action and simulator state. -1 when the buffer
 * is full. */
int episode_buffer_observe(episode_buffer_t *e, const sim_task_t *task, const policy_observation_t *obs,
                           const float *action);
/* After it: the step's reward; the step is recorded. */
void episode_buffer_reward(episode_buffer_t *e, double reward);
/* Write the steps recorded as the writer's next demo (a robomimic writer), the last one done. */
int episode_buffer_write(episode_buffer_t *e, episode_writer *w);

/* Every episode of a run recorded under `output` in one layout: ACT, a directory of
 * episode_<seed>.hdf5 (made if missing; the temporaries a killed run left there removed), each
 * written as the episode runs; robomimic, one file whose demos wait in memory for the episode's
 * outcome. */
typedef struct {
    episode_layout layout;
    const char *output;
    const sim_task_info_t *info;
    int gzip_level;
    recording_t act;               /* the episode's file (ACT) */
    episode_writer *robomimic;     /* the one file (robomimic) */
    episode_buffer_t demo;         /* the episode's demo until its outcome is known */
    char env_args[2048];           /* data.env_args, which the writer reads when it closes */
} episode_recorder_t;

int episode_recorder_open(episode_recorder_t *r, const char *output, episode_layout layout,
                          const sim_task_info_t *info, int max_steps, int gzip_level);
/* Start the episode of this seed (ACT: its file episode_<seed>.hdf5). */
int episode_recorder_begin(episode_recorder_t *r, uint64_t seed);
/* Before the task steps: the step's observation and action (and the task's simulator state). */
int episode_recorder_step(episode_recorder_t *r, const sim_task_t *task, const policy_observation_t *obs,
                          const float *action);
/* After it: the step's reward. */
void episode_recorder_reward(episode_recorder_t *r, double reward);
/* End the episode: kept (written, its file closed under its name) or dropped. */
int episode_recorder_end(episode_recorder_t *r, int keep);
/* Drop the episode under way, if any (after a failure). */
void episode_recorder_drop(episode_recorder_t *r);
/* Close and free: the robomimic file closed with its demos, or removed when !keep_file. */
int episode_recorder_close(episode_recorder_t *r, int keep_file);

#endif
