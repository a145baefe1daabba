/*
 * sim/model.h — allocator models and the simulated address space they share.
 *
 * A model is a const method table (sqlite's sqlite3_mem_methods pattern) listed
 * in the registry array of sim/registry.c. The replay engine (replay/engine.c)
 * drives it with the heap calls of a trace; the model places blocks in an
 * as_space_t, which maps, unmaps and counts resident pages exactly as the
 * kernel would (reference/allocators.md §0). Predicted RSS = resident pages.
 *
 * Who touches what:
 *   - the model touches what the real allocator writes: chunk headers, free-list
 *     links, tcache entries, calloc's clearing, realloc's copy;
 *   - the engine touches what the user writes, per --touch (all|first|none),
 *     after malloc/memalign/realloc return (in the runs a plain method takes,
 *     the model does, by the same rule); never after calloc (a calloc'ing
 *     user is assumed to rely on the zeroes: only calloc's own clearing counts).
 * Native replay (replay/native.c) writes memory by the same rules, so model and
 * real allocator are compared on equal terms.
 *
 * Addresses are simulated 64-bit addresses inside the model's space; they have
 * nothing to do with the addresses in the trace.
 */
#ifndef AS_MODEL_H
#define AS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "replay/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Simulated address space and page accounting (sim/space.c) ---------- */
typedef struct as_space as_space_t;

/* NULL if page_size is not a power of two in [AS_SPACE_PAGE_MIN,
 * AS_SPACE_PAGE_MAX]. */
as_space_t *as_space_create(uint32_t page_size);
/* No Linux architecture has base pages below 4 KiB, nor above 256 KiB; the
 * resident bitmap covers 2^35 pages, the whole space only with 4 KiB pages
 * or more (at 1 KiB every page above 32 TiB, the break's included, went
 * uncounted), and past glibc's 64 MiB heaps the glibc model could not work
 * (a trace header says the page size: a crafted 1 GiB broke its heap
 * invariants). */
#define AS_SPACE_PAGE_MIN 4096u
#define AS_SPACE_PAGE_MAX (1u << 20)
void as_space_free(as_space_t *s);                  /* NULL ok */

/* The program break. Starts at a fixed base; brk shrink releases pages. */
uint64_t as_space_brk_base(const as_space_t *s);
uint64_t as_space_brk_cur(const as_space_t *s);
/* Moves the break by incr bytes (may be negative); returns the old break, or 0
 * if the break would collide with a mapping. */
uint64_t as_space_sbrk(as_space_t *s, int64_t incr);

/* Anonymous private mappings, placed top-down like Linux's mmap_base.
 * len is rounded up to pages; align (power of two >= page) 0 = page. */
uint64_t as_space_mmap(as_space_t *s, uint64_t len, uint64_t align);
/* Places a mapping at an exact address (MAP_FIXED semantics over free space);
 * returns addr, or 0 if any of it is mapped. */
uint64_t as_space_mmap_at(as_space_t *s, uint64_t addr, uint64_t len);
void as_space_munmap(as_space_t *s, uint64_t addr, uint64_t len);
/* mremap(MREMAP_MAYMOVE): returns the new address (may equal addr). Resident
 * pages move with the data. */
uint64_t as_space_mremap(as_space_t *s, uint64_t addr, uint64_t old_len, uint64_t new_len);
/* madvise(MADV_DONTNEED) on whole pages inside [addr, addr+len). */
void as_space_dontneed(as_space_t *s, uint64_t addr, uint64_t len);
/* A write to [addr, addr+len): every page it covers becomes resident. Cost is
 * proportional to the pages covered, never to the size of the space. */
void as_space_touch(as_space_t *s, uint64_t addr, uint64_t len);

uint64_t as_space_resident(const as_space_t *s);   /* bytes */
uint64_t as_space_mapped(const as_space_t *s);     /* bytes: mappings + brk heap */
uint32_t as_space_page_size(const as_space_t *s);

/* ---- Parameters ----------------------------------------------------------- */
#define AS_PARAM_SIZE 0x1u    /* accepts 64K, 1M, 2G suffixes (powers of 1024) */
#define AS_PARAM_BOOL 0x2u

typedef struct as_param_def {
    const char *name;         /* the name users already type (GLIBC_TUNABLES...) */
    int64_t def, min, max;
    unsigned flags;           /* AS_PARAM_* */
    const char *doc;
} as_param_def_t;

#define AS_MAX_PARAMS 32

typedef struct as_params {
    int64_t v[AS_MAX_PARAMS]; /* in the order of the model's param table */
    uint64_t set;             /* bit i: parameter i was given explicitly */
} as_params_t;

/* What the model may know about the traced process. */
typedef struct as_model_ctx {
    uint32_t page_size;
    uint32_t ncpus;           /* recorded machine's cpu count (header) */
    uint32_t nthreads_hint;   /* threads seen in the trace, 0 if unknown */
} as_model_ctx_t;

/* ---- Stats a model reports (X-macro: struct, text, JSON, CSV in one list) -- */
#define AS_MODEL_STATS(X)                                                        \
    X(heap_bytes,    "bytes the allocator holds from the system (brk + mmap)")   \
    X(free_bytes,    "bytes held in free lists, bins and caches")                \
    X(mmap_chunks,   "blocks served by their own mapping")                       \
    X(mmap_threshold,"current mmap threshold (models that have one)")

typedef struct as_model_stats {
#define AS_X_FIELD(n, doc) uint64_t n;
    AS_MODEL_STATS(AS_X_FIELD)
#undef AS_X_FIELD
} as_model_stats_t;

/* An entry of the engine's table of one instance's blocks, by trace id
 * (as_model_t.plain): the model's address for the block (0: not live) and
 * its requested size. */
typedef struct as_block {
    uint64_t addr, size;
} as_block_t;

/* ---- The method table ------------------------------------------------------ */
typedef struct as_model {
    const char *name;                   /* "glibc", "ideal", ... */
    const char *summary;                /* one line for --help / errors */
    const as_param_def_t *params;       /* terminated by an entry with name NULL */

    /* Returns the model instance, or NULL with a one-line reason in err. */
    void *(*create)(const as_params_t *p, as_space_t *space, const as_model_ctx_t *ctx,
                    char *err, size_t errlen);
    /* Each returns the block's simulated address, 0 on failure. `thread` is the
     * trace's thread index (arenas and caches are per thread). */
    uint64_t (*malloc)(void *m, uint32_t thread, uint64_t size);
    uint64_t (*calloc)(void *m, uint32_t thread, uint64_t size);
    uint64_t (*memalign)(void *m, uint32_t thread, uint64_t align, uint64_t size);
    /* addr != 0 and size != 0 (the engine maps the edge cases to malloc/free). */
    uint64_t (*realloc)(void *m, uint32_t thread, uint64_t addr, uint64_t size);
    void (*free)(void *m, uint32_t thread, uint64_t addr);
    /* Non-heap events a model may care about: MALLOC_TRIM, MALLOPT,
     * THREAD_START, THREAD_EXIT. May be NULL. */
    void (*control)(void *m, const as_event_t *ev);
    void (*stats)(const void *m, as_model_stats_t *st);
    /* Invariants; returns 0 if they hold, else writes why. Run after every
     * operation in debug builds. May be NULL. */
    int (*check)(const void *m, char *err, size_t errlen);
    void (*destroy)(void *m);           /* NULL ok */
    unsigned flags;                     /* AS_MODEL_F_* (0 for ordinary models) */
    /* A hint that a free or realloc of addr by thread comes soon (the engine
     * calls it some events ahead): the model may only issue prefetches of the
     * lines that call will read first, so its miss overlaps other work. It
     * must not change any state, nor read anything that could fault: addr may
     * be stale or unknown by the time the call comes. May be NULL. */
    void (*prefetch)(const void *m, uint32_t thread, uint64_t addr);
    /* Many mallocs and frees in one call, for a model whose per-event work
     * is a few instructions (the calls, the engine's dispatch and reading
     * the space would cost more than the model). May be NULL. From ev[0]
     * on, while ev[i] is an AS_OP_MALLOC or AS_OP_FREE with flags 0 and
     * id < nblk, the model does what malloc(m, thread, size) or free(m,
     * thread, blk[id].addr) would, keeps blk[id].addr (a malloc stores its
     * block's address, a free sets it to 0; .size is the engine's), does
     * the user's write after a malloc that the engine would (touch: the
     * bytes written from the block's start, at most its size: UINT64_MAX
     * for --touch all, 1 for first, 0 for none and for models with
     * AS_MODEL_F_OWN_TOUCH) and writes its space's resident and mapped
     * bytes after the event to rss[i] and mapped[i]. It stops before the
     * first event it cannot handle so (another op, flags or id, a free
     * whose blk[id].addr is 0), at the latest at n, and returns how many
     * it handled; the engine gives that event to the methods above. A
     * malloc that fails may be handled only if its blk[id].addr was 0:
     * it stays 0, the run ends with it (the engine counts the failure
     * from that). On return the space must be what those calls would
     * have left. */
    uint32_t (*plain)(void *m, const as_hevent_t *ev, uint32_t n, as_block_t *blk,
                      uint64_t nblk, uint64_t touch, uint64_t *rss, uint64_t *mapped);
    /* For a model whose plain method does nothing but keep live bytes
     * (sim/ideal.c): its resident and mapped bytes are its live requested
     * bytes rounded up to the space's page, and its address for a block
     * of size below AS_LIVE_SIZE_MAX is the size handle AS_LIVE_HANDLE(size).
     * The engine then runs plain mallocs and frees itself, in the same
     * pass as its measures, without calling `plain`: a malloc of a size
     * below AS_LIVE_SIZE_MAX, a free of a block whose address is the
     * handle of its size, while the model's live bytes stay below
     * AS_LIVE_SIZE_MAX. live(m, delta): if the model is in a state such a
     * run may start from, adds delta to its live bytes, leaves the space
     * as those events would have (the break at the page-rounded live
     * bytes) and returns its live bytes from before; else returns
     * UINT64_MAX and changes nothing. May be NULL. */
    uint64_t (*live)(void *m, int64_t delta);
} as_model_t;

/* as_model_t.live's handles, and the bound on sizes and live bytes the
 * engine runs through it (2^44: a break that far up is one the space can
 * set). */
#define AS_LIVE_SIZE_MAX (1ull << 44)
#define AS_LIVE_HANDLE(size) (((uint64_t)(size) + 1) << 4)

/* The model accounts for user memory itself (sim/ideal.c: RSS is live bytes
 * page-rounded, whatever the touch rule): the engine does not touch the
 * blocks it returns. */
#define AS_MODEL_F_OWN_TOUCH 0x1u

/* ---- Registry (sim/registry.c) --------------------------------------------- */
extern const as_model_t *const as_models[];       /* NULL-terminated */
const as_model_t *as_model_find(const char *name);

/* Parses "name:key=val,key=val" (sizes accept K/M/G). On error returns -1 and
 * writes a one-line message listing the valid names/keys and their bounds. */
int as_model_parse_spec(const char *spec, const as_model_t **model, as_params_t *p,
                        char *err, size_t errlen);
/* Index of parameter `key` in the model's table, -1 if unknown. */
int as_model_param_index(const as_model_t *m, const char *key);

#ifdef __cplusplus
}
#endif
#endif /* AS_MODEL_H */
