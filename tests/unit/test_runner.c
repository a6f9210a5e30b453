/* test_runner.c — the episode loop of lib/rollout (runner.h) on the lift task's scripted expert:
 * the hooks are called once per step in order, with the observation of the state the action is
 * taken in; the step count returned; stop on success; a stop check or a failing hook ends the
 * episode with its message; the policy's environment is the task's. */
#include <string.h>

#include "rollout/runner.h"
#include "tap.h"
#include "util/error.h"

typedef struct {
    sim_task_t *task;
    int before, after;          /* calls of each hook */
    int out_of_order;           /* a hook saw a step other than the one expected */
    int stale;                  /* the observation was not of the task's current state */
    int stop_at, fail_at;       /* the stop check stops, before_step fails, at this step; -1 never */
} count_t;

static int stop_check(void *context, const runner_step_t *s)
{
    count_t *c = context;
    if (s->observation || s->action) c->out_of_order++;
    if (s->step == c->stop_at) return error_set("stopped at step %d", s->step);
    return 0;
}

static int count_before(void *context, const runner_step_t *s)
{
    count_t *c = context;
    float state[64];
    if (s->step != c->before || s->step != c->after) c->out_of_order++;
    sim_task_state(c->task, state);
    if (!s->observation || s->observation->step != s->step ||
        memcmp(state, s->observation->state, sizeof(float) * sim_task_info(c->task)->state_dim) != 0)
        c->stale++;
    c->before++;
    if (s->step == c->fail_at) return error_set("hook failed at step %d", s->step);
    return 0;
}

static int count_after(void *context, const runner_step_t *s)
{
    count_t *c = context;
    if (s->step != c->after || c->before != c->after + 1 || s->status->step != s->step + 1) c->out_of_order++;
    c->after++;
    return 0;
}

int main(void)
{
    sim_task_options_t physics = sim_task_default_options();
    physics.n_cameras = 0;
    sim_task_t *task = sim_task_create("lift", &physics);
    if (!tap_ok(task != NULL, "create lift: %s", task ? "" : error_get())) return tap_done();
    const sim_task_info_t *info = sim_task_info(task);

    policy_env_t env;
    runner_policy_env(info, &env);
    tap_ok(strcmp(env.task, "lift") == 0 && env.state_dim == info->state_dim && env.action_dim == 7 &&
               env.n_obs == info->n_obs && env.n_obs > 0 && env.obs_dims[0] == info->obs_dims[0] &&
               env.n_cameras == 0 && env.max_steps == info->max_steps,
           "the policy's environment is the task's");

    policy_t *policy = runner_policy_open("scripted", task, NULL);
    runner_t *runner = policy ? runner_create(task, policy) : NULL;
    if (!tap_ok(policy && runner, "open the scripted policy and a runner: %s", runner ? "" : error_get()))
        return tap_done();

    count_t c = {.task = task, .stop_at = -1, .fail_at = -1};
    runner_episode_t e = {.episode = 3, .seed = 2, .max_steps = 12, .stop = stop_check, .before_step = count_before,
                          .after_step = count_after, .context = &c};
    int steps = runner_episode(runner, &e);
    tap_ok(steps == 12 && c.before == 12 && c.after == 12 && !c.out_of_order && !c.stale,
           "12 steps: returned %d, before_step %d calls, after_step %d, %d out of order, %d stale observations", steps,
           c.before, c.after, c.out_of_order, c.stale);
    tap_ok(sim_task_status(task)->step == 12, "the task took 12 steps (%d)", sim_task_status(task)->step);

    /* The expert lifts the cube within its horizon; stop on success ends there. */
    c = (count_t){.task = task, .stop_at = -1, .fail_at = -1};
    e.max_steps = info->max_steps;
    e.stop_on_success = 1;
    steps = runner_episode(runner, &e);
    tap_ok(steps > 0 && steps < info->max_steps && sim_task_status(task)->success && c.before == steps &&
               c.after == steps && !c.out_of_order,
           "stop on success after %d of %d steps, %d hook calls", steps, info->max_steps, c.after);

    c = (count_t){.task = task, .stop_at = 5, .fail_at = -1};
    steps = runner_episode(runner, &e);
    tap_ok(steps == -1 && c.before == 5 && strcmp(error_get(), "stopped at step 5") == 0,
           "the stop check ends the episode before step 5: %d, %d steps, '%s'", steps, c.before, error_get());

    c = (count_t){.task = task, .stop_at = -1, .fail_at = 2};
    steps = runner_episode(runner, &e);
    tap_ok(steps == -1 && c.before == 3 && c.after == 2 && sim_task_status(task)->step == 2 &&
               strcmp(error_get(), "hook failed at step 2") == 0,
           "a failing hook ends the episode before the task steps: %d, '%s'", steps, error_get());

    runner_free(runner);
    policy_free(policy);
    sim_task_free(task);
    return tap_done();
}
