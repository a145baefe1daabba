/*
 * sim/glibc_env.h — the `glibc` model's parameters for the malloc environment
 * a traced program started with (as_header_t.malloc_env, FORMAT.md §2).
 */
#ifndef AS_GLIBC_ENV_H
#define AS_GLIBC_ENV_H

#include <stddef.h>

#include "sim/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills *p with `glibc`'s defaults, then applies the GLIBC_TUNABLES
 * glibc.malloc.* entries and the MALLOC_*_ aliases found in env (len bytes of
 * NUL-terminated "NAME=value" entries) as glibc 2.36 does, marking each
 * applied parameter as explicitly set (so it freezes the dynamic threshold
 * where glibc's would). Tunables the model does not have (perturb, check,
 * hugetlb) and values it cannot take are skipped. Returns how many parameter
 * assignments were applied. */
int as_glibc_env_params(const as_model_t *glibc, const char *env, size_t len, as_params_t *p);

/* The malloc settings in env that as_glibc_env_params skips: glibc.malloc.*
 * tunables and MALLOC_* variables the model does not have (perturb, check,
 * hugetlb, tcache_unsorted_limit, MALLOC_PERTURB_ ...) or whose value it
 * cannot take. Writes them to out as "a=1, b=2" (as many whole settings as
 * fit in cap bytes with the NUL), sets *listed (if not NULL) to how many it
 * wrote and returns how many there are, so a prediction made without them
 * can say so. */
int as_glibc_env_skipped(const as_model_t *glibc, const char *env, size_t len, char *out,
                         size_t cap, int *listed);

#ifdef __cplusplus
}
#endif
#endif /* AS_GLIBC_ENV_H */
