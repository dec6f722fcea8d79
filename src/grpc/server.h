/*
 * The server: options, the method table, listeners, the set of connections,
 * output flushing once per loop turn, shutdown and counters.
 * Loop thread only.
 */
#ifndef UGRPC_SERVER_H
#define UGRPC_SERVER_H

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "deadline.h"
#include "router.h"
#include "ugrpc.h"

typedef struct ugrpc__conn ugrpc__conn;

typedef struct ugrpc__listener {
    uv_tcp_t tcp;
    ugrpc_server *srv;
    struct ssl_ctx_st *tls_ctx; /* NULL for h2c */
    struct ugrpc__listener *next;
    /* Out of memory on accept, the connection is accepted into this handle
     * and closed at once (conn.c): refusing needs no allocation. */
    uv_tcp_t refuse;
    unsigned refusing : 1;       /* `refuse` is closing */
    unsigned refuse_waiting : 1; /* a connection waits until it has closed */
    unsigned closed : 1;         /* `tcp` closed while refusing: conn.c frees */
} ugrpc__listener;

#define UGRPC__READ_BUF_SIZE 65536u
#define UGRPC__CALL_CACHE    64u

struct ugrpc_server {
    uv_loop_t *loop;
    ugrpc_server_options opts;
    ugrpc__router router;
    ugrpc__deadlines deadlines;
    nghttp2_session_callbacks *h2_callbacks;
    nghttp2_option *h2_option;

    ugrpc__listener *listeners;
    int listeners_closing; /* uv_close pending on this many listeners */
    int port;

    ugrpc__conn *conns;      /* all open connections (doubly linked) */
    ugrpc__conn *flush_head; /* connections with output to produce (singly linked) */
    uv_check_t flush_check;  /* flushes after each poll phase */
    uv_idle_t flush_idle;    /* keeps the poll phase from blocking while a flush is due */

    /* One read buffer for every connection: reads are consumed synchronously
     * by nghttp2 inside the read callback, so no connection needs its own. */
    uint8_t *read_buf;
    int read_buf_busy;

    /* Reused call objects, to keep malloc off the per-call path. */
    struct ugrpc_call *call_cache[UGRPC__CALL_CACHE];
    unsigned call_cache_len;
    uint64_t calls_live; /* call objects allocated and not yet freed */

    /* Calls whose writable callback is due (singly linked, each holds a ref). */
    struct ugrpc_call *writable_head;
    /* Optional services (health.c, reflection.c), NULL until enabled. */
    struct ugrpc__health *health;
    struct ugrpc__reflection *reflection;
    /* zlib states for gzip, created on first use. */
    struct ugrpc__zstate *zstate;

    /* Shutdown. */
    int shutting_down;
    int handles_open;       /* own handles not yet closed: check, idle, timers */
    uv_timer_t sweep_timer; /* connection lifetime checks (lifetime.c) */
    uv_timer_t goaway_timer;
    uv_timer_t grace_timer;
    ugrpc_shutdown_cb shutdown_cb;
    void *shutdown_data;
    int shutdown_done;

    ugrpc_server_stats stats;
};

/* Logs through the embedder's hook when `level` is enabled. */
void ugrpc__log(const ugrpc_server *srv, ugrpc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Queues `conn` to produce and write its pending output after this poll
 * phase. Cheap and idempotent. */
void ugrpc__server_want_flush(ugrpc_server *srv, ugrpc__conn *conn);

/* Queues a call's writable callback for the next check phase. */
void ugrpc__server_want_writable(ugrpc_server *srv, struct ugrpc_call *call);

/* Removes a connection from the flush queue (it is closing). */
void ugrpc__server_unqueue_flush(ugrpc_server *srv, ugrpc__conn *conn);

/* Arms the deadline timer for the earliest deadline. */
void ugrpc__server_arm_deadlines(ugrpc_server *srv);

/* Counts a GOAWAY frame just sent, by reason (final GOAWAYs only). */
void ugrpc__server_count_goaway(ugrpc_server *srv, const nghttp2_goaway *g);

/* Frees a listener whose handles are closed. */
void ugrpc__listener_free(ugrpc__listener *l);

/* Called whenever a connection, call or job goes away during shutdown:
 * completes the shutdown when nothing remains. */
void ugrpc__server_maybe_finish(ugrpc_server *srv);

#endif
