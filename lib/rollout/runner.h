/* runner.h — run a policy in a simulated task, one seeded episode at a time: the episode loop of
 * rollout, for any program that evaluates or records a policy (an evaluation tool, a robot-side
 * test harness) without copying rollout.
 *
 * At each step the runner observes the task (state, velocity, the named low-dimensional
 * observations and an image of every camera the task renders) into a policy_observation_t, asks
 * the policy for the step's action (policy_step) and steps the task with it. An episode ends
 * after max_steps steps, or, when asked, after the first step at which the task has succeeded.
 * The caller follows the episode through hooks: a stop check at the start of every step (a
 * signal came: abandon the episode), one after the policy chose its action and before the task
 * steps (record the step, write a frame: the observation is of the state the action is taken
 * in), and one after the task stepped (the step's reward is in the status).
 *
 *   sim_task_t *task = sim_task_create("lift", &task_options);
 *   policy_t *policy = runner_policy_open("ckpt.h5", task, &policy_options);   or "scripted"
 *   runner_t *runner = runner_create(task, policy);
 *   runner_episode_t e = {.episode = i, .seed = 700000 + i, .max_steps = 400, .stop_on_success = 1,
 *                         .before_step = record_step, .context = &recording};
 *   int steps = runner_episode(runner, &e);            -1 with error_get() on failure
 *   sim_task_status(task)->success ...
 *   runner_free(runner); policy_free(policy); sim_task_free(task);
 *
 * The runner joins sim/ and policy/, which know nothing of each other; it writes nothing
 * (rollout/record.h records episodes, rollout(1)'s frame streams are the tool's). It owns the
 * per-step buffers; the task and the policy stay the caller's. Not thread-safe per runner. */
#ifndef ILT_ROLLOUT_RUNNER_H
#define ILT_ROLLOUT_RUNNER_H

#include <stdint.h>

#include "policy/policy.h"
#include "sim/task.h"

typedef struct runner runner_t;

/* Where an episode stands, as its hooks see it. */
typedef struct {
    long episode;                  /* the episode's number and seed (runner_episode_t) */
    uint64_t seed;
    int step;                      /* the control step under way, 0 first */
    /* What the policy observed at this step and the action it chose (action_dim values), in the
     * runner's buffers until the next step; NULL in the stop check (nothing observed yet). */
    const policy_observation_t *observation;
    const float *action;
    const sim_status_t *status;    /* the task's: before the step; after it in after_step */
} runner_step_t;

/* A hook returns 0 to go on; anything else ends the episode, and runner_episode returns -1 with
 * the message the hook recorded (error_set). */
typedef int (*runner_hook_fn)(void *context, const runner_step_t *step);

typedef struct {
    long episode;                  /* its number, for messages ("episode 3 (seed 703), step 12: ") */
    uint64_t seed;                 /* resets the task and the policy */
    int max_steps;                 /* steps at most (the task's info->max_steps for its length) */
    int stop_on_success;           /* 1: end after the first step at which the task has succeeded */
    runner_hook_fn stop;           /* each optional (NULL): the stop check, before observing */
    runner_hook_fn before_step;    /* the policy chose its action; the task has not stepped */
    runner_hook_fn after_step;     /* the task stepped */
    void *context;                 /* passed to every hook */
    /* Noise injected into the demonstration (DART): per action dimension, the standard deviation
     * of Gaussian noise added to the action the task executes. The hooks see the policy's own
     * action, so a recording holds the expert's answer to the states the noise leads to. Drawn
     * from a generator keyed by the episode's seed. NULL: the task executes the policy's action. */
    const float *action_noise;
} runner_episode_t;

/* What the task offers a policy (policy_open's env): its name, dimensions, rendered cameras and
 * image size, named observations, rate and length. The names point into info. */
void runner_policy_env(const sim_task_info_t *info, policy_env_t *env);

/* Open a policy for the task: "scripted" gives the task's expert (policy_open_scripted with
 * sim_task_expert_action), anything else is a checkpoint (policy_open; options NULL: the
 * defaults). NULL with error_get() on failure. The task must outlive the policy. */
policy_t *runner_policy_open(const char *spec, sim_task_t *task, const policy_options_t *options);

/* A runner for this task and policy (both stay the caller's and must outlive it). NULL with
 * error_get() when out of memory. */
runner_t *runner_create(sim_task_t *task, policy_t *policy);
void runner_free(runner_t *runner);

/* Reset the task and the policy with e->seed and run the episode. Returns the number of steps
 * taken (the task's status tells how the episode went), or -1 with error_get(): a failed reset,
 * a camera that did not render, "episode E (seed S), step T: " before the policy's message,
 * "episode E (seed S): " before the task's (a non-finite action), or a hook's message. */
int runner_episode(runner_t *runner, const runner_episode_t *e);

#endif
