/*
 * sim/glibc_internal.h — what the glibc model (sim/glibc.c) exposes beyond
 * its method table: a chunk query for the unit tests (tests/glibc), which
 * compare the model with the real allocator the way malloc_usable_size and
 * the chunk header's IS_MMAPPED / NON_MAIN_ARENA bits describe it there.
 */
#ifndef AS_GLIBC_INTERNAL_H
#define AS_GLIBC_INTERNAL_H

#include <stdint.h>

#include "sim/model.h"

extern const as_model_t as_model_glibc;

typedef struct as_glibc_chunk {
    uint64_t usable;   /* malloc_usable_size */
    int mmapped;       /* IS_MMAPPED */
    int arena;         /* 0 = main_arena */
} as_glibc_chunk_t;

/* Describes the user block at mem; returns -1 if mem is not one. */
int as_glibc_chunk_info(const void *model, uint64_t mem, as_glibc_chunk_t *out);

/* The model's invariants, always in full (the method table's check paces
 * itself on big heaps); 0 if they hold, else -1 and why in err. */
int as_glibc_check_full(const void *model, char *err, size_t errlen);

#endif /* AS_GLIBC_INTERNAL_H */
