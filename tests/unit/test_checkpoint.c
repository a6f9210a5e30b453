/* test_checkpoint.c — HDF5 checkpoints (lib/io/checkpoint.h): round trip of parameters,
 * buffers, AdamW state, EMA, step, configuration and statistics; strict loading with messages
 * that name every mismatch; save + load + continue training == training straight through, bit
 * for bit. With `--write PATH` it only writes a checkpoint of the test model, with `--read PATH`
 * it only loads one (tests/checkpoint.bats reads and alters them with h5py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "nn/modules.h"
#include "tap.h"
#include "util/error.h"

/* conv + BatchNorm (buffers) + ReLU + linear head; a frozen entry to exercise the kinds */
typedef struct model {
    mod_conv conv;
    mod_norm bn;
    mod_linear head;
    nn_tensor *frozen;
} model;

static int model_init(model *m, nn_params *ps, rng_t *rng, int head_out)
{
    if (mod_conv2d_init(&m->conv, ps, rng, "backbone.conv1.", 3, 4, 3, 1, 1, 1) < 0 ||
        mod_norm_init(&m->bn, ps, "backbone.bn1.", MOD_NORM_BATCH, 4, 0) < 0 ||
        mod_linear_init(&m->head, ps, rng, "head.", 4 * 5 * 5, head_out, 1) < 0) return -1;
    m->frozen = nn_param(ps, "scale", NN_FROZEN, NN_DIMS(1));
    if (!m->frozen) return -1;
    nn_init_const(m->frozen, 0.5f);
    return 0;
}

static nn_tensor *model_loss(nn_ctx *c, model *m, long step)
{
    rng_t data;
    rng_seed(&data, 1000 + (uint64_t)step);
    float x[2 * 3 * 5 * 5], y[2 * 3];
    rng_fill_normal(&data, x, 2 * 3 * 5 * 5, 0, 1);
    rng_fill_normal(&data, y, 6, 0, 1);
    nn_tensor *h = nn_relu(c, mod_norm_forward(c, &m->bn, mod_conv2d_forward(c, &m->conv, nn_from(c, x, NN_DIMS(2, 3, 5, 5)))));
    nn_tensor *p = mod_linear_forward(c, &m->head, nn_reshape(c, h, NN_DIMS(2, 100)));
    return nn_mse_loss(c, nn_mul(c, p, m->frozen), nn_from(c, y, NN_DIMS(2, 3)));
}

typedef struct trainer {
    nn_params *ps;
    model m;
    nn_adamw opt;
    nn_ema ema;
    nn_ctx *c;
} trainer;

static int trainer_new(trainer *t, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    memset(t, 0, sizeof *t);
    t->ps = nn_params_new();
    if (model_init(&t->m, t->ps, &rng, 3) < 0) return -1;
    nn_adamw_init(&t->opt, t->ps, 1e-2f, 1e-2f);
    nn_ema_init(&t->ema, t->ps);
    t->c = nn_ctx_new(1 << 20);
    return 0;
}

static void trainer_free(trainer *t)
{
    nn_ctx_free(t->c);
    nn_ema_free(&t->ema);
    nn_adamw_free(&t->opt);
    nn_params_free(t->ps);
}

static int train(trainer *t, long from, long to)
{
    for (long s = from; s < to; s++) {
        nn_params_zero_grad(t->ps);
        nn_tensor *loss = model_loss(t->c, &t->m, s);
        if (!loss || nn_backward(t->c, loss) < 0) return -1;
        nn_clip_grad_norm(t->ps, 1.0f);
        nn_adamw_step(&t->opt, nn_lr_cosine(s, 2, 8));
        nn_ema_update(&t->ema);
        nn_ctx_reset(t->c);
    }
    return 0;
}

static int save(trainer *t, const char *path, long step)
{
    checkpoint_writer *w = checkpoint_create(path);
    float mean[3] = {0.1f, -0.2f, 0.3f}, std[3] = {1, 2, 3};
    if (!w) return -1;
    if (checkpoint_write_params(w, t->ps) < 0 || checkpoint_write_optim(w, &t->opt) < 0 ||
        checkpoint_write_ema(w, &t->ema) < 0 || checkpoint_write_step(w, step) < 0 ||
        checkpoint_write_config(w, "policy", "act") < 0 || checkpoint_write_config(w, "chunk_size", "100") < 0 ||
        checkpoint_write_stat(w, "qpos", "mean", mean, NN_DIMS(3)) < 0 ||
        checkpoint_write_stat(w, "qpos", "std", std, NN_DIMS(3)) < 0) {
        checkpoint_abort(w);
        return -1;
    }
    return checkpoint_commit(w);
}

static int load(trainer *t, const char *path, long *step)
{
    checkpoint_reader *r = checkpoint_open(path);
    if (!r) return -1;
    int rc = checkpoint_read_params(r, t->ps) < 0 || checkpoint_read_optim(r, &t->opt) < 0 ||
                     checkpoint_read_ema(r, &t->ema) < 0 || checkpoint_read_step(r, step) < 0 ? -1 : 0;
    checkpoint_close(r);
    return rc;
}

static int same_bits(const float *a, const float *b, long n)
{
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* ---------------------------------------------------------------- tests */
static void test_resume(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/resume.h5", dir);
    trainer straight, first, second;
    if (trainer_new(&straight, 7) < 0 || trainer_new(&first, 7) < 0 || trainer_new(&second, 99) < 0) {
        tap_ok(0, "trainers: %s", error_get());
        return;
    }
    int ok = train(&straight, 0, 8) == 0 && train(&first, 0, 4) == 0;
    int rc = ok ? save(&first, path, 4) : -1;
    ok = ok && tap_ok(rc == 0, "save after 4 steps%s%s", rc ? ": " : "", rc ? error_get() : "");
    long step = -1;
    rc = ok ? load(&second, path, &step) : -1;
    ok = ok && tap_ok(rc == 0 && step == 4, "load into a differently initialised model: step %ld%s%s", step,
                      rc ? ": " : "", rc ? error_get() : "");
    ok = ok && train(&second, step, 8) == 0;
    long n = straight.ps->total;
    tap_ok(ok && same_bits(straight.ps->data, second.ps->data, n),
           "save, load, 4 more steps == 8 steps straight through: parameters and buffers bit-identical");
    tap_ok(ok && same_bits(straight.opt.m, second.opt.m, n) && same_bits(straight.opt.v, second.opt.v, n) &&
               straight.opt.step == second.opt.step,
           "AdamW moments and step bit-identical (step %ld)", second.opt.step);
    tap_ok(ok && same_bits(straight.ema.shadow, second.ema.shadow, n) &&
               straight.ema.optimization_step == second.ema.optimization_step,
           "EMA weights bit-identical");
    nn_tensor *rv = nn_param_find(second.ps, "backbone.bn1.running_var");
    tap_ok(rv && rv->data[0] != 1.0f, "BatchNorm running statistics were saved and trained (%g)", rv ? rv->data[0] : 0);
    trainer_free(&straight);
    trainer_free(&first);
    trainer_free(&second);
}

static void test_contents(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/contents.h5", dir);
    trainer t;
    trainer_new(&t, 3);
    train(&t, 0, 2);
    int saved = save(&t, path, 2);
    tap_ok(saved == 0, "save%s%s", saved ? ": " : "", saved ? error_get() : "");
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    tap_ok(access(tmp, F_OK) != 0, "no temporary file left behind");
    checkpoint_reader *r = checkpoint_open(path);
    if (!tap_ok(r != NULL, "open%s%s", r ? "" : ": ", r ? "" : error_get())) return;
    const char *v = checkpoint_config(r, "chunk_size");
    tap_ok(v && !strcmp(v, "100") && checkpoint_config_count(r) == 2 && !checkpoint_config(r, "nothing"),
           "configuration attributes read back (chunk_size=%s, %d entries)", v ? v : "(none)", checkpoint_config_count(r));
    float *data = NULL;
    int ndim = 0, shape[8];
    tap_ok(checkpoint_read_stat(r, "qpos", "std", &data, &ndim, shape) == 0 && ndim == 1 && shape[0] == 3 &&
               data[2] == 3.0f,
           "statistics /stats/qpos/std read back");
    free(data);
    tap_ok(checkpoint_read_stat(r, "qpos", "max", &data, &ndim, shape) < 0 && strstr(error_get(), "/stats/qpos/max"),
           "a missing statistic is an error naming it: %s", error_get());
    tap_ok(checkpoint_has(r, "optim") && checkpoint_has(r, "ema") && checkpoint_has(r, "stats/qpos") &&
               !checkpoint_has(r, "stats/action"),
           "checkpoint_has");

    /* a model with another head and an extra parameter: every difference named */
    nn_params *other = nn_params_new();
    model m2;
    rng_t rng;
    rng_seed(&rng, 5);
    model_init(&m2, other, &rng, 7);
    nn_param(other, "extra.weight", 0, NN_DIMS(2, 2));
    float before = m2.conv.weight->data[0];
    int rc = checkpoint_read_params(r, other);
    const char *msg = error_get();
    tap_ok(rc < 0 && strstr(msg, "head.weight has shape [3,100] in the file, [7,100] expected") &&
               strstr(msg, "head.bias has shape [3] in the file, [7] expected") && strstr(msg, "missing extra.weight [2,2]") &&
               strstr(msg, "contents.h5"),
           "mismatch message: %s", msg);
    tap_ok(m2.conv.weight->data[0] == before, "nothing loaded when anything mismatches");
    nn_params_free(other);

    other = nn_params_new();
    rng_seed(&rng, 5);
    model_init(&m2, other, &rng, 3);
    rc = checkpoint_read_params(r, other);
    tap_ok(rc == 0, "same model loads (%s)", rc ? error_get() : "ok");
    tap_ok(same_bits(other->data, t.ps->data, t.ps->total), "loaded values equal the saved ones");
    nn_params_free(other);

    other = nn_params_new();
    mod_linear only;
    mod_linear_init(&only, other, &rng, "head.", 100, 3, 1);
    rc = checkpoint_read_params(r, other);
    msg = error_get();
    tap_ok(rc < 0 && strstr(msg, "unexpected backbone.conv1.weight") && strstr(msg, "unexpected backbone.bn1.running_mean"),
           "unexpected entries named: %s", msg);
    nn_params_free(other);
    checkpoint_close(r);

    tap_ok(checkpoint_open("/nonexistent/ckpt.h5") == NULL && strstr(error_get(), "/nonexistent/ckpt.h5"),
           "missing file: %s", error_get());
    FILE *f = fopen(path, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    tap_ok(checkpoint_open(path) == NULL && strstr(error_get(), "not an HDF5 file"), "not HDF5: %s", error_get());
    tap_ok(checkpoint_create("/nonexistent/dir/ckpt.h5") == NULL && strstr(error_get(), "/nonexistent/dir/ckpt.h5"),
           "unwritable directory: %s", error_get());
    trainer_free(&t);
}

/* "requires": a key a newer writer relies on must have been read by this program's reader */
static void test_requires(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/requires.h5", dir);
    nn_params *ps = nn_params_new();
    nn_param(ps, "w", 0, NN_DIMS(2));
    checkpoint_writer *w = checkpoint_create(path);
    int rc = !w || checkpoint_write_params(w, ps) < 0 || checkpoint_write_config(w, "known", "1") < 0 || checkpoint_write_config(w, "newer", "0.01") < 0 ||
             checkpoint_write_config(w, CHECKPOINT_REQUIRES, "newer") < 0 || checkpoint_commit(w) < 0;
    if (!tap_ok(!rc, "write a checkpoint with requires=newer%s%s", rc ? ": " : "", rc ? error_get() : "")) return;
    checkpoint_reader *r = checkpoint_open(path);
    if (!tap_ok(r != NULL, "open%s%s", r ? "" : ": ", r ? "" : error_get())) return;
    checkpoint_config(r, "known");
    rc = checkpoint_config_check_required(r);
    tap_ok(rc < 0 && strstr(error_get(), "'newer' = '0.01'") && strstr(error_get(), "requires.h5"),
           "a reader that did not ask for 'newer' refuses: %s", error_get());
    tap_ok(checkpoint_config(r, "newer") && checkpoint_config_check_required(r) == 0,
           "once it read 'newer', the check passes");
    checkpoint_close(r);

    w = checkpoint_create(path);
    rc = !w || checkpoint_write_params(w, ps) < 0 || checkpoint_write_config(w, CHECKPOINT_REQUIRES, "known,absent") < 0 ||
         checkpoint_write_config(w, "known", "1") < 0 || checkpoint_commit(w) < 0;
    r = rc ? NULL : checkpoint_open(path);
    if (r) checkpoint_config(r, "known");
    tap_ok(r && checkpoint_config_check_required(r) < 0 && strstr(error_get(), "names 'absent'"),
           "requires naming a key the file lacks is an error: %s", error_get());
    checkpoint_close(r);
    nn_params_free(ps);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write")) {
        trainer t;
        if (trainer_new(&t, 11) < 0 || train(&t, 0, 2) < 0 || save(&t, argv[2], 2) < 0) {
            fprintf(stderr, "test_checkpoint: %s\n", error_get());
            return 1;
        }
        trainer_free(&t);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--read")) {   /* load into the test model; error on stderr */
        trainer t;
        long step = 0;
        if (trainer_new(&t, 11) < 0 || load(&t, argv[2], &step) < 0) {
            fprintf(stderr, "test_checkpoint: %s\n", error_get());
            return 1;
        }
        printf("step %ld\n", step);
        trainer_free(&t);
        return 0;
    }
    char dir[] = "/tmp/ilt_checkpoint_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_contents(dir);
    test_resume(dir);
    test_requires(dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
