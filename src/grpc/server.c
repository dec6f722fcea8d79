/*
 * The server: options, method registration, listeners, the flush queue and
 * shutdown.
 *
 * Output is flushed once per loop turn: anything that produces output for a
 * connection queues it, and the check handle (run right after the poll
 * phase) asks nghttp2 for all of that connection's frames at once and writes
 * them with one uv_write. The idle handle is started while the queue is
 * non-empty so that output queued from a timer does not wait for the next
 * I/O event.
 */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "call.h"
#include "compress.h"
#include "conn.h"
#include "h2.h"
#include "health.h"
#include "lifetime.h"
#include "reflection.h"
#include "tls.h"

void ugrpc_server_options_init(ugrpc_server_options *o)
{
    memset(o, 0, sizeof(*o));
    o->max_recv_message_size = 4u << 20;
    o->max_send_message_size = 4u << 20;
    o->max_concurrent_streams = 100;
    o->max_header_list_size = 16u << 10;
    o->initial_window_size = 1u << 20;
    o->max_output_buffer = 256u << 10;
    o->max_connections = 10000;
    o->max_pending_work = 1024;
    o->max_send_queue = 64u << 10;
    o->handshake_timeout_ms = 10000;
    o->keepalive_time_ms = 2u * 3600u * 1000u;
    o->keepalive_timeout_ms = 20000;
    o->keepalive_min_time_ms = 5u * 60u * 1000u;
    o->backlog = 511;
    o->log_level = UGRPC_LOG_INFO;
}

void ugrpc__log(const ugrpc_server *srv, ugrpc_log_level level, const char *fmt, ...)
{
    if (srv->opts.log == NULL || level > srv->opts.log_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    srv->opts.log(level, line, srv->opts.log_data);
}

static void on_check(uv_check_t *h)
{
    ugrpc_server *srv = h->data;
    /* Writable callbacks first: what they send goes out in this flush. */
    ugrpc_call *list = srv->writable_head;
    srv->writable_head = NULL;
    while (list != NULL) {
        ugrpc_call *call = list;
        list = call->writable_next;
        call->writable_next = NULL;
        call->writable_queued = 0;
        ugrpc__call_run_writable(call);
        ugrpc__call_unref(call);
    }
    ugrpc__conn *conn;
    while ((conn = srv->flush_head) != NULL) {
        srv->flush_head = conn->flush_next;
        conn->flush_next = NULL;
        conn->flush_queued = 0;
        ugrpc__conn_flush(conn);
    }
    if (srv->writable_head == NULL) uv_idle_stop(&srv->flush_idle);
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* exists only to make the poll phase non-blocking */
}

void ugrpc__server_want_flush(ugrpc_server *srv, ugrpc__conn *conn)
{
    if (conn->flush_queued || conn->closing || conn->lingering) return;
    conn->flush_queued = 1;
    conn->flush_next = srv->flush_head;
    srv->flush_head = conn;
    uv_idle_start(&srv->flush_idle, on_idle);
}

void ugrpc__server_want_writable(ugrpc_server *srv, ugrpc_call *call)
{
    if (call->writable_queued) return;
    call->writable_queued = 1;
    ugrpc__call_ref(call);
    call->writable_next = srv->writable_head;
    srv->writable_head = call;
    uv_idle_start(&srv->flush_idle, on_idle);
}

void ugrpc__server_unqueue_flush(ugrpc_server *srv, ugrpc__conn *conn)
{
    if (!conn->flush_queued) return;
    for (ugrpc__conn **p = &srv->flush_head; *p != NULL; p = &(*p)->flush_next) {
        if (*p == conn) {
            *p = conn->flush_next;
            break;
        }
    }
    conn->flush_next = NULL;
    conn->flush_queued = 0;
}

static void on_sweep(uv_timer_t *t)
{
    ugrpc__lifetime_sweep(t->data);
}

int ugrpc_server_new(uv_loop_t *loop, const ugrpc_server_options *opts, ugrpc_server **out)
{
    if (loop == NULL || out == NULL) return UGRPC_EINVAL;
    ugrpc_server_options o;
    if (opts != NULL)
        o = *opts;
    else
        ugrpc_server_options_init(&o);
    if (o.max_recv_message_size == 0 || o.max_send_message_size == 0 ||
        o.max_concurrent_streams == 0 || o.max_header_list_size == 0 ||
        o.initial_window_size == 0 || o.initial_window_size > NGHTTP2_MAX_WINDOW_SIZE ||
        o.max_output_buffer == 0 || o.max_pending_work == 0 || o.max_send_queue == 0 ||
        o.backlog <= 0)
        return UGRPC_EINVAL;
    ugrpc_server *srv = ugrpc__calloc(1, sizeof(*srv));
    if (srv == NULL) return UGRPC_ENOMEM;
    srv->loop = loop;
    srv->opts = o;
    srv->port = UGRPC_ESTATE;
    ugrpc__router_init(&srv->router);
    srv->read_buf = ugrpc__malloc(UGRPC__READ_BUF_SIZE);
    if (srv->read_buf == NULL || ugrpc__h2_setup(srv) < 0) {
        ugrpc__free(srv->read_buf);
        ugrpc__free(srv);
        return UGRPC_ENOMEM;
    }
    uv_check_init(loop, &srv->flush_check);
    uv_idle_init(loop, &srv->flush_idle);
    uv_timer_init(loop, &srv->goaway_timer);
    uv_timer_init(loop, &srv->grace_timer);
    srv->flush_check.data = srv->flush_idle.data = srv;
    srv->goaway_timer.data = srv->grace_timer.data = srv;
    ugrpc__deadlines_init(&srv->deadlines, loop, srv);
    uv_timer_init(loop, &srv->sweep_timer);
    srv->sweep_timer.data = srv;
    uint64_t period = ugrpc__lifetime_period(&o);
    uv_timer_start(&srv->sweep_timer, on_sweep, period, period);
    uv_unref((uv_handle_t *)&srv->sweep_timer);
    srv->handles_open = 6;
    uv_check_start(&srv->flush_check, on_check);
    /* The check handle alone must not keep an otherwise idle loop running. */
    uv_unref((uv_handle_t *)&srv->flush_check);
    *out = srv;
    return 0;
}

int ugrpc_server_add_method(ugrpc_server *srv, const ugrpc_method *m)
{
    if (srv == NULL || m == NULL || m->path == NULL || m->request_type == NULL ||
        m->response_type == NULL)
        return UGRPC_EINVAL;
    switch (m->type) {
    case UGRPC_UNARY:
    case UGRPC_SERVER_STREAMING:
        if (m->on_request == NULL) return UGRPC_EINVAL;
        break;
    case UGRPC_CLIENT_STREAMING:
    case UGRPC_BIDI_STREAMING:
        if (m->on_message == NULL || m->on_half_close == NULL) return UGRPC_EINVAL;
        break;
    default:
        return UGRPC_EINVAL;
    }
    return ugrpc__router_add(&srv->router, m);
}

static void on_connection(uv_stream_t *listener, int status)
{
    ugrpc__listener *l = listener->data;
    if (status < 0) {
        ugrpc__log(l->srv, UGRPC_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    ugrpc__conn_accept(l->srv, l);
}

void ugrpc__listener_free(ugrpc__listener *l)
{
    ugrpc_server *srv = l->srv;
    ugrpc__tls_ctx_free(l->tls_ctx);
    ugrpc__free(l);
    srv->listeners_closing--;
    ugrpc__server_maybe_finish(srv);
}

static void on_listener_close(uv_handle_t *h)
{
    ugrpc__listener *l = h->data;
    /* The handle of a refused connection, inside the listener, may still be
     * closing: conn.c frees the listener when it has. */
    if (l->refusing) {
        l->closed = 1;
        return;
    }
    ugrpc__listener_free(l);
}

static int listen_on(ugrpc_server *srv, const char *host, int port, const ugrpc_tls_options *tls)
{
    if (srv->shutting_down) return UGRPC_ESTATE;
    if (port < 0 || port > 65535) return UGRPC_EADDR;
    if (host == NULL || host[0] == '\0') host = "0.0.0.0";
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        ugrpc__log(srv, UGRPC_LOG_ERROR, "listen: not a numeric IP address: %s", host);
        return UGRPC_EADDR;
    }
    ugrpc__tls_ctx *ctx = NULL;
    if (tls != NULL && (ctx = ugrpc__tls_ctx_new(srv, tls)) == NULL) return UGRPC_EINVAL;
    ugrpc__listener *l = ugrpc__calloc(1, sizeof(*l));
    if (l == NULL) {
        ugrpc__tls_ctx_free(ctx);
        return UGRPC_ENOMEM;
    }
    l->srv = srv;
    l->tls_ctx = ctx;
    l->tcp.data = l;
    uv_tcp_init(srv->loop, &l->tcp);
    int rv = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
    if (rv == 0) rv = uv_listen((uv_stream_t *)&l->tcp, srv->opts.backlog, on_connection);
    if (rv != 0) {
        ugrpc__log(srv, UGRPC_LOG_ERROR, "listen on %s:%d: %s", host, port, uv_strerror(rv));
        srv->listeners_closing++;
        uv_close((uv_handle_t *)&l->tcp, on_listener_close);
        return UGRPC_EADDR;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    l->next = srv->listeners;
    srv->listeners = l;
    return 0;
}

int ugrpc_server_listen(ugrpc_server *srv, const char *host, int port)
{
    return listen_on(srv, host, port, NULL);
}

int ugrpc_server_listen_tls(ugrpc_server *srv, const char *host, int port,
                            const ugrpc_tls_options *tls)
{
    if (tls == NULL || tls->cert_file == NULL || tls->key_file == NULL) return UGRPC_EINVAL;
    return listen_on(srv, host, port, tls);
}

const double ugrpc_latency_bounds[UGRPC_LATENCY_BUCKETS] = {.005, .01, .025, .05, .1, .25,
                                                            .5,   1,   2.5,  5,   10};

const double ugrpc_wait_bounds[UGRPC_WAIT_BUCKETS] = {.0001, .00025, .0005, .001, .0025, .005, .01,
                                                      .025,  .05,    .1,    .25,  .5,    1,    2.5};

static const char *const goaway_names[UGRPC_GOAWAY_REASONS] = {
    "shutdown",          "max_age",        "max_idle", "too_many_pings",
    "enhance_your_calm", "protocol_error", "other"};

const char *ugrpc_goaway_reason_name(int reason)
{
    return reason >= 0 && reason < UGRPC_GOAWAY_REASONS ? goaway_names[reason] : "other";
}

void ugrpc__server_count_goaway(ugrpc_server *srv, const nghttp2_goaway *g)
{
    /* The notice of a graceful GOAWAY names the largest stream id: not final. */
    if (g->error_code == NGHTTP2_NO_ERROR && g->last_stream_id == (int32_t)((1u << 31) - 1)) return;
    int reason = UGRPC_GOAWAY_OTHER;
    const char *d = (const char *)g->opaque_data;
    size_t n = g->opaque_data_len;
    if (g->error_code == NGHTTP2_NO_ERROR) {
        for (int r = UGRPC_GOAWAY_SHUTDOWN; r <= UGRPC_GOAWAY_MAX_IDLE; r++)
            if (n == strlen(goaway_names[r]) && memcmp(d, goaway_names[r], n) == 0) reason = r;
    } else if (g->error_code == NGHTTP2_ENHANCE_YOUR_CALM) {
        reason = n == 14 && memcmp(d, "too_many_pings", 14) == 0 ? UGRPC_GOAWAY_TOO_MANY_PINGS
                                                                 : UGRPC_GOAWAY_ENHANCE_YOUR_CALM;
    } else {
        reason = UGRPC_GOAWAY_PROTOCOL_ERROR;
    }
    srv->stats.goaways_sent[reason]++;
}

void ugrpc_server_foreach_method(ugrpc_server *srv,
                                 void (*cb)(const ugrpc_method_stats *st, void *data), void *data)
{
    ugrpc__router *r = &srv->router;
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i].path != NULL) cb(&r->stats[i], data);
    cb(&r->unknown, data);
}

int ugrpc_server_port(const ugrpc_server *srv)
{
    return srv->port;
}

void ugrpc_server_get_stats(const ugrpc_server *srv, ugrpc_server_stats *out)
{
    *out = srv->stats;
}

static void on_deadline(uv_timer_t *t)
{
    ugrpc_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    srv->deadlines.armed_for = 0;
    ugrpc_call *call;
    while ((call = ugrpc__deadlines_pop_expired(&srv->deadlines, now)) != NULL)
        ugrpc__call_expire(call);
    ugrpc__deadlines_arm(&srv->deadlines, on_deadline);
}

void ugrpc__server_arm_deadlines(ugrpc_server *srv)
{
    ugrpc__deadlines_arm(&srv->deadlines, on_deadline);
}

/* ---- shutdown ---- */

static void on_own_close(uv_handle_t *h)
{
    ugrpc_server *srv = h->data;
    if (--srv->handles_open == 0) {
        srv->shutdown_done = 1;
        if (srv->shutdown_cb != NULL) srv->shutdown_cb(srv, srv->shutdown_data);
    }
}

void ugrpc__server_maybe_finish(ugrpc_server *srv)
{
    if (!srv->shutting_down || srv->shutdown_done || srv->handles_open < 6) return;
    if (srv->listeners_closing > 0 || srv->conns != NULL || srv->calls_live > 0 ||
        srv->stats.work_pending > 0)
        return;
    uv_close((uv_handle_t *)&srv->flush_check, on_own_close);
    uv_close((uv_handle_t *)&srv->flush_idle, on_own_close);
    uv_close((uv_handle_t *)&srv->goaway_timer, on_own_close);
    uv_close((uv_handle_t *)&srv->grace_timer, on_own_close);
    uv_close((uv_handle_t *)&srv->deadlines.timer, on_own_close);
    uv_close((uv_handle_t *)&srv->sweep_timer, on_own_close);
}

static void on_goaway_timer(uv_timer_t *t)
{
    ugrpc_server *srv = t->data;
    /* Watch streams never end by themselves: close them so connections can
     * drain. */
    ugrpc__health_end_watches(srv);
    for (ugrpc__conn *c = srv->conns; c != NULL; c = c->next)
        ugrpc__conn_goaway_final(c);
}

static void on_grace_timer(uv_timer_t *t)
{
    ugrpc_server *srv = t->data;
    if (srv->conns != NULL)
        ugrpc__log(srv, UGRPC_LOG_WARN, "shutdown grace period over: closing connections");
    ugrpc__conn *c = srv->conns;
    while (c != NULL) {
        ugrpc__conn *next = c->next;
        ugrpc__conn_close(c);
        c = next;
    }
}

int ugrpc_server_shutdown(ugrpc_server *srv, uint64_t grace_ms, ugrpc_shutdown_cb cb, void *data)
{
    if (srv->shutting_down) return UGRPC_ESTATE;
    srv->shutting_down = 1;
    ugrpc__health_shutdown(srv);
    srv->shutdown_cb = cb;
    srv->shutdown_data = data;
    ugrpc__listener *l = srv->listeners;
    srv->listeners = NULL;
    while (l != NULL) {
        ugrpc__listener *next = l->next;
        srv->listeners_closing++;
        uv_close((uv_handle_t *)&l->tcp, on_listener_close);
        l = next;
    }
    /* Phase one: GOAWAY with the maximum stream id announces the shutdown
     * while streams already in flight from the client still get accepted.
     * Phase two, a round trip later, names the last stream processed. */
    for (ugrpc__conn *c = srv->conns; c != NULL; c = c->next)
        ugrpc__conn_goaway_notice(c, "shutdown");
    uint64_t phase2 = grace_ms < 1000 ? grace_ms / 2 : 1000;
    uv_timer_start(&srv->goaway_timer, on_goaway_timer, phase2, 0);
    uv_timer_start(&srv->grace_timer, on_grace_timer, grace_ms, 0);
    ugrpc__server_maybe_finish(srv);
    return 0;
}

int ugrpc_server_free(ugrpc_server *srv)
{
    if (srv == NULL) return 0;
    /* The loop still references the server's handles until shutdown ends. */
    if (!srv->shutdown_done) return UGRPC_ESTATE;
    for (unsigned i = 0; i < srv->call_cache_len; i++)
        ugrpc__free(srv->call_cache[i]);
    ugrpc__router_free(&srv->router);
    ugrpc__deadlines_free(&srv->deadlines);
    ugrpc__zstate_free(&srv->zstate);
    ugrpc__health_free(srv);
    ugrpc__reflection_free(srv);
    ugrpc__h2_teardown(srv);
    ugrpc__free(srv->read_buf);
    ugrpc__free(srv);
    return 0;
}
