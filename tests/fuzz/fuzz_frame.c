/*
 * Fuzz target: the gRPC deframer (src/grpc/frame.c).
 *
 * Input: one split byte (see fuzz_util.h), one byte choosing the message
 * size limit, then the stream of length-prefixed messages. The stream is fed
 * in chunks cut at the split points, and what the deframer delivers (each
 * message's flag, length and bytes, then the final result) is checked
 * against a straight reading of the same stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzz_util.h"
#include "ugrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    uint64_t hash;
    size_t count;
    size_t max;
} seen;

static int on_msg(void *ud, int compressed, const uint8_t *p, size_t n)
{
    seen *s = ud;
    if ((compressed != 0 && compressed != 1) || n > s->max) abort();
    uint8_t flag = (uint8_t)compressed;
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    s->hash = fz_hash(s->hash, &flag, 1);
    s->hash = fz_hash(s->hash, len, 4);
    s->hash = fz_hash(s->hash, p, n);
    s->count++;
    return 0;
}

/* The reference: walks the stream in one piece. Returns the result the
 * deframer must give and fills `want` with the messages it must deliver. */
static int reference(const uint8_t *p, size_t n, seen *want, uint64_t *too_big, int *boundary)
{
    size_t off = 0;
    *boundary = 1;
    while (off < n) {
        if (n - off < UGRPC__PREFIX_LEN) {
            *boundary = 0;
            return 0;
        }
        if (p[off] > 1) return UGRPC_EPROTO; /* judged once the prefix is whole */
        uint32_t len = (uint32_t)p[off + 1] << 24 | (uint32_t)p[off + 2] << 16 |
                       (uint32_t)p[off + 3] << 8 | p[off + 4];
        if (len > want->max) {
            *too_big = len;
            return UGRPC_ETOOBIG;
        }
        if (n - off - UGRPC__PREFIX_LEN < len) {
            *boundary = 0;
            return 0;
        }
        on_msg(want, p[off], p + off + UGRPC__PREFIX_LEN, len);
        off += UGRPC__PREFIX_LEN + len;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    fz_split split;
    fz_split_init(&split, data[0]);
    /* Limits from 0 to 4 MiB, small ones likelier so they are hit. */
    size_t max = data[1] < 128 ? data[1] : (size_t)(data[1] - 127) << 15;
    data += 2;
    size -= 2;

    seen want = {FZ_HASH_INIT, 0, max}, got = {FZ_HASH_INIT, 0, max};
    uint64_t want_big = 0, got_big = 0;
    int want_boundary;
    int want_rv = reference(data, size, &want, &want_big, &want_boundary);

    ugrpc__deframer d;
    ugrpc__deframer_init(&d, max);
    int rv = 0;
    size_t off = 0, n;
    while ((n = fz_split_next(&split, size - off)) > 0) {
        /* A private copy of each chunk: reading past it is an ASan report. */
        uint8_t *chunk = malloc(n);
        if (chunk == NULL) abort();
        memcpy(chunk, data + off, n);
        rv = ugrpc__deframer_feed(&d, chunk, n, on_msg, &got, &got_big);
        free(chunk);
        off += n;
        if (rv != 0) break;
    }
    if (rv != want_rv || got.count != want.count || got.hash != want.hash) abort();
    if (rv == UGRPC_ETOOBIG && got_big != want_big) abort();
    if (rv == 0 && !ugrpc__deframer_at_boundary(&d) != !want_boundary) abort();
    ugrpc__deframer_free(&d);
    return 0;
}
