/*
 * replay/trace.h — the allocsim trace: events, writing and reading.
 *
 * One public header for the trace format library (libas_trace). The tracer
 * (tracer/) links the writer half into liballocsim-record.so; every tool links
 * the reader half. The byte-level format is specified in doc/FORMAT.md.
 *
 * Two views of an event:
 *   as_rec_t    the raw 32-byte record a hook appends to its thread's buffer:
 *               real addresses, no ids. Produced inside the traced process.
 *   as_event_t  what a reader hands back: ops paired by allocation id, times,
 *               thread index, failures flagged. Consumed by replay and tools.
 * The writer turns records into the encoded stream (mapping pointers to dense
 * ids, so alloc<->free pairing is exact); the reader turns it back.
 *
 * The library never prints and never exits; errors are as_err_t codes.
 * The writer never calls malloc: all its memory comes through as_mem_t.
 */
#ifndef AS_TRACE_H
#define AS_TRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AS_TRACE_MAGIC "ALSMTRC1"      /* 8 bytes at offset 0 */
#define AS_TRACE_VERSION 3u          /* what the writer writes */
#define AS_TRACE_VERSION_MIN 1u      /* the oldest version the reader reads */
#define AS_TRACE_EXT ".ast"

/* ---- Operations ---------------------------------------------------------
 * X(NAME, value, "name") — values are pinned: they are written to files.
 * Heap ops 1..31, application memory 32..47, allocator control 48..63,
 * process/thread/annotation 64..95, reserved for the Python domain 96..127. */
#define AS_OPS(X)                                       \
    X(MALLOC,             1, "malloc")                  \
    X(CALLOC,             2, "calloc")                  \
    X(REALLOC,            3, "realloc")                 \
    X(FREE,               4, "free")                    \
    X(MEMALIGN,           5, "memalign")                \
    X(POSIX_MEMALIGN,     6, "posix_memalign")          \
    X(ALIGNED_ALLOC,      7, "aligned_alloc")           \
    X(VALLOC,             8, "valloc")                  \
    X(PVALLOC,            9, "pvalloc")                 \
    X(REALLOCARRAY,      10, "reallocarray")            \
    X(FREE_SIZED,        11, "free_sized")              \
    X(FREE_ALIGNED_SIZED,12, "free_aligned_sized")      \
    X(MMAP,              32, "mmap")                    \
    X(MUNMAP,            33, "munmap")                  \
    X(MREMAP,            34, "mremap")                  \
    X(BRK,               35, "brk")                     \
    X(SBRK,              36, "sbrk")                    \
    X(MALLOC_TRIM,       48, "malloc_trim")             \
    X(MALLOPT,           49, "mallopt")                 \
    X(THREAD_START,      64, "thread_start")            \
    X(THREAD_EXIT,       65, "thread_exit")             \
    X(FORK,              66, "fork")                    \
    X(EXEC,              67, "exec")                    \
    X(MARK,              68, "mark")                    \
    X(SAMPLE,            69, "sample")

typedef enum as_op {
    AS_OP_NONE = 0,
#define AS_X_ENUM(n, v, s) AS_OP_##n = v,
    AS_OPS(AS_X_ENUM)
#undef AS_X_ENUM
    AS_OP_LIMIT = 128
} as_op_t;

/* "malloc", ... or NULL for a value that is not an op. */
const char *as_op_name(unsigned op);
/* Heap-allocating ops: those that create a block (MALLOC..PVALLOC, REALLOCARRAY
 * and REALLOC's new block). */
int as_op_allocates(unsigned op);

/* ---- Errors (pinned values) ---------------------------------------------- */
typedef enum as_err {
    AS_OK = 0,
    AS_ERR_IO = 1,          /* read/write failed: errno-level problem */
    AS_ERR_NOT_TRACE = 2,   /* no allocsim magic at offset 0 */
    AS_ERR_VERSION = 3,     /* a format version this build cannot read */
    AS_ERR_HEADER = 4,      /* the file header is damaged */
    AS_ERR_CORRUPT = 5,     /* a chunk failed its checks (skipped, counted) */
    AS_ERR_TRUNCATED = 6,   /* the file ends inside a chunk */
    AS_ERR_NOMEM = 7,
    AS_ERR_EXISTS = 8,      /* refusing to overwrite */
    AS_ERR_NOSPACE = 9,     /* disk full while writing */
    AS_ERR_ARG = 10,        /* bad argument to a library call */
    AS_ERR_NOENT = 11,      /* opening a trace: no such file (or directory in its path) */
    AS_ERR_PERM = 12,       /* opening a trace: permission denied */
    AS_ERR_ISDIR = 13,      /* opening a trace: it is a directory */
    AS_ERR_FDLOST = 14,     /* writing: the descriptor no longer refers to the trace file */
    AS_ERR__COUNT
} as_err_t;

const char *as_strerror(as_err_t err);

/* ---- The raw record (tracer hot path) ----------------------------------- *
 * 32 bytes, appended by a hook to its own thread's buffer. `seq_op` packs the
 * global sequence number (causal order across threads) above the op byte.
 * Field use per op (results are the real allocator's):
 *   MALLOC/VALLOC/PVALLOC    a=result  size=n
 *   CALLOC                   a=result  size=nmemb*size (b=nmemb; overflow: a=0)
 *   REALLOC/REALLOCARRAY     a=result  b=old pointer  size=n
 *                            (realloc(p,0) that frees: a=0 and AS_RECF_FREED)
 *   FREE                     b=pointer
 *   FREE_SIZED/_ALIGNED      b=pointer size=size
 *   MEMALIGN/ALIGNED_ALLOC   a=result  b=alignment  size=n
 *   POSIX_MEMALIGN           a=result (0 on error) b=alignment size=n
 *   MMAP                     a=result  b=length  size=prot|flags<<32
 *   MUNMAP                   b=addr    size=length
 *   MREMAP                   a=result  b=old addr  size=new length (old length
 *                            in the following AS_REC_ARG record)
 *   BRK/SBRK                 a=new break (0 on failure) b=old break / increment
 *   MALLOC_TRIM              b=pad     size=result
 *   MALLOPT                  b=param   size=(uint64_t)(int64_t)value, a=result
 *   THREAD_START/EXIT        (thread index is the buffer's)
 *   FORK                     a=child pid (in the parent) b=parent pid (in child)
 *   EXEC                     nothing (the writer flushes right after)
 *   MARK                     a,b,size hold up to 24 bytes of the name, NUL-padded
 * A hook that needs more words appends an extra record with op AS_REC_ARG (the
 * words of the preceding record continue in a, b, size), and with --callsite a
 * record with op AS_REC_CALLSITE (a=return address) precedes the event it
 * belongs to. Both carry the same seq as their event. */
#define AS_REC_ARG      0xF0u
#define AS_REC_CALLSITE 0xF1u

#define AS_RECF_FAILED 0x1u   /* the call failed (NULL / error return) */
#define AS_RECF_FREED  0x2u   /* realloc(p, 0) freed p */

typedef struct as_rec {
    uint64_t seq_op;          /* seq << 16 | flags << 8 | op */
    uint64_t a, b, size;
} as_rec_t;

static inline uint64_t as_rec_seq(const as_rec_t *r) { return r->seq_op >> 16; }
static inline unsigned as_rec_op(const as_rec_t *r) { return (unsigned)(r->seq_op & 0xff); }
static inline unsigned as_rec_flags(const as_rec_t *r) { return (unsigned)((r->seq_op >> 8) & 0xff); }
static inline uint64_t as_rec_pack(uint64_t seq, unsigned op, unsigned flags)
{
    return seq << 16 | (uint64_t)(flags & 0xff) << 8 | (op & 0xff);
}

/* ---- Ground-truth sample (every ~10 ms) ---------------------------------- */
typedef struct as_sample {
    uint64_t rss;             /* process resident bytes, /proc/self/statm */
    uint64_t tracer_rss;      /* resident bytes the tracer adds: its mappings and
                                 its own libraries' pages (FORMAT.md §4) */
    uint64_t arena;           /* mallinfo2: non-mmapped bytes from the system */
    uint64_t hblkhd;          /* mallinfo2: mmapped bytes */
    uint64_t uordblks;        /* mallinfo2: in-use bytes */
    uint64_t fordblks;        /* mallinfo2: free bytes */
} as_sample_t;

/* ---- File header ---------------------------------------------------------- */
#define AS_HDRF_COMPLETE   0x1u  /* the writer closed the file normally */
#define AS_HDRF_INCOMPLETE 0x2u  /* tracing stopped early (see stop_reason) */

typedef struct as_header {
    uint32_t version;         /* format version of the file */
    uint32_t flags;           /* AS_HDRF_* (updated in place on close) */
    uint32_t stop_reason;     /* as_err_t when AS_HDRF_INCOMPLETE, else 0 */
    uint32_t page_size;
    uint32_t ncpus;           /* sched_getaffinity count of the traced process */
    uint32_t tracer_options;  /* AS_OPT_* */
    int64_t  pid, ppid;
    uint64_t start_time_ns;   /* CLOCK_REALTIME at trace start */
    const char *exe;          /* strings are NUL-terminated, owned by the */
    const char *argv;         /* reader (or caller, for the writer); argv is */
    size_t   argv_len;        /* NUL-separated, argv_len bytes in all */
    const char *libc_version; /* gnu_get_libc_version() */
    const char *python_version; /* NULL unless the Python hook is active */
    const char *malloc_env;   /* the environment glibc's malloc read at start:
                                 GLIBC_TUNABLES and MALLOC_* entries, "NAME=value"
                                 each NUL-terminated, in environment order;
                                 NULL if none (or a trace from before
                                 2026-11-22: FORMAT.md §2) */
    size_t   malloc_env_len;  /* bytes in malloc_env, terminators included */
} as_header_t;

#define AS_OPT_CALLSITE 0x1u
#define AS_OPT_PYTHON   0x2u
/* The program's malloc was not glibc's (it linked or preloaded another
 * allocator): the samples' mallinfo2 fields describe glibc's unused heap. */
#define AS_OPT_FOREIGN_MALLOC 0x4u

/* ---- Writer (used by the tracer's writer thread and by tests) ------------ */
typedef struct as_mem {       /* the writer's only source of memory */
    void *(*alloc)(void *ctx, size_t size);        /* zeroed memory or NULL */
    void  (*free)(void *ctx, void *p, size_t size);
    void *ctx;
} as_mem_t;

typedef struct as_writer as_writer_t;

/* Writes the header to fd (positioned at 0, opened by the caller). mem NULL
 * means libc malloc/free (tests and offline tools only). */
as_writer_t *as_writer_create(int fd, const as_header_t *hdr, const as_mem_t *mem,
                              int zstd_level, as_err_t *err);
/* The same open file moved to descriptor fd (the caller closes the old one).
 * Before every write the writer checks that its descriptor still names the
 * file it was created on (device and inode, by fstat): if the program closed
 * it and the number now names another file, writing stops with AS_ERR_FDLOST
 * rather than going into that file. AS_ERR_FDLOST here if fd names another
 * file. */
as_err_t as_writer_set_fd(as_writer_t *w, int fd);
/* One raw record from thread `thread` (0 = first traced thread). Records must
 * arrive in seq order (the tracer merges its thread buffers first). */
as_err_t as_writer_add(as_writer_t *w, uint32_t thread, const as_rec_t *rec);
/* The same as as_writer_add on recs[0..n-1] in turn (stops at the first error
 * and returns it), faster: the records are known ahead, so the encoder's
 * table lookups are prefetched. */
as_err_t as_writer_add_batch(as_writer_t *w, uint32_t thread, const as_rec_t *recs,
                             size_t n);
/* Time base: events with seq >= `seq` happened at or after t_ns (CLOCK_MONOTONIC
 * nanoseconds since trace start). Called about every millisecond. */
as_err_t as_writer_time(as_writer_t *w, uint64_t seq, uint64_t t_ns);
as_err_t as_writer_sample(as_writer_t *w, uint64_t seq, const as_sample_t *s);
/* Loaded module map entry for callsites (at start and after each dlopen). */
as_err_t as_writer_module(as_writer_t *w, const char *path, uint64_t base,
                          uint64_t size, const uint8_t *build_id, size_t build_id_len);
/* Ends the current chunk (if it holds anything) and writes it. */
as_err_t as_writer_flush(as_writer_t *w);
/* Makes everything added so far readable from the file without ending the
 * chunk: its data so far goes out as a segment of a streamed chunk
 * (doc/FORMAT.md §3.1), which keeps the encoder's and zstd's state, so
 * frequent syncs cost little compression where frequent flushes cost much. */
as_err_t as_writer_sync(as_writer_t *w);
/* Flushes, writes the end record and sets the header flags in place. stop is
 * AS_OK for a normal end, else the reason tracing stopped early. Frees w. */
as_err_t as_writer_close(as_writer_t *w, as_err_t stop);
/* The zstd level of the chunks written from now on (0: the default, 3). The
 * reader needs no parameter for it. */
void as_writer_level(as_writer_t *w, int zstd_level);
/* Bytes written so far and events accepted (for the record summary). */
void as_writer_totals(const as_writer_t *w, uint64_t *bytes, uint64_t *events);

/* ---- Decoded event (reader) --------------------------------------------- */
#define AS_EVF_FAILED    0x1u  /* the call failed; no block was created */
#define AS_EVF_FREED     0x2u  /* realloc(p, 0) that released p */
#define AS_EVF_UNKNOWN   0x4u  /* released a pointer never seen allocated
                                  (allocated before tracing began): a no-op */
#define AS_EVF_REPAIRED  0x8u  /* a cross-thread ordering race was repaired here */

#define AS_NO_ID UINT32_MAX

/* Thread indices the replay tools keep state for (native replay's thread
 * slots, the glibc model's per-thread tcache and arena): the format allows
 * up to 2^32 - 1, the tracer numbers threads in creation order, so this is
 * a million thread creations. Native replay refuses a trace past it; the
 * glibc model fails the calls of such a thread (model_failures). */
#ifndef AS_REPLAY_THREAD_LIMIT   /* tests/fuzz builds set it lower */
#define AS_REPLAY_THREAD_LIMIT (1u << 20)
#endif

typedef struct as_event {
    uint64_t seq;             /* global order within the process */
    uint64_t time_ns;         /* since start_time, resolution ~1 ms */
    uint16_t op;              /* as_op_t */
    uint16_t flags;           /* AS_EVF_* */
    uint32_t thread;          /* thread index within the process, 0 = main */
    uint32_t id;              /* block created (alloc ops, realloc's result) or
                                 released (free ops); AS_NO_ID if none. Ids are
                                 dense and reused once released: an id is never
                                 larger than the peak number of live blocks. */
    uint32_t old_id;          /* realloc: block released (AS_NO_ID if none) */
    uint64_t size;            /* requested bytes (calloc: nmemb * size) */
    uint64_t addr;            /* block / mapping address (real, as recorded) */
    uint64_t old_addr;        /* realloc, mremap: previous address */
    uint64_t arg;             /* alignment; mmap length; munmap length; mremap
                                 old length; malloc_trim pad; mallopt param */
    int64_t  arg2;            /* mallopt value; malloc_trim/mallopt result;
                                 fork: child pid */
    uint32_t callsite;        /* 0 = none, else as_reader_callsite() index */
    uint32_t process;         /* input file index (multi-file readers) */
    const char *name;         /* MARK: the phase name (valid until next read) */
    const as_sample_t *sample;/* SAMPLE: ground truth (valid until next read) */
} as_event_t;

/* ---- Reader --------------------------------------------------------------- */
typedef struct as_reader as_reader_t;

typedef struct as_read_stats {
    uint64_t chunks;          /* chunks decoded */
    uint64_t chunks_damaged;  /* chunks that failed checks and were skipped */
    uint64_t bytes_lost;      /* bytes skipped (damaged chunks, torn tail) */
    int      truncated;       /* the file ends inside a chunk (e.g. SIGKILL) */
    int      complete;        /* the writer closed the file normally */
    uint64_t events;          /* events delivered so far */
    uint64_t compressed_bytes;/* file bytes in intact chunks */
    uint64_t repairs;         /* ordering races repaired (writer + reader) */
    uint64_t unknown_frees;   /* releases of pointers never seen allocated */
    uint64_t max_id;          /* largest id seen + 1 (sizes per-id tables) */
    uint64_t late;            /* backward jumps in seq order: runs of events that
                                 reached the tracer's writer after events with
                                 higher seqs (a thread descheduled between its
                                 seq and its record); kept in arrival order */
} as_read_stats_t;

/* Opens and checks the header. On failure returns NULL and sets *err. */
as_reader_t *as_reader_open(const char *path, as_err_t *err);
/* Reading options for as_reader_open_flags. */
#define AS_READ_NO_ADDR 0x1u  /* skip address reconstruction: addr and old_addr
                                 of heap events (ops below AS_OP_MMAP) are 0.
                                 For replay, whose models place blocks
                                 themselves. Address codes are not checked
                                 either, so on a chunk the full reader accepts
                                 every other field, event and statistic is the
                                 same as without it (the writer predicts only
                                 heap block addresses); a chunk that passes its
                                 checksum but names an impossible address (only
                                 a crafted one can) is read on instead of
                                 dropped: more events, fewer damaged chunks.
                                 Every id stays below the reader's id limit
                                 and max_id bounds them. */
/* as_reader_open with AS_READ_* flags (unknown flags: AS_ERR_ARG). */
as_reader_t *as_reader_open_flags(const char *path, unsigned flags, as_err_t *err);
const as_header_t *as_reader_header(const as_reader_t *r);
/* 1: *ev filled; 0: end of trace; <0: -as_err_t, a fatal error (damaged chunks
 * are not fatal: they are skipped and counted in the stats). */
int as_reader_next(as_reader_t *r, as_event_t *ev);
/* The same events as as_reader_next, up to n at a time into evs[0..]: returns
 * how many were filled (> 0), 0 at the end of the trace, or <0: -as_err_t, a
 * fatal error (reported once the events before it have been returned; n = 0
 * is AS_ERR_ARG). Saves
 * a call per event; calls may be mixed freely with as_reader_next. A batch
 * ends early after a MARK or SAMPLE event, whose name or sample pointer is
 * then valid until the next read, as with as_reader_next. */
int as_reader_next_batch(as_reader_t *r, as_event_t *evs, size_t n);
/* The replay view of a plain heap event: 32 bytes instead of as_event_t's
 * 96, the fields a heap model needs. */
typedef struct as_hevent {
    uint64_t size;            /* as_event_t.size */
    uint64_t arg;             /* as_event_t.arg (0 from as_reader_next_plain) */
    uint32_t id, old_id;      /* as_event_t.id, .old_id */
    uint32_t thread;
    uint8_t op, flags;        /* as_op_t (< 256 for every heap op), AS_EVF_* */
    uint16_t pad;
} as_hevent_t;
/* The next events in the compact form, while they are plain: a malloc, or a
 * free of a known block (flags 0; nearly every event of a real trace). Fills
 * up to n of evs[] with what as_reader_next would return (its seq, callsite
 * and addresses left out) and returns how many, all at trace time *time_ns.
 * 0: the next event is something else, or the chunk or trace is used up, or
 * it failed to decode: read on with as_reader_next / _next_batch, which
 * deliver it (or the end, or the error). Calls may be mixed freely with them.
 * <0: -AS_ERR_ARG. */
int as_reader_next_plain(as_reader_t *r, as_hevent_t *evs, size_t n, uint64_t *time_ns);
void as_reader_stats(const as_reader_t *r, as_read_stats_t *st);
/* The first non-fatal problem met so far (AS_OK if none): AS_ERR_CORRUPT,
 * AS_ERR_TRUNCATED. Tools report it and exit 2 after printing what they read. */
as_err_t as_reader_problem(const as_reader_t *r, char *detail, size_t detail_len);
/* Callsite table: module path, offset in module, build id (hex, may be "").
 * Returns 0 if the callsite is known, -1 otherwise. */
int as_reader_callsite(const as_reader_t *r, uint32_t callsite, const char **module,
                       uint64_t *offset, const char **build_id);
void as_reader_close(as_reader_t *r);

/* ---- Totals without decoding (replay/trace_scan.c) ------------------------ */
typedef struct as_scan {
    uint64_t chunks;          /* intact chunk headers, in order from index 0 */
    uint64_t events;          /* events those chunks hold (their headers' counts) */
    uint64_t file_bytes;
    int      end;             /* the end record was found */
} as_scan_t;

/* Totals of a trace from its chunk headers and end record alone: 32 bytes a
 * chunk, no decoding, so instant on any size. AS_OK only if the structure is
 * intact: every chunk header valid and in index order, then an end record
 * whose chunk and event totals agree; then `events` is what a reader would
 * deliver, provided the zstd frames are intact (not checked here: the reader
 * checks them). Otherwise the problem met, the totals counting the chunks
 * before it: AS_ERR_TRUNCATED (the file ends inside a chunk or without an
 * end record), AS_ERR_CORRUPT (a bad chunk header, an index out of order,
 * disagreeing totals), AS_ERR_NOT_TRACE, AS_ERR_VERSION, AS_ERR_HEADER,
 * AS_ERR_IO. For exact damage figures, read the file with as_reader_*. */
as_err_t as_trace_scan(const char *path, as_scan_t *out);

#ifdef __cplusplus
}
#endif
#endif /* AS_TRACE_H */
