/* ilt_api.c — the public C interface (include/ilt.h) against the installed library, as TAP:
 * two policies in one process (interleaved, and on two threads at once) give the actions each
 * gives alone; errors are return codes with messages that name the problem.
 * Usage: ilt_api ACT.h5 DP.h5 NOT_A_CHECKPOINT   (the DP checkpoint takes lift's named observations) */
#include <ilt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 6
static int test_no, failed;

static void check(int ok, const char *what, const char *detail)
{
    printf("%sok %d - %s%s%s\n", ok ? "" : "not ", ++test_no, what, detail ? ": " : "", detail ? detail : "");
    failed += !ok;
}

/* Deterministic observations for step t of a policy described by d (buffers owned by the caller). */
typedef struct {
    float values[4096];
    uint8_t pixels[ILT_MAX_CAMERAS][64 * 64 * 3];
    ilt_observation obs;
} observation_buffer;

static void fill(observation_buffer *b, const ilt_description *d, int t, int salt)
{
    memset(&b->obs, 0, sizeof b->obs);
    float *v = b->values;
    for (int i = 0; i < 4096; i++) v[i] = (float)(((i * 37 + t * 11 + salt * 5) % 101) - 50) / 50.0f;
    b->obs.state = v;
    b->obs.velocity = v + 64;
    for (int i = 0; i < d->n_obs; i++) b->obs.obs[i] = v + 128 + 64 * i;
    for (int k = 0; k < d->n_cameras; k++) {
        for (int p = 0; p < d->height * d->width * 3; p++) b->pixels[k][p] = (uint8_t)(p * 7 + t * 13 + k + salt);
        b->obs.images[k] = b->pixels[k];
    }
}

/* STEPS actions of a freshly reset policy on observations with this salt. */
static int run(ilt_policy *p, int salt, float *actions)
{
    ilt_description d;
    observation_buffer *b = malloc(sizeof *b);
    int rc = ilt_describe(p, &d);
    if (rc == ILT_OK) rc = ilt_reset(p, 7);
    for (int t = 0; rc == ILT_OK && t < STEPS; t++) {
        fill(b, &d, t, salt);
        rc = ilt_step(p, &b->obs, actions + t * d.action_dim);
    }
    free(b);
    return rc;
}

typedef struct { ilt_policy *p; int salt; float actions[STEPS * 64]; int rc; } job;
static void *run_job(void *arg)
{
    job *j = arg;
    for (int i = 0; i < 3 && j->rc == ILT_OK; i++) j->rc = run(j->p, j->salt, j->actions);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: ilt_api ACT.h5 DP.h5 NOT_A_CHECKPOINT\n"); return 2; }
    char msg[4096];
    ilt_policy *act = NULL, *dp = NULL, *act2 = NULL;
    ilt_options o;
    ilt_options_init(&o);
    check(ilt_open(argv[1], &o, &act) == ILT_OK && act, "ilt_open an ACT checkpoint", ilt_last_error(NULL));
    check(ilt_open(argv[2], NULL, &dp) == ILT_OK && dp, "ilt_open a Diffusion Policy checkpoint", ilt_last_error(NULL));
    check(ilt_open(argv[1], &o, &act2) == ILT_OK, "ilt_open the ACT checkpoint a second time", ilt_last_error(NULL));
    if (!act || !dp || !act2) { printf("1..%d\n", test_no); return 1; }
    ilt_description da, dd;
    ilt_describe(act, &da);
    ilt_describe(dp, &dd);
    snprintf(msg, sizeof msg, "act: state %d action %d cameras %d (%s %dx%d) chunk %d exec %d; diffusion: action %d obs %d (%s %d) chunk %d exec %d",
             da.state_dim, da.action_dim, da.n_cameras, da.camera_names[0], da.height, da.width, da.chunk_size, da.chunk_exec,
             dd.action_dim, dd.n_obs, dd.obs_names[0], dd.obs_dims[0], dd.chunk_size, dd.chunk_exec);
    check(strcmp(da.kind, "act") == 0 && da.state_dim == 14 && da.action_dim == 14 && da.n_cameras == 1 &&
          strcmp(da.camera_names[0], "top") == 0 && da.height == 32 && da.width == 32 && da.chunk_size == 5 &&
          da.chunk_exec == 5 && strcmp(dd.kind, "diffusion") == 0 && dd.action_dim == 7 && dd.n_obs == 4 &&
          dd.n_cameras == 0 && dd.chunk_size == 7 && dd.chunk_exec == 4,
          "ilt_describe", msg);

    /* each alone, then interleaved step by step: the same actions */
    static float a_alone[STEPS * 64], a2_alone[STEPS * 64], d_alone[STEPS * 64], a_mix[STEPS * 64], a2_mix[STEPS * 64], d_mix[STEPS * 64];
    int rc = run(act, 1, a_alone) | run(act2, 2, a2_alone) | run(dp, 3, d_alone);
    check(rc == ILT_OK, "each policy alone", ilt_last_error(act));
    observation_buffer *b1 = malloc(sizeof *b1), *b2 = malloc(sizeof *b2), *b3 = malloc(sizeof *b3);
    rc = ilt_reset(act, 7) | ilt_reset(act2, 7) | ilt_reset(dp, 7);
    for (int t = 0; rc == ILT_OK && t < STEPS; t++) {
        fill(b1, &da, t, 1), fill(b2, &da, t, 2), fill(b3, &dd, t, 3);
        rc = ilt_step(act, &b1->obs, a_mix + t * 14) | ilt_step(dp, &b3->obs, d_mix + t * 7) | ilt_step(act2, &b2->obs, a2_mix + t * 14);
    }
    check(rc == ILT_OK && !memcmp(a_alone, a_mix, sizeof(float) * STEPS * 14) && !memcmp(a2_alone, a2_mix, sizeof(float) * STEPS * 14) &&
          !memcmp(d_alone, d_mix, sizeof(float) * STEPS * 7),
          "three policies stepped in turn give the actions each gives alone", NULL);
    check(memcmp(a_alone, a2_alone, sizeof(float) * STEPS * 14) != 0, "different observations give different actions", NULL);

    /* two threads at once */
    job j1 = {.p = act, .salt = 1}, j2 = {.p = dp, .salt = 3};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, run_job, &j1);
    pthread_create(&t2, NULL, run_job, &j2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    check(j1.rc == ILT_OK && j2.rc == ILT_OK && !memcmp(j1.actions, a_alone, sizeof(float) * STEPS * 14) &&
          !memcmp(j2.actions, d_alone, sizeof(float) * STEPS * 7),
          "two policies on two threads at once give the actions each gives alone", NULL);

    /* errors */
    ilt_policy *bad = (ilt_policy *)1;
    rc = ilt_open("/nonexistent/ckpt.h5", NULL, &bad);
    check(rc == ILT_ERR_CHECKPOINT && !bad && strstr(ilt_last_error(NULL), "/nonexistent/ckpt.h5"), "a missing file", ilt_last_error(NULL));
    rc = ilt_open(argv[3], NULL, &bad);
    check(rc == ILT_ERR_CHECKPOINT && !bad && strstr(ilt_last_error(NULL), "not an HDF5 file"), "a file that is not a checkpoint", ilt_last_error(NULL));
    o.ddim_steps = 4;
    rc = ilt_open(argv[1], &o, &bad);
    check(rc == ILT_ERR_ARGUMENT && !bad && strstr(ilt_last_error(NULL), "ddim_steps"), "ddim_steps on an ACT checkpoint", ilt_last_error(NULL));
    ilt_options_init(&o);
    const char *args[] = {"temperature=2", NULL};
    o.policy_args = args;
    rc = ilt_open(argv[2], &o, &bad);
    check(rc == ILT_ERR_ARGUMENT && !bad && strstr(ilt_last_error(NULL), "temperature"), "an unknown policy setting", ilt_last_error(NULL));
    ilt_options_init(&o);
    o.threads = -1;
    check(ilt_open(argv[1], &o, &bad) == ILT_ERR_ARGUMENT, "negative threads", ilt_last_error(NULL));
    check(ilt_open(NULL, NULL, &bad) == ILT_ERR_ARGUMENT && ilt_open(argv[1], NULL, NULL) == ILT_ERR_ARGUMENT, "NULL arguments", NULL);

    fill(b1, &da, 0, 1);
    b1->obs.images[0] = NULL;
    rc = ilt_step(act, &b1->obs, a_mix);
    check(rc == ILT_ERR_OBSERVATION && strstr(ilt_last_error(act), "camera 0 (top, 32x32x3)") && ilt_last_error(dp)[0] == 0,
          "a missing image: that handle's message, not the other's", ilt_last_error(act));
    fill(b3, &dd, 0, 3);
    b3->obs.obs[2] = NULL;
    rc = ilt_step(dp, &b3->obs, d_mix);
    snprintf(msg, sizeof msg, "'%s' (%d values)", dd.obs_names[2], dd.obs_dims[2]);
    check(rc == ILT_ERR_OBSERVATION && strstr(ilt_last_error(dp), msg), "a missing named observation", ilt_last_error(dp));
    check(ilt_step(act, NULL, a_mix) == ILT_ERR_ARGUMENT && ilt_step(NULL, &b1->obs, a_mix) == ILT_ERR_ARGUMENT &&
          ilt_describe(NULL, &da) == ILT_ERR_ARGUMENT, "NULL handles and observations", NULL);
    check(strcmp(ilt_strerror(ILT_ERR_CHECKPOINT), "cannot load the checkpoint") == 0 && strcmp(ilt_strerror(12), "unknown status") == 0 &&
          strcmp(ilt_version(), "0.1.0") == 0, "ilt_strerror, ilt_version", ilt_version());
    ilt_close(act), ilt_close(act2), ilt_close(dp), ilt_close(NULL);
    free(b1), free(b2), free(b3);
    printf("1..%d\n", test_no);
    return failed != 0;
}
