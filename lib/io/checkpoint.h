/* checkpoint.h — model checkpoints as HDF5 files that PyTorch users can read with h5py.
 *
 * Layout (every float dataset is float32 with PyTorch's layout and name):
 *   /params/<name>                 every parameter and buffer of the store (BatchNorm running
 *                                  statistics too); attribute "kind" = "parameter" | "frozen" | "buffer"
 *   /optim/exp_avg/<name>          AdamW first moments (trainable parameters only)
 *   /optim/exp_avg_sq/<name>       AdamW second moments
 *   /optim                         attributes step (int64), beta1, beta2, eps, lr[], weight_decay[]
 *   /ema/<name>                    EMA weights (every entry), attribute optimization_step on /ema;
 *                                  a policy runs with these when present (inference), training
 *                                  resumes from /params
 *   /stats/<feature>/<name>        normalisation statistics the caller writes (mean, std, min, max...)
 *   /config                        attributes: the configuration, string key = string value;
 *                                  "requires" = the keys (comma-separated) a reader must know
 *                                  to run the model as trained (keys added after a format's
 *                                  first version that change what the model computes)
 *   /                              attributes step (int64), format = "ilt-checkpoint-1"
 *
 * Files are written in the HDF5 1.10 format, whose metadata carry checksums, and every dataset
 * is chunked with a Fletcher-32 checksum per chunk: a flipped bit anywhere in a checkpoint is an
 * error on loading, never a silently different model (h5py reads them as any other file; HDF5
 * 1.10 or later is needed).
 *
 * Writing goes to "<path>.tmp.<pid>" in the same directory and is renamed over <path> by
 * checkpoint_commit, so a crash never leaves a half-written checkpoint under the real name.
 *
 *   checkpoint_writer *w = checkpoint_create("ckpt.h5");
 *   if (!w || checkpoint_write_params(w, ps) < 0 || checkpoint_write_optim(w, &opt) < 0 ||
 *       checkpoint_write_step(w, step) < 0 || checkpoint_write_config(w, "chunk_size", "100") < 0 ||
 *       checkpoint_commit(w) < 0) tool_die(1, "%s", error_get());      // commit/abort free w
 *
 * Loading checks every name, shape and dtype against the store and reports all differences in
 * one message ("ckpt.h5: /params does not match the model: missing backbone.fc.weight [10,512];
 * unexpected head.bias; input_proj.weight has shape [256,512,1,1] in the file, [512,512,1,1]
 * expected"). It refuses, naming the dataset or attribute: a file without the root attribute
 * format = "ilt-checkpoint-1", a dataset whose stored data does not cover its declared shape
 * (unwritten chunks), NaN or Inf in any value read (parameters, moments, EMA, statistics), and
 * out-of-range optimizer attributes (step < 0, betas outside [0,1), eps <= 0).
 *
 * Functions return 0 (or a pointer), or -1 (NULL) with error_set naming the file and object.
 * nn/ knows nothing of this file: it only walks nn_params' list. */
#ifndef ILT_IO_CHECKPOINT_H
#define ILT_IO_CHECKPOINT_H

#include "nn/params.h"
#include "nn/optim.h"

#define CHECKPOINT_FORMAT "ilt-checkpoint-1"
#define CHECKPOINT_REQUIRES "requires"

/* ---------------------------------------------------------------- writing */
typedef struct checkpoint_writer checkpoint_writer;
checkpoint_writer *checkpoint_create(const char *path);
int checkpoint_write_params(checkpoint_writer *w, const nn_params *ps);
int checkpoint_write_optim(checkpoint_writer *w, const nn_adamw *opt);
int checkpoint_write_ema(checkpoint_writer *w, const nn_ema *ema);
int checkpoint_write_step(checkpoint_writer *w, long step);
int checkpoint_write_config(checkpoint_writer *w, const char *key, const char *value);
/* The same with the value formatted as printf does. */
int checkpoint_write_configf(checkpoint_writer *w, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A string attribute on the root group, e.g. "policy" = "act", which the policy registry reads. */
int checkpoint_write_root_attr(checkpoint_writer *w, const char *key, const char *value);
/* /stats/<feature>/<name>, float32 [shape]. */
int checkpoint_write_stat(checkpoint_writer *w, const char *feature, const char *name, const float *data,
                          int ndim, const int *shape);
/* Close and rename into place; frees w whatever happens (on failure the temporary is removed). */
int checkpoint_commit(checkpoint_writer *w);
/* Close, remove the temporary, free w. */
void checkpoint_abort(checkpoint_writer *w);

/* ---------------------------------------------------------------- reading */
typedef struct checkpoint_reader checkpoint_reader;
checkpoint_reader *checkpoint_open(const char *path);
void checkpoint_close(checkpoint_reader *r);
/* Fill every entry of ps from /params; any missing, unexpected, mis-shaped, non-float32 or
 * partly stored dataset is an error listing each difference, and then nothing is modified. NaN
 * or Inf is an error naming the dataset and element, found after reading (ps then holds part of
 * the file's values). */
int checkpoint_read_params(checkpoint_reader *r, nn_params *ps);
/* The weights to run a policy with: /ema when the run kept an EMA (Diffusion Policy evaluates
 * its EMA model), else /params. Same checks as checkpoint_read_params. */
int checkpoint_read_inference_params(checkpoint_reader *r, nn_params *ps);
/* Restore AdamW's step and moments (opt must be initialised on the same store). Groups' lr and
 * weight decay stay as the caller set them. */
int checkpoint_read_optim(checkpoint_reader *r, nn_adamw *opt);
int checkpoint_read_ema(checkpoint_reader *r, nn_ema *ema);
int checkpoint_read_step(checkpoint_reader *r, long *step);
/* A string attribute of the root group ("policy"), malloc'ed (caller frees); NULL if absent or
 * not a string. */
char *checkpoint_root_attr(checkpoint_reader *r, const char *key);
int checkpoint_has(checkpoint_reader *r, const char *object);   /* "optim", "ema", "stats/qpos"... */
/* Configuration: the value of key (owned by r), or NULL if absent. */
const char *checkpoint_config(checkpoint_reader *r, const char *key);
/* A configuration value as an int or a float; an absent key or an unparsable value is an error
 * naming the file, the key and the value. */
int checkpoint_config_int(checkpoint_reader *r, const char *key, int *out);
int checkpoint_config_float(checkpoint_reader *r, const char *key, float *out);
/* After a policy read its configuration: every key the file's "requires" lists must have been
 * asked for with checkpoint_config (or the _int/_float readers) on r; otherwise the error names
 * the key a newer writer added, so an older program refuses the model rather than silently
 * running it with that setting's default. 0 when there is no "requires". */
int checkpoint_config_check_required(checkpoint_reader *r);
/* Number of configuration entries, and the i-th key/value (owned by r). */
int checkpoint_config_count(checkpoint_reader *r);
int checkpoint_config_at(checkpoint_reader *r, int i, const char **key, const char **value);
/* /stats/<feature>/<name>: *data malloc'ed (caller frees), shape into shape[0..*ndim). */
int checkpoint_read_stat(checkpoint_reader *r, const char *feature, const char *name, float **data, int *ndim,
                         int shape[8]);

#endif
