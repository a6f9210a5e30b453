/* runner.c — the episode loop: observe the task, ask the policy, step the task (runner.h). */
#include "rollout/runner.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/rng.h"

_Static_assert(POLICY_MAX_CAMERAS >= SIM_MAX_CAMERAS && POLICY_MAX_OBS >= SIM_MAX_OBS,
               "a policy observation holds every camera and named observation of a task");

struct runner {
    sim_task_t *task;
    const sim_task_info_t *info;
    policy_t *policy;
    /* one step's observation and action */
    float *state, *velocity, *action, *executed, *obs[SIM_MAX_OBS];
    uint8_t *images[SIM_MAX_CAMERAS];
};

void runner_policy_env(const sim_task_info_t *info, policy_env_t *env)
{
    memset(env, 0, sizeof *env);
    env->task = info->name;
    env->state_dim = info->state_dim;
    env->velocity_dim = info->velocity_dim;
    env->action_dim = info->action_dim;
    env->n_cameras = info->n_cameras;
    for (int c = 0; c < info->n_cameras; c++) env->camera_names[c] = info->camera_names[c];
    env->height = info->height;
    env->width = info->width;
    env->n_obs = info->n_obs;
    for (int i = 0; i < info->n_obs; i++) env->obs_names[i] = info->obs_names[i], env->obs_dims[i] = info->obs_dims[i];
    env->control_hz = info->control_hz;
    env->max_steps = info->max_steps;
}

static int expert_action(void *task, float *action) { return sim_task_expert_action(task, action); }
static int expert_option(void *task, const char *key, const char *value) { return sim_task_expert_option(task, key, value); }

policy_t *runner_policy_open(const char *spec, sim_task_t *task, const policy_options_t *options)
{
    policy_env_t env;
    runner_policy_env(sim_task_info(task), &env);
    if (strcmp(spec, "scripted") == 0) {
        /* --policy-arg KEY=VALUE: the expert's settings */
        for (int i = 0; options && i < options->n_args; i++)
            if (policy_apply_arg(options->args[i], expert_option, task) < 0) return NULL;
        return policy_open_scripted(&env, expert_action, task);
    }
    return policy_open(spec, &env, options);
}

runner_t *runner_create(sim_task_t *task, policy_t *policy)
{
    const sim_task_info_t *info = sim_task_info(task);
    runner_t *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->task = task;
    r->info = info;
    r->policy = policy;
    int ok = (r->state = calloc(info->state_dim ? info->state_dim : 1, sizeof(float))) &&
             (r->velocity = calloc(info->velocity_dim ? info->velocity_dim : 1, sizeof(float))) &&
             (r->action = calloc(info->action_dim ? info->action_dim : 1, sizeof(float))) &&
             (r->executed = calloc(info->action_dim ? info->action_dim : 1, sizeof(float)));
    for (int i = 0; ok && i < info->n_obs; i++) ok = (r->obs[i] = calloc(info->obs_dims[i] ? info->obs_dims[i] : 1, sizeof(float))) != NULL;
    for (int c = 0; ok && c < info->n_cameras; c++) ok = (r->images[c] = calloc((size_t)info->height * info->width * 3, 1)) != NULL;
    if (ok) return r;
    runner_free(r);
oom:
    error_set("out of memory");
    return NULL;
}

void runner_free(runner_t *r)
{
    if (!r) return;
    free(r->state), free(r->velocity), free(r->action), free(r->executed);
    for (int i = 0; i < SIM_MAX_OBS; i++) free(r->obs[i]);
    for (int c = 0; c < SIM_MAX_CAMERAS; c++) free(r->images[c]);
    free(r);
}

/* The observation of the current state into the runner's buffers. */
static int observe(runner_t *r, policy_observation_t *obs, int step)
{
    const sim_task_info_t *info = r->info;
    memset(obs, 0, sizeof *obs);
    obs->step = step;
    sim_task_state(r->task, r->state);
    sim_task_velocity(r->task, r->velocity);
    obs->state = r->state;
    obs->velocity = r->velocity;
    for (int i = 0; i < info->n_obs; i++) {
        sim_task_obs(r->task, i, r->obs[i]);
        obs->obs[i] = r->obs[i];
    }
    for (int c = 0; c < info->n_cameras; c++) {
        if (sim_task_image(r->task, c, r->images[c]) < 0) return -1;
        obs->images[c] = r->images[c];
    }
    return 0;
}

/* The key of the demonstration noise's stream (runner_episode_t.action_noise), apart from the
 * policies' streams keyed by the same seed. */
#define RUNNER_NOISE_STREAM 0x444152544e6f6973ULL

int runner_episode(runner_t *r, const runner_episode_t *e)
{
    unsigned long long seed = (unsigned long long)e->seed;
    if (sim_task_reset(r->task, e->seed) < 0 || policy_reset(r->policy, e->seed) < 0) return -1;
    const sim_status_t *status = sim_task_status(r->task);
    policy_observation_t obs;
    runner_step_t s = {.episode = e->episode, .seed = e->seed, .status = status};
    rng_t noise = rng_keyed(e->seed ^ RUNNER_NOISE_STREAM, 0, 0);
    int steps = 0;
    for (int t = 0; t < e->max_steps; t++) {
        s.step = t;
        s.observation = NULL;
        s.action = NULL;
        if (e->stop && e->stop(e->context, &s)) return -1;
        if (observe(r, &obs, t) < 0) return -1;
        if (policy_step(r->policy, &obs, r->action) < 0)
            return error_prefix("episode %ld (seed %llu), step %d: ", e->episode, seed, t);
        s.observation = &obs;
        s.action = r->action;
        if (e->before_step && e->before_step(e->context, &s)) return -1;
        const float *executed = r->action;
        if (e->action_noise) {
            for (int i = 0; i < r->info->action_dim; i++)
                r->executed[i] = r->action[i] + (e->action_noise[i] > 0 ? e->action_noise[i] * (float)rng_normal(&noise) : 0);
            executed = r->executed;
        }
        if (sim_task_step(r->task, executed) < 0) return error_prefix("episode %ld (seed %llu): ", e->episode, seed);
        steps = t + 1;
        if (e->after_step && e->after_step(e->context, &s)) return -1;
        if (e->stop_on_success && status->success) break;
    }
    return steps;
}
