/*
 * nghttp2 glue. Every callback runs on the loop thread, inside
 * nghttp2_session_mem_recv() or nghttp2_session_mem_send() of one connection.
 * Callbacks never close the connection: they only record what happened and
 * submit frames; the connection code acts after the session call returns.
 */
#include "h2.h"

#include "call.h"
#include "conn.h"
#include "lifetime.h"
#include "server.h"

static ugrpc_call *stream_call(nghttp2_session *s, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(s, stream_id);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    ugrpc__conn *conn = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    /* Over the advertised limit (see ugrpc__h2_announce_limits) or out of
     * memory: refuse the stream. The client knows it was never processed and
     * may retry it. Its header block is still decoded (HPACK state must stay
     * in step) and dropped, as is any DATA until the RST_STREAM goes out. */
    ugrpc_call *call = NULL;
    if (conn->nstreams < conn->srv->opts.max_concurrent_streams)
        call = ugrpc__call_new(conn, frame->hd.stream_id);
    if (call == NULL) {
        conn->srv->stats.streams_refused++;
        return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                         NGHTTP2_REFUSED_STREAM) == 0
                   ? 0
                   : NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, call);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* request trailers carry nothing gRPC uses */
    ugrpc_call *call = stream_call(s, frame->hd.stream_id);
    if (call == NULL) return 0;
    return ugrpc__call_on_header(call, name, namelen, value, valuelen);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    ugrpc__conn *conn = ud;
    ugrpc_call *call;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        call = stream_call(s, frame->hd.stream_id);
        if (call == NULL) return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) ugrpc__call_on_headers_done(call);
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ugrpc__call_on_end_stream(call);
        break;
    case NGHTTP2_DATA:
        call = stream_call(s, frame->hd.stream_id);
        if (call != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            ugrpc__call_on_end_stream(call);
        break;
    case NGHTTP2_SETTINGS:
        conn->handshaken = 1; /* the client preface is complete */
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            ugrpc__lifetime_on_ping_ack(conn);
        else
            ugrpc__lifetime_on_ping(conn);
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *s, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *ud)
{
    (void)flags;
    ugrpc__conn *conn = ud;
    ugrpc_call *call = stream_call(s, stream_id);
    (void)conn;
    if (call != NULL) ugrpc__call_on_data(call, data, len);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    ugrpc__conn *conn = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) ugrpc__server_count_goaway(conn->srv, &frame->goaway);
    if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)
        conn->reset_strikes = 1;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    ugrpc_call *call = stream_call(s, frame->hd.stream_id);
    if (call != NULL) ugrpc__call_on_end_sent(call);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    (void)ud;
    ugrpc_call *call = stream_call(s, stream_id);
    if (call == NULL) return 0;
    nghttp2_session_set_stream_user_data(s, stream_id, NULL);
    ugrpc__call_on_stream_close(call, error_code);
    return 0;
}

int ugrpc__h2_setup(ugrpc_server *srv)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return UGRPC_ENOMEM;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);

    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return UGRPC_ENOMEM;
    }
    /* Rapid reset (CVE-2023-44487) and CONTINUATION flood limits: a burst of
     * 1000 resets then 33 per second, and at most 8 CONTINUATION frames per
     * header block, as recent nghttp2 releases default to. */
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_max_settings(opt, 32);
    srv->h2_callbacks = cbs;
    srv->h2_option = opt;
    return 0;
}

void ugrpc__h2_teardown(ugrpc_server *srv)
{
    nghttp2_session_callbacks_del(srv->h2_callbacks);
    nghttp2_option_del(srv->h2_option);
    srv->h2_callbacks = NULL;
    srv->h2_option = NULL;
}

/* The stream limit nghttp2 enforces as a connection error: the real one
 * plus room for the streams refused within one read, which stay open until
 * their RST_STREAM is sent in the same loop turn. */
static uint32_t h2_hard_stream_limit(const ugrpc_server *srv)
{
    uint32_t mcs = srv->opts.max_concurrent_streams;
    return mcs > UINT32_MAX - 128 ? UINT32_MAX : mcs + 128;
}

int ugrpc__h2_session_new(ugrpc__conn *conn)
{
    ugrpc_server *srv = conn->srv;
    nghttp2_session *s;
    if (nghttp2_session_server_new3(&s, srv->h2_callbacks, conn, srv->h2_option,
                                    ugrpc__nghttp2_mem()) != 0)
        return UGRPC_ENOMEM;
    /* nghttp2 gets the hard stream limit; the wire and the client get the
     * real one (ugrpc__h2_announce_limits). */
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2_hard_stream_limit(srv)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, srv->opts.initial_window_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, srv->opts.max_header_list_size},
    };
    int rv = nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    if (rv == 0 && srv->opts.initial_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
        rv = nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0,
                                                   (int32_t)srv->opts.initial_window_size);
    if (rv != 0) {
        nghttp2_session_del(s);
        return UGRPC_ENOMEM;
    }
    conn->h2 = s;
    conn->announce_pending = 1;
    return 0;
}

/*
 * nghttp2 enforces its own SETTINGS_MAX_CONCURRENT_STREAMS as a connection
 * error (GOAWAY PROTOCOL_ERROR) once the client has acknowledged it, which
 * takes down every call on the connection. RFC 9113 5.1.2 lets a server
 * refuse just the extra stream, and gRPC clients retry a REFUSED_STREAM
 * transparently, so that is what we do: on_begin_headers() enforces the
 * limit, and nghttp2 is given a higher one (h2_hard_stream_limit) that only
 * a client ignoring the refusals reaches. The client learns the real limit
 * from the SETTINGS frame on the wire, rewritten here; nghttp2 does not look
 * at the contents of the client's ACK, so it stays in step.
 */
int ugrpc__h2_announce_limits(ugrpc__conn *conn, uint8_t *frame, size_t len)
{
    enum { HD = 9, ENTRY = 6 };
    if (len < HD || frame[3] != NGHTTP2_SETTINGS || frame[4] != 0 ||
        ((size_t)frame[0] << 16 | (size_t)frame[1] << 8 | frame[2]) != len - HD)
        return NGHTTP2_ERR_INVALID_STATE; /* not the server preface we queued */
    uint32_t mcs = conn->srv->opts.max_concurrent_streams;
    for (uint8_t *e = frame + HD; e + ENTRY <= frame + len; e += ENTRY) {
        if (e[0] != 0 || e[1] != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) continue;
        e[2] = (uint8_t)(mcs >> 24);
        e[3] = (uint8_t)(mcs >> 16);
        e[4] = (uint8_t)(mcs >> 8);
        e[5] = (uint8_t)mcs;
        return 0;
    }
    return NGHTTP2_ERR_INVALID_STATE;
}
