/* modules_internal.h — helpers shared by the module sources (not part of the public API):
 * registering a parameter under a prefix and building nested name prefixes. */
#ifndef ILT_NN_MODULES_INTERNAL_H
#define ILT_NN_MODULES_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "nn/params.h"

/* nn_param(ps, prefix + name, ...). */
nn_tensor *mod_register(nn_params *ps, const char *prefix, const char *name, unsigned flags, int ndim,
                        const int *shape);
/* out = prefix + printf(fmt, ...); -1 with error_set if it does not fit. */
int mod_prefix(char *out, size_t len, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
