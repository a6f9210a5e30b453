/* ibc_checkpoint.c — IBC checkpoints through io/checkpoint.h: DP's encoder configuration and
 * normaliser limits (diffusion_checkpoint.c), IBC's own configuration (Ta, the MLP's width as
 * mlp_width, dropout, the default inference), the weights under /params with DP's names, root
 * attribute policy = "ibc". "width" is the encoder's image width; checkpoints written before
 * mlp_width existed kept the MLP's width there (over the image width), and are read so. */
#include "policy/ibc.h"

#include <string.h>

#include "io/checkpoint.h"
#include "util/error.h"

int ibc_checkpoint_write(struct checkpoint_writer *w, const ibc_model *m)
{
    const ibc_config *cfg = &m->cfg;
    if (checkpoint_write_root_attr(w, "policy", "ibc") < 0 || checkpoint_write_configf(w, "policy", "ibc") < 0 ||
        dp_checkpoint_write_encoder(w, &m->obs) < 0 ||
        checkpoint_write_configf(w, "n_action_steps", "%d", cfg->obs.n_action_steps) < 0 ||
        checkpoint_write_configf(w, "horizon", "%d", cfg->obs.horizon) < 0 ||
        checkpoint_write_configf(w, "mlp_width", "%d", cfg->width) < 0 ||
        checkpoint_write_configf(w, "dropout", "%.9g", cfg->dropout) < 0 ||
        checkpoint_write_configf(w, "sampler", "%s", ibc_sampler_name(cfg->inference.sampler)) < 0 ||
        checkpoint_write_configf(w, "pred_n_samples", "%d", cfg->inference.samples) < 0 ||
        checkpoint_write_configf(w, "pred_n_iter", "%d", cfg->inference.iterations) < 0 ||
        checkpoint_write_configf(w, "noise", "%.9g", cfg->inference.noise) < 0)
        return -1;
    return checkpoint_write_params(w, m->obs.ps);
}

static int read_config(checkpoint_reader *r, const char *path, ibc_config *cfg)
{
    ibc_config_default(cfg);
    const char *sampler = checkpoint_config(r, "sampler");
    if (!sampler) return error_set("%s: configuration has no 'sampler'", path);
    int s = ibc_sampler_parse(sampler);
    if (s < 0) return error_set("%s: configuration 'sampler' = '%s' is not dfo, dfo-argmax, ibc-dfo or langevin", path, sampler);
    cfg->inference.sampler = (ibc_sampler)s;
    if (dp_checkpoint_read_encoder(r, path, &cfg->obs) < 0 ||
        checkpoint_config_int(r, "n_action_steps", &cfg->obs.n_action_steps) < 0 ||
        checkpoint_config_int(r, checkpoint_config(r, "mlp_width") ? "mlp_width" : "width", &cfg->width) < 0 ||
        checkpoint_config_float(r, "dropout", &cfg->dropout) < 0 ||
        checkpoint_config_int(r, "pred_n_samples", &cfg->inference.samples) < 0 ||
        checkpoint_config_int(r, "pred_n_iter", &cfg->inference.iterations) < 0 ||
        checkpoint_config_float(r, "noise", &cfg->inference.noise) < 0)
        return -1;
    if (ibc_config_check(cfg) < 0) return error_prefix("%s: ", path);
    return 0;
}

int ibc_checkpoint_load(const char *path, ibc_model *m, dp_weights weights)
{
    memset(m, 0, sizeof *m);
    checkpoint_reader *r = checkpoint_open(path);
    if (!r) return -1;
    ibc_config cfg;
    const char *kind = checkpoint_config(r, "policy");
    int rc = kind && strcmp(kind, "ibc") == 0 ? 0 : error_set("%s: not an IBC checkpoint (policy '%s')", path, kind ? kind : "");
    if (rc == 0) rc = read_config(r, path, &cfg);
    if (rc == 0) rc = checkpoint_config_check_required(r);
    if (rc == 0) rc = ibc_model_init(m, &cfg, NULL);
    if (rc == 0) rc = dp_checkpoint_read_limits(r, path, &m->obs);
    if (rc == 0)
        rc = weights == DP_WEIGHTS_EMA ? checkpoint_read_inference_params(r, m->obs.ps) : checkpoint_read_params(r, m->obs.ps);
    checkpoint_close(r);
    if (rc < 0 && m->obs.ps) ibc_model_free(m);
    return rc;
}
