/*
 * Fuzz target: request header parsing and the encodings it relies on
 * (src/grpc/metadata.c, status.c, deadline.c).
 *
 * Every input goes through all of them:
 * - grpc-timeout parsing, checked against its grammar;
 * - base64 of "-bin" values: decoding into a buffer of exactly the size the
 *   header promises, and encode/decode round trips;
 * - percent-encoding of grpc-message with every output capacity the input
 *   picks, and the decode round trip; decoding arbitrary text in place;
 * - content-type, metadata name and value checks;
 * - the deadline heap, driven by the bytes as a sequence of add, remove and
 *   pop operations, checked against a plain array.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "call.h"
#include "deadline.h"
#include "metadata.h"
#include "status.h"
#include "ugrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Exactly n bytes of heap, so ASan sees any overrun. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) abort();
    return p;
}

static void check_timeout(const char *v, size_t n)
{
    uint64_t ms = 12345;
    int rv = ugrpc__parse_timeout(v, n, &ms);
    int valid = n >= 2 && n <= 9 && strchr("HMSmun", v[n - 1]) != NULL && v[n - 1] != '\0';
    uint64_t num = 0;
    for (size_t i = 0; valid && i + 1 < n; i++) {
        if (v[i] < '0' || v[i] > '9') valid = 0;
        num = num * 10 + (uint64_t)(v[i] - '0');
    }
    if ((rv == 0) != valid) abort();
    if (rv != 0 && ms != 12345) abort(); /* untouched on failure */
    if (rv == 0 && (num > 0) != (ms > 0)) abort();
}

static void check_base64(const uint8_t *data, size_t n)
{
    /* Decode arbitrary text into the documented buffer size. */
    uint8_t *out = xmalloc(n * 3 / 4 + 3);
    long dn = ugrpc__base64_decode((const char *)data, n, out);
    if (dn >= 0) {
        /* Encode what was decoded and decode it again: same bytes. */
        size_t elen = ugrpc__base64_encoded_len((size_t)dn);
        char *enc = xmalloc(elen + 1);
        if (ugrpc__base64_encode(out, (size_t)dn, enc) != elen || enc[elen] != '\0') abort();
        uint8_t *back = xmalloc(elen * 3 / 4 + 3);
        long bn = ugrpc__base64_decode(enc, elen, back);
        if (bn != dn || memcmp(back, out, (size_t)dn) != 0) abort();
        free(back);
        free(enc);
    }
    free(out);
    /* Any bytes survive encode + decode. */
    size_t elen = ugrpc__base64_encoded_len(n);
    char *enc = xmalloc(elen + 1);
    if (ugrpc__base64_encode(data, n, enc) != elen) abort();
    uint8_t *back = xmalloc(elen * 3 / 4 + 3);
    if (ugrpc__base64_decode(enc, elen, back) != (long)n || memcmp(back, data, n) != 0) abort();
    free(back);
    free(enc);
}

static void check_percent(const uint8_t *data, size_t n, size_t small_cap)
{
    const char *in = (const char *)data;
    size_t need = ugrpc_percent_encode(in, n, NULL, 0);
    char *full = xmalloc(need + 1);
    if (ugrpc_percent_encode(in, n, full, need + 1) != need || full[need] != '\0') abort();
    if (!ugrpc__valid_metadata_value(full, need)) abort(); /* fit for a header */
    /* A short buffer gets a NUL-terminated prefix made of whole escapes. */
    char *part = xmalloc(small_cap ? small_cap : 1);
    if (ugrpc_percent_encode(in, n, part, small_cap) != need) abort();
    if (small_cap > 0) {
        size_t plen = strlen(part);
        if (plen >= small_cap || memcmp(part, full, plen) != 0) abort();
    }
    free(part);
    if (ugrpc_percent_decode(full, need) != n || memcmp(full, in, n) != 0) abort();
    free(full);
    /* Decoding anything in place never grows it. */
    char *copy = xmalloc(n);
    memcpy(copy, in, n);
    if (ugrpc_percent_decode(copy, n) > n) abort();
    free(copy);
}

static void check_names(const uint8_t *data, size_t n)
{
    char *s = xmalloc(n + 1);
    memcpy(s, data, n);
    s[n] = '\0';
    (void)ugrpc__is_grpc_content_type(s, n);
    (void)ugrpc__valid_metadata_name(s);
    (void)ugrpc__valid_metadata_value(s, n);
    (void)ugrpc_status_name((int)n - 2);
    (void)ugrpc__status_text((int)n % 20 - 2);
    (void)ugrpc_strerror(-(int)n);
    free(s);
}

/* The deadline heap against a plain list: byte b means add (deadline b>>2)
 * when b&3 is 0 or 1, remove the (b>>2)-th tracked call when 2, pop the
 * expired ones up to b>>2 when 3. Popped deadlines must come out in order
 * and be exactly those at or before "now". */
#define HEAP_CALLS 64
static void check_heap(const uint8_t *data, size_t n)
{
    static uv_loop_t loop;
    static int loop_ready;
    if (!loop_ready) {
        if (uv_loop_init(&loop) != 0) abort();
        loop_ready = 1;
    }
    ugrpc__deadlines d;
    ugrpc__deadlines_init(&d, &loop, NULL);
    ugrpc_call *calls = calloc(HEAP_CALLS, sizeof(*calls));
    if (calls == NULL) abort();
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned op = data[i] & 3u, arg = data[i] >> 2;
        if (op <= 1) {
            if (used == HEAP_CALLS) continue;
            ugrpc_call *c = &calls[used++];
            c->deadline = arg + 1;
            if (ugrpc__deadlines_add(&d, c) != 0) abort();
        } else if (op == 2) {
            if (used == 0) continue;
            ugrpc_call *c = &calls[arg % used];
            ugrpc__deadlines_remove(&d, c); /* a no-op when already gone */
            if (c->deadline_idx != 0) abort();
        } else {
            uint64_t last = 0;
            size_t expect = 0;
            for (size_t k = 0; k < used; k++)
                if (calls[k].deadline_idx != 0 && calls[k].deadline <= arg) expect++;
            ugrpc_call *c;
            while ((c = ugrpc__deadlines_pop_expired(&d, arg)) != NULL) {
                if (c->deadline < last || c->deadline > arg || c->deadline_idx != 0) abort();
                last = c->deadline;
                expect--;
            }
            if (expect != 0) abort();
        }
        for (size_t k = 0; k < d.count; k++)
            if (d.heap[k]->deadline_idx != k + 1 ||
                (k > 0 && d.heap[(k - 1) / 2]->deadline > d.heap[k]->deadline))
                abort();
    }
    free(calls);
    ugrpc__deadlines_free(&d);
    uv_close((uv_handle_t *)&d.timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_timeout((const char *)data, size);
    check_base64(data, size);
    check_percent(data, size, size > 0 ? data[0] : 0);
    check_names(data, size);
    check_heap(data, size);
    return 0;
}
