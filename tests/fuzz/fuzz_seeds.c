/*
 * tests/fuzz/fuzz_seeds.c — seeds for fuzz_reader's payload modes: every chunk
 * of the given traces, decompressed and prefixed with 'Z' (a closed chunk),
 * and again with "O\x05" (an open chunk cut 4 bytes short), one file each.
 *   fuzz_seeds CORPUS_DIR TRACE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "replay/trace_internal.h"

int main(int argc, char **argv)
{
    int made = 0;
    for (int i = 2; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            return 2;
        static uint8_t b[1 << 22];
        size_t n = fread(b, 1, sizeof b, f);
        fclose(f);
        if (n < ASF_HDR_FIXED)
            return 2;
        size_t off = asf_get32(b + ASF_OFF_HDRLEN);
        for (int k = 0; off + ASF_CHUNK_HDR <= n && asf_get32(b + off) == ASF_CHUNK_MAGIC; k++) {
            uint32_t clen = asf_get32(b + off + 4), rlen = asf_get32(b + off + 8);
            if (off + ASF_CHUNK_HDR + clen > n)
                break;
            uint8_t *raw = malloc(rlen + 1);
            raw[0] = 'Z';
            size_t got = ZSTD_decompress(raw + 1, rlen, b + off + ASF_CHUNK_HDR, clen);
            if (!ZSTD_isError(got) && got == rlen) {
                char path[4096];
                snprintf(path, sizeof path, "%s/payload_%d_%d", argv[1], i, k);
                FILE *o = fopen(path, "wb");
                if (o) {
                    fwrite(raw, 1, rlen + 1, o);
                    fclose(o);
                    made++;
                }
                snprintf(path, sizeof path, "%s/open_%d_%d", argv[1], i, k);
                if ((o = fopen(path, "wb"))) {
                    fwrite("O\x05", 1, 2, o);
                    fwrite(raw + 1, 1, rlen, o);
                    fclose(o);
                }
            }
            free(raw);
            off += ASF_CHUNK_HDR + clen;
        }
    }
    return made ? 0 : 1;
}
