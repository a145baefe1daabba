/*
 * tests/fuzz/fuzz_wrap.h — the input convention the libFuzzer targets share
 * (fuzz_reader.c, fuzz_replay.c): any byte string as a trace file, except
 * that inputs whose first byte is 'Z' are a chunk's decoded payload, wrapped
 * in a valid header, chunk header, zstd frame and end record (chunks are
 * guarded by checksums a mutation rarely survives, so this sends the fuzzer
 * into the event decoder itself), and inputs whose first byte is 'O' are a
 * payload wrapped as a chunk the writer never closed (FORMAT.md §3.1): an
 * open chunk header, a frame that declares no size, cut short by the input's
 * second byte (0-255 bytes off its end), no end record. fuzz_seeds writes
 * seeds of both kinds from real traces.
 */
#ifndef AS_FUZZ_WRAP_H
#define AS_FUZZ_WRAP_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zstd.h>

#include "replay/trace_internal.h"

/* A whole valid file around one decoded chunk payload; returns its length.
 * With `cut`, the chunk is an open one whose frame loses cut - 1 bytes. */
static size_t wrap_payload(const uint8_t *p, size_t n, uint8_t *out, size_t cap, unsigned cut)
{
    uint8_t *h = out;
    size_t hl = ASF_HDR_FIXED + 8;
    memset(h, 0, hl);
    memcpy(h, AS_TRACE_MAGIC, 8);
    asf_put32(h + ASF_OFF_VERSION, AS_TRACE_VERSION);
    asf_put32(h + ASF_OFF_HDRLEN, (uint32_t)hl);
    asf_put32(h + ASF_OFF_FLAGS, AS_HDRF_COMPLETE);
    asf_put32(h + 64, 4);                 /* exe "fuzz", no argv/libc, no python */
    asf_put32(h + 76, ASF_NO_STRING);
    memcpy(h + ASF_HDR_FIXED, "fuzz", 4);
    asf_put32(h + ASF_OFF_CRC, asf_header_crc(h, (uint32_t)hl));
    uint8_t *c = out + hl;
    if (cut) {
        static ZSTD_CCtx *cc;
        if (!cc && !(cc = ZSTD_createCCtx()))
            return 0;
        ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        size_t z = ZSTD_compress2(cc, c + ASF_CHUNK_HDR, cap - hl - ASF_CHUNK_HDR, p, n);
        if (ZSTD_isError(z))
            return 0;
        z = z > cut - 1 ? z - (cut - 1) : 0;
        memset(c, 0, ASF_CHUNK_HDR);
        asf_put32(c, ASF_CHUNK_MAGIC);
        asf_put64(c + 16, 1);
        asf_put32(c + 28, asf_chunk_crc(c));
        return hl + ASF_CHUNK_HDR + z;
    }
    size_t z = ZSTD_compress(c + ASF_CHUNK_HDR, cap - hl - ASF_CHUNK_HDR - ASF_END_LEN, p, n, 1);
    if (ZSTD_isError(z))
        return 0;
    asf_put32(c, ASF_CHUNK_MAGIC);
    asf_put32(c + 4, (uint32_t)z);
    asf_put32(c + 8, (uint32_t)n);
    asf_put32(c + 12, (uint32_t)n);
    asf_put64(c + 16, 1);
    asf_put32(c + 24, 0);
    asf_put32(c + 28, asf_chunk_crc(c));
    uint8_t *e = c + ASF_CHUNK_HDR + z;
    memset(e, 0, ASF_END_LEN);
    asf_put32(e, ASF_END_MAGIC);
    asf_put32(e + 4, 1);
    asf_put32(e + 28, asf_hash(ASF_HASH_INIT, e, 28));
    return (size_t)(e + ASF_END_LEN - out);
}

/* The input as a trace file (wrapped as above) in a memfd kept across
 * calls; returns its path, or NULL if it cannot be made. *len: the file's
 * length. */
static const char *fuzz_trace_file(const uint8_t *data, size_t size, size_t *len)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_trace", 0);
        if (fd < 0)
            return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    static uint8_t wrapped[1 << 18];
    if (size > 1 && data[0] == 'Z' && size < sizeof wrapped / 2) {
        size = wrap_payload(data + 1, size - 1, wrapped, sizeof wrapped, 0);
        data = wrapped;
    } else if (size > 2 && data[0] == 'O' && size < sizeof wrapped / 2) {
        size = wrap_payload(data + 2, size - 2, wrapped, sizeof wrapped, data[1] + 1u);
        data = wrapped;
    }
    if ((data == wrapped && !size) || ftruncate(fd, 0) ||
        pwrite(fd, data, size, 0) != (ssize_t)size)
        return NULL;
    *len = size;
    return path;
}

#endif /* AS_FUZZ_WRAP_H */
