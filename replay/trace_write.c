/*
 * replay/trace_write.c — the trace writer: raw hook records in, chunks out.
 *
 * Runs on the tracer's writer thread inside the traced process, so it never
 * calls malloc (all memory through as_mem_t, zstd included) and never prints.
 * Format: doc/FORMAT.md, version 2. What it does per record:
 *   - maps pointers to dense ids (open-addressing hash ptr -> id; released ids
 *     reused LIFO so an id stays below the peak live count);
 *   - repairs the cross-thread realloc race (an allocation returning an address
 *     that is still live: the old block becomes an orphan that the next realloc
 *     of that address consumes), counting each repair;
 *   - encodes into six byte streams (tokens, ids, id high parts, sizes,
 *     addresses, misc) that are compressed together as one zstd frame per
 *     chunk. A free of one of the chunk's last 16 new blocks (a Python
 *     temporary, mostly) is a token alone; any other free names its id. All
 *     encoder state resets at each chunk, so every chunk decodes on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: memory via as_mem_t */
#include <zstd.h>

#include "replay/trace_internal.h"

#define STREAM_SLACK   (64u << 10)    /* room past the target: ROOM_EVERY items */
#define ROOM_EVERY     32u            /* size checked every this many items */
#define STREAM_CAP     (ASF_CHUNK_TARGET + STREAM_SLACK)
#define STREAM_INIT    (256u << 10)   /* a stream's first buffer (> STREAM_SLACK) */
/* The streams of one segment hold at most the chunk target plus what is
 * written between two room() checks (STREAM_SLACK): the compressed segment
 * needs no more room than that; a margin of another slack. */
#define OUT_CAP        (ASF_CHUNK_HDR + ZSTD_COMPRESSBOUND(ASF_CHUNK_TARGET + 2 * STREAM_SLACK + \
                                                           4 * ASF_NSTREAMS))
#define NORPHAN        64u
#define NPEND_TIME     8u
#define NPEND_SAMPLE   8u
#define MODULE_PATH_MAX 4096u
#define BUILD_ID_MAX   64u
#define FTAB           (1u << 17) /* direct-mapped: address -> ring serial */

/* A live block: 16 bytes, so four share a cache line (the map is probed at
 * random; 24-byte entries put the next slot of a probe or of the deletion
 * shift on another line more often). Only the block's size class and
 * whether it was allocated in the current chunk are ever needed: `chunk`
 * keeps the chunk index modulo 2^16, made unambiguous by renumber_chunks. */
typedef struct went {
    uint64_t ptr;
    uint32_t id;
    uint16_t chunk;            /* index of the chunk that allocated it, mod 2^16 */
    uint16_t cls;              /* asf_class of its size */
} went_t;

/* Every CHUNK_SWEEP chunks the blocks still live from older chunks are
 * renumbered to the previous chunk, so a stored chunk is never more than
 * CHUNK_SWEEP + 1 behind the current one and equals it mod 2^16 only if it
 * is the current one. */
#define CHUNK_SWEEP 32768u

typedef struct wmod {
    uint64_t base, size;
    char *path;
    uint8_t *bid;
    uint32_t path_len, bid_len, chunk_plus1;   /* last chunk it was defined in, +1 */
} wmod_t;

typedef struct wcs {           /* interned callsite: return address -> index */
    uint64_t ret, offset;
    uint32_t index, module;    /* module + 1, 0 = none */
    uint32_t chunk_plus1;
} wcs_t;

struct as_writer {
    int fd;
    uint64_t dev, ino;         /* the file fd named at create (fd_check) */
    int have_id;               /* fstat worked at create: dev and ino are set */
    as_err_t err;              /* sticky: the first write error */
    as_mem_t mem;
    uint64_t off, bytes, events, repairs, unknown;

    uint8_t *s[ASF_NSTREAMS];  /* stream bases */
    uint8_t *p[ASF_NSTREAMS];  /* stream write cursors */
    size_t cap[ASF_NSTREAMS];  /* stream buffer sizes: grown by room(), up to STREAM_CAP */
    ZSTD_CCtx *cctx;
    int level, level_next;     /* zstd level of the last chunk, of the next */
    uint8_t *out;
    size_t out_cap;

    /* chunk state (reset by chunk_open) */
    size_t chunk_target;       /* end a chunk at this many encoded bytes */
    unsigned room_tick, room_now;
    int open;
    /* a streamed chunk (FORMAT.md §3.1): its open header and earlier
     * segments are in the file already */
    int streamed;
    uint64_t chunk_off;        /* file offset of its header */
    uint64_t seg_raw;          /* decoded bytes of its written segments */
    uint64_t frame_len;        /* zstd bytes written after its header */
    uint32_t chunk;            /* index of the current/next chunk */
    uint32_t swept;            /* chunk at which renumber_chunks last ran */
    uint64_t first_seq, expect_seq;
    uint32_t nevents, cur_thread, local_depth;
    int64_t last_xid;
    uint64_t last_addr[ASF_NCAT], last_csize[ASF_NCAT], last_time;
    asf_lifo_t lifo;
    uint32_t fserial;          /* releases pushed on the ring in this chunk */
    uint64_t *fring;
    uint32_t cring[ASF_CRING]; /* ids of the newest creations (AS_NO_ID: none) */
    uint32_t cserial;          /* creations in this chunk */
    /* address hash -> serial of the last release there. No address is kept:
     * the ring slot of a serial of this chunk holds the address released
     * then, and a later release with the same hash would have replaced the
     * serial, so fring[serial] == addr proves the entry is addr's. 4 bytes
     * an entry keep the table at 512 KiB. */
    uint32_t *ftab;

    /* time markers and samples wait for the first record they apply to;
     * ord keeps the order they were given in across the two queues: a
     * quiet program's samples and time markers all wait for the same seq
     * (the next call), and each sample must keep the time it was taken at */
    uint64_t tq_seq[NPEND_TIME], tq_ns[NPEND_TIME];
    uint32_t tq_ord[NPEND_TIME];
    unsigned ntq;
    int have_time;
    int time_dirty;            /* cur_time changed, not yet in the stream */
    uint64_t cur_time;
    uint64_t sq_seq[NPEND_SAMPLE];
    uint32_t sq_ord[NPEND_SAMPLE];
    as_sample_t sq[NPEND_SAMPLE];
    unsigned nsq;
    uint32_t qord;

    /* ids */
    went_t *map;
    size_t map_cap, map_n;
    unsigned map_shift;        /* 64 - log2(map_cap) */
    uint32_t *freeids;
    size_t nfree, free_cap;
    uint32_t next_id;
    went_t orph[NORPHAN];
    unsigned norph;

    /* a record waiting for its AS_REC_ARG words */
    int have_pend;
    uint32_t pend_thread;
    as_rec_t pend;
    uint64_t pend_args[3];
    unsigned pend_nargs;
    uint32_t pend_cs;          /* callsite index + 1 of the next event, 0 none */

    /* callsites */
    wmod_t *mods;
    size_t nmods, mods_cap;
    wcs_t *cs;
    size_t cs_cap, cs_n;
};

/* ---- memory ------------------------------------------------------------- */

static void *dflt_alloc(void *ctx, size_t n) { (void)ctx; return calloc(1, n); }
static void dflt_free(void *ctx, void *p, size_t n) { (void)ctx; (void)n; free(p); }

static void *m_alloc(as_writer_t *w, size_t n) { return w->mem.alloc(w->mem.ctx, n); }
static void m_free(as_writer_t *w, void *p, size_t n)
{
    if (p)
        w->mem.free(w->mem.ctx, p, n);
}

/* zstd's free hook gets no size: keep it in front of the block. */
static void *z_alloc(void *opaque, size_t n)
{
    as_mem_t *m = opaque;
    uint64_t *p = m->alloc(m->ctx, n + 16);
    if (!p)
        return NULL;
    p[0] = n + 16;
    return p + 2;
}
static void z_free(void *opaque, void *addr)
{
    as_mem_t *m = opaque;
    if (addr) {
        uint64_t *p = (uint64_t *)addr - 2;
        m->free(m->ctx, p, p[0]);
    }
}

/* ---- I/O ------------------------------------------------------------------- */

/* Does w->fd still name the file w was created on? A traced program may close
 * descriptors it never opened (a daemon's "close everything from 3 up") and
 * then open a file that gets the same number; writing on would put chunks in
 * the program's file. The tracer keeps its descriptor out of reach of the
 * library calls that do that (tracer/rec_fd.c); this catches the rest (a raw
 * close syscall). One fstat per write: writes are whole segments and chunks. */
static as_err_t fd_check(const as_writer_t *w)
{
    struct stat st;
    if (!w->have_id)
        return AS_OK;
    if (fstat(w->fd, &st) != 0 || (uint64_t)st.st_dev != w->dev || (uint64_t)st.st_ino != w->ino)
        return AS_ERR_FDLOST;
    return AS_OK;
}

static as_err_t write_all(as_writer_t *w, const void *buf, size_t n)
{
    as_err_t c = fd_check(w);
    if (c)
        return c;
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOSPC || errno == EDQUOT ? AS_ERR_NOSPACE : AS_ERR_IO;
        }
        p += k;
        n -= (size_t)k;
        w->off += (uint64_t)k;
        w->bytes += (uint64_t)k;
    }
    return AS_OK;
}

static inline size_t ftab_slot(uint64_t addr)
{
    return (size_t)(((addr >> 4) * 0x9E3779B97F4A7C15ull) >> 47);
}

/* ---- pointer -> id map (linear probing, backward-shift deletion) --------- */

static inline size_t map_slot(const as_writer_t *w, uint64_t ptr)
{
    /* Fibonacci hashing: the product's top bits depend on every bit of ptr */
    return (size_t)((ptr * 0x9E3779B97F4A7C15ull) >> w->map_shift);
}

/* The slot holding ptr (non-zero), or the empty slot where it would go. */
static inline went_t *map_probe(const as_writer_t *w, uint64_t ptr)
{
    size_t i = map_slot(w, ptr);
    while (w->map[i].ptr != ptr && w->map[i].ptr)
        i = (i + 1) & (w->map_cap - 1);
    return &w->map[i];
}

static inline went_t *map_find(const as_writer_t *w, uint64_t ptr)
{
    went_t *e = map_probe(w, ptr);
    return e->ptr ? e : NULL;
}

static void map_del(as_writer_t *w, went_t *e)
{
    size_t mask = w->map_cap - 1, i = (size_t)(e - w->map), j = i;
    for (;;) {
        j = (j + 1) & mask;
        uint64_t p = w->map[j].ptr;
        if (p == 0)
            break;
        /* move j back to i unless its home lies cyclically in (i, j], that
         * is unless it is nearer to j than i is */
        if (((j - map_slot(w, p)) & mask) >= ((j - i) & mask)) {
            w->map[i] = w->map[j];
            i = j;
        }
    }
    w->map[i].ptr = 0;
    w->map_n--;
}

static as_err_t map_grow(as_writer_t *w)
{
    size_t old_cap = w->map_cap, cap = old_cap ? old_cap * 2 : 4096;
    went_t *old = w->map, *nm = m_alloc(w, cap * sizeof *nm);
    if (!nm)
        return AS_ERR_NOMEM;
    w->map = nm;
    w->map_cap = cap;
    w->map_shift = 64 - (unsigned)__builtin_ctzll(cap);
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].ptr) {
            size_t j = map_slot(w, old[i].ptr);
            while (nm[j].ptr)
                j = (j + 1) & (cap - 1);
            nm[j] = old[i];
        }
    }
    m_free(w, old, old_cap * sizeof *old);
    return AS_OK;
}

/* Room for one more entry, so that a probe for an absent pointer ends on the
 * empty slot where it goes. The load factor stays below 1/3: at churn's
 * 0.38 (below 1/2) whether a probe or a deletion stops at the first slot was
 * a coin toss the branch predictor lost: 3.3 misses an event against 2.5
 * below 1/3, for 48 to 96 bytes of table a live block instead of 32 to 64. */
static inline as_err_t map_room(as_writer_t *w)
{
    return (w->map_n + 1) * 3 > w->map_cap ? map_grow(w) : AS_OK;
}

/* An array of n used elements of `size` bytes at twice its capacity *cap
 * (`first` if 0): the new array, *cap updated, or NULL (nothing changed). */
static void *grow(as_writer_t *w, void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
    size_t c = *cap ? *cap * 2 : first;
    void *a = m_alloc(w, c * size);
    if (!a)
        return NULL;
    if (n)
        memcpy(a, arr, n * size);
    m_free(w, arr, *cap * size);
    *cap = c;
    return a;
}

/* once per free: the rare growth out of line */
static inline as_err_t free_push(as_writer_t *w, uint32_t id)
{
    if (__builtin_expect(w->nfree == w->free_cap, 0)) {
        uint32_t *a = grow(w, w->freeids, &w->free_cap, w->nfree, sizeof *a, 4096);
        if (!a)
            return AS_ERR_NOMEM;
        w->freeids = a;
    }
    w->freeids[w->nfree++] = id;
    return AS_OK;
}

/* ---- chunk framing ---------------------------------------------------------- */

/* The current segment's stream bytes (its table not counted). */
static size_t segment_bytes(const as_writer_t *w)
{
    size_t n = 0;
    for (unsigned i = 0; i < ASF_NSTREAMS; i++)
        n += (size_t)(w->p[i] - w->s[i]);
    return n;
}

/* The open chunk's decoded bytes: written segments and the current one. */
static size_t chunk_used(const as_writer_t *w)
{
    return (size_t)w->seg_raw + segment_bytes(w);
}

static void put_tok(as_writer_t *w, unsigned kind, unsigned aux)
{
    *w->p[ASF_S_TOK]++ = ASF_TOK(kind, aux);
}
static void put_v(as_writer_t *w, unsigned s, uint64_t v) { w->p[s] = asf_putv(w->p[s], v); }

static void emit_time(as_writer_t *w, uint64_t t)
{
    put_tok(w, ASF_K_TIME, 0);
    put_v(w, ASF_S_MISC, asf_zz((int64_t)(t - w->last_time)));
    w->last_time = t;
}

static inline int in_chunk(const as_writer_t *w, const went_t *e)
{
    return e->chunk == (uint16_t)w->chunk;
}

static void renumber_chunks(as_writer_t *w)
{
    uint16_t prev = (uint16_t)(w->chunk - 1);
    for (size_t i = 0; i < w->map_cap; i++)
        w->map[i].chunk = prev;
    for (unsigned i = 0; i < w->norph; i++)
        w->orph[i].chunk = prev;
}

static void chunk_open(as_writer_t *w, uint64_t seq)
{
    if (w->chunk && w->chunk % CHUNK_SWEEP == 0 && w->chunk != w->swept) {
        renumber_chunks(w);
        w->swept = w->chunk;
    }
    w->open = 1;
    w->streamed = 0;
    w->seg_raw = w->frame_len = 0;
    w->first_seq = w->expect_seq = seq;
    w->nevents = 0;
    w->cur_thread = 0;
    w->local_depth = 0;
    w->last_xid = -1;
    memset(w->last_addr, 0, sizeof w->last_addr);
    memset(w->last_csize, 0, sizeof w->last_csize);
    w->last_time = 0;
    memset(w->lifo.n, 0, sizeof w->lifo.n);
    memset(w->lifo.top, 0, sizeof w->lifo.top);
    w->fserial = 0;
    for (unsigned i = 0; i < ASF_CRING; i++)
        w->cring[i] = AS_NO_ID;
    w->cserial = 0;
    for (unsigned i = 0; i < ASF_NSTREAMS; i++)
        w->p[i] = w->s[i];
    if (w->have_time)          /* so the chunk's first events have a time alone */
        emit_time(w, w->cur_time);
    w->time_dirty = 0;
}

/* Writes n bytes at the end of the file; on an error the file is cut back
 * to where it ended (a full disk would otherwise leave a torn chunk or
 * segment; best effort). */
static as_err_t append(as_writer_t *w, const void *buf, size_t n)
{
    uint64_t start = w->off;
    as_err_t e = write_all(w, buf, n);
    if (e && e != AS_ERR_FDLOST && ftruncate(w->fd, (off_t)start) == 0 && lseek(w->fd, (off_t)start, SEEK_SET) >= 0) {
        w->bytes -= w->off - start;
        w->off = start;
    }
    return e;
}

/* Rewrites n bytes at off in place (a header's fields): needs no space. */
static as_err_t rewrite(const as_writer_t *w, const void *buf, size_t n, uint64_t off)
{
    as_err_t c = fd_check(w);
    if (c)
        return c;
    for (;;) {
        ssize_t k = pwrite(w->fd, buf, n, (off_t)off);
        if (k == (ssize_t)n)
            return AS_OK;
        if (k >= 0 || errno != EINTR)
            return AS_ERR_IO;
    }
}

static void chunk_header(const as_writer_t *w, uint8_t *h, uint32_t clen, uint32_t raw,
                         uint32_t nev)
{
    asf_put32(h, ASF_CHUNK_MAGIC);
    asf_put32(h + 4, clen);
    asf_put32(h + 8, raw);
    asf_put32(h + 12, nev);
    asf_put64(h + 16, w->first_seq);
    asf_put32(h + 24, w->chunk);
    asf_put32(h + 28, asf_chunk_crc(h));
}

/* Everything given to the frame so far out as whole blocks (ZSTD_e_flush),
 * or the frame ended (ZSTD_e_end). 0, or -1 if zstd fails. */
static int frame_step(as_writer_t *w, ZSTD_outBuffer *out, ZSTD_EndDirective how)
{
    ZSTD_inBuffer none = {NULL, 0, 0};
    size_t r;
    do
        r = ZSTD_compressStream2(w->cctx, out, &none, how);
    while (r && !ZSTD_isError(r) && out->pos < out->size);
    return ZSTD_isError(r) || r != 0 ? -1 : 0;
}

/* The current segment (stream table and streams, FORMAT.md §4) into the
 * chunk's zstd frame, the frame ended (ZSTD_e_end) or flushed to whole
 * blocks (ZSTD_e_flush); the compressed bytes go to w->out + at. Returns
 * the segment's decoded size, or 0 on failure; *clen gets the bytes out. */
static size_t segment_compress(as_writer_t *w, size_t at, ZSTD_EndDirective how, size_t *clen)
{
    uint8_t table[4 * ASF_NSTREAMS];
    size_t raw = sizeof table;
    for (unsigned i = 0; i < ASF_NSTREAMS; i++) {
        uint32_t n = (uint32_t)(w->p[i] - w->s[i]);
        asf_put32(table + 4 * i, n);
        raw += n;
    }
    ZSTD_outBuffer out = {w->out + at, w->out_cap - at, 0};
    ZSTD_inBuffer in = {table, sizeof table, 0};
    size_t r = ZSTD_compressStream2(w->cctx, &out, &in, ZSTD_e_continue);
    for (unsigned i = 0; i < ASF_NSTREAMS && !ZSTD_isError(r); i++) {
        ZSTD_inBuffer si = {w->s[i], (size_t)(w->p[i] - w->s[i]), 0};
        r = ZSTD_compressStream2(w->cctx, &out, &si, ZSTD_e_continue);
        if (si.pos != si.size)
            r = (size_t)-1;
    }
    if (ZSTD_isError(r) || frame_step(w, &out, how))
        return 0;
    for (unsigned i = 0; i < ASF_NSTREAMS; i++)
        w->p[i] = w->s[i];
    *clen = out.pos;
    return raw;
}

/* A new zstd frame for the chunk, at the level asked for last. A frame of
 * unknown size (streamed) gets the level's window, but at most 2^22 bytes:
 * a chunk is smaller, and a reader decoding an open chunk as a stream
 * accepts no window above 2^23 (ASF_WINDOW_LOG_MAX; levels 20-22 ask for
 * up to 2^27). */
static void frame_start(as_writer_t *w, uint64_t pledged)
{
    ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
    if (w->level_next != w->level) {
        w->level = w->level_next;
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->level);
    }
    unsigned wlog = 0;             /* 0: the level's own */
    if (pledged == ZSTD_CONTENTSIZE_UNKNOWN &&
        ZSTD_getCParams(w->level, ZSTD_CONTENTSIZE_UNKNOWN, 0).windowLog > 22)
        wlog = 22;
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, (int)wlog);
    ZSTD_CCtx_setPledgedSrcSize(w->cctx, pledged);
}

/* Ends the open chunk. One that was never streamed is written whole, its
 * frame declaring its size; a streamed one gets its last segment, then its
 * header rewritten in place with the totals (FORMAT.md §3.1). */
static as_err_t chunk_write(as_writer_t *w)
{
    if (!w->open)
        return AS_OK;
    w->open = 0;
    size_t clen, raw;
    if (!w->streamed) {
        raw = 4 * ASF_NSTREAMS + segment_bytes(w);
        frame_start(w, raw);
        if (!segment_compress(w, ASF_CHUNK_HDR, ZSTD_e_end, &clen))
            return w->err = AS_ERR_NOMEM;
        chunk_header(w, w->out, (uint32_t)clen, (uint32_t)raw, w->nevents);
        as_err_t e = append(w, w->out, ASF_CHUNK_HDR + clen);
        if (e)
            return w->err = e;
        w->chunk++;
        return AS_OK;
    }
    /* the last segment, unless the last sync left nothing */
    if (!segment_bytes(w)) {
        ZSTD_outBuffer out = {w->out, w->out_cap, 0};
        if (frame_step(w, &out, ZSTD_e_end))
            return w->err = AS_ERR_NOMEM;
        clen = out.pos;
        raw = 0;
    } else if (!(raw = segment_compress(w, 0, ZSTD_e_end, &clen))) {
        return w->err = AS_ERR_NOMEM;
    }
    as_err_t e = append(w, w->out, clen);
    if (e)
        return w->err = e;
    w->frame_len += clen;
    w->seg_raw += raw;
    uint8_t h[ASF_CHUNK_HDR];
    chunk_header(w, h, (uint32_t)w->frame_len, (uint32_t)w->seg_raw, w->nevents);
    if (rewrite(w, h, sizeof h, w->chunk_off))
        return w->err = AS_ERR_IO;
    w->chunk++;
    return AS_OK;
}

/* Makes what the open chunk holds durable without ending it: the current
 * segment goes out as whole zstd blocks, after the chunk's open header if
 * this is its first (FORMAT.md §3.1). The encoder's state and zstd's window
 * go on, so a chunk flushed every 100 ms compresses as well as one written
 * whole, where ending it would start both afresh. */
static as_err_t chunk_flush(as_writer_t *w)
{
    if (!w->open || (w->streamed && !segment_bytes(w)))
        return AS_OK;
    size_t at = 0, clen, raw;
    if (!w->streamed) {
        frame_start(w, ZSTD_CONTENTSIZE_UNKNOWN);
        chunk_header(w, w->out, 0, 0, 0);   /* open: FORMAT.md §3.1 */
        at = ASF_CHUNK_HDR;
    }
    if (!(raw = segment_compress(w, at, ZSTD_e_flush, &clen)))
        return w->err = AS_ERR_NOMEM;
    uint64_t start = w->off;
    as_err_t e = append(w, w->out, at + clen);
    if (e)
        return w->err = e;
    if (!w->streamed) {
        w->streamed = 1;
        w->chunk_off = start;
    }
    w->frame_len += clen;
    w->seg_raw += raw;
    return AS_OK;
}

/* Every stream with at least STREAM_SLACK bytes free: a buffer that has
 * less is doubled (up to STREAM_CAP, which a chunk never outgrows). Streams
 * start small and grow to what the program's traffic asks of each: six
 * buffers of STREAM_CAP were 18 MiB of address space in every traced
 * process, which a program under RLIMIT_AS (ulimit -v, a batch system's
 * memory limit) lost to the tracer. */
static __attribute__((noinline)) as_err_t stream_grow(as_writer_t *w)
{
    for (unsigned i = 0; i < ASF_NSTREAMS; i++) {
        size_t used = (size_t)(w->p[i] - w->s[i]);
        if (w->cap[i] - used >= STREAM_SLACK || w->cap[i] >= STREAM_CAP)
            continue;
        size_t cap = w->cap[i] * 2 < STREAM_CAP ? w->cap[i] * 2 : STREAM_CAP;
        uint8_t *n = m_alloc(w, cap);
        if (!n)
            return w->err = AS_ERR_NOMEM;
        memcpy(n, w->s[i], used);
        m_free(w, w->s[i], w->cap[i]);
        w->s[i] = n;
        w->p[i] = n + used;
        w->cap[i] = cap;
    }
    return AS_OK;
}

static inline int stream_short(const as_writer_t *w)
{
    for (unsigned i = 0; i < ASF_NSTREAMS; i++)
        if (w->cap[i] - (size_t)(w->p[i] - w->s[i]) < STREAM_SLACK)
            return 1;
    return 0;
}

/* Makes room for one more item, opening a chunk (at seq) if none is open. */
static inline as_err_t room(as_writer_t *w, uint64_t seq)
{
    /* Summing six stream cursors on every record is wasted work: every
     * ROOM_EVERY items is enough, as STREAM_SLACK covers that many items
     * (a module definition, up to 4 KiB, forces a check). */
    if (w->open && (++w->room_tick >= ROOM_EVERY || w->room_now)) {
        w->room_tick = 0;
        w->room_now = 0;
        if (chunk_used(w) < w->chunk_target)
            return stream_short(w) ? stream_grow(w) : AS_OK;
        as_err_t e = chunk_write(w);
        if (e)
            return e;
    }
    if (!w->open)
        chunk_open(w, seq);
    return AS_OK;
}

/* ---- samples and time markers --------------------------------------------- */

static void emit_sample(as_writer_t *w, uint64_t seq, const as_sample_t *s)
{
    put_tok(w, ASF_K_SAMPLE, 0);
    put_v(w, ASF_S_MISC, asf_zz((int64_t)(seq - w->expect_seq)));
    put_v(w, ASF_S_MISC, s->rss);
    put_v(w, ASF_S_MISC, s->tracer_rss);
    put_v(w, ASF_S_MISC, s->arena);
    put_v(w, ASF_S_MISC, s->hblkhd);
    put_v(w, ASF_S_MISC, s->uordblks);
    put_v(w, ASF_S_MISC, s->fordblks);
    w->nevents++;
    w->events++;
}

/* The oldest queued time marker applies from now on; it goes into the
 * stream before the next sample or event (q_time_out), or at chunk_open. */
static void q_time(as_writer_t *w)
{
    w->cur_time = w->tq_ns[0];
    w->have_time = 1;
    w->time_dirty = 1;
    w->ntq--;
    memmove(w->tq_seq, w->tq_seq + 1, w->ntq * sizeof w->tq_seq[0]);
    memmove(w->tq_ns, w->tq_ns + 1, w->ntq * sizeof w->tq_ns[0]);
    memmove(w->tq_ord, w->tq_ord + 1, w->ntq * sizeof w->tq_ord[0]);
}

static void q_time_out(as_writer_t *w)
{
    if (w->time_dirty && w->open) {
        emit_time(w, w->cur_time);
        w->time_dirty = 0;
    }
}

/* The oldest queued sample into the stream (the chunk is open), after the
 * time markers given before it. */
static void q_sample(as_writer_t *w)
{
    while (w->ntq && w->tq_ord[0] < w->sq_ord[0])
        q_time(w);
    q_time_out(w);
    emit_sample(w, w->sq_seq[0], &w->sq[0]);
    w->nsq--;
    memmove(w->sq_seq, w->sq_seq + 1, w->nsq * sizeof w->sq_seq[0]);
    memmove(w->sq, w->sq + 1, w->nsq * sizeof w->sq[0]);
    memmove(w->sq_ord, w->sq_ord + 1, w->nsq * sizeof w->sq_ord[0]);
}

/* Emits the queued markers and samples that apply at or before seq, in the
 * order they were given: a sample keeps the time current when it was taken
 * (consecutive markers with no sample between come out as the last one). */
static void emit_due(as_writer_t *w, uint64_t seq)
{
    while (w->nsq && w->sq_seq[0] <= seq)
        q_sample(w);
    while (w->ntq && w->tq_seq[0] <= seq)
        q_time(w);
    q_time_out(w);
}

/* ---- callsites ---------------------------------------------------------------- */

static as_err_t cs_grow(as_writer_t *w)
{
    size_t old = w->cs_cap, cap = old ? old * 2 : 1024;
    wcs_t *o = w->cs, *n = m_alloc(w, cap * sizeof *n);
    if (!n)
        return AS_ERR_NOMEM;
    for (size_t i = 0; i < old; i++) {
        if (o[i].ret) {
            size_t j = (size_t)((o[i].ret * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
            while (n[j].ret)
                j = (j + 1) & (cap - 1);
            n[j] = o[i];
        }
    }
    m_free(w, o, old * sizeof *o);
    w->cs = n;
    w->cs_cap = cap;
    return AS_OK;
}

/* Interns a return address; 0 on failure, else index + 1. */
static uint32_t cs_intern(as_writer_t *w, uint64_t ret)
{
    if (!ret)
        return 0;
    if ((w->cs_n + 1) * 2 > w->cs_cap && cs_grow(w))
        return 0;
    size_t j = (size_t)((ret * 0x9E3779B97F4A7C15ull) >> 20) & (w->cs_cap - 1);
    while (w->cs[j].ret && w->cs[j].ret != ret)
        j = (j + 1) & (w->cs_cap - 1);
    wcs_t *c = &w->cs[j];
    if (!c->ret) {
        c->ret = ret;
        c->index = (uint32_t)++w->cs_n;    /* callsite 0 means none */
        c->offset = ret;
        for (size_t m = 0; m < w->nmods; m++) {
            if (ret >= w->mods[m].base && ret - w->mods[m].base < w->mods[m].size) {
                c->module = (uint32_t)m + 1;
                c->offset = ret - w->mods[m].base;
                break;
            }
        }
    }
    return (uint32_t)j + 1;
}

static void emit_callsite(as_writer_t *w, uint32_t slot_plus1)
{
    wcs_t *c = &w->cs[slot_plus1 - 1];
    if (c->chunk_plus1 != w->chunk + 1) {
        if (c->module) {
            wmod_t *m = &w->mods[c->module - 1];
            if (m->chunk_plus1 != w->chunk + 1) {
                put_tok(w, ASF_K_MODULE, 0);
                put_v(w, ASF_S_MISC, c->module);
                put_v(w, ASF_S_MISC, m->base);
                put_v(w, ASF_S_MISC, m->size);
                put_v(w, ASF_S_MISC, m->path_len);
                memcpy(w->p[ASF_S_MISC], m->path, m->path_len);
                w->p[ASF_S_MISC] += m->path_len;
                put_v(w, ASF_S_MISC, m->bid_len);
                memcpy(w->p[ASF_S_MISC], m->bid, m->bid_len);
                w->p[ASF_S_MISC] += m->bid_len;
                m->chunk_plus1 = w->chunk + 1;
                w->room_now = 1;
            }
        }
        put_tok(w, ASF_K_CSDEF, 0);
        put_v(w, ASF_S_MISC, c->index);
        put_v(w, ASF_S_MISC, c->module);
        put_v(w, ASF_S_MISC, c->offset);
        c->chunk_plus1 = w->chunk + 1;
    }
    put_tok(w, ASF_K_CSUSE, 0);
    put_v(w, ASF_S_MISC, c->index);
}

/* ---- events ------------------------------------------------------------------- */

/* Address code of a new block at addr of n bytes (FORMAT.md §4.2). */
static inline __attribute__((always_inline)) unsigned addr_code(as_writer_t *w, uint64_t addr, uint64_t n)
{
    unsigned c = asf_class(n), g = asf_cat(n);
    asf_lifo_t *l = &w->lifo;
    /* the common case: among the newest few of its class */
    unsigned lim = l->n[c] < ASF_ADDR_LIFO ? l->n[c] : ASF_ADDR_LIFO;
    for (unsigned k = 0; k < lim; k++) {
        if (asf_lifo_get(l, c, k) == addr) {
            asf_lifo_take(l, c, k);
            return k;          /* reused blocks do not move the bump/delta base */
        }
    }
    if (w->last_csize[g] && addr == w->last_addr[g] + w->last_csize[g]) {
        w->last_addr[g] = addr;
        w->last_csize[g] = asf_csize(n);
        return ASF_ADDR_BUMP;
    }
    /* Every LIFO entry was released in this chunk, so unless the release
     * ring knows addr the deeper LIFO cannot hold it: scan it only then. */
    uint32_t fs = w->ftab[ftab_slot(addr)], d = w->fserial - fs;
    if (fs < w->fserial && d <= ASF_FRING && w->fring[fs & (ASF_FRING - 1)] == addr) {
        for (unsigned k = lim; k < l->n[c]; k++) {
            if (asf_lifo_get(l, c, k) == addr) {
                asf_lifo_take(l, c, k);
                put_v(w, ASF_S_ADDR, (uint64_t)k << 2 | 2);
                return ASF_ADDR_DELTA;
            }
        }
        put_v(w, ASF_S_ADDR, (uint64_t)(d - 1) << 2 | 3);
    } else {
        int64_t dd = (int64_t)(addr - w->last_addr[g]);
        put_v(w, ASF_S_ADDR, (dd & 15) ? asf_zz(dd) << 2 | 1 : asf_zz(dd >> 4) << 2);
    }
    w->last_addr[g] = addr;
    w->last_csize[g] = asf_csize(n);
    return ASF_ADDR_DELTA;
}

/* Released ids: low 16 bits fixed-width in ID, the rest as a varint in IDHI. */
static void put_rid(as_writer_t *w, uint32_t id)
{
    uint8_t *p = w->p[ASF_S_ID];
    p[0] = (uint8_t)id;
    p[1] = (uint8_t)(id >> 8);
    w->p[ASF_S_ID] = p + 2;
    put_v(w, ASF_S_IDHI, id >> 16);
}

/* Gives the block at addr a fresh id (stack rule, FORMAT.md §4.1) and puts
 * it in the empty map slot `hole` found by map_probe after map_room. */
static inline void new_block(as_writer_t *w, went_t *hole, uint64_t addr, uint64_t n)
{
    went_t e = {addr, 0, (uint16_t)w->chunk, (uint16_t)asf_class(n)};
    if (w->local_depth) {
        e.id = w->freeids[--w->nfree];
        w->local_depth--;
    } else {
        e.id = w->nfree ? w->freeids[--w->nfree] : w->next_id++;
        put_v(w, ASF_S_MISC, asf_zz((int64_t)e.id - (w->last_xid + 1)));
        w->last_xid = e.id;
    }
    w->cring[w->cserial++ & (ASF_CRING - 1)] = e.id;
    *hole = e;
    w->map_n++;
}

/* new_block for any address: returns AS_EVF_REPAIRED if addr was still live
 * (the realloc race), else 0. */
static unsigned create_block(as_writer_t *w, uint64_t addr, uint64_t n, as_err_t *err)
{
    unsigned flags = 0;
    went_t *old = map_find(w, addr);
    if (old) {
        /* The realloc that released addr on another thread is logged later:
         * keep the old block as an orphan for that realloc to consume. */
        if (w->norph == NORPHAN) {
            memmove(w->orph, w->orph + 1, (NORPHAN - 1) * sizeof w->orph[0]);
            w->norph--;
        }
        w->orph[w->norph++] = *old;
        map_del(w, old);
        flags = AS_EVF_REPAIRED;
        w->repairs++;
    }
    *err = map_room(w);
    if (!*err)
        new_block(w, map_probe(w, addr), addr, n);
    return flags;
}

/* How many creations ago (1..ASF_CRING) the live block `id` was created in
 * this chunk, or 0. Any slot holding id will do: an id is reused only after
 * its release, so every slot that holds it names the same live block's id.
 * A mask over all slots rather than an early exit: compiled to a few vector
 * instructions, and no branch on which slot matched. */
static inline unsigned recent_distance(const as_writer_t *w, uint32_t id)
{
    unsigned m = 0;
    for (unsigned i = 0; i < ASF_CRING; i++)
        m |= (unsigned)(w->cring[i] == id) << i;
    if (!m)
        return 0;
    return ((w->cserial - 1 - (unsigned)__builtin_ctz(m)) & (ASF_CRING - 1)) + 1;
}

/* Releases a block: id pushed on both stacks, its address offered to the
 * address predictor if the reader can know it (allocated in this chunk). */
static inline __attribute__((always_inline)) as_err_t release_block(as_writer_t *w, const went_t *e)
{
    as_err_t err = free_push(w, e->id);
    w->local_depth++;
    if (in_chunk(w, e)) {
        asf_lifo_push(&w->lifo, e->cls, e->ptr);
        w->fring[w->fserial & (ASF_FRING - 1)] = e->ptr;
        w->ftab[ftab_slot(e->ptr)] = w->fserial++;
    }
    return err;
}

static inline __attribute__((always_inline)) as_err_t encode(as_writer_t *w, uint32_t thread, const as_rec_t *r,
                       const uint64_t *args, unsigned nargs)
{
    uint64_t seq = as_rec_seq(r);
    unsigned op = as_rec_op(r), rf = as_rec_flags(r);
    as_err_t err = room(w, seq);
    if (err)
        return err;
    if (w->ntq | w->nsq)
        emit_due(w, seq);
    if (thread != w->cur_thread) {
        put_tok(w, ASF_K_THREAD, 0);
        put_v(w, ASF_S_MISC, thread);
        w->cur_thread = thread;
    }
    if (seq != w->expect_seq) {
        put_tok(w, ASF_K_SEQ, 0);
        put_v(w, ASF_S_MISC, asf_zz((int64_t)(seq - w->expect_seq)));
    }
    if (w->pend_cs) {
        emit_callsite(w, w->pend_cs);
        w->pend_cs = 0;
    }
    w->expect_seq = seq + 1;
    w->nevents++;
    w->events++;

    /* hot paths: successful malloc/calloc, free */
    if ((op == AS_OP_MALLOC || op == AS_OP_CALLOC) && r->a && !rf) {
        err = map_room(w);
        if (err)
            return err;
        went_t *hole = map_probe(w, r->a);
        if (!hole->ptr) {                /* else: the realloc race, below */
            unsigned code = addr_code(w, r->a, r->size);
            put_tok(w, op == AS_OP_MALLOC ? ASF_K_MALLOC : ASF_K_CALLOC, code);
            put_v(w, ASF_S_SIZE, r->size);
            if (op == AS_OP_CALLOC)
                put_v(w, ASF_S_MISC, r->b);
            new_block(w, hole, r->a, r->size);
            return AS_OK;
        }
    }
    if (op == AS_OP_FREE && !rf) {
        if (!r->b) {
            put_tok(w, ASF_K_FREE, ASF_FREE_NULL);
            return AS_OK;
        }
        went_t *e = map_find(w, r->b);
        if (!e) {
            put_tok(w, ASF_K_FREE, ASF_FREE_UNKNOWN);
            put_v(w, ASF_S_ADDR, r->b);
            w->unknown++;
            return AS_OK;
        }
        unsigned d = recent_distance(w, e->id);
        if (d) {
            *w->p[ASF_S_TOK]++ = asf_recent_tok(d - 1);
        } else {
            put_tok(w, ASF_K_FREE, ASF_FREE_KNOWN);
            put_rid(w, e->id);
        }
        went_t v = *e;
        map_del(w, e);
        return release_block(w, &v);
    }

    /* everything else: the general event (FORMAT.md §4.3) */
    int allocates = as_op_allocates(op);
    unsigned evf = 0, gm = 0, code = 0;
    uint64_t a = r->a, b = r->b;
    if (rf & AS_RECF_FAILED)
        evf |= AS_EVF_FAILED;
    if (rf & AS_RECF_FREED)
        evf |= AS_EVF_FREED;
    if (allocates && !a && !(evf & AS_EVF_FREED))
        evf |= AS_EVF_FAILED;
    int creates = allocates && a && !(evf & AS_EVF_FAILED);
    int releases = 0;
    switch (op) {
    case AS_OP_FREE: case AS_OP_FREE_SIZED: case AS_OP_FREE_ALIGNED_SIZED:
        releases = b != 0;
        break;
    case AS_OP_REALLOC: case AS_OP_REALLOCARRAY:
        releases = b != 0 && !(evf & AS_EVF_FAILED);
        break;
    default:
        break;
    }
    went_t rel = {0};
    int have_rel = 0;
    if (releases) {
        if (op == AS_OP_REALLOC || op == AS_OP_REALLOCARRAY) {
            for (unsigned i = w->norph; i-- > 0;) {
                if (w->orph[i].ptr == b) {
                    rel = w->orph[i];
                    memmove(w->orph + i, w->orph + i + 1, (w->norph - 1 - i) * sizeof rel);
                    w->norph--;
                    have_rel = 1;
                    break;
                }
            }
        }
        if (!have_rel) {
            went_t *e = map_find(w, b);
            if (e) {
                rel = *e;
                map_del(w, e);
                have_rel = 1;
            }
        }
        if (!have_rel) {
            evf |= AS_EVF_UNKNOWN;
            w->unknown++;
        }
    }
    if (creates)
        gm |= ASF_G_CREATE;
    if (have_rel)
        gm |= ASF_G_RELEASE;
    if (a && !creates)
        gm |= ASF_G_A;
    if (b && !have_rel)
        gm |= ASF_G_B;
    if (r->size)
        gm |= ASF_G_SIZE;
    gm |= nargs << ASF_G_NARGS_SHIFT;
    int inplace = creates && have_rel && a == b && in_chunk(w, &rel);
    if (inplace)
        gm |= 0x80u;
    else if (creates)
        code = addr_code(w, a, r->size);
    else
        code = 0;
    if (inplace) {
        w->last_addr[asf_cat(r->size)] = a;
        w->last_csize[asf_cat(r->size)] = asf_csize(r->size);
    }
    if (creates && map_find(w, a))
        evf |= AS_EVF_REPAIRED;          /* create_block repairs it below */
    put_tok(w, ASF_K_EVENT, code);
    uint8_t *m = w->p[ASF_S_MISC];
    *m++ = (uint8_t)op;
    *m++ = (uint8_t)evf;
    *m++ = (uint8_t)gm;
    w->p[ASF_S_MISC] = m;
    if (creates)                         /* its explicit id, if any, in MISC */
        create_block(w, a, r->size, &err);
    if (have_rel)
        put_rid(w, rel.id);
    if (gm & ASF_G_A)
        put_v(w, ASF_S_MISC, a);
    if (gm & ASF_G_B)
        put_v(w, ASF_S_MISC, b);
    if (gm & ASF_G_SIZE)
        put_v(w, ASF_S_SIZE, r->size);
    for (unsigned i = 0; i < nargs; i++)
        put_v(w, ASF_S_MISC, args[i]);
    if (have_rel) {
        as_err_t e2 = release_block(w, &rel);
        if (!err)
            err = e2;
    }
    return err;
}

static as_err_t emit_pending(as_writer_t *w)
{
    if (!w->have_pend)
        return AS_OK;
    w->have_pend = 0;
    return encode(w, w->pend_thread, &w->pend, w->pend_args, w->pend_nargs);
}

/* ---- public API ------------------------------------------------------------------ */

as_writer_t *as_writer_create(int fd, const as_header_t *hdr, const as_mem_t *mem,
                              int zstd_level, as_err_t *err)
{
    as_err_t dummy;
    if (!err)
        err = &dummy;
    if (fd < 0 || !hdr) {
        *err = AS_ERR_ARG;
        return NULL;
    }
    as_mem_t m = mem ? *mem : (as_mem_t){dflt_alloc, dflt_free, NULL};
    as_writer_t *w = m.alloc(m.ctx, sizeof *w);
    if (!w) {
        *err = AS_ERR_NOMEM;
        return NULL;
    }
    w->mem = m;
    w->fd = fd;
    struct stat st;
    w->have_id = fstat(fd, &st) == 0;
    w->dev = w->have_id ? (uint64_t)st.st_dev : 0;
    w->ino = w->have_id ? (uint64_t)st.st_ino : 0;
    w->chunk_target = ASF_CHUNK_TARGET;
    for (unsigned i = 0; i < ASF_NSTREAMS; i++) {
        w->s[i] = w->p[i] = m_alloc(w, STREAM_INIT);
        w->cap[i] = STREAM_INIT;
        if (!w->s[i])
            goto nomem;
    }
    w->out_cap = OUT_CAP;
    w->out = m_alloc(w, w->out_cap);
    ZSTD_customMem zm = {z_alloc, z_free, &w->mem};
    w->cctx = ZSTD_createCCtx_advanced(zm);
    w->fring = m_alloc(w, ASF_FRING * sizeof *w->fring);
    w->ftab = m_alloc(w, FTAB * sizeof *w->ftab);
    if (!w->out || !w->cctx || !w->fring || !w->ftab || map_grow(w))
        goto nomem;
    w->level = w->level_next = zstd_level ? zstd_level : 3;
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);

    /* header: FORMAT.md §2 */
    const char *str[4] = {hdr->exe, hdr->argv, hdr->libc_version, hdr->python_version};
    uint32_t slen[4];
    size_t total = ASF_HDR_FIXED;
    for (int i = 0; i < 4; i++) {
        size_t n = !str[i] ? 0 : i == 1 ? hdr->argv_len : strlen(str[i]);
        if (n > ASF_HDR_MAX / 8)
            n = ASF_HDR_MAX / 8;
        slen[i] = !str[i] && i == 3 ? ASF_NO_STRING : (uint32_t)n;
        total += n;
    }
    /* the malloc environment extension: u32 length + entries (FORMAT.md §2) */
    size_t envlen = hdr->malloc_env ? hdr->malloc_env_len : 0;
    if (envlen > ASF_HDR_MAX / 8)
        envlen = 0;    /* cut entries would be wrong: better none */
    if (envlen)
        total += 4 + envlen;
    total = (total + 7) & ~(size_t)7;
    uint8_t *h = m_alloc(w, total);
    if (!h)
        goto nomem;
    memcpy(h, AS_TRACE_MAGIC, 8);
    asf_put32(h + ASF_OFF_VERSION, AS_TRACE_VERSION);
    asf_put32(h + ASF_OFF_HDRLEN, (uint32_t)total);
    asf_put32(h + ASF_OFF_FLAGS, 0);
    asf_put32(h + ASF_OFF_STOP, 0);
    asf_put32(h + 24, hdr->page_size);
    asf_put32(h + 28, hdr->ncpus);
    asf_put32(h + 32, hdr->tracer_options);
    asf_put64(h + 40, (uint64_t)hdr->pid);
    asf_put64(h + 48, (uint64_t)hdr->ppid);
    asf_put64(h + 56, hdr->start_time_ns);
    size_t o = ASF_HDR_FIXED;
    for (int i = 0; i < 4; i++) {
        asf_put32(h + 64 + 4 * i, slen[i]);
        if (slen[i] != ASF_NO_STRING && slen[i]) {
            memcpy(h + o, str[i], slen[i]);
            o += slen[i];
        }
    }
    if (envlen) {
        asf_put32(h + o, (uint32_t)envlen);
        memcpy(h + o + 4, hdr->malloc_env, envlen);
    }
    asf_put32(h + ASF_OFF_CRC, asf_header_crc(h, (uint32_t)total));
    as_err_t e = write_all(w, h, total);
    m_free(w, h, total);
    if (e) {
        *err = e;
        as_writer_close(w, e);   /* frees; the header write failed anyway */
        return NULL;
    }
    *err = AS_OK;
    return w;
nomem:
    *err = AS_ERR_NOMEM;
    w->err = AS_ERR_NOMEM;
    for (unsigned i = 0; i < ASF_NSTREAMS; i++)
        m_free(w, w->s[i], w->cap[i]);
    m_free(w, w->out, w->out_cap);
    ZSTD_freeCCtx(w->cctx);
    m_free(w, w->map, w->map_cap * sizeof *w->map);
    m_free(w, w->fring, ASF_FRING * sizeof *w->fring);
    m_free(w, w->ftab, FTAB * sizeof *w->ftab);
    m_free(w, w, sizeof *w);
    return NULL;
}

static inline __attribute__((always_inline)) as_err_t add_one(as_writer_t *w, uint32_t thread,
                                                                const as_rec_t *rec)
{
    unsigned op = as_rec_op(rec);
    if (op == AS_REC_ARG) {
        if (w->have_pend && !w->pend_nargs) {
            w->pend_args[0] = rec->a;
            w->pend_args[1] = rec->b;
            w->pend_args[2] = rec->size;
            w->pend_nargs = !rec->size ? (!rec->b ? 1 : 2) : 3;
        }
        return AS_OK;
    }
    as_err_t e = emit_pending(w);
    if (e)
        return w->err ? w->err : e;
    if (op == AS_REC_CALLSITE) {
        w->pend_cs = cs_intern(w, rec->a);
        return AS_OK;
    }
    if (op == 0 || op >= AS_OP_LIMIT)
        return AS_ERR_ARG;
    if (op == AS_OP_MREMAP) {  /* its old length follows in an AS_REC_ARG */
        w->have_pend = 1;
        w->pend_thread = thread;
        w->pend = *rec;
        w->pend_nargs = 0;
        return AS_OK;
    }
    e = encode(w, thread, rec, NULL, 0);
    return w->err ? w->err : e;
}

as_err_t as_writer_add(as_writer_t *w, uint32_t thread, const as_rec_t *rec)
{
    if (!w || !rec)
        return AS_ERR_ARG;
    if (w->err)
        return w->err;
    return add_one(w, thread, rec);
}

/* The pointer map and the release table are far larger than the caches and
 * are probed at random addresses: one miss per record is most of the
 * encoder's time. A batch knows its records ahead, so the lines the record
 * PREFETCH_AHEAD places later will probe are requested now and have arrived
 * by the time it is encoded. */
#define PREFETCH_AHEAD 12u

/* GCC 12 -O2 dropped __builtin_prefetch from these loops (seen in the
 * disassembly: no prefetch instruction was left), so the hint is asm. */
static inline void prefetch(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("prefetcht0 %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p);
#endif
}

/* A malloc probes the map and the release table at its new address (b is
 * 0: map[0] is a hot line), a free probes the map at the freed one (a is 0)
 * and stores into the release table there. No branch on the op: it is a
 * coin toss on churn. */
static inline void prefetch_rec(const as_writer_t *w, const as_rec_t *r)
{
    prefetch(&w->map[map_slot(w, r->a)]);
    prefetch(&w->map[map_slot(w, r->b)]);
    prefetch(&w->ftab[ftab_slot(r->a | r->b)]);
}

as_err_t as_writer_add_batch(as_writer_t *w, uint32_t thread, const as_rec_t *recs, size_t n)
{
    if (!w || (!recs && n))
        return AS_ERR_ARG;
    if (w->err)
        return w->err;
    for (size_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
        prefetch_rec(w, &recs[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            prefetch_rec(w, &recs[i + PREFETCH_AHEAD]);
        as_err_t e = add_one(w, thread, &recs[i]);
        if (e)
            return e;
    }
    return AS_OK;
}

as_err_t as_writer_time(as_writer_t *w, uint64_t seq, uint64_t t_ns)
{
    if (!w)
        return AS_ERR_ARG;
    if (w->err)
        return w->err;
    if (w->ntq == NPEND_TIME) {   /* the oldest applies now: harmlessly early */
        if (w->nsq && w->sq_ord[0] < w->tq_ord[0]) {   /* samples given before it first */
            as_err_t e = emit_pending(w);
            if (!e)
                e = room(w, w->sq_seq[0]);
            if (e)
                return e;
            while (w->nsq && w->sq_ord[0] < w->tq_ord[0])
                q_sample(w);
        }
        q_time(w);
        q_time_out(w);
    }
    w->tq_seq[w->ntq] = seq;
    w->tq_ord[w->ntq] = w->qord++;
    w->tq_ns[w->ntq++] = t_ns;
    return AS_OK;
}

as_err_t as_writer_sample(as_writer_t *w, uint64_t seq, const as_sample_t *s)
{
    if (!w || !s)
        return AS_ERR_ARG;
    if (w->err)
        return w->err;
    if (w->nsq == NPEND_SAMPLE) {
        as_err_t e = emit_pending(w);
        if (!e)
            e = room(w, w->sq_seq[0]);
        if (e)
            return e;
        q_sample(w);
    }
    w->sq_seq[w->nsq] = seq;
    w->sq_ord[w->nsq] = w->qord++;
    w->sq[w->nsq++] = *s;
    return AS_OK;
}

as_err_t as_writer_module(as_writer_t *w, const char *path, uint64_t base,
                          uint64_t size, const uint8_t *build_id, size_t build_id_len)
{
    if (!w || !path)
        return AS_ERR_ARG;
    if (w->nmods == w->mods_cap) {
        wmod_t *a = grow(w, w->mods, &w->mods_cap, w->nmods, sizeof *a, 64);
        if (!a)
            return AS_ERR_NOMEM;
        w->mods = a;
    }
    wmod_t *m = &w->mods[w->nmods];
    size_t pl = strlen(path);
    if (pl > MODULE_PATH_MAX)
        pl = MODULE_PATH_MAX;
    if (build_id_len > BUILD_ID_MAX || !build_id)
        build_id_len = build_id ? BUILD_ID_MAX : 0;
    memset(m, 0, sizeof *m);
    m->path = m_alloc(w, pl + 1);
    m->bid = m_alloc(w, build_id_len + 1);
    if (!m->path || !m->bid) {
        m_free(w, m->path, pl + 1);
        m_free(w, m->bid, build_id_len + 1);
        return AS_ERR_NOMEM;
    }
    memcpy(m->path, path, pl);
    if (build_id_len)
        memcpy(m->bid, build_id, build_id_len);
    m->path_len = (uint32_t)pl;
    m->bid_len = (uint32_t)build_id_len;
    m->base = base;
    m->size = size;
    w->nmods++;
    return AS_OK;
}

/* as_writer_flush (end the chunk) and as_writer_sync (a segment of it). */
static as_err_t write_out(as_writer_t *w, as_err_t (*how)(as_writer_t *))
{
    if (!w)
        return AS_ERR_ARG;
    if (w->err)
        return w->err;
    as_err_t e = emit_pending(w);
    if (!e)
        e = how(w);
    return w->err ? w->err : e;
}

as_err_t as_writer_flush(as_writer_t *w) { return write_out(w, chunk_write); }
as_err_t as_writer_sync(as_writer_t *w) { return write_out(w, chunk_flush); }

as_err_t as_writer_close(as_writer_t *w, as_err_t stop)
{
    if (!w)
        return AS_ERR_ARG;
    as_err_t e = w->err;
    if (!e)
        e = emit_pending(w);
    if (!e && w->nsq) {          /* samples taken after the last event */
        e = room(w, w->sq_seq[0]);
        while (!e && w->nsq) {
            q_sample(w);
            e = chunk_used(w) >= w->chunk_target ? chunk_write(w) : AS_OK;
            if (!e && !w->open && w->nsq)
                chunk_open(w, w->sq_seq[0]);
        }
        w->nsq = 0;
    }
    if (!e)
        e = chunk_write(w);
    if (!e) {
        uint8_t end[ASF_END_LEN];
        asf_put32(end, ASF_END_MAGIC);
        asf_put32(end + 4, w->chunk);
        asf_put64(end + 8, w->events);
        asf_put64(end + 16, w->repairs);
        asf_put32(end + 24, w->unknown > UINT32_MAX ? UINT32_MAX : (uint32_t)w->unknown);
        asf_put32(end + 28, asf_hash(ASF_HASH_INIT, end, 28));
        e = write_all(w, end, sizeof end);
    }
    if (e && !stop)
        stop = e;
    /* in place, so it works on a full disk too */
    uint8_t fl[8];
    asf_put32(fl, stop ? AS_HDRF_INCOMPLETE : AS_HDRF_COMPLETE);
    asf_put32(fl + 4, (uint32_t)stop);
    as_err_t pe = rewrite(w, fl, sizeof fl, ASF_OFF_FLAGS);
    for (unsigned i = 0; i < ASF_NSTREAMS; i++)
        m_free(w, w->s[i], w->cap[i]);
    m_free(w, w->out, w->out_cap);
    ZSTD_freeCCtx(w->cctx);
    m_free(w, w->map, w->map_cap * sizeof *w->map);
    m_free(w, w->freeids, w->free_cap * sizeof *w->freeids);
    m_free(w, w->fring, ASF_FRING * sizeof *w->fring);
    m_free(w, w->ftab, FTAB * sizeof *w->ftab);
    for (size_t i = 0; i < w->nmods; i++) {
        m_free(w, w->mods[i].path, w->mods[i].path_len + 1);
        m_free(w, w->mods[i].bid, w->mods[i].bid_len + 1);
    }
    m_free(w, w->mods, w->mods_cap * sizeof *w->mods);
    m_free(w, w->cs, w->cs_cap * sizeof *w->cs);
    as_mem_t m = w->mem;
    m.free(m.ctx, w, sizeof *w);
    return e ? e : pe;
}

void asf_writer_chunk_target(as_writer_t *w, size_t bytes)
{
    if (w)
        w->chunk_target = bytes && bytes < ASF_CHUNK_TARGET ? bytes : ASF_CHUNK_TARGET;
}

void asf_writer_unchecked(as_writer_t *w)
{
    if (w)
        w->have_id = 0;
}

as_err_t as_writer_set_fd(as_writer_t *w, int fd)
{
    if (!w || fd < 0)
        return AS_ERR_ARG;
    int old = w->fd;
    w->fd = fd;
    if (fd_check(w)) {
        w->fd = old;
        return AS_ERR_FDLOST;
    }
    return AS_OK;
}

void as_writer_level(as_writer_t *w, int zstd_level)
{
    if (w)
        w->level_next = zstd_level ? zstd_level : 3;
}

void as_writer_totals(const as_writer_t *w, uint64_t *bytes, uint64_t *events)
{
    if (bytes)
        *bytes = w ? w->bytes : 0;
    if (events)
        *events = w ? w->events : 0;
}
