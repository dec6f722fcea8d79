/*
 * A minimal gRPC client for unit tests: one nghttp2 client session over TCP
 * on the same libuv loop as the server under test, one call at a time.
 * Header-only (static inline), so a test that uses part of it gets no
 * unused-function warnings. Plain malloc: it is test code, not the library.
 *
 * Use: tc_connect(), tc_start_call() with the framed request messages,
 * tc_run_until() a flag (connected, got_headers, closed, a message count),
 * tc_message() to get at the i-th response message, tc_close().
 */
#ifndef TEST_H2_CLIENT_H
#define TEST_H2_CLIENT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "ugrpc.h"

typedef struct tc_bytes {
    uint8_t *data;
    size_t len, cap;
} tc_bytes;

static inline void tc_bytes_add(tc_bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (b->data == NULL) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

typedef struct tc {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    nghttp2_session *h2;
    int connected, tcp_closed;
    /* The call. */
    int32_t stream_id;
    tc_bytes req; /* framed request messages */
    size_t req_off;
    tc_bytes resp; /* response DATA, gRPC framing included */
    int got_headers;
    int closed;      /* the stream closed */
    int grpc_status; /* -1 until seen */
    char grpc_message[256];
    uint32_t rst_code;
} tc;

static inline void tc_on_write(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

/* Writes whatever nghttp2 wants to send. */
static inline void tc_flush(tc *c)
{
    if (c->tcp_closed) return;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n <= 0) return;
        uv_write_t *w = malloc(sizeof(*w));
        char *copy = malloc((size_t)n);
        if (w == NULL || copy == NULL) abort();
        memcpy(copy, data, (size_t)n);
        w->data = copy;
        uv_buf_t buf = uv_buf_init(copy, (unsigned)n);
        if (uv_write(w, (uv_stream_t *)&c->tcp, &buf, 1, tc_on_write) != 0) {
            free(copy);
            free(w);
            return;
        }
    }
}

static inline void tc_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(size);
    buf->len = buf->base ? size : 0;
}

static inline void tc_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    tc *c = s->data;
    if (n > 0) nghttp2_session_mem_recv(c->h2, (const uint8_t *)buf->base, (size_t)n);
    free(buf->base);
    if (n < 0) {
        uv_read_stop(s);
        c->closed = 1;
        return;
    }
    tc_flush(c);
}

static inline int tc_cb_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                               size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                               void *ud)
{
    (void)s;
    (void)f;
    (void)flags;
    tc *c = ud;
    if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        char tmp[16] = {0};
        memcpy(tmp, value, valuelen < 15 ? valuelen : 15);
        c->grpc_status = atoi(tmp);
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        size_t n = valuelen < sizeof(c->grpc_message) - 1 ? valuelen : sizeof(c->grpc_message) - 1;
        memcpy(c->grpc_message, value, n);
        c->grpc_message[n] = '\0';
    }
    return 0;
}

static inline int tc_cb_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    tc *c = ud;
    if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == c->stream_id) c->got_headers = 1;
    return 0;
}

static inline int tc_cb_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                             size_t len, void *ud)
{
    (void)s;
    (void)flags;
    tc *c = ud;
    if (id == c->stream_id) tc_bytes_add(&c->resp, data, len);
    return 0;
}

static inline int tc_cb_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    (void)s;
    tc *c = ud;
    if (id == c->stream_id) {
        c->closed = 1;
        c->rst_code = code;
    }
    return 0;
}

static inline void tc_on_connect(uv_connect_t *req, int status)
{
    tc *c = req->data;
    if (status == 0) {
        c->connected = 1;
        uv_read_start((uv_stream_t *)&c->tcp, tc_alloc, tc_on_read);
    } else {
        c->closed = 1;
    }
    tc_flush(c);
}

/* Connects to 127.0.0.1:port. `stream_window` is the client's
 * SETTINGS_INITIAL_WINDOW_SIZE: 0 keeps the server from sending any
 * response DATA until tc_open_window(). */
static inline void tc_connect(tc *c, uv_loop_t *loop, int port, uint32_t stream_window)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->grpc_status = -1;
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, tc_cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, tc_cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, tc_cb_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, tc_cb_stream_close);
    nghttp2_session_client_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window}};
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 1);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->connect_req.data = c;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&addr, tc_on_connect);
}

/* Appends one message, gRPC-framed, to the request body. */
static inline void tc_add_message(tc *c, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t prefix[5] = {0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    tc_bytes_add(&c->req, prefix, 5);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) abort();
    protobuf_c_message_pack(msg, buf);
    tc_bytes_add(&c->req, buf, n);
    free(buf);
}

static inline ssize_t tc_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                                   uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)src;
    tc *c = ud;
    size_t n = c->req.len - c->req_off;
    if (n > len) n = len;
    memcpy(buf, c->req.data + c->req_off, n);
    c->req_off += n;
    if (c->req_off == c->req.len) *flags |= NGHTTP2_DATA_FLAG_EOF; /* half-close */
    return (ssize_t)n;
}

#define TC_NV(n, v)                                                                                \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

/* Starts the call with every message added so far, then half-closes. */
static inline void tc_start_call(tc *c, const char *path)
{
    nghttp2_nv nva[] = {TC_NV(":method", "POST"),
                        TC_NV(":scheme", "http"),
                        TC_NV(":path", path),
                        TC_NV(":authority", "test"),
                        TC_NV("content-type", "application/grpc"),
                        TC_NV("te", "trailers")};
    nghttp2_data_provider prd = {.read_callback = tc_read_body};
    c->stream_id = nghttp2_submit_request(c->h2, NULL, nva, sizeof(nva) / sizeof(nva[0]), &prd, c);
    tc_flush(c);
}

/* Lets the server send `n` more bytes on the call's stream. */
static inline void tc_open_window(tc *c, int32_t n)
{
    nghttp2_submit_window_update(c->h2, NGHTTP2_FLAG_NONE, c->stream_id, n);
    tc_flush(c);
}

/* Number of complete response messages received so far. */
static inline size_t tc_count(const tc *c)
{
    size_t k = 0;
    for (size_t off = 0; off + 5 <= c->resp.len; k++) {
        const uint8_t *p = c->resp.data + off;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (off + 5 + n > c->resp.len) break;
        off += 5 + n;
    }
    return k;
}

/* The i-th response message, unpacked with `type` (free with
 * protobuf_c_message_free_unpacked(m, NULL)), or NULL. */
static inline ProtobufCMessage *tc_message(const tc *c, size_t i,
                                           const ProtobufCMessageDescriptor *type)
{
    size_t off = 0;
    for (size_t k = 0; off + 5 <= c->resp.len; k++) {
        const uint8_t *p = c->resp.data + off;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (off + 5 + n > c->resp.len) return NULL;
        if (k == i) return protobuf_c_message_unpack(type, NULL, n, p + 5);
        off += 5 + n;
    }
    return NULL;
}

static inline void tc_on_timeout(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static inline void tc_on_timer_close(uv_handle_t *h)
{
    free(h);
}

/* Runs the loop until pred(arg) or `ms` milliseconds pass; returns pred's
 * final value. */
static inline int tc_run_until(uv_loop_t *loop, int (*pred)(void *), void *arg, uint64_t ms)
{
    int timed_out = 0;
    uv_timer_t *t = malloc(sizeof(*t));
    if (t == NULL) abort();
    uv_timer_init(loop, t);
    t->data = &timed_out;
    uv_timer_start(t, tc_on_timeout, ms, 0);
    while (!pred(arg) && !timed_out)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)t, tc_on_timer_close);
    return pred(arg);
}

static inline int tc_is_connected(void *arg)
{
    return ((tc *)arg)->connected;
}

static inline int tc_has_headers(void *arg)
{
    return ((tc *)arg)->got_headers;
}

static inline int tc_is_closed(void *arg)
{
    return ((tc *)arg)->closed;
}

static inline void tc_on_tcp_close(uv_handle_t *h)
{
    ((tc *)h->data)->tcp_closed = 2;
}

/* Closes the connection (running the loop until libuv let go of the
 * handle) and frees the client's memory. */
static inline void tc_close(tc *c)
{
    if (!c->tcp_closed) {
        c->tcp_closed = 1;
        uv_close((uv_handle_t *)&c->tcp, tc_on_tcp_close);
    }
    /* The handle lives in *c, which the caller may reuse at once. */
    while (c->tcp_closed != 2)
        uv_run(c->loop, UV_RUN_ONCE);
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
    free(c->req.data);
    free(c->resp.data);
    memset(&c->req, 0, sizeof(c->req));
    memset(&c->resp, 0, sizeof(c->resp));
}

/* ---- the server under test ---- */

/* Creates a server on `loop` (default options when o is NULL) listening on
 * 127.0.0.1 with a free port; returns NULL on failure. */
static inline ugrpc_server *tc_server_new(uv_loop_t *loop, const ugrpc_server_options *o)
{
    ugrpc_server *srv;
    if (ugrpc_server_new(loop, o, &srv) < 0) return NULL;
    return srv;
}

static inline int tc_server_listen(ugrpc_server *srv)
{
    if (ugrpc_server_listen(srv, "127.0.0.1", 0) < 0) return -1;
    return ugrpc_server_port(srv);
}

static inline void tc_on_shutdown(ugrpc_server *srv, void *data)
{
    (void)srv;
    *(int *)data = 1;
}

static inline int tc_flag_set(void *arg)
{
    return *(int *)arg;
}

/* Shuts the server down (grace `ms`), frees it, and returns non-zero when
 * everything closed: the shutdown callback ran and the loop holds nothing. */
static inline int tc_server_free(uv_loop_t *loop, ugrpc_server *srv, uint64_t ms)
{
    int done = 0;
    if (ugrpc_server_shutdown(srv, ms, tc_on_shutdown, &done) < 0) return 0;
    if (!tc_run_until(loop, tc_flag_set, &done, ms + 5000)) return 0;
    if (ugrpc_server_free(srv) < 0) return 0;
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
}

#endif
