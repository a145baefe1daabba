/* sim/registry.c — the model registry (zstd tests/regression methods[] style).
 * Placeholder: models are added as they land. */
#include <string.h>

#include "sim/model.h"

extern const as_model_t as_model_glibc;

const as_model_t *const as_models[] = {
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
