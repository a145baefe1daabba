/*
 * replay/trace_scan.c — a trace's totals from its chunk headers and end record,
 * without decoding a single event (as_trace_scan, replay/trace.h).
 *
 * `allocsim record` prints one summary line per file when the program ends;
 * decoding an hour-long trace for it would keep the user waiting for seconds.
 * Every chunk header carries its event count (FORMAT.md §3) and the end record
 * the writer's totals (§5), so reading 32 bytes per chunk is enough — as long
 * as the structure is intact. Anything irregular (a bad or missing chunk
 * header, an index out of order, a file ending inside a chunk or without an
 * end record, totals that disagree) is reported as such and the caller decodes
 * the file instead, so what it reports about damage stays exactly what the
 * reader finds. The zstd frames themselves are not opened: a bit flip inside
 * one is found by the reader (`allocsim info`), not here.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay/trace_internal.h"

/* A trace is a regular file: pread returns all n bytes unless the file
 * ends first. */
static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
    return pread(fd, buf, n, (off_t)off) == (ssize_t)n ? 0 : -1;
}

static as_err_t check_header(int fd, uint64_t size, uint64_t *len)
{
    uint8_t fixed[ASF_HDR_FIXED];
    if (size < ASF_HDR_FIXED || read_full(fd, fixed, sizeof fixed, 0))
        return size >= 8 ? AS_ERR_HEADER : AS_ERR_NOT_TRACE;
    if (memcmp(fixed, AS_TRACE_MAGIC, 8))
        return AS_ERR_NOT_TRACE;
    uint32_t version = asf_get32(fixed + ASF_OFF_VERSION);
    if (version < AS_TRACE_VERSION_MIN || version > AS_TRACE_VERSION)
        return AS_ERR_VERSION;
    uint32_t n = asf_get32(fixed + ASF_OFF_HDRLEN);
    if (n < ASF_HDR_FIXED || n > ASF_HDR_MAX || n > size)
        return AS_ERR_HEADER;
    uint8_t *h = malloc(n);
    if (!h)
        return AS_ERR_NOMEM;
    as_err_t e = read_full(fd, h, n, 0) ? AS_ERR_IO
               : asf_header_crc(h, n) != asf_get32(h + ASF_OFF_CRC) ? AS_ERR_HEADER : AS_OK;
    free(h);
    *len = n;
    return e;
}

as_err_t as_trace_scan(const char *path, as_scan_t *out)
{
    if (!path || !out)
        return AS_ERR_ARG;
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size, off = 0;
    as_err_t e = asf_open_read(path, &fd, &size);
    if (e)
        return e;
    out->file_bytes = size;
    e = check_header(fd, size, &off);
    while (!e) {
        uint8_t h[ASF_CHUNK_HDR];
        if (off + ASF_CHUNK_HDR > size) {
            e = AS_ERR_TRUNCATED;          /* no end record */
            break;
        }
        if (read_full(fd, h, sizeof h, off)) {
            e = AS_ERR_IO;
            break;
        }
        uint32_t magic = asf_get32(h);
        if (magic == ASF_END_MAGIC && asf_hash(ASF_HASH_INIT, h, 28) == asf_get32(h + 28)) {
            out->end = 1;
            if (asf_get32(h + 4) != out->chunks || asf_get64(h + 8) != out->events)
                e = AS_ERR_CORRUPT;
            break;
        }
        if (magic != ASF_CHUNK_MAGIC || asf_chunk_crc(h) != asf_get32(h + 28)) {
            e = AS_ERR_CORRUPT;
            break;
        }
        uint32_t clen = asf_get32(h + 4), rlen = asf_get32(h + 8), nev = asf_get32(h + 12);
        if (!clen && !rlen && !nev) {
            e = AS_ERR_TRUNCATED;          /* a chunk never closed (FORMAT.md §3.1) */
            break;
        }
        if (clen > ASF_COMP_MAX || rlen < 4 * ASF_NSTREAMS || rlen > ASF_RAW_MAX ||
            nev > rlen || asf_get32(h + 24) != out->chunks) {
            e = AS_ERR_CORRUPT;
            break;
        }
        if (clen > size - off - ASF_CHUNK_HDR) {
            e = AS_ERR_TRUNCATED;          /* ends inside this chunk */
            break;
        }
        out->chunks++;
        out->events += nev;
        off += ASF_CHUNK_HDR + (uint64_t)clen;
    }
    close(fd);
    return e;
}
