/* record.c — an episode's datasets in the ACT and robomimic layouts, and the robomimic demo kept
 * in memory until the episode's outcome is known (record.h). */
#include "rollout/record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/tempfile.h"

/* The datasets of one episode (ACT) or demo (robomimic), declared in the writer's open episode. */
typedef struct {
    int qpos, qvel, action, images[SIM_MAX_CAMERAS];
    int rewards, dones, states, obs[SIM_MAX_OBS];
} datasets_t;

static int begin_episode(episode_writer *w, datasets_t *d, const sim_task_info_t *info, episode_layout layout)
{
    if (episode_writer_begin(w) < 0) return -1;
    int64_t state[1] = {info->state_dim}, velocity[1] = {info->velocity_dim}, action[1] = {info->action_dim};
    int64_t image[3] = {info->height, info->width, 3}, sim_state[1] = {info->sim_state_dim};
    char name[256];
    if (layout == EPISODE_LAYOUT_ACT) {
        if ((d->qpos = episode_writer_dataset(w, "observations/qpos", NPY_F32, 1, state)) < 0 ||
            (d->qvel = episode_writer_dataset(w, "observations/qvel", NPY_F32, 1, velocity)) < 0)
            return -1;
        for (int c = 0; c < info->n_cameras; c++) {
            snprintf(name, sizeof name, "observations/images/%s", info->camera_names[c]);
            if ((d->images[c] = episode_writer_dataset(w, name, NPY_U8, 3, image)) < 0) return -1;
        }
        if ((d->action = episode_writer_dataset(w, "action", NPY_F32, 1, action)) < 0) return -1;
        return 0;
    }
    /* robomimic: named observations when the task has them, qpos/qvel otherwise. */
    if (info->n_obs == 0) {
        if ((d->qpos = episode_writer_dataset(w, "obs/qpos", NPY_F32, 1, state)) < 0 ||
            (d->qvel = episode_writer_dataset(w, "obs/qvel", NPY_F32, 1, velocity)) < 0)
            return -1;
    }
    for (int i = 0; i < info->n_obs; i++) {
        int64_t dim[1] = {info->obs_dims[i]};
        snprintf(name, sizeof name, "obs/%s", info->obs_names[i]);
        if ((d->obs[i] = episode_writer_dataset(w, name, NPY_F32, 1, dim)) < 0) return -1;
    }
    for (int c = 0; c < info->n_cameras; c++) {
        snprintf(name, sizeof name, "obs/%s_image", info->camera_names[c]);
        if ((d->images[c] = episode_writer_dataset(w, name, NPY_U8, 3, image)) < 0) return -1;
    }
    if ((d->action = episode_writer_dataset(w, "actions", NPY_F32, 1, action)) < 0 ||
        (d->rewards = episode_writer_dataset(w, "rewards", NPY_F64, 0, NULL)) < 0 ||
        (d->dones = episode_writer_dataset(w, "dones", NPY_I64, 0, NULL)) < 0 ||
        (d->states = episode_writer_dataset(w, "states", NPY_F64, 1, sim_state)) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- ACT: a file per episode */

int recording_create_act(recording_t *r, const char *path, const sim_task_info_t *info, int gzip_level)
{
    memset(r, 0, sizeof *r);
    r->info = info;
    episode_writer_options wo = {.layout = EPISODE_LAYOUT_ACT, .sim = 1, .gzip_level = gzip_level};
    datasets_t d = {.qpos = 0};
    if (!(r->w = episode_writer_create(path, &wo)) || begin_episode(r->w, &d, info, EPISODE_LAYOUT_ACT) < 0 ||
        episode_writer_attr_string(r->w, "task", info->name) < 0) {
        recording_abort(r);
        return -1;
    }
    r->qpos = d.qpos, r->qvel = d.qvel, r->action = d.action;
    memcpy(r->images, d.images, sizeof r->images);
    return 0;
}

int recording_append(recording_t *r, const policy_observation_t *obs, const float *action)
{
    if (episode_writer_append(r->w, r->qpos, obs->state) < 0 || episode_writer_append(r->w, r->qvel, obs->velocity) < 0)
        return -1;
    for (int c = 0; c < r->info->n_cameras; c++)
        if (episode_writer_append(r->w, r->images[c], obs->images[c]) < 0) return -1;
    return episode_writer_append(r->w, r->action, action);
}

int recording_finish(recording_t *r)
{
    if (episode_writer_end(r->w) < 0) {
        recording_abort(r);
        return -1;
    }
    episode_writer *w = r->w;
    r->w = NULL;
    return episode_writer_close(w);   /* frees w, removes the file on failure */
}

void recording_abort(recording_t *r)
{
    episode_writer_abort(r->w);
    r->w = NULL;
}

void recording_env_args(const sim_task_info_t *info, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "{\"env_name\":\"%s\",\"type\":\"ilt_mujoco\",\"env_kwargs\":{\"camera_names\":[",
                                info->name);
    for (int c = 0; c < info->n_cameras && n < size; c++)
        n += (size_t)snprintf(out + n, size - n, "%s\"%s\"", c ? "," : "", info->camera_names[c]);
    if (n < size)
        snprintf(out + n, size - n, "],\"camera_height\":%d,\"camera_width\":%d,\"control_freq\":%g,\"horizon\":%d}}",
                 info->height, info->width, info->control_hz, info->max_steps);
}

/* ---------------------------------------------------------------- robomimic: a demo in memory */

int episode_buffer_init(episode_buffer_t *e, const sim_task_info_t *info, int max_steps)
{
    memset(e, 0, sizeof *e);
    e->info = info;
    e->capacity = max_steps;
    size_t T = max_steps > 0 ? (size_t)max_steps : 1, image = (size_t)info->height * info->width * 3;
    int ok = (e->state = calloc(T * info->state_dim + 1, sizeof(float))) &&
             (e->velocity = calloc(T * info->velocity_dim + 1, sizeof(float))) &&
             (e->action = calloc(T * info->action_dim + 1, sizeof(float))) &&
             (e->sim_state = calloc(T * info->sim_state_dim + 1, sizeof(double))) &&
             (e->rewards = calloc(T, sizeof(double))) && (e->dones = calloc(T, sizeof(int64_t)));
    for (int i = 0; ok && i < info->n_obs; i++) ok = (e->obs[i] = calloc(T * info->obs_dims[i] + 1, sizeof(float))) != NULL;
    for (int c = 0; ok && c < info->n_cameras; c++) ok = (e->images[c] = calloc(T * image + 1, 1)) != NULL;
    if (ok) return 0;
    episode_buffer_free(e);
    return error_set("out of memory");
}

void episode_buffer_free(episode_buffer_t *e)
{
    free(e->state), free(e->velocity), free(e->action), free(e->sim_state), free(e->rewards), free(e->dones);
    for (int i = 0; i < SIM_MAX_OBS; i++) free(e->obs[i]);
    for (int c = 0; c < SIM_MAX_CAMERAS; c++) free(e->images[c]);
    memset(e, 0, sizeof *e);
}

void episode_buffer_clear(episode_buffer_t *e) { e->steps = 0; }

int episode_buffer_observe(episode_buffer_t *e, const sim_task_t *task, const policy_observation_t *obs,
                           const float *action)
{
    const sim_task_info_t *info = e->info;
    if (e->steps >= e->capacity) return error_set("a demo of more than %d steps", e->capacity);
    size_t t = (size_t)e->steps, image = (size_t)info->height * info->width * 3;
    sim_task_sim_state(task, e->sim_state + t * info->sim_state_dim);
    memcpy(e->state + t * info->state_dim, obs->state, sizeof(float) * info->state_dim);
    memcpy(e->velocity + t * info->velocity_dim, obs->velocity, sizeof(float) * info->velocity_dim);
    memcpy(e->action + t * info->action_dim, action, sizeof(float) * info->action_dim);
    for (int k = 0; k < info->n_obs; k++)
        memcpy(e->obs[k] + t * info->obs_dims[k], obs->obs[k], sizeof(float) * info->obs_dims[k]);
    for (int c = 0; c < info->n_cameras; c++) memcpy(e->images[c] + t * image, obs->images[c], image);
    return 0;
}

void episode_buffer_reward(episode_buffer_t *e, double reward)
{
    e->rewards[e->steps] = reward;
    e->dones[e->steps] = 0;
    e->steps++;
}

int episode_buffer_write(episode_buffer_t *e, episode_writer *w)
{
    const sim_task_info_t *info = e->info;
    datasets_t d = {.qpos = 0};
    if (e->steps > 0) e->dones[e->steps - 1] = 1;
    if (begin_episode(w, &d, info, EPISODE_LAYOUT_ROBOMIMIC) < 0) return -1;
    if (info->n_obs == 0 && (episode_writer_append_n(w, d.qpos, e->state, e->steps) < 0 ||
                             episode_writer_append_n(w, d.qvel, e->velocity, e->steps) < 0))
        return -1;
    for (int i = 0; i < info->n_obs; i++)
        if (episode_writer_append_n(w, d.obs[i], e->obs[i], e->steps) < 0) return -1;
    for (int c = 0; c < info->n_cameras; c++)
        if (episode_writer_append_n(w, d.images[c], e->images[c], e->steps) < 0) return -1;
    if (episode_writer_append_n(w, d.action, e->action, e->steps) < 0 ||
        episode_writer_append_n(w, d.rewards, e->rewards, e->steps) < 0 ||
        episode_writer_append_n(w, d.dones, e->dones, e->steps) < 0 ||
        episode_writer_append_n(w, d.states, e->sim_state, e->steps) < 0 || episode_writer_end(w) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- a run's recorder */
int episode_recorder_open(episode_recorder_t *r, const char *output, episode_layout layout,
                          const sim_task_info_t *info, int max_steps, int gzip_level)
{
    memset(r, 0, sizeof *r);
    r->layout = layout;
    r->output = output;
    r->info = info;
    r->gzip_level = gzip_level;
    if (layout == EPISODE_LAYOUT_ACT) {
        if (mkdir(output, 0777) < 0 && errno != EEXIST)
            return error_set("%s: cannot create the directory: %s", output, strerror(errno));
        tempfile_clean_stale(output, "episode_");   /* what a killed run left, whichever its seeds */
        return 0;
    }
    recording_env_args(info, r->env_args, sizeof r->env_args);
    episode_writer_options wo = {.layout = EPISODE_LAYOUT_ROBOMIMIC, .env_args = r->env_args, .gzip_level = gzip_level};
    if (!(r->robomimic = episode_writer_create(output, &wo))) return -1;
    if (episode_buffer_init(&r->demo, info, max_steps) < 0) {
        episode_writer_abort(r->robomimic);
        r->robomimic = NULL;
        return -1;
    }
    return 0;
}

int episode_recorder_begin(episode_recorder_t *r, uint64_t seed)
{
    if (r->robomimic) {
        episode_buffer_clear(&r->demo);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/episode_%llu.hdf5", r->output, (unsigned long long)seed);
    return recording_create_act(&r->act, path, r->info, r->gzip_level);
}

int episode_recorder_step(episode_recorder_t *r, const sim_task_t *task, const policy_observation_t *obs,
                          const float *action)
{
    if (r->robomimic) return episode_buffer_observe(&r->demo, task, obs, action);
    return r->act.w ? recording_append(&r->act, obs, action) : 0;
}

void episode_recorder_reward(episode_recorder_t *r, double reward)
{
    if (r->robomimic) episode_buffer_reward(&r->demo, reward);
}

int episode_recorder_end(episode_recorder_t *r, int keep)
{
    if (r->robomimic) return keep ? episode_buffer_write(&r->demo, r->robomimic) : 0;
    if (!r->act.w) return 0;
    if (keep) return recording_finish(&r->act);
    recording_abort(&r->act);
    return 0;
}

void episode_recorder_drop(episode_recorder_t *r) { recording_abort(&r->act); }

int episode_recorder_close(episode_recorder_t *r, int keep_file)
{
    int rc = 0;
    recording_abort(&r->act);
    if (r->robomimic) {
        if (!keep_file) episode_writer_abort(r->robomimic);
        else rc = episode_writer_close(r->robomimic);
        r->robomimic = NULL;
    }
    episode_buffer_free(&r->demo);
    return rc;
}
