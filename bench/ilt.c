/* ilt.c — what the public library (include/ilt.h) costs a control loop: the time to open a
 * checkpoint, the memory the loaded policy holds (resident set growth over open and the first
 * step), and the latency of a step that predicts (batch 1, chunk_exec 1: every step queries the
 * policy), median and range of N steps on fixed random observations. Run by bench/ilt.sh.
 *
 *   build/bench/ilt CKPT.h5 STEPS THREADS [DDIM_STEPS [f32|f16]]   (f16: ilt_options.half_weights) */
#include <ilt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024;
}

static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: ilt CKPT.h5 STEPS THREADS [DDIM_STEPS [f32|f16]]\n"); return 2; }
    int steps = atoi(argv[2]);
    ilt_options o;
    ilt_options_init(&o);
    o.threads = atoi(argv[3]);
    o.chunk_exec = 1;
    o.ddim_steps = argc > 4 ? atoi(argv[4]) : 0;
    o.half_weights = argc > 5 && !strcmp(argv[5], "f16");
    double rss0 = rss_mb(), t0 = now();
    ilt_policy *p;
    if (ilt_open(argv[1], &o, &p) != ILT_OK) { fprintf(stderr, "ilt: %s\n", ilt_last_error(NULL)); return 1; }
    double load = now() - t0, rss_open = rss_mb();
    ilt_description d;
    ilt_describe(p, &d);
    ilt_observation obs;
    memset(&obs, 0, sizeof obs);
    float *values = malloc(sizeof(float) * 4096), *action = malloc(sizeof(float) * d.action_dim);
    for (int i = 0; i < 4096; i++) values[i] = (float)((i * 37) % 101 - 50) / 50;
    obs.state = values, obs.velocity = values;
    for (int i = 0; i < d.n_obs; i++) obs.obs[i] = values + 64 * i;
    for (int k = 0; k < d.n_cameras; k++) {
        uint8_t *img = malloc((size_t)d.height * d.width * 3);
        for (size_t j = 0; j < (size_t)d.height * d.width * 3; j++) img[j] = (uint8_t)(j * 7 + k);
        obs.images[k] = img;
    }
    ilt_reset(p, 0);
    double *ms = malloc(sizeof(double) * (steps + 1));
    for (int s = 0; s <= steps; s++) {   /* step 0 warms up (packs weights, sizes the arena) */
        double t = now();
        if (ilt_step(p, &obs, action) != ILT_OK) { fprintf(stderr, "ilt: %s\n", ilt_last_error(p)); return 1; }
        ms[s] = 1e3 * (now() - t);
    }
    double rss_step = rss_mb();
    qsort(ms + 1, steps, sizeof *ms, by_value);
    printf("{\"checkpoint\":\"%s\",\"kind\":\"%s\",\"weights\":\"%s\",\"threads\":%d,\"ddim_steps\":%d,\"load_s\":%.2f,\"rss_open_mb\":%.0f,"
           "\"rss_held_mb\":%.0f,\"first_step_ms\":%.1f,\"step_ms_median\":%.1f,\"step_ms_min\":%.1f,\"step_ms_max\":%.1f,"
           "\"chunk\":%d,\"steps\":%d}\n",
           argv[1], d.kind, o.half_weights ? "f16" : "f32", o.threads, o.ddim_steps, load, rss_open - rss0, rss_step - rss0, ms[0], ms[1 + steps / 2], ms[1],
           ms[steps], d.chunk_size, steps);
    ilt_close(p);
    return 0;
}
