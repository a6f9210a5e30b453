/* test_lift.c — the lift task: layout of its info, the scripted expert lifts the cube on a few
 * seeds, the same seed gives bit-identical states and images, a zero action holds the arm still,
 * and out-of-range actions are clipped rather than rejected; lift_abs (absolute target poses) moves
 * the arm as lift does under the same expert, holds a target, clips a far one and rejects a
 * degenerate orientation. The 100-seed success rate is measured
 * with rollout (see tests/lift.bats and the report). */
#include "tap.h"
#include "sim/task.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Run the expert for `steps` steps; returns the step of the first success or -1, and fills a
 * checksum of every state and (if rendering) image along the way. */
static int run_expert(sim_task_t *task, uint64_t seed, int steps, uint64_t *checksum)
{
    const sim_task_info_t *info = sim_task_info(task);
    float state[64], action[16];
    uint8_t *rgb = info->n_cameras ? malloc((size_t)info->height * info->width * 3) : NULL;
    uint64_t h = 1469598103934665603ull;
    int first = -1;
    if (sim_task_reset(task, seed) < 0) return -2;
    for (int t = 0; t < steps; t++) {
        sim_task_state(task, state);
        const uint8_t *bytes = (const uint8_t *)state;
        for (size_t i = 0; i < info->state_dim * sizeof(float); i++) h = (h ^ bytes[i]) * 1099511628211ull;
        for (int c = 0; c < info->n_cameras; c++) {
            if (sim_task_image(task, c, rgb) < 0) return -2;
            for (int i = 0; i < info->height * info->width * 3; i += 7) h = (h ^ rgb[i]) * 1099511628211ull;
        }
        if (sim_task_expert_action(task, action) < 0 || sim_task_step(task, action) < 0) return -2;
        if (first < 0 && sim_task_status(task)->success_now) first = t;
    }
    free(rgb);
    *checksum = h;
    return first;
}

static void eef_pos(sim_task_t *task, float *pos) { sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_pos"), pos); }

static double distance3(const float *a, const float *b)
{
    return sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

/* The absolute action that names the pose the hand has now (position, the rotation matrix's first
 * two columns from the eef quaternion x y z w), gripper open. */
static void hold_action(sim_task_t *task, float *action)
{
    float q[4];
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_quat"), q);
    eef_pos(task, action);
    double x = q[0], y = q[1], z = q[2], w = q[3];
    action[3] = (float)(1 - 2 * (y * y + z * z)); /* column 0 */
    action[4] = (float)(2 * (x * y + w * z));
    action[5] = (float)(2 * (x * z - w * y));
    action[6] = (float)(2 * (x * y - w * z)); /* column 1 */
    action[7] = (float)(1 - 2 * (x * x + z * z));
    action[8] = (float)(2 * (y * z + w * x));
    action[9] = -1;
}

static void test_lift_abs(void)
{
    sim_task_options_t options = sim_task_default_options();
    options.n_cameras = 0;
    sim_task_t *delta = sim_task_create("lift", &options), *task = sim_task_create("lift_abs", &options);
    if (!tap_ok(task && delta, "create lift_abs: %s", task ? "" : error_get())) return;
    const sim_task_info_t *info = sim_task_info(task);
    tap_ok(info->action_dim == 10 && info->state_dim == 8 && strcmp(info->action_space, "eef_absolute") == 0,
           "lift_abs: 10-D absolute actions, 8-D state");

    /* The same expert in both action spaces moves the arm the same way (the target is stored in
     * float, so the twists differ in the last bits) and lifts the cube. */
    uint64_t sum;
    int first = run_expert(task, 2, 120, &sum);
    float pos_abs[3], pos_delta[3];
    eef_pos(task, pos_abs);
    int first_delta = run_expert(delta, 2, 120, &sum);
    eef_pos(delta, pos_delta);
    tap_ok(first >= 0 && sim_task_status(task)->success && first == first_delta &&
               distance3(pos_abs, pos_delta) < 1e-4,
           "lift_abs: the expert lifts the cube at step %d (lift: %d), its hand %.2g m from lift's", first,
           first_delta, distance3(pos_abs, pos_delta));

    /* Holding the pose it has: the arm stays. */
    float action[10], before[3], after[3];
    sim_task_reset(task, 5);
    hold_action(task, action);
    memcpy(before, action, sizeof before);
    for (int t = 0; t < 40; t++) sim_task_step(task, action);
    eef_pos(task, after);
    tap_ok(distance3(before, after) < 0.01, "lift_abs: holding the current pose for 2 s: eef drifts %.4f m",
           distance3(before, after));

    /* A target 30 cm away in x: one step moves as far as lift's full-scale step, no further. */
    sim_task_reset(task, 5);
    hold_action(task, action);
    action[0] += 0.3f;
    sim_task_step(task, action);
    hold_action(task, action);
    sim_task_step(task, action);
    eef_pos(task, after);
    double moved = after[0] - before[0];
    tap_ok(moved > 0.03 && moved < 0.055, "lift_abs: a target 0.3 m away moves the eef %.4f m in a step (clip 0.05)",
           moved);

    hold_action(task, action);
    for (int i = 3; i < 9; i++) action[i] = 0;
    tap_ok(sim_task_step(task, action) < 0 && strstr(error_get(), "lift_abs"),
           "lift_abs: a zero orientation is an error: %s", error_get());
    sim_task_free(task);
    sim_task_free(delta);
}

int main(void)
{
    sim_task_options_t options = sim_task_default_options();
    options.n_cameras = 0;
    sim_task_t *task = sim_task_create("lift", &options);
    if (!tap_ok(task != NULL, "create lift: %s", task ? "" : error_get())) return tap_done();
    const sim_task_info_t *info = sim_task_info(task);
    tap_ok(info->action_dim == 7 && info->state_dim == 8 && info->control_hz == 20 && info->max_steps == 400 &&
               strcmp(info->action_space, "eef_delta") == 0,
           "7-D eef-delta actions, 8-D state, 20 Hz, 400 steps");
    tap_ok(info->n_scene_cameras >= 2 && strcmp(info->scene_camera_names[0], "agentview") == 0,
           "agentview is the training camera");
    static const char *obs[] = {"robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "robot0_joint_pos"};
    static const int dims[] = {3, 4, 2, 6};
    int obs_ok = 1;
    for (int i = 0; i < 4; i++) {
        int k = sim_task_obs_index(task, obs[i]);
        obs_ok &= k >= 0 && info->obs_dims[k] == dims[i];
    }
    tap_ok(obs_ok, "robomimic observation names and sizes");

    uint64_t sum;
    for (uint64_t seed = 0; seed < 3; seed++) {
        int first = run_expert(task, seed, 120, &sum);
        tap_ok(first >= 0 && sim_task_status(task)->success && sim_task_status(task)->success_now,
               "expert lifts the cube, seed %llu (first success at step %d)", (unsigned long long)seed, first);
    }

    /* Unit quaternion, eef above the table, fingers closed on the cube after a successful lift. */
    float q[4], pos[3], grip[2];
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_quat"), q);
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_pos"), pos);
    sim_task_obs(task, sim_task_obs_index(task, "robot0_gripper_qpos"), grip);
    tap_ok(fabsf(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3] - 1) < 1e-4 && pos[2] > 0.85 &&
               grip[0] > 0.015 && grip[0] < 0.025,
           "after the lift: unit eef quaternion, eef at %.3f m, fingers %.4f m apart from centre", pos[2], grip[0]);

    /* A zero action keeps the arm where it is (gravity compensated). */
    sim_task_reset(task, 5);
    float before[3], after[3], zero[7] = {0, 0, 0, 0, 0, 0, -1};
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_pos"), before);
    for (int t = 0; t < 40; t++) sim_task_step(task, zero);
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_pos"), after);
    double drift = sqrt((after[0] - before[0]) * (after[0] - before[0]) + (after[1] - before[1]) * (after[1] - before[1]) +
                        (after[2] - before[2]) * (after[2] - before[2]));
    tap_ok(drift < 0.01, "zero action for 2 s: eef drifts %.4f m", drift);

    /* One step of +x at full scale moves the eef towards a target 5 cm away; the position servos
     * cover most of it within the step (the next step plans from the measured pose, as robosuite's
     * OSC does). 10 is clipped to 1. */
    float plus_x[7] = {1, 0, 0, 0, 0, 0, -1}, huge_x[7] = {10, 0, 0, 0, 0, 0, -1};
    sim_task_reset(task, 5);
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_pos"), before);
    sim_task_step(task, plus_x);
    sim_task_step(task, zero);
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_pos"), after);
    double moved = after[0] - before[0];
    sim_task_reset(task, 5);
    sim_task_step(task, huge_x);
    sim_task_step(task, zero);
    float after_huge[3];
    sim_task_obs(task, sim_task_obs_index(task, "robot0_eef_pos"), after_huge);
    tap_ok(moved > 0.03 && moved < 0.055 && after_huge[0] == after[0],
           "one unit of x moves the eef %.4f m (target 0.05); 10 is clipped to 1", moved);
    float nan_action[7] = {NAN, 0, 0, 0, 0, 0, 0};
    tap_ok(sim_task_step(task, nan_action) < 0, "NaN action rejected: %s", error_get());
    sim_task_free(task);

    /* Determinism with rendering: the same seed twice, same states and images. */
    options.n_cameras = 2;
    options.cameras[0] = "agentview";
    options.cameras[1] = "robot0_eye_in_hand";
    options.height = 32;
    options.width = 40;
    task = sim_task_create("lift", &options);
    if (!tap_ok(task != NULL, "create lift with two cameras: %s", task ? "" : error_get())) return tap_done();
    uint64_t a = 0, b = 1, c = 2;
    run_expert(task, 11, 50, &a);
    run_expert(task, 12, 50, &c);
    run_expert(task, 11, 50, &b);
    tap_ok(a == b && a != c, "same seed, same states and images; another seed differs");
    sim_task_free(task);

    test_lift_abs();
    return tap_done();
}
