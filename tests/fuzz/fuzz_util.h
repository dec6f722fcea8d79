/*
 * Helpers shared by the fuzz targets (header-only, static inline).
 *
 * Split points: a target that feeds a stream piecewise takes its first input
 * byte as a "split byte" and draws chunk lengths from it with a small
 * deterministic generator, so libFuzzer can mutate where the stream is cut
 * independently of the stream itself, and every input replays identically.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct fz_split {
    uint32_t state;
    size_t max; /* largest chunk */
} fz_split;

/* Low 4 bits of `b`: the largest chunk is 2^k bytes (k 0..15); high 4 bits
 * seed the generator. */
static inline void fz_split_init(fz_split *s, uint8_t b)
{
    s->state = 0x9E3779B9u ^ (uint32_t)(b >> 4) * 0x85EBCA6Bu;
    s->max = (size_t)1 << (b & 15);
}

/* The next chunk length, 1..min(max, remaining); 0 when nothing remains. */
static inline size_t fz_split_next(fz_split *s, size_t remaining)
{
    if (remaining == 0) return 0;
    s->state ^= s->state << 13;
    s->state ^= s->state >> 17;
    s->state ^= s->state << 5;
    size_t n = 1 + (size_t)s->state % s->max;
    return n < remaining ? n : remaining;
}

/* FNV-1a, to compare byte sequences produced two ways. */
static inline uint64_t fz_hash(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

#define FZ_HASH_INIT 0xCBF29CE484222325ull

#endif
