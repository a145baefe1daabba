/*
 * replay/trace_internal.h — byte layout and encoding helpers shared by the
 * trace writer (trace_write.c) and reader (trace_read.c).
 *
 * Source of truth: doc/FORMAT.md (format version 2). Every constant here is
 * written to files: change one and you change the format version.
 */
#ifndef AS_TRACE_INTERNAL_H
#define AS_TRACE_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay/trace.h"

/* ---- File header (FORMAT.md §2) ------------------------------------------ */
#define ASF_HDR_FIXED      80u        /* bytes before the strings */
#define ASF_HDR_MAX        (1u << 20) /* a longer header is damage */
#define ASF_OFF_VERSION    8u
#define ASF_OFF_HDRLEN     12u
#define ASF_OFF_FLAGS      16u        /* rewritten in place by as_writer_close */
#define ASF_OFF_STOP       20u
#define ASF_OFF_CRC        36u
#define ASF_NO_STRING      0xFFFFFFFFu

/* ---- Chunk header and end record (FORMAT.md §3, §5) ------------------------ */
#define ASF_CHUNK_MAGIC    0x4B435341u /* "ASCK" little-endian */
#define ASF_END_MAGIC      0x4E455341u /* "ASEN" */
#define ASF_CHUNK_HDR      32u
#define ASF_END_LEN        32u
#define ASF_NSTREAMS       6u
#define ASF_RAW_MAX        (4u << 20) /* reader's bound on a chunk's decoded size */
#define ASF_COMP_MAX       (ASF_RAW_MAX + (ASF_RAW_MAX >> 7) + 4096u)
/* Writer: a chunk is ended once its encoded streams reach this many bytes. */
#define ASF_CHUNK_TARGET   (3u << 20)
#define ASF_WINDOW_LOG_MAX 23u       /* largest zstd window of a streamed chunk's frame */
#define ASF_EVENT_MAX      160u       /* upper bound of one item's encoding */

/* Streams of a chunk, in payload order. ID holds released ids as 16-bit
 * little-endian low halves (near-uniform bytes entropy-code best fixed-width),
 * IDHI their high parts as varints (all zero below 65536 live blocks). */
enum asf_stream { ASF_S_TOK, ASF_S_ID, ASF_S_IDHI, ASF_S_SIZE, ASF_S_ADDR, ASF_S_MISC };

/* ---- Tokens (FORMAT.md §4): kind in the low 5 bits, aux in the high 3 ------ */
enum asf_kind {
    ASF_K_MALLOC = 0,   /* aux: address code */
    ASF_K_CALLOC = 1,   /* aux: address code; nmemb in MISC */
    ASF_K_FREE = 2,     /* aux: ASF_FREE_* */
    ASF_K_EVENT = 3,    /* any event, fully described in MISC; aux: address code */
    ASF_K_SEQ = 4,      /* MISC: zigzag jump of the next expected seq */
    ASF_K_THREAD = 5,   /* MISC: thread index of the following events */
    ASF_K_TIME = 6,     /* MISC: zigzag seq offset, time delta */
    ASF_K_SAMPLE = 7,   /* MISC: zigzag seq offset, 6 sample fields */
    ASF_K_MODULE = 8,   /* MISC: module definition */
    ASF_K_CSDEF = 9,    /* MISC: callsite definition */
    ASF_K_CSUSE = 10,   /* MISC: callsite index of the next event */
    /* version 2: a free of the block created d creations ago in this chunk,
     * 1 <= d <= ASF_CRING: kind ASF_K_FREE_RECENT + (d - 1) / 8, aux (d - 1) % 8
     * (kinds 11..13 are unassigned, so the two share all bits but the lowest) */
    ASF_K_FREE_RECENT = 14,
    ASF_K_FREE_RECENT_FAR = 15,
    ASF_K__COUNT
};
#define ASF_TOK(kind, aux) ((uint8_t)((kind) | (aux) << 5))

/* Ids of the last ASF_CRING blocks created in the chunk (FORMAT.md §4.1):
 * a free of one of them is a FREE_RECENT token, no ID bytes. */
#define ASF_CRING        16u
static inline int asf_is_free_recent(unsigned tok) { return (tok & 30) == ASF_K_FREE_RECENT; }
/* d - 1 of a FREE_RECENT token, and the token of d - 1 */
static inline unsigned asf_recent_dist(unsigned tok) { return (tok & 1) << 3 | tok >> 5; }
static inline uint8_t asf_recent_tok(unsigned d1)
{
    return (uint8_t)((ASF_K_FREE_RECENT + (d1 >> 3)) | (d1 & 7) << 5);
}

#define ASF_FREE_KNOWN   0u  /* id in ID */
#define ASF_FREE_UNKNOWN 1u  /* address in ADDR (plain varint) */
#define ASF_FREE_NULL    2u  /* free(NULL) */

/* Address code of a block-creating event (FORMAT.md §4.2). */
#define ASF_ADDR_LIFO    6u  /* codes 0..5: index into the size class's LIFO */
#define ASF_ADDR_BUMP    6u  /* previous block's address + its chunk size */
#define ASF_ADDR_DELTA   7u  /* tagged value in ADDR: see below */
/* ADDR value of code 7, low 2 bits: 0 = zigzag(delta/16)<<2, 1 = zigzag(delta)
 * <<2 | 1 (delta from the previous block of the same category), 2 = LIFO
 * index k (ASF_ADDR_LIFO <= k < ASF_LIFO_DEPTH) << 2 | 2, 3 = (d-1) << 2 | 3:
 * the address released d releases ago (any class; the release ring). */
#define ASF_FRING        65536u /* release ring: addresses of in-chunk releases */

/* ASF_K_EVENT layout bits (the "gm" byte). */
#define ASF_G_CREATE     0x01u /* creates a block: id by the stack rule, a by code */
#define ASF_G_RELEASE    0x02u /* releases a known block: its id in ID */
#define ASF_G_A          0x04u /* a as varint in MISC */
#define ASF_G_B          0x08u /* b as varint in MISC */
#define ASF_G_SIZE       0x10u /* size as varint in SIZE */
#define ASF_G_NARGS_SHIFT 5u   /* 2 bits: words of a following AS_REC_ARG */

/* ---- Address prediction: per size class LIFOs of released addresses ------- */
#define ASF_NCLASS       258u  /* chunk size / 16 up to 4 KiB, then one "large" */
#define ASF_LIFO_DEPTH   32u   /* a power of two: a ring */
#define ASF_NCAT         3u    /* previous-block categories: <1 KiB, <64 KiB, more */

typedef struct asf_lifo {
    uint8_t n[ASF_NCLASS], top[ASF_NCLASS];
    uint64_t a[ASF_NCLASS][ASF_LIFO_DEPTH]; /* a[c][top] is the newest */
} asf_lifo_t;

/* a sum, not nested selects: the reader's hot path would branch on them */
static inline unsigned asf_cat(uint64_t n) { return (n >= 1024) + (n >= 65536); }

/* glibc x86-64 request2size: what the allocator hands out for n bytes. It is
 * only a predictor here, so other allocators merely predict worse. */
static inline uint64_t asf_csize(uint64_t n)
{
    if (n > ((uint64_t)1 << 48))      /* no such block; keeps the sum from wrapping */
        return (uint64_t)1 << 48;
    uint64_t c = (n + 8 + 15) & ~(uint64_t)15;
    return c < 32 ? 32 : c;
}
static inline unsigned asf_class(uint64_t n)
{
    uint64_t c = asf_csize(n) >> 4;
    return c < ASF_NCLASS - 1 ? (unsigned)c : ASF_NCLASS - 1;
}
#define ASF_RING(i) ((i) & (ASF_LIFO_DEPTH - 1))
static inline void asf_lifo_push(asf_lifo_t *l, unsigned c, uint64_t addr)
{
    unsigned t = ASF_RING(l->top[c] + 1u);
    l->a[c][t] = addr;
    l->top[c] = (uint8_t)t;
    l->n[c] += l->n[c] < ASF_LIFO_DEPTH;   /* else the oldest is overwritten */
}
/* Entry k counted from the newest (0); k < n. */
static inline uint64_t asf_lifo_get(const asf_lifo_t *l, unsigned c, unsigned k)
{
    return l->a[c][ASF_RING(l->top[c] - k)];
}
/* Removes entry k (k < n) and returns it: the k newer entries move down. */
static inline uint64_t asf_lifo_take(asf_lifo_t *l, unsigned c, unsigned k)
{
    unsigned t = l->top[c];
    uint64_t v = l->a[c][ASF_RING(t - k)];
    for (unsigned j = k; j > 0; j--)
        l->a[c][ASF_RING(t - j)] = l->a[c][ASF_RING(t - j + 1)];
    l->top[c] = (uint8_t)ASF_RING(t - 1);
    l->n[c]--;
    return v;
}
/* Index of addr in class c's LIFO, or -1. */
static inline int asf_lifo_find(const asf_lifo_t *l, unsigned c, uint64_t addr)
{
    unsigned n = l->n[c], t = l->top[c];
    for (unsigned k = 0; k < n; k++)
        if (l->a[c][ASF_RING(t - k)] == addr)
            return (int)k;
    return -1;
}

/* ---- Little-endian fixed fields and varints --------------------------------- */
static inline void asf_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void asf_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t asf_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t asf_get64(const uint8_t *p)
{
    return (uint64_t)asf_get32(p) | (uint64_t)asf_get32(p + 4) << 32;
}
static inline uint64_t asf_zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t asf_unzz(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* LEB128, at most 10 bytes. */
static inline uint8_t *asf_putv(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* FNV-1a, 32 bits: guards headers against damage (not against an adversary);
 * chunk contents are guarded by zstd's content checksum. */
static inline uint32_t asf_hash(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}
#define ASF_HASH_INIT 2166136261u

static inline uint32_t asf_chunk_crc(const uint8_t *hdr)
{
    return asf_hash(ASF_HASH_INIT, hdr, ASF_CHUNK_HDR - 4);
}

/* The header checksum skips the fields close rewrites and the checksum itself. */
static inline uint32_t asf_header_crc(const uint8_t *h, uint32_t len)
{
    uint32_t c = asf_hash(ASF_HASH_INIT, h, ASF_OFF_FLAGS);
    c = asf_hash(c, h + ASF_OFF_STOP + 4, ASF_OFF_CRC - (ASF_OFF_STOP + 4));
    return asf_hash(c, h + ASF_OFF_CRC + 4, len - (ASF_OFF_CRC + 4));
}

/* Tests only: end chunks at `bytes` encoded bytes (≤ ASF_CHUNK_TARGET) so
 * the size-triggered flush is exercised without megabytes of events. */
void asf_writer_chunk_target(as_writer_t *w, size_t bytes);
/* Tests: the writer no longer checks that its descriptor names the file it
 * was created on (so a test can dup2 /dev/full over it: a disk filling up). */
void asf_writer_unchecked(as_writer_t *w);
/* Tests only: how a lean reader's as_reader_next_plain decodes, whatever the
 * items look like: 1 each item both ways (plain_lean), 2 item by item, 0 the
 * reader's own choice (the default). The events are the same every way. */
void asf_reader_force_plain(as_reader_t *r, int how);

/* Opens a trace for reading: 0 with *fd and *size, else the error a user
 * can act on (a mistyped name is "no such file", not an I/O error). */
static inline as_err_t asf_open_read(const char *path, int *fd, uint64_t *size)
{
    struct stat sb;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? AS_ERR_NOENT
               : errno == EACCES || errno == EPERM ? AS_ERR_PERM
               : errno == EISDIR                   ? AS_ERR_ISDIR
                                                   : AS_ERR_IO;
    as_err_t e = fstat(*fd, &sb) < 0 ? AS_ERR_IO : S_ISDIR(sb.st_mode) ? AS_ERR_ISDIR : AS_OK;
    if (e) {
        close(*fd);
        *fd = -1;
        return e;
    }
    *size = (uint64_t)sb.st_size;
    return AS_OK;
}

#endif /* AS_TRACE_INTERNAL_H */
