/*
 * nghttp2 glue: the callbacks that turn HTTP/2 events into call events, and
 * the session options derived from the server options.
 */
#ifndef UGRPC_H2_H
#define UGRPC_H2_H

#include <nghttp2/nghttp2.h>

#include "ugrpc.h"

/* Builds the shared callbacks and options for a server. Returns 0 or
 * UGRPC_ENOMEM (nothing allocated). */
int ugrpc__h2_setup(ugrpc_server *srv);
void ugrpc__h2_teardown(ugrpc_server *srv);

/* Creates a server session for `conn` and queues our SETTINGS.
 * Returns 0 or UGRPC_ENOMEM. */
typedef struct ugrpc__conn ugrpc__conn;
int ugrpc__h2_session_new(ugrpc__conn *conn);

/* Rewrites, in place, the session's first frame (our SETTINGS, `len` bytes
 * copied from nghttp2_session_mem_send) so that it announces the server's
 * max_concurrent_streams rather than the higher limit nghttp2 enforces (see
 * h2.c). Returns 0, or NGHTTP2_ERR_INVALID_STATE when `frame` is not that
 * SETTINGS frame (the connection must then be closed). */
int ugrpc__h2_announce_limits(ugrpc__conn *conn, uint8_t *frame, size_t len);

#endif
