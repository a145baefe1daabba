/*
 * replay/native.h — native replay: a trace replayed against the real allocator.
 *
 * DESIGN.md "Replay and models", issue 4 §2. The parent (replay/native.c,
 * inside allocsim) decodes the trace once into a compact op program in an
 * unnamed temporary file; a fresh, unsanitized child process (replay/runner.c, the
 * `allocsim-replayer` executable) replays that program with one real thread
 * per traced thread, in the recorded global order, writing memory by the
 * touch rules of sim/model.h, and measures its own resident set exactly
 * (/proc/self/statm, which is exact on Linux >= 6.16; VmHWM is not: it is
 * updated from the approximate per-cpu counters).
 *
 * The program format below is private to allocsim and its replayer (both are
 * built from the same tree); it is versioned only so a stale replayer next
 * to a newer allocsim fails cleanly.
 *
 * Layout of the program file:
 *   as_np_header_t
 *   as_np_thread_t[nthreads]        (at threads_off)
 *   as_np_start_t[nstarts]          (at starts_off)
 *   op blocks: as_np_block_t followed by up to AS_NP_BLOCK_OPS as_np_op_t;
 *              each thread's blocks are chained by next_off (0 = last).
 * Global order: op (and start) positions 0..nops-1 ("gidx") are dense; the
 * runner executes position g only after g-1 is done. A thread start is not in
 * any thread's op list: whoever executes position g-1 creates the thread.
 */
#ifndef AS_NATIVE_H
#define AS_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Program format (parent -> runner) ----------------------------------- */
#define AS_NP_MAGIC   0x314752504e534c41ull   /* "ALSNPRG1" little-endian */
#define AS_NP_RMAGIC  0x315352504e534c41ull   /* "ALSNPRS1": result */
#define AS_NP_VERSION 1u
#define AS_NP_BLOCK_OPS 1024u
#define AS_NP_MAX_THREADS 65000u   /* threads over the whole trace; next_owner is 16-bit */

/* Touch rules (sim/model.h header): what the user writes after a call. */
enum { AS_NP_TOUCH_ALL = 0, AS_NP_TOUCH_FIRST = 1, AS_NP_TOUCH_NONE = 2 };

/* Owner of the next position, stored in each op so the thread that finishes
 * position g knows whom to wake without a global table. */
#define AS_NP_OWNER_START 0xFFFFu   /* position g+1 is a thread start */
#define AS_NP_OWNER_END   0xFFFEu   /* g was the last position */

/* Op flags (as_np_op_t.flags) */
#define AS_NPF_FAILED 0x1u    /* the recorded call failed: replay it, expect NULL */
#define AS_NPF_FREED  0x2u    /* realloc(p, 0) released p */

typedef struct as_np_header {
    uint64_t magic;
    uint32_t version;
    uint32_t touch;           /* AS_NP_TOUCH_* */
    uint32_t page_size;       /* the recorded one (the runner uses its own) */
    uint32_t nthreads;        /* dense runner thread slots; slot 0 = main */
    uint32_t max_live_threads;/* most threads alive at once (stack pool size) */
    uint32_t nstarts;
    uint32_t first_owner;     /* owner of position 0 (or AS_NP_OWNER_*) */
    uint32_t sample_all;      /* the allocator may give memory back inside any
                                 call (not only frees): sample before every op */
    uint64_t nops;            /* positions, starts included */
    uint64_t max_id;          /* id table size */
    uint64_t sample_every;    /* periodic samples every this many positions */
    uint64_t peak_live_gidx;  /* the position after which live bytes peak */
    uint64_t threads_off, starts_off;
} as_np_header_t;

typedef struct as_np_thread {
    uint64_t first_block;     /* file offset of the first op block, 0 if none */
    uint64_t nops;
    uint32_t exits;           /* ends with a THREAD_EXIT op (else waits for the end) */
    uint32_t trace_thread;    /* index in the trace (for messages) */
} as_np_thread_t;

typedef struct as_np_start {
    uint64_t gidx;
    uint64_t ev;
    uint32_t thread;          /* runner slot to create */
    uint32_t next_owner;      /* owner of gidx + 1 */
} as_np_start_t;

typedef struct as_np_block {
    uint64_t next_off;        /* next block of the same thread, 0 = last */
    uint32_t nops;
    uint32_t thread;
} as_np_block_t;

typedef struct as_np_op {     /* 48 bytes */
    uint64_t gidx;
    uint64_t ev;              /* index of the trace event it replays */
    uint64_t size;            /* requested bytes */
    uint64_t arg;             /* alignment; malloc_trim pad; mallopt param */
    uint32_t id;              /* block created / released (AS_NO_ID: none) */
    uint32_t old_id;          /* realloc: block released */
    int32_t  arg2;            /* mallopt value */
    uint8_t  op;              /* as_op_t */
    uint8_t  flags;           /* AS_NPF_* */
    uint16_t next_owner;      /* runner slot of gidx + 1, or AS_NP_OWNER_* */
} as_np_op_t;

/* ---- Result (runner -> parent, written at offset 0 of the result fd) ------ */
enum {
    AS_NP_OK = 0,
    AS_NP_EPROGRAM = 1,       /* the program file is malformed */
    AS_NP_ESYS = 2,           /* a system call the runner needs failed */
    AS_NP_ETHREAD = 3         /* pthread_create failed */
};

typedef struct as_np_result {
    uint64_t magic;
    uint32_t status;          /* AS_NP_* */
    uint32_t page_size;       /* the runner's */
    uint64_t ops_done;        /* positions executed */
    uint64_t peak_rss;        /* bytes above the baseline, exact samples */
    uint64_t peak_gidx;       /* positions executed when the peak was seen */
    uint64_t peak_event;      /* trace event index of the last one executed then */
    uint64_t live_at_peak;    /* live requested bytes at that moment */
    uint64_t peak_live;
    uint64_t rss_at_peak_live;
    uint64_t peak_mapped;     /* growth of the virtual size (statm size) */
    uint64_t baseline_rss;    /* the runner's own resident bytes, subtracted */
    uint64_t final_rss, final_live;   /* after the last position */
    uint64_t heap_bytes, free_bytes, mmap_chunks;   /* glibc mallinfo2() at the end */
    uint64_t samples;         /* periodic samples taken */
    double   rss_sum, live_sum;   /* over periodic samples (J&W #1) */
    double   seconds;         /* replay wall time */
    uint64_t diverged;        /* calls whose success differed from the trace */
    uint64_t statm_reads;
    uint64_t statm_skipped;   /* samples skipped: no page fault since the last */
    uint32_t approximate;     /* statm was not exact here (Linux < 6.16) */
    uint32_t pad;
    char     msg[200];        /* why, when status != OK */
} as_np_result_t;

/* ---- Parent API (replay/native.c) ----------------------------------------- */
typedef enum as_native_err {
    AS_NATIVE_OK = 0,
    AS_NATIVE_READ = 1,       /* the trace reader failed (detail has the why) */
    AS_NATIVE_DAMAGED = 2,    /* events cannot be replayed in order (detail names the event) */
    AS_NATIVE_RUNNER = 3,     /* the replayer is missing or could not start */
    AS_NATIVE_FAILED = 4,     /* the replayer died or reported an error */
    AS_NATIVE_SYS = 5,        /* temporary file, write ... failed */
    AS_NATIVE_LIMIT = 6,      /* more threads than the runner supports */
    AS_NATIVE_NOMEM = 7,
    AS_NATIVE__COUNT
} as_native_err_t;

const char *as_native_strerror(as_native_err_t err);

typedef struct as_native_opts {
    const char *runner;       /* path of allocsim-replayer */
    const char *preload;      /* LD_PRELOAD for the child, NULL = glibc */
    const char *tunables;     /* GLIBC_TUNABLES value for the child, NULL = none */
    unsigned touch;           /* AS_NP_TOUCH_* */
} as_native_opts_t;

typedef struct as_native_result {
    uint64_t events;          /* trace events read */
    uint64_t ops;             /* positions replayed (heap ops, controls, starts) */
    uint32_t threads;
    uint64_t peak_rss;
    uint64_t peak_live;
    uint64_t peak_mapped;
    uint64_t live_at_peak;
    uint64_t rss_at_peak_live;
    uint64_t final_rss, final_live;
    uint64_t failed_calls;    /* calls that failed in the trace (replayed too) */
    double   fragmentation;   /* 1 - live_at_peak / peak_rss */
    double   jw[4];           /* Johnstone & Wilson #1..#4 */
    uint64_t peak_event;      /* trace event index at the peak */
    double   peak_time;       /* seconds since trace start at the peak */
    double   seconds;         /* replay wall time in the child */
    uint64_t baseline_rss;    /* replayer's own resident bytes (subtracted) */
    uint64_t diverged;
    uint64_t unknown_frees;   /* releases of blocks never seen (skipped) */
    uint64_t heap_bytes, free_bytes, mmap_chunks;   /* glibc's mallinfo2() at the end
                                                       (0 under another allocator) */
    int      incomplete;      /* the reader skipped damaged data: see detail */
    int      approximate;     /* this kernel's RSS readings are approximate */
    uint64_t gap_repairs;     /* after such a gap: frees of lost blocks skipped,
                                 blocks whose free was lost released */
} as_native_result_t;

/* Finds allocsim-replayer: $ALLOCSIM_REPLAYER, next to the running binary,
 * or ../lib/allocsim/ beside it. 0 on success. */
int as_native_find_runner(char *buf, size_t len);

/* Replays `trace` per `opts`. On failure writes a one-line reason (naming the
 * event for AS_NATIVE_DAMAGED) into detail. A trace with damaged chunks or a
 * torn tail is replayed as far as it could be read: AS_NATIVE_OK with
 * res->incomplete set and what was lost in detail. */
as_native_err_t as_native_run(const char *trace, const as_native_opts_t *opts,
                              as_native_result_t *res, char *detail, size_t detail_len);

#ifdef __cplusplus
}
#endif
#endif /* AS_NATIVE_H */
