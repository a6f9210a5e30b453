/* exchange.c — ACT checkpoints to and from LeRobot's pretrained-model directory and a plain
 * safetensors state dict with the original ACT names (exchange.h). The configuration crosses as
 * a JSON object of our configuration keys: read from our checkpoint, from the "ilt.config"
 * metadata of a file we wrote, or translated from LeRobot's config.json. */
#include "policy/exchange.h"
#include "policy/exchange_internal.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "policy/act.h"
#include "policy/policy.h"
#include "util/error.h"
#include "util/parse.h"

/* ---------------------------------------------------------------- names */

/* Prefixes, original ACT (ours) -> LeRobot; the first match wins, so a longer prefix comes
 * before a shorter one it starts with. LeRobot's transformer encoder is "encoder", the original's
 * CVAE encoder is "encoder" too: the direction decides which table entry applies. */
static const struct { const char *act, *lerobot; } renames[] = {
    {"model.backbones.0.0.body.", "model.backbone."},
    {"model.transformer.encoder.layers.", "model.encoder.layers."},
    {"model.transformer.decoder.layers.", "model.decoder.layers."},
    {"model.transformer.decoder.norm.", "model.decoder.norm."},
    {"model.encoder.layers.", "model.vae_encoder.layers."},
    {"model.cls_embed.", "model.vae_encoder_cls_embed."},
    {"model.encoder_joint_proj.", "model.vae_encoder_robot_state_input_proj."},
    {"model.encoder_action_proj.", "model.vae_encoder_action_input_proj."},
    {"model.latent_proj.", "model.vae_encoder_latent_output_proj."},
    {"model.pos_table", "model.vae_encoder_pos_enc"},
    {"model.input_proj_robot_state.", "model.encoder_robot_state_input_proj."},
    {"model.input_proj.", "model.encoder_img_feat_input_proj."},
    {"model.latent_out_proj.", "model.encoder_latent_input_proj."},
    {"model.additional_pos_embed.", "model.encoder_1d_feature_pos_embed."},
    {"model.query_embed.", "model.decoder_pos_embed."},
    {"model.action_head.", "model.action_head."},
};
#define N_RENAMES (sizeof renames / sizeof renames[0])
#define DROPPED_PREFIX "model.is_pad_head."

static int rename_prefix(const char *name, int to_lerobot, char *out, size_t size)
{
    for (size_t i = 0; i < N_RENAMES; i++) {
        const char *from = to_lerobot ? renames[i].act : renames[i].lerobot, *to = to_lerobot ? renames[i].lerobot : renames[i].act;
        size_t n = strlen(from);
        /* "model.pos_table" and "model.vae_encoder_pos_enc" are whole names */
        if (strncmp(name, from, n) == 0 && (from[n - 1] == '.' || name[n] == 0)) {
            if ((size_t)snprintf(out, size, "%s%s", to, name + n) >= size) return error_set("name '%s' is too long", name);
            return 0;
        }
    }
    return error_set("'%s' is not a parameter of %s ACT", name, to_lerobot ? "the original" : "LeRobot's");
}

int exchange_act_to_lerobot(const char *name, char *out, size_t size)
{
    if (strncmp(name, DROPPED_PREFIX, strlen(DROPPED_PREFIX)) == 0) return 1;
    return rename_prefix(name, 1, out, size);
}

int exchange_lerobot_to_act(const char *name, char *out, size_t size) { return rename_prefix(name, 0, out, size); }

/* ---------------------------------------------------------------- configuration */

/* The keys act_checkpoint_save writes itself; any other key of a configuration travels as an
 * extra one (the training options). */
static const char *const model_keys[] = {"policy", "state_dim", "action_dim", "chunk", "hidden_dim", "dim_feedforward",
                                         "enc_layers", "dec_layers", "nheads", "latent_dim", "dropout", "kl_weight",
                                         "cameras", "height", "width", "backbone_norm", "image_norm", NULL};

static int is_model_key(const char *key)
{
    for (int i = 0; model_keys[i]; i++)
        if (strcmp(model_keys[i], key) == 0) return 1;
    return 0;
}

static int map_int(json_t *map, const char *name, const char *key, int lo, int hi, int *out)
{
    const char *v = json_string_value(json_object_get(map, key));
    long x;
    if (!v) return error_set("%s: the configuration has no '%s'", name, key);
    if (parse_long(v, lo, hi, &x) < 0) return error_set("%s: configuration '%s' = '%s' is not an integer in %d..%d", name, key, v, lo, hi);
    *out = (int)x;
    return 0;
}

static int map_float(json_t *map, const char *name, const char *key, float *out)
{
    const char *v = json_string_value(json_object_get(map, key));
    char *end;
    if (!v) return error_set("%s: the configuration has no '%s'", name, key);
    *out = strtof(v, &end);
    if (end == v || *end) return error_set("%s: configuration '%s' = '%s' is not a number", name, key, v);
    return 0;
}

/* Our configuration keys (string values) -> an ACT configuration. */
static int config_from_map(json_t *map, const char *name, act_config *cfg)
{
    act_config_default(cfg);
    const char *kind = json_string_value(json_object_get(map, "policy"));
    if (!kind || strcmp(kind, "act") != 0) return error_set("%s: policy '%s' is not act", name, kind ? kind : "");
    const int dim_max = 1 << 16;
    if (map_int(map, name, "state_dim", 1, dim_max, &cfg->state_dim) < 0 || map_int(map, name, "action_dim", 1, dim_max, &cfg->action_dim) < 0 ||
        map_int(map, name, "chunk", 1, dim_max, &cfg->chunk) < 0 || map_int(map, name, "hidden_dim", 2, dim_max, &cfg->hidden_dim) < 0 ||
        map_int(map, name, "dim_feedforward", 1, dim_max, &cfg->dim_feedforward) < 0 ||
        map_int(map, name, "enc_layers", 1, ACT_MAX_LAYERS, &cfg->enc_layers) < 0 ||
        map_int(map, name, "dec_layers", 1, ACT_MAX_LAYERS, &cfg->dec_layers) < 0 ||
        map_int(map, name, "nheads", 1, dim_max, &cfg->nheads) < 0 || map_int(map, name, "latent_dim", 1, dim_max, &cfg->latent_dim) < 0 ||
        map_float(map, name, "dropout", &cfg->dropout) < 0 || map_float(map, name, "kl_weight", &cfg->kl_weight) < 0 ||
        map_int(map, name, "height", 1, 1 << 14, &cfg->height) < 0 || map_int(map, name, "width", 1, 1 << 14, &cfg->width) < 0)
        return -1;
    const char *cams = json_string_value(json_object_get(map, "cameras")),
               *bn = json_string_value(json_object_get(map, "backbone_norm")),
               *in = json_string_value(json_object_get(map, "image_norm"));
    if (!cams || !bn || !in) return error_set("%s: the configuration lacks cameras, backbone_norm or image_norm", name);
    size_t n = 0;
    char **list = strlist_split(cams, ',', &n);
    if (!list || !*cams || n > ACT_MAX_CAMERAS) {
        strlist_free(list);
        return error_set("%s: bad camera list '%s' (1 to %d cameras)", name, cams, ACT_MAX_CAMERAS);
    }
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        if (strlen(list[k]) >= ACT_NAME_MAX) rc = error_set("%s: camera name '%s' is too long", name, list[k]);
        else snprintf(cfg->camera_names[k], ACT_NAME_MAX, "%s", list[k]);
    }
    cfg->n_cameras = (int)n;
    strlist_free(list);
    int norm = mod_norm_kind_parse(bn);
    if (rc == 0 && norm < 0) rc = error_set("%s: unknown backbone_norm '%s'", name, bn);
    cfg->backbone_norm = (mod_norm_kind)norm;
    if (rc == 0 && strcmp(in, "dataset") != 0 && strcmp(in, "imagenet") != 0)
        rc = error_set("%s: image_norm '%s' is not dataset or imagenet", name, in);
    cfg->image_norm = strcmp(in, "dataset") == 0 ? ACT_IMAGE_NORM_DATASET : ACT_IMAGE_NORM_IMAGENET;
    return rc;
}

json_t *exchange_config_of_checkpoint(checkpoint_reader *r)
{
    json_t *map = json_object();
    for (int i = 0; map && i < checkpoint_config_count(r); i++) {
        const char *key, *value;
        if (checkpoint_config_at(r, i, &key, &value) == 0) json_object_set_new(map, key, json_string(value));
    }
    return map;
}

int exchange_write_metadata(safetensors_writer *w, json_t *config, checkpoint_reader *r)
{
    long step = 0;
    char step_text[32];
    snprintf(step_text, sizeof step_text, "%ld", checkpoint_read_step(r, &step) == 0 ? step : 0L);
    char *text = json_dumps(config, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = !text || safetensors_writer_metadata(w, "format", "pt") < 0 || safetensors_writer_metadata(w, "ilt.config", text) < 0 ||
                     safetensors_writer_metadata(w, "ilt.step", step_text) < 0
                 ? -1 : 0;
    if (!text) error_set("out of memory");
    free(text);
    return rc;
}

static int get_int(json_t *config, const char *name, const char *key, int *out)
{
    json_t *v = json_object_get(config, key);
    if (!json_is_integer(v)) return error_set("%s: '%s' is not an integer", name, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int expect(json_t *config, const char *name, const char *key, json_t *want, const char *why)
{
    json_t *v = json_object_get(config, key);
    int same = v ? json_equal(v, want) : 1;   /* absent: LeRobot's default, which is ours */
    char *text = same ? NULL : json_dumps(v, JSON_ENCODE_ANY);
    if (!same) error_set("%s: '%s' is %s; only %s can be converted (%s)", name, key, text ? text : "?",
                         json_is_string(want) ? json_string_value(want) : json_is_true(want) ? "true" : json_is_false(want) ? "false" : "null",
                         why);
    free(text);
    json_decref(want);
    return same ? 0 : -1;
}

/* LeRobot's config.json -> our configuration keys. */
static json_t *config_of_lerobot(json_t *config, const char *name)
{
    const char *type = json_string_value(json_object_get(config, "type"));
    if (!type || strcmp(type, "act") != 0) {
        error_set("%s: 'type' is '%s', not act", name, type ? type : "");
        return NULL;
    }
    if (expect(config, name, "use_vae", json_true(), "ACT with its CVAE") < 0 ||
        expect(config, name, "pre_norm", json_false(), "post-norm transformer layers") < 0 ||
        expect(config, name, "feedforward_activation", json_string("relu"), "ReLU feed-forward layers") < 0 ||
        expect(config, name, "vision_backbone", json_string("resnet18"), "a ResNet18 backbone") < 0 ||
        expect(config, name, "replace_final_stride_with_dilation", json_false(), "ResNet18's strides") < 0)
        return NULL;
    int chunk = 0, E = 0, ff = 0, enc = 0, dec = 0, heads = 0, z = 0, vae = -1, S = 0, A = 0, H = 0, W = 0;
    if (get_int(config, name, "chunk_size", &chunk) < 0 || get_int(config, name, "dim_model", &E) < 0 ||
        get_int(config, name, "dim_feedforward", &ff) < 0 || get_int(config, name, "n_encoder_layers", &enc) < 0 ||
        get_int(config, name, "n_decoder_layers", &dec) < 0 || get_int(config, name, "n_heads", &heads) < 0 ||
        get_int(config, name, "latent_dim", &z) < 0 || get_int(config, name, "n_vae_encoder_layers", &vae) < 0)
        return NULL;
    if (vae != enc) {
        error_set("%s: n_vae_encoder_layers %d differs from n_encoder_layers %d; our ACT has one count for both", name, vae, enc);
        return NULL;
    }
    char cameras[ACT_MAX_CAMERAS * (ACT_NAME_MAX + 1)] = "";
    json_t *inputs = json_object_get(config, "input_features"), *outputs = json_object_get(config, "output_features"), *f;
    const char *key;
    json_object_foreach(inputs, key, f) {
        const char *ftype = json_string_value(json_object_get(f, "type"));
        json_t *shape = json_object_get(f, "shape");
        if (ftype && strcmp(ftype, "STATE") == 0 && strcmp(key, "observation.state") == 0 && json_array_size(shape) == 1) {
            S = (int)json_integer_value(json_array_get(shape, 0));
        } else if (ftype && strcmp(ftype, "VISUAL") == 0 && strncmp(key, "observation.images.", 19) == 0 && json_array_size(shape) == 3 &&
                   json_integer_value(json_array_get(shape, 0)) == 3) {
            int h = (int)json_integer_value(json_array_get(shape, 1)), w = (int)json_integer_value(json_array_get(shape, 2));
            if (*cameras && (h != H || w != W)) {
                error_set("%s: cameras of different sizes (%dx%d, and %dx%d for %s)", name, H, W, h, w, key);
                return NULL;
            }
            H = h, W = w;
            snprintf(cameras + strlen(cameras), sizeof cameras - strlen(cameras), "%s%s", *cameras ? "," : "", key + 19);
        } else {
            error_set("%s: input feature '%s' (%s) cannot be converted: our ACT takes observation.state and "
                      "observation.images.<camera> [3,H,W]", name, key, ftype ? ftype : "no type");
            return NULL;
        }
    }
    json_t *action = json_object_get(json_object_get(outputs, "action"), "shape");
    if (json_array_size(action) == 1) A = (int)json_integer_value(json_array_get(action, 0));
    if (!S || !A || !*cameras) {
        error_set("%s: needs input features observation.state and at least one camera, and the output feature action", name);
        return NULL;
    }
    char text[64];
    json_t *map = json_object();
    json_object_set_new(map, "policy", json_string("act"));
    json_object_set_new(map, "cameras", json_string(cameras));
    json_object_set_new(map, "backbone_norm", json_string("frozen"));
    json_object_set_new(map, "image_norm", json_string("dataset"));
    const struct { const char *key; int value; } ints[] = {{"state_dim", S}, {"action_dim", A}, {"chunk", chunk}, {"hidden_dim", E},
        {"dim_feedforward", ff}, {"enc_layers", enc}, {"dec_layers", dec}, {"nheads", heads}, {"latent_dim", z}, {"height", H}, {"width", W}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(text, sizeof text, "%d", ints[i].value);
        json_object_set_new(map, ints[i].key, json_string(text));
    }
    const char *reals[] = {"dropout", "kl_weight"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(config, reals[i]);
        snprintf(text, sizeof text, "%.9g", json_is_number(v) ? json_number_value(v) : i == 0 ? 0.1 : 10.0);
        json_object_set_new(map, reals[i], json_string(text));
    }
    return map;
}

/* Our configuration -> LeRobot's config.json. */
static json_t *lerobot_config(const act_config *cfg)
{
    json_t *inputs = json_object(), *c = json_object();
    json_object_set_new(inputs, "observation.state", json_pack("{s:s, s:[i]}", "type", "STATE", "shape", cfg->state_dim));
    for (int k = 0; k < cfg->n_cameras; k++) {
        char key[128];
        snprintf(key, sizeof key, "observation.images.%s", cfg->camera_names[k]);
        json_object_set_new(inputs, key, json_pack("{s:s, s:[i,i,i]}", "type", "VISUAL", "shape", 3, cfg->height, cfg->width));
    }
    char text[32];
    json_object_set_new(c, "type", json_string("act"));
    json_object_set_new(c, "n_obs_steps", json_integer(1));
    json_object_set_new(c, "normalization_mapping", json_pack("{s:s, s:s, s:s}", "VISUAL", "MEAN_STD", "STATE", "MEAN_STD", "ACTION", "MEAN_STD"));
    json_object_set_new(c, "input_features", inputs);
    json_object_set_new(c, "output_features", json_pack("{s:{s:s, s:[i]}}", "action", "type", "ACTION", "shape", cfg->action_dim));
    json_object_set_new(c, "chunk_size", json_integer(cfg->chunk));
    json_object_set_new(c, "n_action_steps", json_integer(cfg->chunk));
    json_object_set_new(c, "vision_backbone", json_string("resnet18"));
    json_object_set_new(c, "pretrained_backbone_weights", json_null());
    json_object_set_new(c, "replace_final_stride_with_dilation", json_false());
    json_object_set_new(c, "pre_norm", json_false());
    json_object_set_new(c, "dim_model", json_integer(cfg->hidden_dim));
    json_object_set_new(c, "n_heads", json_integer(cfg->nheads));
    json_object_set_new(c, "dim_feedforward", json_integer(cfg->dim_feedforward));
    json_object_set_new(c, "feedforward_activation", json_string("relu"));
    json_object_set_new(c, "n_encoder_layers", json_integer(cfg->enc_layers));
    json_object_set_new(c, "n_decoder_layers", json_integer(cfg->dec_layers));
    json_object_set_new(c, "use_vae", json_true());
    json_object_set_new(c, "latent_dim", json_integer(cfg->latent_dim));
    json_object_set_new(c, "n_vae_encoder_layers", json_integer(cfg->enc_layers));
    json_object_set_new(c, "temporal_ensemble_coeff", json_null());
    snprintf(text, sizeof text, "%g", cfg->dropout);
    json_object_set_new(c, "dropout", json_real(strtod(text, NULL)));
    snprintf(text, sizeof text, "%g", cfg->kl_weight);
    json_object_set_new(c, "kl_weight", json_real(strtod(text, NULL)));
    return c;
}

/* ---------------------------------------------------------------- statistics */

/* The statistics of an ACT model, in LeRobot's buffer names or as our features. */
typedef struct {
    char feature[128], buffer[160];   /* "observation.images.top", "normalize_inputs.buffer_observation_images_top" */
    float *values[2];                 /* mean, std */
    int n, ndim;
    int64_t shape[3];
} stat_entry;

static int stat_entries(act_model *m, stat_entry *e)
{
    const act_config *cfg = &m->cfg;
    int n = 0;
    snprintf(e[n].feature, sizeof e[n].feature, "observation.state");
    snprintf(e[n].buffer, sizeof e[n].buffer, "normalize_inputs.buffer_observation_state");
    e[n].values[0] = m->norm.state_mean, e[n].values[1] = m->norm.state_std, e[n].n = cfg->state_dim;
    e[n].ndim = 1, e[n].shape[0] = cfg->state_dim, n++;
    for (int k = 0; k < cfg->n_cameras; k++, n++) {
        snprintf(e[n].feature, sizeof e[n].feature, "observation.images.%s", cfg->camera_names[k]);
        snprintf(e[n].buffer, sizeof e[n].buffer, "normalize_inputs.buffer_observation_images_%s", cfg->camera_names[k]);
        e[n].values[0] = m->norm.image_mean[k], e[n].values[1] = m->norm.image_std[k], e[n].n = 3;
        e[n].ndim = 3, e[n].shape[0] = 3, e[n].shape[1] = 1, e[n].shape[2] = 1;
    }
    /* the action twice in LeRobot's model: normalize_targets (training) and unnormalize_outputs */
    for (int i = 0; i < 2; i++, n++) {
        snprintf(e[n].feature, sizeof e[n].feature, "action");
        snprintf(e[n].buffer, sizeof e[n].buffer, "%s.buffer_action", i ? "normalize_targets" : "unnormalize_outputs");
        e[n].values[0] = m->norm.action_mean, e[n].values[1] = m->norm.action_std, e[n].n = cfg->action_dim;
        e[n].ndim = 1, e[n].shape[0] = cfg->action_dim;
    }
    return n;
}

static json_t *floats_json(const float *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static int floats_from_json(json_t *a, float *out, int n, const char *name, const char *what)
{
    if (json_array_size(a) != (size_t)n) return error_set("%s: %s has %zu values, %d expected", name, what, json_array_size(a), n);
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v)) return error_set("%s: %s[%d] is not a number", name, what, i);
        out[i] = (float)json_number_value(v);
    }
    return 0;
}

/* ---------------------------------------------------------------- export */

static int write_json_file(json_t *j, const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
        unlink(tmp);
        return error_set("%s: cannot write", tmp);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return error_set("%s: cannot rename into place:", path);
    }
    return 0;
}

int exchange_export(const char *checkpoint, exchange_format format, const char *out)
{
    char kind[32];
    if (policy_checkpoint_kind(checkpoint, kind, sizeof kind) < 0) return -1;
    if (format == EXCHANGE_DP) return exchange_export_dp(checkpoint, out);
    if (strcmp(kind, "diffusion") == 0 || strcmp(kind, "ibc") == 0)
        return error_set("%s: a %s checkpoint: it converts to Diffusion Policy's names (format dp), not to %s", checkpoint,
                         kind, format == EXCHANGE_LEROBOT ? "LeRobot's ACT" : "ACT's names");
    act_model m;
    if (act_checkpoint_load_inference(checkpoint, &m) < 0) return -1;
    checkpoint_reader *r = NULL;
    safetensors_writer *w = NULL;
    json_t *config = NULL, *extra = json_object(), *stats = json_object();
    char *text = NULL, path[4096];
    int rc = -1;
    if (m.cfg.kind != ACT_KIND_ACT) {
        error_set("%s: a CNNMLP checkpoint; only ACT converts", checkpoint);
        goto done;
    }
    if (format == EXCHANGE_LEROBOT && m.cfg.backbone_norm == MOD_NORM_GROUP) {
        error_set("%s: the backbone uses GroupNorm (backbone_norm group); LeRobot's ACT has FrozenBatchNorm2d: train "
                  "with act-train --backbone-norm frozen to take a model to LeRobot", checkpoint);
        goto done;
    }
    if (!(r = checkpoint_open(checkpoint)) || !(config = exchange_config_of_checkpoint(r))) goto done;
    if (!(w = safetensors_writer_new())) goto done;
    for (int i = 0; i < m.ps->count; i++) {
        const nn_tensor *t = m.ps->list[i].t;
        char name[256];
        int64_t shape[NN_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        int mapped = format == EXCHANGE_ACT ? (snprintf(name, sizeof name, "%s", t->name), 0)
                                            : exchange_act_to_lerobot(t->name, name, sizeof name);
        if (mapped < 0) {
            error_prefix("%s: ", checkpoint);
            goto done;
        }
        if (mapped == 1) json_object_set_new(extra, t->name, floats_json(t->data, (int)t->size));
        else if (safetensors_writer_add_f32(w, name, t->data, t->ndim, shape) < 0) goto done;
    }
    stat_entry e[ACT_MAX_CAMERAS + 3];
    int n_stats = stat_entries(&m, e);
    for (int i = 0; i < n_stats; i++) {
        if (format == EXCHANGE_LEROBOT) {
            for (int s = 0; s < 2; s++) {
                char name[200];
                snprintf(name, sizeof name, "%s.%s", e[i].buffer, s ? "std" : "mean");
                if (safetensors_writer_add_f32(w, name, e[i].values[s], e[i].ndim, e[i].shape) < 0) goto done;
            }
        } else {
            json_object_set_new(stats, e[i].feature, json_pack("{s:o, s:o}", "mean", floats_json(e[i].values[0], e[i].n), "std",
                                                               floats_json(e[i].values[1], e[i].n)));
        }
    }
    if (exchange_write_metadata(w, config, r) < 0) goto done;
    text = json_dumps(format == EXCHANGE_LEROBOT ? extra : stats, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text || safetensors_writer_metadata(w, format == EXCHANGE_LEROBOT ? "ilt.dropped" : "ilt.stats", text) < 0) goto done;
    if (format == EXCHANGE_ACT) {
        rc = safetensors_writer_save(w, out);
        w = NULL;
        goto done;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        error_set("%s: cannot create the directory:", out);
        goto done;
    }
    json_t *lc = lerobot_config(&m.cfg);
    snprintf(path, sizeof path, "%s/config.json", out);
    int json_rc = write_json_file(lc, path);
    json_decref(lc);
    if (json_rc < 0) goto done;
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    rc = safetensors_writer_save(w, path);
    w = NULL;
done:
    safetensors_writer_free(w);
    free(text);
    json_decref(config);
    json_decref(extra);
    json_decref(stats);
    if (r) checkpoint_close(r);
    act_model_free(&m);
    return rc;
}

/* ---------------------------------------------------------------- import */

/* name.{mean,std} of a feature, from the model file's buffers or a processor file. */
static int find_stat(safetensors_file *files, int n_files, const stat_entry *e, float *out[2], const char *dir)
{
    for (int s = 0; s < 2; s++) {
        const char *which = s ? "std" : "mean";
        char a[300], b[300];
        snprintf(a, sizeof a, "%.200s.%s", e->buffer, which);
        snprintf(b, sizeof b, "%.200s.%s", e->feature, which);
        int found = 0;
        for (int f = 0; f < n_files && !found; f++)
            for (const char *name = a; name && !found; name = name == a ? b : NULL) {
                const safetensors_tensor *t = safetensors_find(&files[f], name);
                if (!t) continue;
                float *v;
                int ndim;
                int64_t shape[SAFETENSORS_MAX_DIMS];
                if (safetensors_get_f32(&files[f], name, &v, &ndim, shape) < 0) return -1;
                size_t count = t->nbytes / safetensors_dtype_size(t->dtype);
                if (count != (size_t)e->n) {
                    free(v);
                    return error_set("%s: '%s' has %zu values, %d expected", files[f].name, name, count, e->n);
                }
                /* LeRobot divides by std + 1e-8: a zero std (a constant feature) stays finite there */
                for (int i = 0; i < e->n; i++) out[s][i] = s && !(v[i] > 0) ? 1e-8f : v[i];
                free(v);
                found = 1;
            }
        if (!found)
            return error_set("%s: no normalisation statistics for %s: expected %s in model.safetensors or %s in a "
                             "policy_preprocessor/postprocessor safetensors file", dir, e->feature, a, b);
    }
    return 0;
}

static int is_norm_buffer(const char *name)
{
    return !strncmp(name, "normalize_inputs.", 17) || !strncmp(name, "normalize_targets.", 18) || !strncmp(name, "unnormalize_outputs.", 20);
}

/* The processor files of a LeRobot directory (current versions keep the statistics there). */
static int read_processor_files(const char *dir, safetensors_file *files, int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) && n < max) {
        size_t len = strlen(de->d_name);
        if ((strncmp(de->d_name, "policy_preprocessor", 19) && strncmp(de->d_name, "policy_postprocessor", 20)) ||
            len < 12 || strcmp(de->d_name + len - 12, ".safetensors"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (safetensors_read(path, &files[n]) < 0) {
            closedir(d);
            while (n--) safetensors_free(&files[n]);
            return -1;
        }
        n++;
    }
    closedir(d);
    return n;
}

int exchange_import(const char *in, exchange_format format, const char *checkpoint)
{
    char dir[4096], path[4096];
    safetensors_file files[8];
    int n_files = 0, rc = -1;
    act_model m;
    memset(&m, 0, sizeof m);
    json_t *lconfig = NULL, *map = NULL, *dropped = NULL, *stats = NULL;
    const char **extra = NULL;
    snprintf(dir, sizeof dir, "%s", in);
    if (format == EXCHANGE_LEROBOT) {
        size_t len = strlen(dir);
        if (len >= 11 && strcmp(dir + len - 11, "config.json") == 0) {
            dir[len - 11] = 0;
            if (!*dir) snprintf(dir, sizeof dir, ".");
        }
        snprintf(path, sizeof path, "%s/config.json", dir);
        json_error_t jerr;
        if (!(lconfig = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr))) {
            error_set("%s: %s%s", path, jerr.text, access(path, R_OK) == 0 ? "" : " (a LeRobot pretrained-model directory holds config.json and model.safetensors)");
            goto done;
        }
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
    } else {
        snprintf(path, sizeof path, "%s", in);
    }
    if (safetensors_read(path, &files[0]) < 0) goto done;
    n_files = 1;
    const char *meta = safetensors_metadata(&files[0], "ilt.config");
    json_error_t jerr;
    if (meta && !(map = json_loads(meta, 0, &jerr))) {
        error_set("%s: metadata ilt.config is not JSON: %s", path, jerr.text);
        goto done;
    }
    json_t *policy = json_object_get(map, "policy");
    if (format != EXCHANGE_LEROBOT && json_is_string(policy) &&
        (strcmp(json_string_value(policy), "diffusion") == 0 || strcmp(json_string_value(policy), "ibc") == 0)) {
        rc = exchange_import_dp(&files[0], map, checkpoint);
        goto done;
    }
    if (format == EXCHANGE_LEROBOT) {
        json_t *translated = config_of_lerobot(lconfig, dir);
        if (!translated) goto done;
        if (!map) map = translated;
        else {
            /* a file we wrote: our configuration, if config.json still agrees with it */
            const char *keys[] = {"state_dim", "action_dim", "chunk", "hidden_dim", "enc_layers", "dec_layers", "cameras", NULL};
            for (int i = 0; keys[i]; i++)
                if (!json_equal(json_object_get(map, keys[i]), json_object_get(translated, keys[i]))) {
                    error_set("%s: config.json and the ilt.config metadata of model.safetensors disagree on %s", dir, keys[i]);
                    json_decref(translated);
                    goto done;
                }
            json_decref(translated);
        }
        int more = read_processor_files(dir, files + 1, 7);
        if (more < 0) goto done;
        n_files += more;
    } else if (!map) {
        error_set("%s: no ilt.config metadata: ckpt-convert reads safetensors files it wrote (the original ACT "
                  "names, or Diffusion Policy's names with our configuration); for an ACT trained elsewhere use a "
                  "LeRobot directory", path);
        goto done;
    }
    act_config cfg;
    if (config_from_map(map, path, &cfg) < 0 || act_model_init(&m, &cfg, NULL) < 0) goto done;

    /* parameters: every one of ours from its name in the file */
    const char *d_meta = safetensors_metadata(&files[0], "ilt.dropped");
    if (d_meta && !(dropped = json_loads(d_meta, 0, &jerr))) {
        error_set("%s: metadata ilt.dropped is not JSON", path);
        goto done;
    }
    char missing[1024] = "";
    size_t used = 0;
    for (int i = 0; i < m.ps->count; i++) {
        nn_tensor *t = m.ps->list[i].t;
        char name[256];
        int mapped = format == EXCHANGE_ACT ? (snprintf(name, sizeof name, "%s", t->name), 0) : exchange_act_to_lerobot(t->name, name, sizeof name);
        if (mapped < 0) goto done;
        if (mapped == 1) {   /* not in LeRobot's model: from our metadata, else zero (unused at inference) */
            json_t *v = json_object_get(dropped, t->name);
            if (v && floats_from_json(v, t->data, (int)t->size, path, t->name) < 0) goto done;
            if (!v) memset(t->data, 0, sizeof(float) * t->size);
            continue;
        }
        const safetensors_tensor *st = safetensors_find(&files[0], name);
        if (!st) {
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s", *missing ? ", " : "", name);
            continue;
        }
        used++;
        int same = st->ndim == t->ndim;
        for (int dd = 0; same && dd < t->ndim; dd++) same = st->shape[dd] == t->shape[dd];
        if (!same) {
            char want[96] = "", got[96] = "";
            for (int dd = 0; dd < t->ndim; dd++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", dd ? "," : "", t->shape[dd]);
            for (int dd = 0; dd < st->ndim; dd++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", dd ? "," : "", (long long)st->shape[dd]);
            error_set("%s: tensor '%s' has shape [%s], the configuration gives [%s]", path, name, got, want);
            goto done;
        }
        float *v;
        int ndim;
        int64_t shape[SAFETENSORS_MAX_DIMS];
        if (safetensors_get_f32(&files[0], name, &v, &ndim, shape) < 0) goto done;
        memcpy(t->data, v, sizeof(float) * t->size);
        free(v);
    }
    if (*missing) {
        error_set("%s: missing tensors: %s", path, missing);
        goto done;
    }
    for (size_t i = 0; i < files[0].n_tensors; i++) {
        const char *name = files[0].tensors[i].name;
        char ours[256];
        if (is_norm_buffer(name)) continue;
        if (format == EXCHANGE_ACT ? !nn_param_find(m.ps, name)
                                   : exchange_lerobot_to_act(name, ours, sizeof ours) < 0 || !nn_param_find(m.ps, ours)) {
            error_set("%s: unexpected tensor '%s' (not a parameter of ACT with this configuration)", path, name);
            goto done;
        }
    }

    /* statistics */
    stat_entry e[ACT_MAX_CAMERAS + 3];
    int n_stats = stat_entries(&m, e) - 1;   /* the action once */
    const char *s_meta = safetensors_metadata(&files[0], "ilt.stats");
    if (format == EXCHANGE_ACT && (!s_meta || !(stats = json_loads(s_meta, 0, &jerr)))) {
        error_set("%s: no ilt.stats metadata (the normalisation statistics)", path);
        goto done;
    }
    for (int i = 0; i < n_stats; i++) {
        float *out[2] = {e[i].values[0], e[i].values[1]};
        if (format == EXCHANGE_LEROBOT) {
            if (find_stat(files, n_files, &e[i], out, dir) < 0) goto done;
        } else {
            json_t *f = json_object_get(stats, e[i].feature);
            if (!f) {
                error_set("%s: ilt.stats has no %s", path, e[i].feature);
                goto done;
            }
            if (floats_from_json(json_object_get(f, "mean"), out[0], e[i].n, path, e[i].feature) < 0 ||
                floats_from_json(json_object_get(f, "std"), out[1], e[i].n, path, e[i].feature) < 0)
                goto done;
        }
    }

    /* the training options and step of a file we wrote */
    size_t n_extra = 0;
    extra = calloc(2 * json_object_size(map) + 1, sizeof *extra);
    if (!extra) {
        error_set("out of memory");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value) if (!is_model_key(key) && json_is_string(value)) extra[n_extra++] = key, extra[n_extra++] = json_string_value(value);
    long step = 0;
    const char *step_text = safetensors_metadata(&files[0], "ilt.step");
    if (step_text) step = strtol(step_text, NULL, 10);
    rc = act_checkpoint_save(checkpoint, &m, NULL, step, extra);
done:
    free(extra);
    for (int f = 0; f < n_files; f++) safetensors_free(&files[f]);
    json_decref(lconfig);
    json_decref(map);
    json_decref(dropped);
    json_decref(stats);
    if (m.ps) act_model_free(&m);
    return rc;
}
