/* exchange_internal.h — what exchange.c (ACT) and exchange_dp.c (Diffusion Policy, IBC) share:
 * the checkpoint's configuration as the JSON object that travels in a safetensors file's
 * metadata, and that metadata's common keys. Not part of the public interface. */
#ifndef ILT_POLICY_EXCHANGE_INTERNAL_H
#define ILT_POLICY_EXCHANGE_INTERNAL_H

#include <jansson.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"

/* Every /config attribute of r as a string member (NULL when out of memory). */
json_t *exchange_config_of_checkpoint(checkpoint_reader *r);
/* The metadata every file we write carries: format "pt", ilt.config (config, compact JSON) and
 * ilt.step (r's step, 0 when it has none). */
int exchange_write_metadata(safetensors_writer *w, json_t *config, checkpoint_reader *r);
/* A safetensors file with DP's names (f, its ilt.config object map) -> our checkpoint. */
int exchange_import_dp(const safetensors_file *f, json_t *map, const char *checkpoint);

#endif
