/* test_sim.c — the task API of lib/sim: creation errors, reset determinism, the experts' success,
 * rejection of non-finite actions, image rendering with the requested size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/task.h"
#include "tap.h"
#include "util/error.h"

/* Run the expert for a whole episode; return the final status and the state after `probe` steps. */
static sim_status_t run_expert(sim_task_t *task, uint64_t seed, int probe, float *state_at_probe)
{
    const sim_task_info_t *info = sim_task_info(task);
    float action[64];
    sim_task_reset(task, seed);
    for (int t = 0; t < info->max_steps; t++) {
        if (t == probe) sim_task_state(task, state_at_probe);
        sim_task_expert_action(task, action);
        if (sim_task_step(task, action) < 0) break;
    }
    return *sim_task_status(task);
}

int main(void)
{
    sim_task_options_t physics = sim_task_default_options();
    physics.n_cameras = 0;

    tap_ok(sim_task_create("no_such_task", &physics) == NULL && strstr(error_get(), "no task named"),
           "an unknown task is an error: %s", error_get());
    sim_task_options_t bad_camera = sim_task_default_options();
    bad_camera.n_cameras = 1;
    bad_camera.cameras[0] = "nowhere";
    tap_ok(sim_task_create("transfer_cube", &bad_camera) == NULL && strstr(error_get(), "nowhere"),
           "an unknown camera is an error: %s", error_get());

    static const char *const tasks[2] = {"transfer_cube", "insertion"};
    for (int k = 0; k < 2; k++) {
        sim_task_t *task = sim_task_create(tasks[k], &physics);
        if (!tap_ok(task != NULL, "create %s", tasks[k])) {
            tap_diag("%s", error_get());
            continue;
        }
        const sim_task_info_t *info = sim_task_info(task);
        tap_ok(info->state_dim == 14 && info->action_dim == 14 && info->max_steps == 400 &&
                   info->control_hz == 50 && info->max_reward == 4,
               "%s: 14-D state and action, 50 Hz, 400 steps, 4 stages", tasks[k]);
        tap_ok(info->n_scene_cameras == 5 && strcmp(info->scene_camera_names[0], "top") == 0,
               "%s: five cameras, top first", tasks[k]);
        float a[14], b[14], c[14];
        sim_status_t s1 = run_expert(task, 21, 250, a);
        sim_status_t s2 = run_expert(task, 21, 250, b);
        run_expert(task, 22, 250, c);
        tap_ok(s1.success && s1.success_lenient && s1.max_stage == 4, "%s: the expert succeeds on seed 21", tasks[k]);
        tap_ok(memcmp(a, b, sizeof a) == 0 && s1.episode_return == s2.episode_return,
               "%s: the same seed gives the same states", tasks[k]);
        tap_ok(memcmp(a, c, sizeof a) != 0, "%s: another seed gives other states", tasks[k]);

        float action[14];
        sim_task_reset(task, 0);
        sim_task_expert_action(task, action);
        action[3] = NAN;
        tap_ok(sim_task_step(task, action) < 0 && strstr(error_get(), "action[3]"),
               "%s: a NaN action is rejected: %s", tasks[k], error_get());
        sim_task_free(task);
    }

    sim_task_options_t two = sim_task_default_options();
    two.n_cameras = 2;
    two.cameras[0] = "angle";
    two.cameras[1] = "right_wrist";
    two.height = 30;
    two.width = 50;
    sim_task_t *task = sim_task_create("insertion", &two);
    if (tap_ok(task != NULL, "create insertion with two cameras at 30x50")) {
        const sim_task_info_t *info = sim_task_info(task);
        uint8_t *rgb = malloc(30 * 50 * 3);
        sim_task_reset(task, 3);
        int rc = sim_task_image(task, 1, rgb);
        double mean = 0;
        for (int i = 0; i < 30 * 50 * 3; i++) mean += rgb[i];
        mean /= 30 * 50 * 3;
        tap_ok(rc == 0 && info->height == 30 && info->width == 50 && mean > 5,
               "renders the right wrist camera (mean %.1f)", mean);
        tap_ok(sim_task_image(task, 2, rgb) < 0, "a camera index out of range is an error");
        free(rgb);
        sim_task_free(task);
    }
    return tap_done();
}
