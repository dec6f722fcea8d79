/*
 * Message compression (gzip through zlib), one message at a time with a
 * fresh stream state each, as the gRPC compression spec asks. The server
 * keeps one deflate and one inflate state, reset per message, so compressing
 * costs no allocation on the hot path. Loop thread only.
 */
#ifndef UGRPC_COMPRESS_H
#define UGRPC_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

typedef struct ugrpc__zstate ugrpc__zstate;

/* Creates the server's zlib states lazily on first use; frees them. */
void ugrpc__zstate_free(ugrpc__zstate **z);

/* Appends gzip(in) to out. Returns the compressed length, UGRPC_ENOMEM,
 * or UGRPC_EIO (zlib failure). out is unchanged on failure. */
long ugrpc__gzip(ugrpc__zstate **z, const uint8_t *in, size_t len, ugrpc__buf *out);

/* Decompresses a gzip message into a new buffer (hooked allocator) of at
 * most `max` bytes. Returns 0 with *out / *outlen set (caller frees *out),
 * UGRPC_ETOOBIG as soon as the output would exceed max (bounded memory
 * against decompression bombs), UGRPC_EPROTO for corrupt or truncated data,
 * or UGRPC_ENOMEM. */
int ugrpc__gunzip(ugrpc__zstate **z, const uint8_t *in, size_t len, size_t max, uint8_t **out,
                  size_t *outlen);

/* Whether a grpc-accept-encoding list (comma-separated, optional spaces)
 * names `coding`. */
int ugrpc__accepts_encoding(const char *list, size_t len, const char *coding);

#endif
