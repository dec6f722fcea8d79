/*
 * gRPC message framing (sans-I/O): a message is a 1-byte compressed flag, a
 * 4-byte big-endian length and that many bytes. DATA frame boundaries do not
 * line up with messages, so the deframer accepts any split of the stream.
 */
#ifndef UGRPC_FRAME_H
#define UGRPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define UGRPC__PREFIX_LEN 5

/* Called once per complete message. `data` is valid only during the call.
 * Return 0 to continue, or a negative code to stop feeding (returned by
 * ugrpc__deframer_feed). */
typedef int (*ugrpc__msg_cb)(void *ud, int compressed, const uint8_t *data, size_t len);

typedef struct ugrpc__deframer {
    uint8_t prefix[UGRPC__PREFIX_LEN];
    uint8_t prefix_len; /* bytes of the prefix seen so far */
    uint8_t compressed;
    uint32_t msg_len; /* length announced by the current prefix */
    uint8_t *body;    /* reassembly buffer for a message split across chunks */
    size_t cap;       /* its size: grows with what arrives, up to msg_len */
    size_t have;      /* bytes of the current message collected */
    size_t max;       /* largest accepted message */
} ugrpc__deframer;

void ugrpc__deframer_init(ugrpc__deframer *d, size_t max_message);
/* Feeds bytes. Each complete message goes to `cb`; a message that fits in
 * one chunk is passed without copying. Returns 0, UGRPC_ETOOBIG as soon as a
 * prefix announces more than `max` (nothing of it is buffered; *too_big gets
 * the announced size), UGRPC_EPROTO for a flag byte other than 0 or 1,
 * UGRPC_ENOMEM, or cb's negative result. After an error the deframer must
 * not be fed again. */
int ugrpc__deframer_feed(ugrpc__deframer *d, const uint8_t *p, size_t n, ugrpc__msg_cb cb, void *ud,
                         uint64_t *too_big);
/* Non-zero when the stream ended between messages (no partial message). */
int ugrpc__deframer_at_boundary(const ugrpc__deframer *d);
void ugrpc__deframer_free(ugrpc__deframer *d);

/* Writes a 5-byte prefix. */
void ugrpc__frame_prefix(uint8_t out[UGRPC__PREFIX_LEN], int compressed, uint32_t len);

#endif
