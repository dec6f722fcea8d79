/* gRPC length-prefixed message framing. */
#include "frame.h"

#include <string.h>

#include "alloc.h"
#include "ugrpc.h"

void ugrpc__deframer_init(ugrpc__deframer *d, size_t max_message)
{
    memset(d, 0, sizeof(*d));
    d->max = max_message;
}

void ugrpc__deframer_free(ugrpc__deframer *d)
{
    ugrpc__free(d->body);
    d->body = NULL;
    d->cap = 0;
}

int ugrpc__deframer_at_boundary(const ugrpc__deframer *d)
{
    return d->prefix_len == 0;
}

void ugrpc__frame_prefix(uint8_t out[UGRPC__PREFIX_LEN], int compressed, uint32_t len)
{
    out[0] = compressed ? 1 : 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int ugrpc__deframer_feed(ugrpc__deframer *d, const uint8_t *p, size_t n, ugrpc__msg_cb cb, void *ud,
                         uint64_t *too_big)
{
    while (n > 0) {
        if (d->prefix_len < UGRPC__PREFIX_LEN) {
            size_t take = UGRPC__PREFIX_LEN - d->prefix_len;
            if (take > n) take = n;
            memcpy(d->prefix + d->prefix_len, p, take);
            d->prefix_len = (uint8_t)(d->prefix_len + take);
            p += take;
            n -= take;
            if (d->prefix_len < UGRPC__PREFIX_LEN) return 0;
            if (d->prefix[0] > 1) return UGRPC_EPROTO;
            d->compressed = d->prefix[0];
            d->msg_len = (uint32_t)d->prefix[1] << 24 | (uint32_t)d->prefix[2] << 16 |
                         (uint32_t)d->prefix[3] << 8 | d->prefix[4];
            if (d->msg_len > d->max) {
                if (too_big != NULL) *too_big = d->msg_len;
                return UGRPC_ETOOBIG;
            }
            d->have = 0;
            if (d->msg_len == 0) {
                d->prefix_len = 0;
                int rv = cb(ud, d->compressed, (const uint8_t *)"", 0);
                if (rv < 0) return rv;
                continue;
            }
            /* Zero-copy when the whole body is already here. */
            if (n >= d->msg_len) {
                d->prefix_len = 0;
                size_t len = d->msg_len;
                int rv = cb(ud, d->compressed, p, len);
                if (rv < 0) return rv;
                p += len;
                n -= len;
                continue;
            }
        }
        size_t take = d->msg_len - d->have;
        if (take > n) take = n;
        if (take == 0) break; /* only the prefix so far */
        /* The buffer grows with the bytes that arrive instead of reserving
         * the announced length at once: a 5-byte prefix must not cost the
         * server up to max bytes (times every stream of every connection). */
        if (d->have + take > d->cap) {
            size_t ncap = d->cap ? d->cap * 2 : 256;
            while (ncap < d->have + take)
                ncap *= 2;
            if (ncap > d->msg_len) ncap = d->msg_len;
            uint8_t *nb = ugrpc__realloc(d->body, ncap);
            if (nb == NULL) return UGRPC_ENOMEM;
            d->body = nb;
            d->cap = ncap;
        }
        memcpy(d->body + d->have, p, take);
        d->have += take;
        p += take;
        n -= take;
        if (d->have == d->msg_len) {
            uint8_t *body = d->body;
            d->body = NULL;
            d->cap = 0;
            d->prefix_len = 0;
            int rv = cb(ud, d->compressed, body, d->have);
            ugrpc__free(body);
            if (rv < 0) return rv;
        }
    }
    return 0;
}
