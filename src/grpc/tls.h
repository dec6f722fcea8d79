/*
 * TLS for connections: OpenSSL over memory BIOs, so the socket stays a
 * plain libuv stream and nghttp2 keeps seeing plaintext. Loop thread only.
 */
#ifndef UGRPC_TLS_H
#define UGRPC_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "ugrpc.h"

typedef struct ssl_ctx_st ugrpc__tls_ctx; /* SSL_CTX */
typedef struct ugrpc__tls ugrpc__tls;     /* one connection's TLS state */

/* Builds a server context from the options (TLS >= 1.2, ALPN h2 only,
 * optional client verification). Returns NULL and logs the reason. */
ugrpc__tls_ctx *ugrpc__tls_ctx_new(ugrpc_server *srv, const ugrpc_tls_options *opts);
void ugrpc__tls_ctx_free(ugrpc__tls_ctx *ctx);

/* Creates the state for one accepted connection. NULL on failure. */
ugrpc__tls *ugrpc__tls_new(ugrpc__tls_ctx *ctx);
void ugrpc__tls_free(ugrpc__tls *t);

/* Feeds ciphertext from the socket, then calls `deliver` with each run of
 * decrypted plaintext. Handshake records to send back are left for
 * ugrpc__tls_take_output(). Returns 0, or UGRPC_EPROTO when the handshake or
 * a record fails (the connection should be closed after flushing what
 * ugrpc__tls_take_output() yields: it may hold an alert), or deliver's
 * negative result. */
int ugrpc__tls_feed(ugrpc__tls *t, const uint8_t *data, size_t len,
                    int (*deliver)(void *ud, const uint8_t *p, size_t n), void *ud);

/* Non-zero once the handshake has completed. */
int ugrpc__tls_ready(const ugrpc__tls *t);

/* Encrypts all of `plain` (consuming it) once the handshake is done; before
 * that, plaintext waits. Returns 0, UGRPC_EPROTO or UGRPC_ENOMEM. */
int ugrpc__tls_write(ugrpc__tls *t, ugrpc__buf *plain);

/* Moves pending ciphertext into `out`. Returns 0 or UGRPC_ENOMEM. */
int ugrpc__tls_take_output(ugrpc__tls *t, ugrpc__buf *out);

#endif
