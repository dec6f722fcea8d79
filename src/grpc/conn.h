/*
 * A client connection: the TCP handle, its nghttp2 session, output buffers
 * with backpressure, and the calls on it. Loop thread only.
 *
 * Lifetime: created on accept, closed by ugrpc__conn_close() (idempotent),
 * freed in the uv_close callback. Calls outlive their connection when they
 * hold extra references (offloaded work); closing detaches them first.
 */
#ifndef UGRPC_CONN_H
#define UGRPC_CONN_H

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "alloc.h"
#include "server.h"

struct ugrpc__conn {
    uv_tcp_t tcp;
    ugrpc_server *srv;
    nghttp2_session *h2;
    ugrpc__conn *prev, *next; /* server's connection list */
    ugrpc__conn *flush_next;  /* server's flush queue */
    struct ugrpc_call *calls; /* live calls on this connection (doubly linked) */

    struct ugrpc__tls *tls; /* NULL on h2c connections */
    ugrpc__buf out;         /* output being produced (plaintext) */
    ugrpc__buf tout;        /* TLS records waiting to be written */
    ugrpc__buf wbuf;        /* output being written by uv_write */
    uv_write_t wreq;
    uv_shutdown_t sreq;

    unsigned flush_queued : 1;
    unsigned writing : 1;
    unsigned read_paused : 1; /* reading stopped: too much output pending */
    unsigned closing : 1;
    unsigned goaway_final : 1;      /* the second GOAWAY of a shutdown was sent */
    unsigned close_after_flush : 1; /* close once pending output is written */
    unsigned lingering : 1;         /* session over, write side shut: draining */
    unsigned announce_pending : 1;  /* our first SETTINGS still to be written */
    unsigned discard_output : 1;    /* no socket (ugrpc__conn_new_unconnected) */

    struct sockaddr_storage peer;

    /* Lifetime bookkeeping (lifetime.c), all in uv_now() milliseconds. */
    unsigned nstreams;          /* calls open on this connection */
    unsigned handshaken : 1;    /* TLS done and the client's SETTINGS seen */
    unsigned reset_strikes : 1; /* we sent HEADERS or DATA since the last PING */
    uint8_t ping_strikes;
    uint8_t goaway_phase;      /* 0 none, 1 notice sent, 2 final sent */
    const char *goaway_reason; /* debug data for the final GOAWAY */
    uint64_t created_at;
    uint64_t last_read_at;
    uint64_t idle_since;       /* when nstreams last dropped to 0 */
    uint64_t age_deadline;     /* 0: no max age */
    uint64_t goaway_at;        /* when phase one was sent */
    uint64_t force_close_at;   /* 0: none */
    uint64_t ping_sent_at;     /* keepalive PING outstanding since, or 0 */
    uint64_t last_client_ping; /* 0: none yet */
    uint64_t linger_since;
};

/* Accepts a pending connection on `listener`. Errors are logged; a refused
 * or failed connection is closed. */
void ugrpc__conn_accept(ugrpc_server *srv, ugrpc__listener *listener);

/* Produces nghttp2 output into the buffer and starts a write when none is in
 * flight; closes the connection when the session is done. */
void ugrpc__conn_flush(ugrpc__conn *conn);

/* Closes the connection: every call on it is cancelled and detached, then
 * the handle is closed and freed asynchronously. Idempotent. */
void ugrpc__conn_close(ugrpc__conn *conn);

/* Queues the pending output and closes the connection once it is written. */
void ugrpc__conn_flush_then_close(ugrpc__conn *conn);

/* Phase one and two of a graceful GOAWAY: the notice (last stream id 2^31-1)
 * keeps accepting streams the client already sent; the final one names the
 * last stream processed, with `reason` as debug data ("max_age", ...). */
void ugrpc__conn_goaway_notice(ugrpc__conn *conn, const char *reason);
void ugrpc__conn_goaway_final(ugrpc__conn *conn);

/* Test and fuzzing seam (tests/fuzz/fuzz_conn.c), not used by the library
 * itself: a connection with no socket. Its uv_tcp_t is initialised but never
 * opened, so closing works as usual; whatever the server flushes to it is
 * dropped as if written. Returns NULL on failure (the half-made connection is
 * then closed). */
ugrpc__conn *ugrpc__conn_new_unconnected(ugrpc_server *srv);
/* Hands client bytes to the connection as a socket read would. Returns 0,
 * UGRPC_EAGAIN when reading is paused by backpressure (run the loop so the
 * output drains, then retry), or UGRPC_ESTATE once the connection is closing
 * or its session is over. */
int ugrpc__conn_feed(ugrpc__conn *conn, const uint8_t *p, size_t n);

#endif
