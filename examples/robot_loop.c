/* robot_loop.c — a control loop on libilt: read one observation per step from stdin (raw
 * little-endian: state, velocity and each named observation as float32, then each camera's
 * HxWx3 uint8 image, in ilt_describe's order), print the action to execute as one line, and keep
 * a fixed rate. Build: cc robot_loop.c $(pkg-config --cflags --libs ilt) -o robot_loop
 * Run: robot_loop CKPT.h5 [SEED [HZ [f32|f16]]] < observations.bin   (HZ 0: as fast as it can;
 * f16: the weights held in half precision, half the bytes read per action) */
#include <ilt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int read_floats(float *v, int n) { return n == 0 || fread(v, sizeof *v, n, stdin) == (size_t)n; }

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: robot_loop CKPT.h5 [SEED [HZ [f32|f16]]] < observations\n"); return 2; }
    ilt_policy *p;
    ilt_description d;
    ilt_options o;
    ilt_options_init(&o);
    o.half_weights = argc > 4 && !strcmp(argv[4], "f16");
    if (ilt_open(argv[1], &o, &p) != ILT_OK) { fprintf(stderr, "robot_loop: %s\n", ilt_last_error(NULL)); return 1; }
    ilt_describe(p, &d);
    double hz = argc > 3 ? atof(argv[3]) : d.control_hz;
    ilt_reset(p, argc > 2 ? strtoull(argv[2], NULL, 10) : 0);
    size_t image = (size_t)d.height * d.width * 3;
    float *state = malloc(sizeof(float) * (d.state_dim + d.velocity_dim + 1)), *action = malloc(sizeof(float) * d.action_dim);
    ilt_observation obs = {.state = state, .velocity = state + d.state_dim};
    for (int i = 0; i < d.n_obs; i++) obs.obs[i] = malloc(sizeof(float) * d.obs_dims[i]);
    for (int k = 0; k < d.n_cameras; k++) obs.images[k] = malloc(image);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        int ok = read_floats(state, d.state_dim + d.velocity_dim);
        for (int i = 0; ok && i < d.n_obs; i++) ok = read_floats((float *)obs.obs[i], d.obs_dims[i]);
        for (int k = 0; ok && k < d.n_cameras; k++) ok = fread((void *)obs.images[k], 1, image, stdin) == image;
        if (!ok) break;
        if (ilt_step(p, &obs, action) != ILT_OK) { fprintf(stderr, "robot_loop: %s\n", ilt_last_error(p)); return 1; }
        for (int j = 0; j < d.action_dim; j++) printf("%.9g%c", action[j], j + 1 < d.action_dim ? ' ' : '\n');
        fflush(stdout);
        if (hz > 0) {   /* the next step starts 1/hz after this one started */
            long ns = next.tv_nsec + (long)(1e9 / hz);
            next.tv_sec += ns / 1000000000L, next.tv_nsec = ns % 1000000000L;
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
    }
    ilt_close(p);
    return 0;
}
