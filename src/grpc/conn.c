/*
 * Connections: socket I/O around one nghttp2 session.
 *
 * Input is fed to nghttp2 straight from the server's shared read buffer.
 * Output is produced lazily: nghttp2 is asked for frames only when the
 * connection is flushed (once per loop turn, from the server's check
 * handle), and only while less than max_output_buffer bytes are pending, so
 * a client that does not read makes the server stop producing for it and
 * stop reading its requests instead of buffering without bound.
 */
#include "conn.h"

#include <string.h>

#include "call.h"
#include "h2.h"
#include "lifetime.h"
#include "tls.h"

static void on_close(uv_handle_t *h);

static size_t pending_output(const ugrpc__conn *conn)
{
    return ugrpc__buf_avail(&conn->out) + ugrpc__buf_avail(&conn->tout) +
           ugrpc__buf_avail(&conn->wbuf);
}

/* Hands plaintext to nghttp2. */
static int feed_h2(void *ud, const uint8_t *p, size_t n)
{
    ugrpc__conn *conn = ud;
    ssize_t rv = nghttp2_session_mem_recv(conn->h2, p, n);
    return rv < 0 ? (int)rv : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    ugrpc__conn *conn = h->data;
    ugrpc_server *srv = conn->srv;
    (void)suggested;
    /* The shared buffer is handed out once per read and consumed before the
     * read callback returns; the busy flag guards that invariant. */
    if (srv->read_buf_busy) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    srv->read_buf_busy = 1;
    *buf = uv_buf_init((char *)srv->read_buf, UGRPC__READ_BUF_SIZE);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    ugrpc__conn *conn = stream->data;
    ugrpc_server *srv = conn->srv;
    if (buf->base == (char *)srv->read_buf) srv->read_buf_busy = 0;
    if (nread == 0) return;
    if (nread < 0) {
        if (nread != UV_EOF && nread != UV_ECONNRESET)
            ugrpc__log(srv, UGRPC_LOG_DEBUG, "read error: %s", uv_strerror((int)nread));
        ugrpc__conn_close(conn);
        return;
    }
    if (conn->lingering) return; /* the session is over: drain until the client closes */
    srv->stats.bytes_in += (uint64_t)nread;
    /* Anything from the client proves the connection alive. */
    conn->last_read_at = uv_now(srv->loop);
    conn->ping_sent_at = 0;
    int rv;
    if (conn->tls != NULL) {
        rv = ugrpc__tls_feed(conn->tls, (const uint8_t *)buf->base, (size_t)nread, feed_h2, conn);
        if (rv == UGRPC_EPROTO || rv == UGRPC_ENOMEM) {
            /* Send the alert, if any, then close. */
            ugrpc__log(srv, UGRPC_LOG_DEBUG, "TLS: closing connection");
            conn->close_after_flush = 1;
            ugrpc__server_want_flush(srv, conn);
            uv_read_stop(stream);
            return;
        }
    } else {
        rv = feed_h2(conn, (const uint8_t *)buf->base, (size_t)nread);
    }
    if (rv < 0) {
        ugrpc__log(srv, UGRPC_LOG_DEBUG, "closing connection: %s", nghttp2_strerror((int)rv));
        if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC || rv == NGHTTP2_ERR_FLOODED ||
            rv == NGHTTP2_ERR_NOMEM || rv == NGHTTP2_ERR_CALLBACK_FAILURE) {
            ugrpc__conn_close(conn);
            return;
        }
        /* Other errors leave a GOAWAY queued: send it, then close. */
        nghttp2_session_terminate_session(conn->h2, NGHTTP2_PROTOCOL_ERROR);
    }
    if (pending_output(conn) >= srv->opts.max_output_buffer && !conn->read_paused) {
        uv_read_stop(stream);
        conn->read_paused = 1;
    }
    ugrpc__server_want_flush(srv, conn);
}

static void on_write(uv_write_t *req, int status)
{
    ugrpc__conn *conn = req->data;
    conn->writing = 0;
    ugrpc__buf_clear(&conn->wbuf);
    if (conn->closing) return;
    if (status < 0) {
        ugrpc__log(conn->srv, UGRPC_LOG_DEBUG, "write error: %s", uv_strerror(status));
        ugrpc__conn_close(conn);
        return;
    }
    if (conn->read_paused && pending_output(conn) < conn->srv->opts.max_output_buffer) {
        conn->read_paused = 0;
        uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    }
    ugrpc__conn_flush(conn);
}

/* Pulls frames from nghttp2 into conn->out until it has nothing more or the
 * output limit is reached. Returns 0, or a negative nghttp2 error. */
static int produce(ugrpc__conn *conn)
{
    size_t limit = conn->srv->opts.max_output_buffer;
    while (ugrpc__buf_avail(&conn->out) < limit) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(conn->h2, &data);
        if (n < 0) return (int)n;
        if (n == 0) break;
        size_t at = conn->out.len;
        if (ugrpc__buf_append(&conn->out, data, (size_t)n) < 0) return NGHTTP2_ERR_NOMEM;
        if (conn->announce_pending) {
            conn->announce_pending = 0;
            int rv = ugrpc__h2_announce_limits(conn, conn->out.data + at, (size_t)n);
            if (rv < 0) return rv;
        }
    }
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    ugrpc__conn *conn = req->data;
    if (status < 0 && status != UV_ECANCELED) ugrpc__conn_close(conn);
}

/* Ends a finished session gently: everything we had to say is written, so
 * half-close and read (and drop) what the client still sends until it
 * closes too. Closing at once with its bytes unread would make the kernel
 * reset the connection, and the client could lose our last frames (a GOAWAY,
 * a PING ACK). The lifetime sweep closes a client that lingers too long. */
static void linger(ugrpc__conn *conn)
{
    if (conn->closing || conn->lingering) return;
    conn->lingering = 1;
    conn->linger_since = uv_now(conn->srv->loop);
    while (conn->calls != NULL)
        ugrpc__call_detach(conn->calls);
    /* Reading may have been paused (backpressure) or stopped (a flood). */
    conn->read_paused = 0;
    (void)uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    conn->sreq.data = conn;
    if (uv_shutdown(&conn->sreq, (uv_stream_t *)&conn->tcp, on_shutdown) != 0)
        ugrpc__conn_close(conn);
}

void ugrpc__conn_flush(ugrpc__conn *conn)
{
    if (conn->closing || conn->writing || conn->lingering) return;
    int rv = conn->close_after_flush ? 0 : produce(conn);
    if (rv < 0) {
        ugrpc__log(conn->srv, UGRPC_LOG_DEBUG, "session error: %s", nghttp2_strerror(rv));
        ugrpc__conn_close(conn);
        return;
    }
    ugrpc__buf *ready = &conn->out;
    if (conn->tls != NULL) {
        if ((!conn->close_after_flush && ugrpc__tls_write(conn->tls, &conn->out) < 0) ||
            ugrpc__tls_take_output(conn->tls, &conn->tout) < 0) {
            ugrpc__conn_close(conn);
            return;
        }
        ready = &conn->tout;
    }
    if (ugrpc__buf_avail(ready) == 0) {
        if (conn->close_after_flush ||
            (!nghttp2_session_want_read(conn->h2) && !nghttp2_session_want_write(conn->h2)))
            linger(conn);
        return;
    }
    if (conn->discard_output) {
        /* No socket: "written" at once; come back next turn as on_write would. */
        conn->srv->stats.bytes_out += ugrpc__buf_avail(ready);
        ugrpc__buf_clear(ready);
        conn->read_paused = 0;
        ugrpc__server_want_flush(conn->srv, conn);
        return;
    }
    /* Swap: what was produced is written; the next turn fills the other. */
    ugrpc__buf tmp = conn->wbuf;
    conn->wbuf = *ready;
    *ready = tmp;
    uv_buf_t b = uv_buf_init((char *)conn->wbuf.data + conn->wbuf.off,
                             (unsigned)ugrpc__buf_avail(&conn->wbuf));
    conn->wreq.data = conn;
    rv = uv_write(&conn->wreq, (uv_stream_t *)&conn->tcp, &b, 1, on_write);
    if (rv < 0) {
        ugrpc__log(conn->srv, UGRPC_LOG_DEBUG, "write failed: %s", uv_strerror(rv));
        ugrpc__conn_close(conn);
        return;
    }
    conn->writing = 1;
    conn->srv->stats.bytes_out += b.len;
}

void ugrpc__conn_close(ugrpc__conn *conn)
{
    if (conn->closing) return;
    conn->closing = 1;
    ugrpc_server *srv = conn->srv;
    ugrpc__server_unqueue_flush(srv, conn);
    /* Cancel the calls first: their cancel handlers may look at other calls
     * of this connection, which by now all report themselves dead. */
    while (conn->calls != NULL)
        ugrpc__call_detach(conn->calls);
    uv_close((uv_handle_t *)&conn->tcp, on_close);
}

static void on_close(uv_handle_t *h)
{
    ugrpc__conn *conn = h->data;
    ugrpc_server *srv = conn->srv;
    if (conn->h2 != NULL) nghttp2_session_del(conn->h2);
    ugrpc__buf_free(&conn->out);
    ugrpc__buf_free(&conn->tout);
    ugrpc__buf_free(&conn->wbuf);
    ugrpc__tls_free(conn->tls);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next != NULL) conn->next->prev = conn->prev;
    srv->stats.connections_open--;
    ugrpc__free(conn);
    ugrpc__server_maybe_finish(srv);
}

static void on_refused_close(uv_handle_t *h)
{
    ugrpc__listener *l = h->data;
    l->refusing = 0;
    if (l->closed) {
        ugrpc__listener_free(l); /* its own close came first */
        return;
    }
    if (l->refuse_waiting) {
        l->refuse_waiting = 0;
        ugrpc__conn_accept(l->srv, l);
    }
}

/* Accepts the pending connection and closes it at once. Leaving it pending
 * is no option: libuv stops watching a listener until its connection is
 * accepted, so the server would never accept again, even once memory is
 * back. With no memory for another handle, the listener's own is used;
 * while it closes, the next connection waits (libuv holds it) and is taken
 * when the close is done. */
static void refuse(ugrpc_server *srv, ugrpc__listener *l)
{
    ugrpc__log(srv, UGRPC_LOG_ERROR, "out of memory accepting a connection");
    if (l->refusing) {
        l->refuse_waiting = 1;
        return;
    }
    if (uv_tcp_init(srv->loop, &l->refuse) != 0) return;
    l->refuse.data = l;
    l->refusing = 1;
    (void)uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&l->refuse);
    uv_close((uv_handle_t *)&l->refuse, on_refused_close);
}

void ugrpc__conn_accept(ugrpc_server *srv, ugrpc__listener *l)
{
    uv_stream_t *listener = (uv_stream_t *)&l->tcp;
    ugrpc__conn *conn = ugrpc__calloc(1, sizeof(*conn));
    if (conn == NULL) {
        refuse(srv, l);
        return;
    }
    conn->srv = srv;
    conn->tcp.data = conn;
    if (uv_tcp_init(srv->loop, &conn->tcp) != 0) {
        ugrpc__free(conn);
        refuse(srv, l);
        return;
    }
    /* From here on the handle exists: every exit goes through uv_close. */
    conn->next = srv->conns;
    if (srv->conns != NULL) srv->conns->prev = conn;
    srv->conns = conn;
    srv->stats.connections_open++;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        conn->closing = 1;
        uv_close((uv_handle_t *)&conn->tcp, on_close);
        return;
    }
    srv->stats.connections_accepted++;
    if (srv->shutting_down ||
        (srv->opts.max_connections && srv->stats.connections_open > srv->opts.max_connections)) {
        ugrpc__log(srv, UGRPC_LOG_WARN, "connection refused: %s",
                   srv->shutting_down ? "shutting down" : "max_connections reached");
        conn->closing = 1;
        uv_close((uv_handle_t *)&conn->tcp, on_close);
        return;
    }
    ugrpc__lifetime_on_accept(conn);
    int namelen = sizeof(conn->peer);
    uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&conn->peer, &namelen);
    uv_tcp_nodelay(&conn->tcp, 1);
    if ((l->tls_ctx != NULL && (conn->tls = ugrpc__tls_new(l->tls_ctx)) == NULL) ||
        ugrpc__h2_session_new(conn) != 0 ||
        uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) != 0) {
        ugrpc__log(srv, UGRPC_LOG_ERROR, "cannot set up connection");
        ugrpc__conn_close(conn);
        return;
    }
    /* Our SETTINGS go out right away (the server preface). */
    ugrpc__server_want_flush(srv, conn);
}

void ugrpc__conn_flush_then_close(ugrpc__conn *conn)
{
    if (conn->closing || conn->close_after_flush) return;
    /* Produce what nghttp2 holds (the GOAWAY) before closing the tap. */
    int rv = produce(conn);
    conn->close_after_flush = 1;
    uv_read_stop((uv_stream_t *)&conn->tcp);
    if (rv < 0)
        ugrpc__conn_close(conn);
    else
        ugrpc__server_want_flush(conn->srv, conn);
}

void ugrpc__conn_goaway_notice(ugrpc__conn *conn, const char *reason)
{
    if (conn->closing || conn->goaway_phase > 0) return;
    conn->goaway_phase = 1;
    conn->goaway_reason = reason;
    conn->goaway_at = uv_now(conn->srv->loop);
    ugrpc__log(conn->srv, UGRPC_LOG_DEBUG, "GOAWAY (%s) to a connection with %u open calls",
               reason ? reason : "", conn->nstreams);
    nghttp2_submit_shutdown_notice(conn->h2);
    ugrpc__server_want_flush(conn->srv, conn);
}

void ugrpc__conn_goaway_final(ugrpc__conn *conn)
{
    if (conn->closing || conn->goaway_phase > 1) return;
    conn->goaway_phase = 2;
    const char *r = conn->goaway_reason;
    nghttp2_submit_goaway(conn->h2, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(conn->h2), NGHTTP2_NO_ERROR,
                          (const uint8_t *)r, r ? strlen(r) : 0);
    ugrpc__server_want_flush(conn->srv, conn);
}

ugrpc__conn *ugrpc__conn_new_unconnected(ugrpc_server *srv)
{
    ugrpc__conn *conn = ugrpc__calloc(1, sizeof(*conn));
    if (conn == NULL) return NULL;
    conn->srv = srv;
    conn->tcp.data = conn;
    conn->discard_output = 1;
    if (uv_tcp_init(srv->loop, &conn->tcp) != 0) {
        ugrpc__free(conn);
        return NULL;
    }
    conn->next = srv->conns;
    if (srv->conns != NULL) srv->conns->prev = conn;
    srv->conns = conn;
    srv->stats.connections_open++;
    ugrpc__lifetime_on_accept(conn);
    if (ugrpc__h2_session_new(conn) != 0) {
        ugrpc__conn_close(conn);
        return NULL;
    }
    ugrpc__server_want_flush(srv, conn);
    return conn;
}

int ugrpc__conn_feed(ugrpc__conn *conn, const uint8_t *p, size_t n)
{
    if (conn->closing || conn->lingering || conn->close_after_flush) return UGRPC_ESTATE;
    if (conn->read_paused) return UGRPC_EAGAIN;
    uv_buf_t buf = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
    on_read((uv_stream_t *)&conn->tcp, (ssize_t)n, &buf);
    return 0;
}
