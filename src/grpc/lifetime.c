/* Connection lifetime policies. */
#include "lifetime.h"

#include <stdlib.h>
#include <sys/random.h>

#include "conn.h"
#include "server.h"

#define MAX_PING_STRIKES   2
#define NO_STREAM_PING_MIN (2u * 3600u * 1000u) /* grpc-go's defaultPingTimeout */
#define GOAWAY_ROUND_TRIP  1000u                /* phase one to phase two */

static uint64_t jitter(uint64_t base)
{
    /* +-10%, so that connections opened together do not all reconnect at
     * once (gRFC A9). */
    uint32_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) r = (uint32_t)rand();
    uint64_t span = base / 5;
    return base - base / 10 + (span ? (uint64_t)r % (span + 1) : 0);
}

void ugrpc__lifetime_on_accept(ugrpc__conn *conn)
{
    const ugrpc_server_options *o = &conn->srv->opts;
    uint64_t now = uv_now(conn->srv->loop);
    conn->created_at = conn->last_read_at = conn->idle_since = now;
    if (o->max_connection_age_ms) conn->age_deadline = now + jitter(o->max_connection_age_ms);
}

void ugrpc__lifetime_on_ping(ugrpc__conn *conn)
{
    const ugrpc_server_options *o = &conn->srv->opts;
    if (o->keepalive_min_time_ms == 0) return;
    uint64_t now = uv_now(conn->srv->loop);
    uint64_t last = conn->last_client_ping;
    conn->last_client_ping = now;
    /* Pings are fine right after we sent data: the client may be measuring
     * bandwidth or checking a live stream. */
    if (conn->reset_strikes) {
        conn->reset_strikes = 0;
        conn->ping_strikes = 0;
        return;
    }
    if (last == 0) return;
    uint64_t min = conn->nstreams == 0 && !o->keepalive_permit_without_stream
                       ? NO_STREAM_PING_MIN
                       : o->keepalive_min_time_ms;
    if (now - last < min) conn->ping_strikes++;
    if (conn->ping_strikes > MAX_PING_STRIKES && !conn->close_after_flush) {
        ugrpc__log(conn->srv, UGRPC_LOG_INFO, "closing connection: too many pings");
        static const char reason[] = "too_many_pings";
        nghttp2_submit_goaway(
            conn->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(conn->h2),
            NGHTTP2_ENHANCE_YOUR_CALM, (const uint8_t *)reason, sizeof(reason) - 1);
        /* Produce the GOAWAY now; the flush after it closes the connection. */
        ugrpc__conn_flush_then_close(conn);
    }
}

void ugrpc__lifetime_on_ping_ack(ugrpc__conn *conn)
{
    conn->ping_sent_at = 0;
    /* A round trip completed: phase two of a GOAWAY need not wait longer. */
    if (conn->goaway_phase == 1) ugrpc__conn_goaway_final(conn);
}

uint64_t ugrpc__lifetime_period(const ugrpc_server_options *o)
{
    uint64_t p = 1000;
    const uint64_t d[] = {o->handshake_timeout_ms,  o->keepalive_time_ms,
                          o->keepalive_timeout_ms,  o->max_connection_idle_ms,
                          o->max_connection_age_ms, o->max_connection_age_grace_ms};
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        if (d[i] && d[i] / 4 < p) p = d[i] / 4;
    return p < 10 ? 10 : p;
}

#define LINGER_MAX 1000u /* how long a finished connection waits for the client to close */

static void sweep_one(ugrpc__conn *c, const ugrpc_server_options *o, uint64_t now)
{
    if (c->lingering) {
        if (now - c->linger_since >= LINGER_MAX) ugrpc__conn_close(c);
        return;
    }
    if (!c->handshaken && o->handshake_timeout_ms &&
        now - c->created_at >= o->handshake_timeout_ms) {
        ugrpc__log(c->srv, UGRPC_LOG_DEBUG, "closing connection: handshake timeout");
        ugrpc__conn_close(c);
        return;
    }
    if (c->force_close_at && now >= c->force_close_at) {
        ugrpc__log(c->srv, UGRPC_LOG_DEBUG, "closing connection: max connection age grace over");
        ugrpc__conn_close(c);
        return;
    }
    if (o->keepalive_time_ms && c->handshaken) {
        if (c->ping_sent_at && now - c->ping_sent_at >= o->keepalive_timeout_ms) {
            ugrpc__log(c->srv, UGRPC_LOG_DEBUG, "closing connection: keepalive timeout");
            ugrpc__conn_close(c);
            return;
        }
        if (!c->ping_sent_at && now - c->last_read_at >= o->keepalive_time_ms) {
            c->ping_sent_at = now;
            nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
            ugrpc__server_want_flush(c->srv, c);
        }
    }
    if (c->goaway_phase == 0) {
        if (c->age_deadline && now >= c->age_deadline) {
            ugrpc__conn_goaway_notice(c, "max_age");
            if (o->max_connection_age_grace_ms)
                c->force_close_at = now + GOAWAY_ROUND_TRIP + o->max_connection_age_grace_ms;
        } else if (o->max_connection_idle_ms && c->nstreams == 0 &&
                   now - c->idle_since >= o->max_connection_idle_ms) {
            ugrpc__conn_goaway_notice(c, "max_idle");
        }
        if (c->goaway_phase == 1) {
            /* A PING times the round trip: its ACK triggers phase two. */
            nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
        }
    } else if (c->goaway_phase == 1 && now - c->goaway_at >= GOAWAY_ROUND_TRIP) {
        ugrpc__conn_goaway_final(c);
    }
}

void ugrpc__lifetime_sweep(ugrpc_server *srv)
{
    uint64_t now = uv_now(srv->loop);
    ugrpc__conn *c = srv->conns;
    while (c != NULL) {
        ugrpc__conn *next = c->next; /* closing unlinks only in the close callback */
        if (!c->closing && c->h2 != NULL) sweep_one(c, &srv->opts, now);
        c = next;
    }
}
