/*
 * replay/trace_read.c — the streaming trace reader.
 *
 * Format: doc/FORMAT.md, versions 1 to 3. Reads chunk by chunk (one zstd frame each)
 * and decodes events lazily from the six streams of each of the chunk's
 * segments (one per chunk before version 3), so memory is one
 * chunk plus a per-id table (bounded by the peak live block count), never the
 * trace length. Damage is contained: a chunk whose header checksum, zstd frame
 * or encoding is bad is skipped and counted, and the reader resynchronises on
 * the next valid chunk header; a torn tail is reported as truncation. All
 * lengths and varints are bounded, so no input can make it read out of bounds
 * (fuzzed: tests/fuzz/fuzz_reader.c).
 *
 * AS_READ_NO_ADDR (replay: its models never look at trace addresses) keeps
 * none of the address predictors, no per-id table and never reads the ADDR
 * stream, so it cannot check address codes: the same events come out of
 * every chunk the full reader accepts (trace.h). The `lean` argument of the
 * hot-path helpers is a constant where they are inlined, giving each mode
 * its own copy of the hot path.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "replay/trace_internal.h"
#include "replay/zmem.h"

/* Largest block id accepted (a per-id table entry is 16 bytes). The fuzz build
 * lowers it so a crafted chunk cannot ask for gigabytes. */
#ifndef AS_READER_ID_LIMIT
#define AS_READER_ID_LIMIT (1u << 28)
#endif
/* Callsite indexes accepted: below this (a table entry is 16 bytes, 256 MiB
 * at most). The fuzz build lowers it too: a crafted definition of index 2^24
 * - 1 in each of its two readers held ~1 GiB and ran libFuzzer out of memory. */
#ifndef AS_READER_CALLSITE_LIMIT
#define AS_READER_CALLSITE_LIMIT (1u << 24)
#endif
#define MODULE_LIMIT   (1u << 16)
#define PREFETCH_IDS   16     /* releases ahead whose id entry is prefetched */
/* The creation ring holds twice the distances a FREE_RECENT can name, so the
 * slot the next creation takes is never one a valid token reads: plain_run
 * stores every item's would-be id there without a select. */
#define CRING_SLOTS    (2 * ASF_CRING)

typedef struct rid {          /* what the reader knows of a block id: 16 bytes,
                                 so the table of a 50k-block heap fits L2 */
    uint64_t addr;
    uint32_t cls;             /* size class of its requested size (asf_class),
                                 kept so a release need not recompute it */
    uint32_t epoch;           /* chunk epoch that created it, 0 = never */
} rid_t;

typedef struct rmod {
    char *path;
    char bid[2 * 64 + 1];
    uint64_t base, size;
} rmod_t;

typedef struct rcs {          /* 16 bytes */
    uint32_t module;          /* module index + 1, 0 = none */
    uint32_t defined;
    uint64_t offset;
} rcs_t;

typedef struct cursor {
    const uint8_t *p, *e;
} cursor_t;

struct as_reader {
    int fd;
    uint64_t size, off;       /* file size, next chunk offset */
    as_header_t hdr;
    char *strings;
    size_t strings_len;
    ZSTD_DCtx *dctx;
    uint8_t *cbuf, *raw;
    size_t cbuf_cap, raw_cap;

    int end_seen, finished;
    uint32_t next_index;      /* chunk index expected next */
    uint64_t chunk_off;       /* offset of the current chunk */
    uint32_t chunk_index;

    /* current chunk */
    cursor_t s[ASF_NSTREAMS];
    const uint8_t *seg_p, *seg_e;  /* its segments after the current one */
    int open_chunk;           /* it was never closed (FORMAT.md §3.1) */
    uint32_t epoch, valid_epoch;
    uint64_t expect_seq, time_ns, last_time;
    uint32_t thread, cs_next;
    int64_t last_xid;
    uint64_t last_addr[ASF_NCAT], last_csize[ASF_NCAT];
    asf_lifo_t lifo;
    uint32_t fserial;
    uint64_t *fring;
    uint32_t cring[CRING_SLOTS]; /* ids of the newest creations (FREE_RECENT) */
    uint32_t cserial;          /* creations in this chunk */
    uint32_t cring_lim;        /* ASF_CRING; 0 in version 1, which has no FREE_RECENT */
    /* plain_lean: whether this chunk's runs decode FREE_RECENT inline */
    int recent_heavy;
    uint64_t recent_breaks;    /* runs a FREE_RECENT ended in this chunk */
    uint64_t chunk_events;     /* st.events when the chunk was loaded */
    uint32_t *local;
    size_t nlocal, local_cap;

    rid_t *ids;
    uint64_t ids_cap;             /* zero pages grown with mremap (replay/zmem.h) */
    rmod_t *mods;
    size_t mods_cap;
    rcs_t *cs;
    size_t cs_cap;

    char name[25];
    as_sample_t sample;
    as_read_stats_t st;
    int lean;                 /* AS_READ_NO_ADDR: no address reconstruction */
    /* how predictable plain items' malloc-or-free choice is (see plain_sample) */
    uint32_t pcalls, pseen, pmiss;
    uint8_t phist, ptab[256];
    int pforce;               /* asf_reader_force_plain */
    int pending;              /* a fatal error met by as_reader_next_batch after
                                 it had filled events: returned by the next call */
    as_err_t problem;
    char detail[160];
};

/* ---- helpers --------------------------------------------------------------- */

static void set_problem(as_reader_t *r, as_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void set_problem(as_reader_t *r, as_err_t e, const char *fmt, ...)
{
    if (r->problem)
        return;
    r->problem = e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

__attribute__((noinline, cold)) static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    memset((char *)q + *cap * elem, 0, (n - *cap) * elem);
    *p = q;
    *cap = n;
    return 0;
}

/* The id table: a crafted id near the limit costs the pages written, not a
 * memset of the whole table (replay/zmem.h). */
__attribute__((noinline, cold)) static int grow_ids(as_reader_t *r, uint64_t id)
{
    void *p = r->ids;
    if (as_zgrow(&p, &r->ids_cap, id, sizeof(rid_t), 64))
        return -1;
    r->ids = p;
    return 0;
}

/* Bounded LEB128: returns 0 on success. */
static inline int rv(cursor_t *c, uint64_t *v)
{
    const uint8_t *p = c->p;
    if (c->e - p >= 2) {
        /* one or two bytes (sizes up to 16383, most ids, deltas) without a
         * branch on which: the length is data, so a branch would mispredict */
        unsigned b0 = p[0], b1 = p[1], more = b0 >> 7;
        if (!(more & (b1 >> 7))) {
            *v = (uint64_t)(b0 & 0x7f) | (uint64_t)(b1 * more) << 7;
            c->p = p + 1 + more;
            return 0;
        }
        if (c->e - p >= 10) {  /* longer (address deltas): no end checks */
            uint64_t x = 0;
            for (unsigned sh = 0; sh < 63; sh += 7) {
                uint8_t b = *p++;
                x |= (uint64_t)(b & 0x7f) << sh;
                if (b < 0x80) {
                    *v = x;
                    c->p = p;
                    return 0;
                }
            }
            if (*p > 1)        /* the 10th byte holds bit 63 only */
                return -1;
            *v = x | (uint64_t)*p << 63;
            c->p = p + 1;
            return 0;
        }
    } else if (p < c->e && *p < 0x80) {
        *v = *p;
        c->p = p + 1;
        return 0;
    }
    uint64_t x = 0;
    for (unsigned sh = 0; sh < 70; sh += 7) {
        if (p == c->e)
            return -1;
        uint8_t b = *p++;
        if (sh == 63 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << sh;
        if (b < 0x80) {
            *v = x;
            c->p = p;
            return 0;
        }
    }
    return -1;
}

/* ---- open / header ----------------------------------------------------------- */

static as_err_t parse_header(as_reader_t *r)
{
    uint8_t fixed[ASF_HDR_FIXED];
    if (r->size < 8)
        return AS_ERR_NOT_TRACE;
    if (read_at(r->fd, fixed, 8, 0))
        return AS_ERR_IO;
    if (memcmp(fixed, AS_TRACE_MAGIC, 8))
        return AS_ERR_NOT_TRACE;
    if (r->size < 12)
        return AS_ERR_HEADER;
    if (read_at(r->fd, fixed + 8, 4, 8))
        return AS_ERR_IO;
    uint32_t version = asf_get32(fixed + ASF_OFF_VERSION);
    if (version < AS_TRACE_VERSION_MIN || version > AS_TRACE_VERSION)
        return AS_ERR_VERSION;
    r->cring_lim = version >= 2 ? ASF_CRING : 0;
    if (r->size < ASF_HDR_FIXED)
        return AS_ERR_HEADER;
    if (read_at(r->fd, fixed, ASF_HDR_FIXED, 0))
        return AS_ERR_IO;
    uint32_t len = asf_get32(fixed + ASF_OFF_HDRLEN);
    if (len < ASF_HDR_FIXED || len > ASF_HDR_MAX || len > r->size)
        return AS_ERR_HEADER;
    uint8_t *h = malloc(len);
    if (!h)
        return AS_ERR_NOMEM;
    if (read_at(r->fd, h, len, 0)) {
        free(h);
        return AS_ERR_IO;
    }
    if (asf_header_crc(h, len) != asf_get32(h + ASF_OFF_CRC)) {
        free(h);
        return AS_ERR_HEADER;
    }
    uint32_t slen[4];
    uint64_t total = ASF_HDR_FIXED;
    for (int i = 0; i < 4; i++) {
        slen[i] = asf_get32(h + 64 + 4 * i);
        if (slen[i] != ASF_NO_STRING || i != 3)
            total += slen[i] == ASF_NO_STRING ? (uint64_t)1 << 40 : slen[i];
    }
    if (total > len) {
        free(h);
        return AS_ERR_HEADER;
    }
    /* The optional malloc environment after the strings (FORMAT.md §2): an
     * older writer's zero padding reads as an empty one. */
    uint32_t envlen = 0;
    if (total + 4 <= len) {
        envlen = asf_get32(h + total);
        if (envlen && (total + 4 + envlen > len || h[total + 4 + envlen - 1] != 0)) {
            free(h);
            return AS_ERR_HEADER;
        }
    }
    r->strings_len = (size_t)(total - ASF_HDR_FIXED) + 4 + envlen;
    r->strings = malloc(r->strings_len);
    if (!r->strings) {
        free(h);
        return AS_ERR_NOMEM;
    }
    const char **dst[4] = {&r->hdr.exe, &r->hdr.argv, &r->hdr.libc_version,
                           &r->hdr.python_version};
    size_t in = ASF_HDR_FIXED, out = 0;
    for (int i = 0; i < 4; i++) {
        if (slen[i] == ASF_NO_STRING) {
            *dst[i] = NULL;
            continue;
        }
        memcpy(r->strings + out, h + in, slen[i]);
        r->strings[out + slen[i]] = 0;
        *dst[i] = r->strings + out;
        in += slen[i];
        out += slen[i] + 1;
    }
    if (envlen) {
        memcpy(r->strings + out, h + in + 4, envlen);
        r->hdr.malloc_env = r->strings + out;
        r->hdr.malloc_env_len = envlen;
    }
    r->hdr.argv_len = slen[1];
    r->hdr.version = version;
    r->hdr.flags = asf_get32(h + ASF_OFF_FLAGS);
    r->hdr.stop_reason = asf_get32(h + ASF_OFF_STOP);
    r->hdr.page_size = asf_get32(h + 24);
    r->hdr.ncpus = asf_get32(h + 28);
    r->hdr.tracer_options = asf_get32(h + 32);
    r->hdr.pid = (int64_t)asf_get64(h + 40);
    r->hdr.ppid = (int64_t)asf_get64(h + 48);
    r->hdr.start_time_ns = asf_get64(h + 56);
    r->off = len;
    free(h);
    r->st.complete = (r->hdr.flags & AS_HDRF_COMPLETE) != 0;
    return AS_OK;
}

as_reader_t *as_reader_open(const char *path, as_err_t *err)
{
    return as_reader_open_flags(path, 0, err);
}

as_reader_t *as_reader_open_flags(const char *path, unsigned flags, as_err_t *err)
{
    as_err_t dummy;
    if (!err)
        err = &dummy;
    if (!path || (flags & ~AS_READ_NO_ADDR)) {
        *err = AS_ERR_ARG;
        return NULL;
    }
    as_reader_t *r = calloc(1, sizeof *r);
    if (!r) {
        *err = AS_ERR_NOMEM;
        return NULL;
    }
    r->lean = (flags & AS_READ_NO_ADDR) != 0;
    as_err_t e = asf_open_read(path, &r->fd, &r->size);
    if (e) {
        *err = e;
        as_reader_close(r);
        return NULL;
    }
    e = parse_header(r);
    if (!e && (!(r->dctx = ZSTD_createDCtx()) ||
               (!r->lean && !(r->fring = malloc(ASF_FRING * sizeof *r->fring)))))
        e = AS_ERR_NOMEM;
    if (e) {
        *err = e;
        as_reader_close(r);
        return NULL;
    }
    *err = AS_OK;
    return r;
}

const as_header_t *as_reader_header(const as_reader_t *r) { return r ? &r->hdr : NULL; }

/* ---- chunks -------------------------------------------------------------------- */

static int valid_chunk_header(const uint8_t *h)
{
    return asf_get32(h) == ASF_CHUNK_MAGIC && asf_chunk_crc(h) == asf_get32(h + 28);
}
static int valid_end(const uint8_t *h)
{
    return asf_get32(h) == ASF_END_MAGIC &&
           asf_hash(ASF_HASH_INIT, h, 28) == asf_get32(h + 28);
}

/* Scans forward from `from` for the next valid chunk header or end record.
 * Returns its offset, or the file size if there is none. */
static uint64_t resync(as_reader_t *r, uint64_t from)
{
    uint8_t buf[65536];
    uint64_t pos = from;
    while (pos + 4 <= r->size) {
        size_t n = r->size - pos < sizeof buf ? (size_t)(r->size - pos) : sizeof buf;
        if (read_at(r->fd, buf, n, pos))
            return r->size;
        for (size_t i = 0; i + 4 <= n; i++) {
            if (buf[i] != 'A' || buf[i + 1] != 'S')
                continue;
            uint32_t m = asf_get32(buf + i);
            if (m != ASF_CHUNK_MAGIC && m != ASF_END_MAGIC)
                continue;
            uint8_t h[ASF_CHUNK_HDR];
            if (pos + i + ASF_CHUNK_HDR > r->size)
                continue;
            if (i + ASF_CHUNK_HDR <= n)
                memcpy(h, buf + i, ASF_CHUNK_HDR);
            else if (read_at(r->fd, h, ASF_CHUNK_HDR, pos + i))
                return r->size;
            if (m == ASF_CHUNK_MAGIC ? valid_chunk_header(h) : valid_end(h))
                return pos + i;
        }
        if (n < sizeof buf)
            break;
        pos += n - 3;
    }
    return r->size;
}

static void count_gap(as_reader_t *r, uint32_t index)
{
    /* chunks lost between the last good one and this one */
    if (index > r->next_index && index - r->next_index < (1u << 30))
        r->st.chunks_damaged += index - r->next_index;
    r->next_index = index + 1;
}

static void chunk_reset(as_reader_t *r, uint64_t first_seq)
{
    r->epoch++;
    if (first_seq < r->expect_seq)  /* below where the last chunk ended */
        r->st.late++;
    r->expect_seq = first_seq;
    r->time_ns = r->last_time = 0;
    r->thread = 0;
    r->cs_next = 0;
    r->last_xid = -1;
    memset(r->last_addr, 0, sizeof r->last_addr);
    memset(r->last_csize, 0, sizeof r->last_csize);
    r->nlocal = 0;
    memset(r->lifo.n, 0, sizeof r->lifo.n);
    memset(r->lifo.top, 0, sizeof r->lifo.top);
    r->fserial = 0;
    r->cserial = 0;
}

/* A chunk of `bytes` in the file, its first segment in place, is read from
 * its first event on. */
static void chunk_begin(as_reader_t *r, uint64_t first_seq, uint64_t bytes)
{
    chunk_reset(r, first_seq);
    r->recent_heavy = 0;
    r->recent_breaks = 0;
    r->chunk_events = r->st.events;
    r->st.chunks++;
    r->st.compressed_bytes += bytes;
}

/* Points the stream cursors at the chunk's next segment (FORMAT.md §4: a
 * stream table, then the streams). 1: done; 0: no segment is left (in a
 * chunk never closed, a last one cut short is dropped and counted); -1: the
 * table runs past the payload (damage). */
static int seg_next(as_reader_t *r)
{
    size_t left = (size_t)(r->seg_e - r->seg_p);
    uint64_t sum = 4 * ASF_NSTREAMS;
    if (left >= sum)
        for (unsigned i = 0; i < ASF_NSTREAMS; i++)
            sum += asf_get32(r->seg_p + 4 * i);
    if (!left || sum > left) {
        r->seg_p = r->seg_e;
        if (left && !r->open_chunk)
            return -1;
        r->st.bytes_lost += left;
        return 0;
    }
    const uint8_t *p = r->seg_p + 4 * ASF_NSTREAMS;
    for (unsigned i = 0; i < ASF_NSTREAMS; i++) {
        uint32_t n = asf_get32(r->seg_p + 4 * i);
        r->s[i].p = p;
        r->s[i].e = p + n;
        p += n;
    }
    r->seg_p += sum;
    return 1;
}

/* The frame of a chunk the writer never closed (FORMAT.md §3.1), at the end
 * of the file: decoded as far as whole zstd blocks go. Its size is that of
 * the decoded prefix; the frame's checksum is unknown or absent. */
static size_t open_decode(as_reader_t *r, size_t n)
{
    ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_and_parameters);
    /* the writer never needs a window above its chunk size; a crafted
     * frame must not make the stream decoder allocate 128 MiB */
    ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, ASF_WINDOW_LOG_MAX);
    ZSTD_inBuffer in = {r->cbuf, n, 0};
    ZSTD_outBuffer out = {r->raw, ASF_RAW_MAX, 0};
    for (;;) {
        size_t ip = in.pos, op = out.pos;
        size_t z = ZSTD_decompressStream(r->dctx, &out, &in);
        if (ZSTD_isError(z) || z == 0 || (in.pos == ip && out.pos == op))
            break;
    }
    ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_and_parameters);
    return out.pos;
}

/* The last chunk of a file that ends inside it (h: its header at off, left:
 * the bytes from there to the end of the file): a chunk the writer never
 * closed (rlen 0) or a closed one cut short (rlen: its decoded length). The
 * rest of the file is taken as its frame, decoded as far as whole zstd
 * blocks go, and its first segment made current; *lost0 = bytes_lost from
 * before. 1: a whole segment is there; 0: none is; <0: -as_err_t fatal. */
static int load_cut(as_reader_t *r, const uint8_t *h, uint64_t off, uint64_t left,
                    uint32_t rlen, uint64_t *lost0)
{
    size_t n = left - ASF_CHUNK_HDR < ASF_COMP_MAX ? (size_t)(left - ASF_CHUNK_HDR)
                                                   : ASF_COMP_MAX;
    uint32_t index = asf_get32(h + 24);
    count_gap(r, index);
    r->chunk_off = off;
    r->chunk_index = index;
    r->off = r->size;
    if (grow((void **)&r->cbuf, &r->cbuf_cap, n ? n : 1, 1) ||
        grow((void **)&r->raw, &r->raw_cap, ASF_RAW_MAX, 1))
        return -AS_ERR_NOMEM;
    if (read_at(r->fd, r->cbuf, n, off + ASF_CHUNK_HDR))
        return -AS_ERR_IO;
    r->open_chunk = 1;
    r->seg_p = r->raw;
    size_t got = open_decode(r, n);
    if (rlen && got > rlen)        /* more than the header said: keep to it */
        got = rlen;
    r->seg_e = r->raw + got;
    *lost0 = r->st.bytes_lost;
    r->st.bytes_lost += rlen > got ? rlen - got : 0;
    return seg_next(r);
}

/* Loads the next intact chunk. 1: loaded; 0: no more; <0: -as_err_t fatal. */
static int load_chunk(as_reader_t *r)
{
    uint8_t h[ASF_CHUNK_HDR];
    for (;;) {
        uint64_t off = r->off;
        if (r->end_seen || off >= r->size) {
            if (!r->end_seen) {
                r->st.truncated = 1;
                set_problem(r, AS_ERR_TRUNCATED,
                            "ends after chunk %u at offset %llu without an end record%s",
                            r->next_index ? r->next_index - 1 : 0, (unsigned long long)off,
                            r->hdr.flags & AS_HDRF_INCOMPLETE ? " (tracing stopped early)"
                                                              : " (writer did not finish)");
            }
            r->finished = 1;
            return 0;
        }
        uint64_t left = r->size - off;
        size_t hn = left < ASF_CHUNK_HDR ? (size_t)left : ASF_CHUNK_HDR;
        if (read_at(r->fd, h, hn, off))
            return -AS_ERR_IO;
        if (hn < ASF_CHUNK_HDR) {
            uint8_t cm[4], em[4];
            asf_put32(cm, ASF_CHUNK_MAGIC);
            asf_put32(em, ASF_END_MAGIC);
            size_t k = hn < 4 ? hn : 4;
            if (!memcmp(h, cm, k) || !memcmp(h, em, k)) {
                r->st.truncated = 1;
                r->st.bytes_lost += left;
                set_problem(r, AS_ERR_TRUNCATED,
                            "chunk %u at offset %llu: file ends inside the chunk header",
                            r->next_index, (unsigned long long)off);
                r->finished = 1;
                return 0;
            }
        } else if (valid_end(h)) {
            r->end_seen = 1;
            count_gap(r, asf_get32(h + 4));
            r->next_index = asf_get32(h + 4);
            continue;
        } else if (valid_chunk_header(h)) {
            uint32_t clen = asf_get32(h + 4), rlen = asf_get32(h + 8), nev = asf_get32(h + 12);
            uint32_t index = asf_get32(h + 24);
            uint64_t lost0;
            if (!clen && !rlen && !nev && r->hdr.version >= 3) {
                /* never closed: the rest of the file is its frame */
                int k = load_cut(r, h, off, left, 0, &lost0);
                if (k < 0)
                    return k;
                set_problem(r, AS_ERR_TRUNCATED,
                            "chunk %u at offset %llu was never closed (the writer did not "
                            "finish): %s", index, (unsigned long long)off,
                            k == 1 ? "read what it had written" : "none of it is readable");
                if (k != 1) {
                    r->st.chunks_damaged++;
                    r->st.bytes_lost = lost0 + left;
                    r->valid_epoch = r->epoch + 1;
                    continue;
                }
                chunk_begin(r, asf_get64(h + 16), left);
                return 1;
            }
            if (clen <= ASF_COMP_MAX && rlen >= 4 * ASF_NSTREAMS && rlen <= ASF_RAW_MAX &&
                nev <= rlen) {
                if (clen > left - ASF_CHUNK_HDR) {
                    /* a closed chunk cut short (a copy or download that
                     * stopped): its whole segments are read as an open
                     * chunk's are; the decoded bytes never reached count
                     * as lost */
                    r->st.truncated = 1;
                    int k = load_cut(r, h, off, left, rlen, &lost0);
                    if (k < 0)
                        return k;
                    set_problem(r, AS_ERR_TRUNCATED,
                                "chunk %u at offset %llu: file ends inside the chunk "
                                "(%llu of %u bytes): %s", index, (unsigned long long)off,
                                (unsigned long long)(left - ASF_CHUNK_HDR), clen,
                                k == 1 ? "read its whole segments" : "none of it is readable");
                    if (k != 1) {
                        r->st.bytes_lost = lost0 + left;
                        r->finished = 1;
                        return 0;
                    }
                    chunk_begin(r, asf_get64(h + 16), left);
                    return 1;
                }
                count_gap(r, index);
                r->chunk_off = off;
                r->chunk_index = index;
                r->off = off + ASF_CHUNK_HDR + clen;
                if (grow((void **)&r->cbuf, &r->cbuf_cap, clen ? clen : 1, 1) ||
                    grow((void **)&r->raw, &r->raw_cap, rlen, 1))
                    return -AS_ERR_NOMEM;
                if (read_at(r->fd, r->cbuf, clen, off + ASF_CHUNK_HDR))
                    return -AS_ERR_IO;
                const char *why = NULL;
                unsigned long long fcs = ZSTD_getFrameContentSize(r->cbuf, clen);
                /* a streamed chunk's frame (version 3) cannot declare its size */
                if ((fcs != rlen && (fcs != ZSTD_CONTENTSIZE_UNKNOWN || r->hdr.version < 3)) ||
                    ZSTD_findFrameCompressedSize(r->cbuf, clen) != clen) {
                    why = "bad zstd frame";
                } else {
                    size_t got = ZSTD_decompressDCtx(r->dctx, r->raw, rlen, r->cbuf, clen);
                    if (ZSTD_isError(got))
                        why = ZSTD_getErrorCode(got) == ZSTD_error_checksum_wrong
                                  ? "checksum mismatch" : "bad zstd frame";
                    else if (got != rlen)
                        why = "wrong decoded length";
                }
                if (!why) {
                    /* one segment before version 3; then the first here,
                     * the others when the reader gets to them */
                    r->open_chunk = 0;
                    r->seg_p = r->raw;
                    r->seg_e = r->raw + rlen;
                    if (seg_next(r) != 1 || (r->hdr.version < 3 && r->seg_p != r->seg_e))
                        why = "bad stream lengths";
                }
                if (why) {
                    r->st.chunks_damaged++;
                    r->st.bytes_lost += ASF_CHUNK_HDR + (uint64_t)clen;
                    set_problem(r, AS_ERR_CORRUPT, "chunk %u at offset %llu: %s", index,
                                (unsigned long long)off, why);
                    r->valid_epoch = r->epoch + 1;   /* id addresses may be stale now */
                    continue;
                }
                chunk_begin(r, asf_get64(h + 16), ASF_CHUNK_HDR + (uint64_t)clen);
                return 1;
            }
        }
        /* not a valid chunk header: damage; find the next one */
        uint64_t next = resync(r, off + 1);
        r->st.bytes_lost += next - off;
        set_problem(r, AS_ERR_CORRUPT, "chunk %u at offset %llu: bad chunk header, "
                    "skipped %llu bytes", r->next_index, (unsigned long long)off,
                    (unsigned long long)(next - off));
        if (next >= r->size)
            r->st.chunks_damaged++;
        else {
            /* count_gap counts the lost chunks once the next header is read;
             * at least one was lost here */
            uint8_t nh[ASF_CHUNK_HDR];
            if (!read_at(r->fd, nh, ASF_CHUNK_HDR, next) &&
                asf_get32(nh + (asf_get32(nh) == ASF_END_MAGIC ? 4 : 24)) <= r->next_index)
                r->st.chunks_damaged++;
        }
        r->valid_epoch = r->epoch + 1;
        r->off = next;
    }
}

/* A decode error inside an intact-looking chunk: drop the rest of it. */
static void chunk_bad(as_reader_t *r, const char *why)
{
    r->st.chunks_damaged++;
    if (r->st.chunks)
        r->st.chunks--;
    set_problem(r, AS_ERR_CORRUPT, "chunk %u at offset %llu: %s", r->chunk_index,
                (unsigned long long)r->chunk_off, why);
    r->s[ASF_S_TOK].p = r->s[ASF_S_TOK].e;
    r->seg_p = r->seg_e;
    r->valid_epoch = r->epoch + 1;
}

/* ---- ids and addresses ----------------------------------------------------------- */

/* The address of a new block (FORMAT.md §4.2). With `lean` (AS_READ_NO_ADDR,
 * a constant where inlined) there is nothing to do: no address is delivered,
 * the code is not validated and the ADDR stream is never read, as nothing
 * else depends on it (see as_reader_open_flags in trace.h). */
static inline __attribute__((always_inline)) int dec_addr(as_reader_t *r, unsigned code, uint64_t n,
                                                          uint64_t *addr, int lean)
{
    if (lean) {
        *addr = 0;
        return 0;
    }
    uint64_t cs = asf_csize(n);    /* asf_class(n), with csize computed once */
    unsigned c = cs >> 4 < ASF_NCLASS - 1 ? (unsigned)(cs >> 4) : ASF_NCLASS - 1;
    unsigned g = asf_cat(n);
    uint64_t a;
    if (code < ASF_ADDR_BUMP) {
        if (code >= r->lifo.n[c])
            return -1;
        *addr = asf_lifo_take(&r->lifo, c, code);
        return 0;      /* reused blocks do not move the bump/delta base */
    } else if (code == ASF_ADDR_BUMP) {
        if (!r->last_csize[g])
            return -1;
        a = r->last_addr[g] + r->last_csize[g];
    } else {
        uint64_t v;
        if (rv(&r->s[ASF_S_ADDR], &v))
            return -1;
        switch (v & 3) {
        case 0:
            a = r->last_addr[g] + ((uint64_t)asf_unzz(v >> 2) << 4);
            break;
        case 1:
            a = r->last_addr[g] + (uint64_t)asf_unzz(v >> 2);
            break;
        case 2:
            if ((v >> 2) < ASF_ADDR_LIFO || (v >> 2) >= r->lifo.n[c])
                return -1;
            *addr = asf_lifo_take(&r->lifo, c, (unsigned)(v >> 2));
            return 0;
        default: {
            uint64_t d = (v >> 2) + 1;
            if (d > r->fserial || d > ASF_FRING)
                return -1;
            a = r->fring[(r->fserial - d) & (ASF_FRING - 1)];
            break;
        }
        }
    }
    r->last_addr[g] = a;
    r->last_csize[g] = cs;
    *addr = a;
    return 0;
}

static inline __attribute__((always_inline)) int dec_create(as_reader_t *r, uint64_t addr, uint64_t n,
                                                            uint32_t *idp, int lean)
{
    uint64_t id;
    if (r->nlocal) {
        id = r->local[--r->nlocal];
    } else {
        uint64_t v;
        if (rv(&r->s[ASF_S_MISC], &v))
            return -1;
        /* unsigned: a crafted delta wraps (and is refused below) instead
         * of overflowing a signed sum */
        id = (uint64_t)r->last_xid + 1 + (uint64_t)asf_unzz(v);
        if (id >= AS_READER_ID_LIMIT)
            return -1;
        r->last_xid = (int64_t)id;
    }
    if (!lean) {       /* lean keeps no per-id table: nothing reads it */
        if (id >= r->ids_cap && grow_ids(r, id))
            return -1;
        r->ids[id].addr = addr;
        r->ids[id].cls = asf_class(n);
        r->ids[id].epoch = r->epoch;
    }
    if (id + 1 > r->st.max_id)
        r->st.max_id = id + 1;
    r->cring[r->cserial++ & (CRING_SLOTS - 1)] = (uint32_t)id;
    *idp = (uint32_t)id;
    return 0;
}

/* The id a FREE_RECENT token names: the block created d creations ago in
 * this chunk (FORMAT.md §4.1). */
static inline __attribute__((always_inline)) int dec_recent_id(as_reader_t *r, unsigned tok,
                                                               uint32_t *idp)
{
    unsigned d1 = asf_recent_dist(tok);
    if (d1 >= r->cserial || d1 >= r->cring_lim)
        return -1;
    *idp = r->cring[(r->cserial - 1 - d1) & (CRING_SLOTS - 1)];
    return 0;
}

static inline __attribute__((always_inline)) int dec_release_id(as_reader_t *r, uint32_t *idp,
                                                                int lean)
{
    cursor_t *c = &r->s[ASF_S_ID], *h = &r->s[ASF_S_IDHI];
    uint64_t hi;
    if (c->e - c->p < 2)
        return -1;
    if (h->p < h->e && *h->p < 0x80)   /* one byte: below 2^23 live blocks */
        hi = *h->p++;
    else if (rv(h, &hi))
        return -1;
    if (hi >= (AS_READER_ID_LIMIT >> 16))
        return -1;
    *idp = (uint32_t)(hi << 16 | c->p[0] | (uint32_t)c->p[1] << 8);
    c->p += 2;
    /* A release names a random live block, so its per-id entry is usually a
     * cache miss (a 50k-block table is ~1 MiB). The ID stream holds the ids
     * released next: start loading the entry PREFETCH_IDS releases ahead,
     * guessing its high part equals this one's. Only a hint: a wrong guess
     * costs a wasted load, never a wrong result. */
    if (!lean && c->e - c->p >= 2 * PREFETCH_IDS) {
        size_t ahead = (size_t)(hi << 16 | c->p[2 * PREFETCH_IDS - 2] |
                                (uint32_t)c->p[2 * PREFETCH_IDS - 1] << 8);
        if (ahead < r->ids_cap)
            __builtin_prefetch(&r->ids[ahead]);
    }
    return 0;
}

static inline uint64_t id_addr(const as_reader_t *r, uint32_t id, int lean)
{
    if (lean || id >= r->ids_cap)
        return 0;
    /* valid unless created before damage (or never): a select, not a
     * branch, as the answer is data */
    uint32_t ep = r->ids[id].epoch;
    uint64_t a = r->ids[id].addr;
    return ((ep >= r->valid_epoch) & (ep != 0)) ? a : 0;
}

/* Pushes the released id on the local stack and, for a block created in this
 * chunk and unless `lean` (see dec_addr), its address on its class's LIFO and
 * the release ring. */
static inline __attribute__((always_inline)) int do_release(as_reader_t *r, uint32_t id, int lean)
{
    if (r->nlocal == r->local_cap &&
        grow((void **)&r->local, &r->local_cap, r->nlocal + 1, sizeof(uint32_t)))
        return -1;
    r->local[r->nlocal++] = id;
    if (!lean && id < r->ids_cap && r->ids[id].epoch == r->epoch) {
        asf_lifo_push(&r->lifo, r->ids[id].cls, r->ids[id].addr);
        r->fring[r->fserial++ & (ASF_FRING - 1)] = r->ids[id].addr;
    }
    if (id + 1 > r->st.max_id)
        r->st.max_id = id + 1;
    return 0;
}

/* ---- events ----------------------------------------------------------------------- */

/* A decoded event with every field at its neutral value except those given,
 * as single stores (a compound literal compiles to rep stos, slower). */
static inline __attribute__((always_inline)) void ev_fill(as_reader_t *r, as_event_t *ev,
                                                          unsigned op, uint32_t id,
                                                          uint64_t size, uint64_t addr)
{
    ev->seq = r->expect_seq++;
    ev->time_ns = r->time_ns;
    ev->op = (uint16_t)op;
    ev->flags = 0;
    ev->thread = r->thread;
    ev->id = id;
    ev->old_id = AS_NO_ID;
    ev->size = size;
    ev->addr = addr;
    ev->old_addr = 0;
    ev->arg = 0;
    ev->arg2 = 0;
    ev->callsite = r->cs_next;
    r->cs_next = 0;
    ev->process = 0;
    ev->name = NULL;
    ev->sample = NULL;
}

static inline void ev_base(as_reader_t *r, as_event_t *ev, unsigned op)
{
    ev_fill(r, ev, op, AS_NO_ID, 0, 0);
}

/* The general event: raw fields back to as_event_t (FORMAT.md §4.3). */
__attribute__((noinline)) static int dec_event(as_reader_t *r, as_event_t *ev, unsigned code)
{
    cursor_t *m = &r->s[ASF_S_MISC];
    if (m->e - m->p < 3)
        return -1;
    unsigned op = m->p[0], evf = m->p[1], gm = m->p[2];
    m->p += 3;
    if (op >= AS_OP_LIMIT || (!as_op_name(op) && op < 96))
        return -1;
    if (evf & ~0xFu)
        return -1;
    uint64_t a = 0, b = 0, size = 0, args[3] = {0, 0, 0};
    uint32_t id = AS_NO_ID, rid = AS_NO_ID;
    int lean = r->lean;
    if ((gm & ASF_G_SIZE) && rv(&r->s[ASF_S_SIZE], &size))
        return -1;
    if ((gm & 0x80) && (gm & (ASF_G_CREATE | ASF_G_RELEASE)) != (ASF_G_CREATE | ASF_G_RELEASE))
        return -1;
    if (gm & ASF_G_CREATE) {
        /* the create id precedes the released id in ID */
        uint64_t v = 0;
        int from_local = r->nlocal != 0;
        if (!from_local && rv(m, &v))
            return -1;
        if ((gm & ASF_G_RELEASE) && dec_release_id(r, &rid, lean))
            return -1;
        if (gm & 0x80) {
            if (!lean) {   /* lean: no addresses (see dec_addr) */
                if (!(rid < r->ids_cap && r->ids[rid].epoch == r->epoch))
                    return -1;
                a = r->ids[rid].addr;
                r->last_addr[asf_cat(size)] = a;
                r->last_csize[asf_cat(size)] = asf_csize(size);
            }
        } else if (dec_addr(r, code, size, &a, lean)) {
            return -1;
        }
        uint64_t nid;
        if (from_local) {
            nid = r->local[--r->nlocal];
        } else {
            nid = (uint64_t)r->last_xid + 1 + (uint64_t)asf_unzz(v);  /* wraps, as in dec_create */
            if (nid >= AS_READER_ID_LIMIT)
                return -1;
            r->last_xid = (int64_t)nid;
        }
        if (rid != AS_NO_ID) {
            b = id_addr(r, rid, lean);
            if (nid == rid)
                return -1;
        }
        if (!lean) {
            if (nid >= r->ids_cap && grow_ids(r, nid))
                return -1;
            r->ids[nid].addr = a;
            r->ids[nid].cls = asf_class(size);
            r->ids[nid].epoch = r->epoch;
        }
        if (nid + 1 > r->st.max_id)
            r->st.max_id = nid + 1;
        r->cring[r->cserial++ & (CRING_SLOTS - 1)] = (uint32_t)nid;
        id = (uint32_t)nid;
    } else if (gm & ASF_G_RELEASE) {
        if (dec_release_id(r, &rid, lean))
            return -1;
        b = id_addr(r, rid, lean);
    }
    if ((gm & ASF_G_A) && rv(m, &a))
        return -1;
    if ((gm & ASF_G_B) && rv(m, &b))
        return -1;
    unsigned nargs = (gm >> ASF_G_NARGS_SHIFT) & 3;
    for (unsigned i = 0; i < nargs; i++)
        if (rv(m, &args[i]))
            return -1;
    if (rid != AS_NO_ID && do_release(r, rid, lean))
        return -1;

    ev_base(r, ev, op);
    ev->flags = (uint16_t)evf;
    ev->size = size;
    switch (op) {
    case AS_OP_MALLOC: case AS_OP_VALLOC: case AS_OP_PVALLOC:
        ev->addr = a;
        ev->id = id;
        break;
    case AS_OP_CALLOC:
        ev->addr = a;
        ev->arg = b;
        ev->id = id;
        break;
    case AS_OP_REALLOC: case AS_OP_REALLOCARRAY:
        ev->addr = a;
        ev->old_addr = b;
        ev->id = id;
        ev->old_id = rid;
        break;
    case AS_OP_FREE: case AS_OP_FREE_SIZED: case AS_OP_FREE_ALIGNED_SIZED:
        ev->addr = b;
        ev->id = rid;
        break;
    case AS_OP_MEMALIGN: case AS_OP_POSIX_MEMALIGN: case AS_OP_ALIGNED_ALLOC:
        ev->addr = a;
        ev->arg = b;
        ev->id = id;
        break;
    case AS_OP_MMAP:
        ev->addr = a;
        ev->size = b;
        ev->arg = b;
        ev->arg2 = (int64_t)size;
        break;
    case AS_OP_MUNMAP:
        ev->addr = b;
        ev->arg = size;
        break;
    case AS_OP_MREMAP:
        ev->addr = a;
        ev->old_addr = b;
        ev->arg = args[0];
        ev->arg2 = (int64_t)args[1];
        break;
    case AS_OP_BRK:
        ev->addr = a;
        ev->old_addr = b;
        break;
    case AS_OP_SBRK:
        ev->addr = a;
        ev->arg2 = (int64_t)b;
        break;
    case AS_OP_MALLOC_TRIM:
        ev->arg = b;
        ev->arg2 = (int64_t)size;
        ev->size = 0;
        break;
    case AS_OP_MALLOPT:
        ev->arg = b;
        ev->arg2 = (int64_t)size;
        ev->size = a;          /* the result */
        break;
    case AS_OP_FORK:
        ev->arg2 = (int64_t)a;
        ev->arg = b;
        break;
    case AS_OP_MARK:
        for (int i = 0; i < 8; i++) {
            r->name[i] = (char)(a >> (8 * i));
            r->name[8 + i] = (char)(b >> (8 * i));
            r->name[16 + i] = (char)(size >> (8 * i));
        }
        r->name[24] = 0;
        ev->name = r->name;
        ev->size = 0;
        break;
    default:
        ev->addr = a;
        ev->old_addr = b;
        ev->arg = args[0];
        ev->arg2 = (int64_t)args[1];
        if (id != AS_NO_ID)
            ev->id = id;
        else if (rid != AS_NO_ID)
            ev->id = rid;
        break;
    }
    if (lean && op < AS_OP_MMAP)   /* heap ops: no addresses (AS_READ_NO_ADDR) */
        ev->addr = ev->old_addr = 0;
    if (evf & AS_EVF_REPAIRED)
        r->st.repairs++;
    if (evf & AS_EVF_UNKNOWN)
        r->st.unknown_frees++;
    return 0;
}

static int dec_module(as_reader_t *r)
{
    cursor_t *m = &r->s[ASF_S_MISC];
    uint64_t idx, base, size, plen, blen;
    if (rv(m, &idx) || rv(m, &base) || rv(m, &size) || rv(m, &plen))
        return -1;
    if (idx == 0 || idx > MODULE_LIMIT || plen > 4096 || (uint64_t)(m->e - m->p) < plen)
        return -1;
    const uint8_t *path = m->p;
    m->p += plen;
    if (rv(m, &blen) || blen > 64 || (uint64_t)(m->e - m->p) < blen)
        return -1;
    if (grow((void **)&r->mods, &r->mods_cap, idx, sizeof(rmod_t)))
        return -1;
    rmod_t *mod = &r->mods[idx - 1];
    char *p = realloc(mod->path, plen + 1);
    if (!p)
        return -1;
    memcpy(p, path, plen);
    p[plen] = 0;
    mod->path = p;
    mod->base = base;
    mod->size = size;
    for (uint64_t i = 0; i < blen; i++)
        snprintf(mod->bid + 2 * i, 3, "%02x", m->p[i]);
    mod->bid[2 * blen] = 0;
    m->p += blen;
    return 0;
}

static int dec_csdef(as_reader_t *r)
{
    cursor_t *m = &r->s[ASF_S_MISC];
    uint64_t idx, mod, off;
    if (rv(m, &idx) || rv(m, &mod) || rv(m, &off))
        return -1;
    if (idx == 0 || idx >= AS_READER_CALLSITE_LIMIT || mod > MODULE_LIMIT)
        return -1;
    if (grow((void **)&r->cs, &r->cs_cap, idx + 1, sizeof(rcs_t)))
        return -1;
    r->cs[idx].module = (uint32_t)mod;
    r->cs[idx].offset = off;
    r->cs[idx].defined = 1;
    return 0;
}

/* Everything but the two commonest items (see as_reader_next): chunk loading,
 * every other token, and the error paths. */
__attribute__((noinline)) static int next_slow(as_reader_t *r, as_event_t *ev)
{
    if (r->pending) {         /* set only with the chunk used up: we get here */
        int e = r->pending;
        r->pending = 0;
        return e;
    }
    for (;;) {
        cursor_t *t = &r->s[ASF_S_TOK];
        if (t->p == t->e) {
            if (r->finished)
                return 0;
            if (r->seg_p != r->seg_e) {      /* the chunk's next segment */
                if (seg_next(r) < 0)
                    chunk_bad(r, "bad stream lengths");
                continue;
            }
            int k = load_chunk(r);
            if (k <= 0)
                return k;
            continue;
        }
        unsigned tok = *t->p++, kind = tok & 31, aux = tok >> 5;
        uint64_t v, v2;
        uint32_t id;
        const char *why = "bad encoding";
        switch (kind) {
        case ASF_K_MALLOC:
        case ASF_K_CALLOC: {
            uint64_t addr, nmemb = 0;
            if (rv(&r->s[ASF_S_SIZE], &v) ||
                (kind == ASF_K_CALLOC && rv(&r->s[ASF_S_MISC], &nmemb)) ||
                dec_addr(r, aux, v, &addr, r->lean) || dec_create(r, addr, v, &id, r->lean))
                break;
            ev_base(r, ev, kind == ASF_K_MALLOC ? AS_OP_MALLOC : AS_OP_CALLOC);
            ev->id = id;
            ev->size = v;
            ev->addr = addr;
            ev->arg = nmemb;
            r->st.events++;
            return 1;
        }
        case ASF_K_FREE:
        case ASF_K_FREE_RECENT:
        case ASF_K_FREE_RECENT_FAR:
            if (kind != ASF_K_FREE || aux == ASF_FREE_KNOWN) {
                if (kind == ASF_K_FREE ? dec_release_id(r, &id, r->lean)
                                       : dec_recent_id(r, tok, &id))
                    break;
                uint64_t addr = id_addr(r, id, r->lean);
                if (do_release(r, id, r->lean))
                    break;
                ev_base(r, ev, AS_OP_FREE);
                ev->id = id;
                ev->addr = addr;
            } else if (aux == ASF_FREE_UNKNOWN) {
                v = 0;           /* lean: ADDR is not read (see dec_addr) */
                if (!r->lean && rv(&r->s[ASF_S_ADDR], &v))
                    break;
                ev_base(r, ev, AS_OP_FREE);
                ev->addr = v;
                ev->flags = AS_EVF_UNKNOWN;
                r->st.unknown_frees++;
            } else if (aux == ASF_FREE_NULL) {
                ev_base(r, ev, AS_OP_FREE);
            } else {
                break;
            }
            r->st.events++;
            return 1;
        case ASF_K_EVENT:
            if (dec_event(r, ev, aux))
                break;
            r->st.events++;
            return 1;
        case ASF_K_SEQ:
            if (rv(&r->s[ASF_S_MISC], &v))
                break;
            if (asf_unzz(v) < 0)
                r->st.late++;
            r->expect_seq += (uint64_t)asf_unzz(v);
            continue;
        case ASF_K_THREAD:
            if (rv(&r->s[ASF_S_MISC], &v) || v > UINT32_MAX)
                break;
            r->thread = (uint32_t)v;
            continue;
        case ASF_K_TIME:
            if (rv(&r->s[ASF_S_MISC], &v))
                break;
            r->last_time += (uint64_t)asf_unzz(v);
            r->time_ns = r->last_time;
            continue;
        case ASF_K_SAMPLE: {
            cursor_t *m = &r->s[ASF_S_MISC];
            as_sample_t *s = &r->sample;
            if (rv(m, &v) || rv(m, &s->rss) || rv(m, &s->tracer_rss) || rv(m, &s->arena) ||
                rv(m, &s->hblkhd) || rv(m, &s->uordblks) || rv(m, &s->fordblks))
                break;
            uint64_t keep = r->expect_seq;
            r->expect_seq += (uint64_t)asf_unzz(v);
            ev_base(r, ev, AS_OP_SAMPLE);
            r->expect_seq = keep;     /* a sample does not consume a seq */
            ev->callsite = 0;
            ev->sample = s;
            r->st.events++;
            return 1;
        }
        case ASF_K_MODULE:
            if (dec_module(r))
                break;
            continue;
        case ASF_K_CSDEF:
            if (dec_csdef(r))
                break;
            continue;
        case ASF_K_CSUSE:
            if (rv(&r->s[ASF_S_MISC], &v2) || v2 >= AS_READER_CALLSITE_LIMIT)
                break;
            r->cs_next = (uint32_t)v2;
            continue;
        default:
            why = "unknown token";
            break;
        }
        chunk_bad(r, why);
    }
}


/* The hot path: a malloc and a free of a known block are nearly every event
 * of a real trace, so they are decoded here in a small function that keeps
 * its state in registers. Returns 1 with the event's op, id, size and address
 * (no seq, no event count: the caller's); 0 if the next item is anything else
 * or the chunk is used up, nothing consumed (next_slow's business); -1 on a
 * decode error, after which the caller drops the chunk. Each branch does the
 * same steps in the same order as its case in next_slow, so the two paths
 * cannot disagree. */
static inline __attribute__((always_inline)) int plain_item(as_reader_t *restrict r,
                                                            unsigned *op, uint32_t *id,
                                                            uint64_t *size, uint64_t *addr,
                                                            int lean)
{
    cursor_t *t = &r->s[ASF_S_TOK];
    if (__builtin_expect(t->p == t->e, 0))
        return 0;
    unsigned tok = *t->p;
    if (tok == ASF_TOK(ASF_K_FREE, ASF_FREE_KNOWN) || asf_is_free_recent(tok)) {
        t->p++;
        if (tok == ASF_TOK(ASF_K_FREE, ASF_FREE_KNOWN) ? dec_release_id(r, id, lean)
                                                       : dec_recent_id(r, tok, id))
            return -1;
        *addr = id_addr(r, *id, lean);
        if (do_release(r, *id, lean))
            return -1;
        *op = AS_OP_FREE;
        *size = 0;
        return 1;
    }
    if ((tok & 31) == ASF_K_MALLOC) {
        t->p++;
        if (rv(&r->s[ASF_S_SIZE], size) || dec_addr(r, tok >> 5, *size, addr, lean) ||
            dec_create(r, *addr, *size, id, lean))
            return -1;
        *op = AS_OP_MALLOC;
        return 1;
    }
    return 0;
}

static inline __attribute__((always_inline)) int next_one(as_reader_t *restrict r,
                                                          as_event_t *restrict ev, int lean)
{
    unsigned op;
    uint32_t id;
    uint64_t size, addr;
    int k = plain_item(r, &op, &id, &size, &addr, lean);
    if (__builtin_expect(k > 0, 1)) {
        ev_fill(r, ev, op, id, size, addr);
        r->st.events++;
        return 1;
    }
    if (k < 0)
        chunk_bad(r, "bad encoding");
    return next_slow(r, ev);
}

int as_reader_next(as_reader_t *r, as_event_t *ev)
{
    if (!r || !ev)
        return -AS_ERR_ARG;
    return r->lean ? next_one(r, ev, 1) : next_one(r, ev, 0);
}

/* as_reader_next_batch with the mode a constant, so each mode gets its own
 * copy of the hot path. */
static inline __attribute__((always_inline)) int next_batch(as_reader_t *r, as_event_t *evs,
                                                            size_t n, int lean)
{
    size_t k = 0;
    while (k < n) {
        int rc = next_one(r, &evs[k], lean);
        if (rc <= 0) {
            if (rc < 0 && !k)
                return rc;
            if (rc < 0)
                r->pending = rc;    /* deliver the k events first */
            break;
        }
        /* a MARK's name and a sample live in the reader until the next
         * read: end the batch so no later event overwrites them */
        k++;
        if (evs[k - 1].name || evs[k - 1].sample)
            break;
    }
    return (int)k;
}

int as_reader_next_batch(as_reader_t *r, as_event_t *evs, size_t n)
{
    if (!r || !evs || !n)
        return -AS_ERR_ARG;
    if (n > INT_MAX)
        n = INT_MAX;
    return r->lean ? next_batch(r, evs, n, 1) : next_batch(r, evs, n, 0);
}

/* min(m, items of `per` bytes left in c) */
static inline size_t fits(size_t m, const cursor_t *c, size_t per)
{
    size_t k = (size_t)(c->e - c->p) / per;
    return k < m ? k : m;
}

/* Up to m > 0 plain items the quick way (see plain_lean), m small enough that
 * no stream can run out even if all were frees or all mallocs, and the local
 * stack with room for m more: returns how many it took, stopping before the
 * first it cannot take. */
static inline __attribute__((always_inline)) size_t plain_run(as_reader_t *restrict r,
                                                               as_hevent_t *restrict ev,
                                                               size_t m, int recent)
{
    cursor_t *s = r->s;
    const uint8_t *tp = s[ASF_S_TOK].p, *ip = s[ASF_S_ID].p, *hp = s[ASF_S_IDHI].p,
                  *zp = s[ASF_S_SIZE].p, *te = tp + m;
    uint32_t *local = r->local, thread = r->thread, *cring = r->cring;
    size_t nl = r->nlocal;
    uint64_t cs = r->cserial;
    for (; tp < te; tp++, ev++) {
        /* all three readings (a malloc, a free by id, a free of a recent
         * creation), in 64-bit words: no widening in the selects */
        uint64_t tok = *tp, hi = *hp, z0 = zp[0], z1 = zp[1], zm = z0 >> 7;
        uint64_t fid = hi << 16 | (uint32_t)(ip[0] | ip[1] << 8);
        uint64_t size = (z0 & 0x7f) | (z1 * zm) << 7;
        uint64_t from_local = nl != 0, lid = local[nl - from_local];
        uint64_t d1 = asf_recent_dist((unsigned)tok);
        uint64_t rid = recent ? cring[(cs - 1 - d1) & (CRING_SLOTS - 1)] : 0;
        uint64_t fm = -(uint64_t)(tok == ASF_TOK(ASF_K_FREE, ASF_FREE_KNOWN));
        uint64_t rm = recent ? -(uint64_t)(asf_is_free_recent((unsigned)tok) & (d1 < cs)) : 0;
        uint64_t mm = -(uint64_t)((tok & 31) == ASF_K_MALLOC);
        uint64_t ok = (fm & (hi < 0x80) & (hi < (AS_READER_ID_LIMIT >> 16))) | rm |
                      (mm & from_local & (((z0 & z1) >> 7) ^ 1));
        /* opaque, or the compiler tests the free and malloc halves by turns:
         * a branch on the token again */
        __asm__("" : "+r"(ok));
        if (__builtin_expect(!ok, 0))
            break;
        /* the same for the masks, whose selects it would make branches */
        __asm__("" : "+r"(fm), "+r"(mm));
        if (recent)     /* else rm stays a constant 0 the compiler folds away */
            __asm__("" : "+r"(rm));
        uint64_t xm = fm | rm, rel = fid ^ ((fid ^ rid) & rm);
        ip += fm & 2;
        hp += -fm;      /* 1 for a free by id */
        zp += mm & (1 + zm);
        local[nl] = (uint32_t)rel;  /* above the top unless a free: room made */
        nl = nl - xm + mm;
        if (recent) {  /* the slot the next creation takes (CRING_SLOTS) */
            cring[cs & (CRING_SLOTS - 1)] = (uint32_t)lid;
            cs -= mm;
        }
        ev->size = size & mm;
        ev->arg = 0;
        ev->id = (uint32_t)(lid ^ ((lid ^ rel) & xm));
        ev->old_id = AS_NO_ID;
        ev->thread = thread;
        ev->op = (uint8_t)(AS_OP_MALLOC + (xm & (AS_OP_FREE - AS_OP_MALLOC)));
        ev->flags = 0;
        ev->pad = 0;
    }
    /* only a free can raise max_id: a local id was counted when released */
    uint64_t max_id = r->st.max_id;
    for (const uint8_t *i = s[ASF_S_ID].p, *h = s[ASF_S_IDHI].p; h < hp; i += 2, h++) {
        uint64_t top = ((uint64_t)*h << 16 | (uint32_t)(i[0] | i[1] << 8)) + 1;
        max_id = top > max_id ? top : max_id;
    }
    r->st.max_id = max_id;
    size_t j = (size_t)(tp - s[ASF_S_TOK].p);
    s[ASF_S_TOK].p = tp;
    s[ASF_S_ID].p = ip;
    s[ASF_S_IDHI].p = hp;
    s[ASF_S_SIZE].p = zp;
    r->nlocal = nl;
    r->cserial = (uint32_t)cs;
    return j;
}

/* plain_run's two forms as functions of their own, as the loop was before
 * FREE_RECENT: inlined into plain_lean, the loop shares registers with its
 * state and spills (7% more cycles on churn). */
static size_t plain_run_bare(as_reader_t *restrict r, as_hevent_t *restrict ev, size_t m)
{
    return plain_run(r, ev, m, 0);
}
static size_t plain_run_recent(as_reader_t *restrict r, as_hevent_t *restrict ev, size_t m)
{
    return plain_run(r, ev, m, 1);
}

/* Runs without the creation ring (plain_run with recent = 0) count their
 * creations in cserial but leave the ring behind; before anything reads it
 * (a FREE_RECENT, a run with the ring, the caller) this puts the ids of the
 * newest creations among evs[from, to) in their slots. Every creation there
 * is a MALLOC event, and those before `from` are in the ring already. */
static void cring_sync(as_reader_t *r, const as_hevent_t *evs, size_t from, size_t to)
{
    uint64_t c = r->cserial;
    unsigned need = ASF_CRING;           /* what a token can name */
    for (size_t i = to; need && i-- > from;) {
        if (evs[i].op == AS_OP_MALLOC) {
            r->cring[--c & (CRING_SLOTS - 1)] = evs[i].id;
            need--;
        }
    }
}

/* as_reader_next_plain without addresses: the loop replay decodes in. Which
 * of malloc and free an item is, is data (half and half on churn), so a
 * branch on it mispredicts: plain_run decodes each item both ways from the
 * stream bytes ahead and keeps one by masks. Runs are sized so that nothing
 * is bounds-checked per item. The quick form takes a free with a one-byte
 * high part, a free of a recent creation (FREE_RECENT, version 2: most
 * frees of a Python program) and a malloc whose size fits two bytes and whose id comes off
 * the local stack (an explicit id is ~1% of mallocs on churn, 3% on hg);
 * anything else (another token, a stream nearly used up) goes through
 * plain_item, so the events and the errors are exactly its. max_id is
 * updated after each run from the ID bytes it took, off the loop's critical
 * path. Returns the number of events put in evs[]. */
static size_t plain_lean(as_reader_t *restrict r, as_hevent_t *restrict evs, size_t n)
{
    cursor_t *s = r->s;
    size_t k = 0, synced = 0;   /* the ring has the creations of evs[0, synced) */
    while (k < n) {
        size_t m = fits(fits(fits(fits(n - k, &s[ASF_S_TOK], 1), &s[ASF_S_ID], 2),
                             &s[ASF_S_IDHI], 1), &s[ASF_S_SIZE], 2);
        /* each item pushes at most one id on the local stack */
        if (m && r->local_cap - r->nlocal <= m &&
            grow((void **)&r->local, &r->local_cap, r->nlocal + m + 1, sizeof(uint32_t)))
            m = 0;   /* plain_item meets the same failure and reports it */
        size_t j = 0;
        if (m && r->recent_heavy) {
            cring_sync(r, evs, synced, k);
            j = plain_run_recent(r, evs + k, m);
            synced = k + j;
        } else if (m) {
            const uint8_t *hp = s[ASF_S_IDHI].p;     /* one IDHI byte a free */
            j = plain_run_bare(r, evs + k, m);
            r->cserial += (uint32_t)(j - (size_t)(s[ASF_S_IDHI].p - hp));
        }
        k += j;
        if (j && j == m)
            continue;
        if (r->cring_lim && s[ASF_S_TOK].p < s[ASF_S_TOK].e &&
            asf_is_free_recent(*s[ASF_S_TOK].p)) {
            cring_sync(r, evs, synced, k);
            synced = k;
            /* A Python program's frees are mostly FREE_RECENT: once they end
             * more than one run in 256 events of the chunk, its runs take
             * them inline. On churn a free is rarely of a recent block
             * (0.016% of its tokens), and runs without the ring are ~20%
             * faster. */
            if (++r->recent_breaks * 256 > r->st.events + k - r->chunk_events)
                r->recent_heavy = 1;
        }
        unsigned op;
        uint32_t id;
        uint64_t size, addr;
        int rc = plain_item(r, &op, &id, &size, &addr, 1);
        if (rc <= 0) {
            if (rc < 0)
                chunk_bad(r, "bad encoding");
            break;
        }
        evs[k++] = (as_hevent_t){.size = size, .id = id, .old_id = AS_NO_ID,
                                 .thread = r->thread, .op = (uint8_t)op};
    }
    if (r->cring_lim)
        cring_sync(r, evs, synced, k);
    return k;
}

/* plain_lean decodes each item both ways, which costs more than a branch on
 * which way where that branch predicts well (hg's items, as-decode --replay:
 * 23.4 cycles/event against 17.3) and less where it mispredicts (churn's,
 * random: 21.5 against 31). So one call in 8 runs up to 64 of the items it
 * read through a small model of a branch predictor (2-bit counters indexed
 * by the last 8 choices), and the lean reader uses plain_lean while the
 * model misses more than 30% of them. The choice changes the speed only,
 * never the events. Out of line: it runs in one call in 8. */
__attribute__((noinline)) static void plain_sample(as_reader_t *r, const uint8_t *t,
                                                   const uint8_t *e)
{
    unsigned h = r->phist;
    if (e - t > 64)
        e = t + 64;
    r->pseen += (uint32_t)(e - t);
    for (; t < e; t++) {   /* no branch on f: it may be the random choice itself */
        unsigned f = *t == ASF_TOK(ASF_K_FREE, ASF_FREE_KNOWN), c = r->ptab[h];
        r->pmiss += (c >> 1) ^ f;
        r->ptab[h] = (uint8_t)(c + (f & (c < 3)) - (!f & (c > 0)));
        h = (h << 1 | f) & 255;
    }
    r->phist = (uint8_t)h;
    if (r->pseen > 1u << 16) {   /* a moving estimate: halve the past */
        r->pseen >>= 1;
        r->pmiss >>= 1;
    }
}

static inline int plain_predictable(const as_reader_t *r)
{
    if (r->pforce)
        return r->pforce == 2;
    return (uint64_t)r->pmiss * 10 < (uint64_t)r->pseen * 3;
}

void asf_reader_force_plain(as_reader_t *r, int how)
{
    r->pforce = how;
}

/* as_reader_next_plain with the mode a constant (see next_batch). */
static inline __attribute__((always_inline)) int next_plain(as_reader_t *restrict r,
                                                            as_hevent_t *restrict evs,
                                                            size_t n, int lean)
{
    size_t k = 0;
    const uint8_t *t0 = r->s[ASF_S_TOK].p;
    int sample = lean && (r->pcalls++ & 7) == 0;
    if (lean && !plain_predictable(r))
        k = plain_lean(r, evs, n);
    else for (; k < n; k++) {
        unsigned op;
        uint32_t id;
        uint64_t size, addr;
        int rc = plain_item(r, &op, &id, &size, &addr, lean);
        if (rc <= 0) {
            if (rc < 0)
                chunk_bad(r, "bad encoding");
            break;
        }
        evs[k] = (as_hevent_t){.size = size, .id = id, .old_id = AS_NO_ID,
                               .thread = r->thread, .op = (uint8_t)op};
    }
    if (sample && k)
        plain_sample(r, t0, t0 + k);
    /* what ev_fill does per event: a seq each, the callsite consumed */
    r->expect_seq += k;
    if (k)
        r->cs_next = 0;
    r->st.events += k;
    return (int)k;
}

int as_reader_next_plain(as_reader_t *r, as_hevent_t *evs, size_t n, uint64_t *time_ns)
{
    if (!r || !evs || !time_ns)
        return -AS_ERR_ARG;
    if (n > INT_MAX)
        n = INT_MAX;
    *time_ns = r->time_ns;
    return r->lean ? next_plain(r, evs, n, 1) : next_plain(r, evs, n, 0);
}

void as_reader_stats(const as_reader_t *r, as_read_stats_t *st)
{
    if (r && st)
        *st = r->st;
}

as_err_t as_reader_problem(const as_reader_t *r, char *detail, size_t detail_len)
{
    if (!r)
        return AS_ERR_ARG;
    if (detail && detail_len)
        snprintf(detail, detail_len, "%s", r->problem ? r->detail : "");
    return r->problem;
}

int as_reader_callsite(const as_reader_t *r, uint32_t callsite, const char **module,
                       uint64_t *offset, const char **build_id)
{
    if (!r || callsite == 0 || callsite >= r->cs_cap || !r->cs[callsite].defined)
        return -1;
    const rcs_t *c = &r->cs[callsite];
    const rmod_t *m = c->module && c->module <= r->mods_cap ? &r->mods[c->module - 1] : NULL;
    if (module)
        *module = m && m->path ? m->path : "";
    if (offset)
        *offset = c->offset;
    if (build_id)
        *build_id = m ? m->bid : "";
    return 0;
}

void as_reader_close(as_reader_t *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    ZSTD_freeDCtx(r->dctx);
    free(r->cbuf);
    free(r->fring);
    free(r->raw);
    free(r->strings);
    free(r->local);
    as_zfree(r->ids, r->ids_cap, sizeof(rid_t));
    for (size_t i = 0; i < r->mods_cap; i++)
        free(r->mods[i].path);
    free(r->mods);
    free(r->cs);
    free(r);
}
