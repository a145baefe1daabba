/*
 * sim/registry.c — every model allocsim knows, in one array (zstd
 * tests/regression methods[] style). `allocsim replay` with no --model runs
 * them all with their defaults, in this order.
 */
#include <string.h>

#include "sim/model.h"

extern const as_model_t as_model_ideal;
extern const as_model_t as_model_mmap_threshold;
extern const as_model_t as_model_glibc;

const as_model_t *const as_models[] = {
    &as_model_ideal,
    &as_model_mmap_threshold,
    &as_model_glibc,
    NULL,
};

const as_model_t *as_model_find(const char *name)
{
    for (size_t i = 0; as_models[i]; i++)
        if (!strcmp(as_models[i]->name, name))
            return as_models[i];
    return NULL;
}
