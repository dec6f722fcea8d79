/*
 * Calls: request validation and routing, message decoding, the handler
 * hand-off, and response submission (headers, messages, trailers).
 */
#include "call.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compress.h"
#include "conn.h"
#include "metadata.h"
#include "server.h"
#include "status.h"

#define MAX_STATUS_MESSAGE 1024u
#define ACCEPT_ENCODING    "identity,gzip"

static const char plain_415[] = "415 Unsupported Media Type: this is a gRPC server; send "
                                "content-type: application/grpc\n";
static const char plain_405[] = "405 Method Not Allowed: gRPC requests use POST\n";
static const char plain_431[] = "431 Request Header Fields Too Large\n";

/* ---- lifecycle ---- */

ugrpc_call *ugrpc__call_new(ugrpc__conn *conn, int32_t stream_id)
{
    ugrpc_server *srv = conn->srv;
    ugrpc_call *call;
    if (srv->call_cache_len > 0)
        call = srv->call_cache[--srv->call_cache_len];
    else if ((call = ugrpc__malloc(sizeof(*call))) == NULL)
        return NULL;
    /* Everything before the inline arena is state; the arena needs no zeroing. */
    memset(call, 0, offsetof(ugrpc_call, inline_arena));
    call->srv = srv;
    call->conn = conn;
    call->stream_id = stream_id;
    call->refs = 1;
    call->start_ns = uv_hrtime();
    ugrpc__arena_init(&call->arena, call->inline_arena, sizeof(call->inline_arena));
    ugrpc__deframer_init(&call->deframer, srv->opts.max_recv_message_size);
    call->next = conn->calls;
    if (conn->calls != NULL) conn->calls->prev = call;
    conn->calls = call;
    conn->nstreams++;
    srv->calls_live++;
    srv->stats.calls_started++;
    srv->stats.calls_active++;
    return call;
}

static void unlink_from_conn(ugrpc_call *call)
{
    ugrpc__deadlines_remove(&call->srv->deadlines, call);
    ugrpc__conn *conn = call->conn;
    if (conn == NULL) return;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        conn->calls = call->next;
    if (call->next != NULL) call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->conn = NULL;
    if (--conn->nstreams == 0) conn->idle_since = uv_now(call->srv->loop);
    call->srv->stats.calls_active--;
}

void ugrpc__call_ref(ugrpc_call *call)
{
    call->refs++;
}

void ugrpc__call_unref(ugrpc_call *call)
{
    if (--call->refs > 0) return;
    ugrpc_server *srv = call->srv;
    ugrpc__deframer_free(&call->deframer);
    ugrpc__buf_free(&call->out);
    ugrpc__arena_reset(&call->arena);
    if (srv->call_cache_len < UGRPC__CALL_CACHE)
        srv->call_cache[srv->call_cache_len++] = call;
    else
        ugrpc__free(call);
    srv->calls_live--;
    ugrpc__server_maybe_finish(srv);
}

int ugrpc_call_is_alive(const ugrpc_call *call)
{
    return call->conn != NULL && !call->conn->closing && !call->dead && !call->finished;
}

/* Counts a routed call's completion and handling time, once. */
static void count_done(ugrpc_call *call, int code)
{
    ugrpc_method_stats *st = call->mstats;
    if (st == NULL || call->counted) return;
    call->counted = 1;
    st->handled[code]++;
    double secs = (double)(uv_hrtime() - call->start_ns) / 1e9;
    size_t b = 0;
    while (b < UGRPC_LATENCY_BUCKETS && secs > ugrpc_latency_bounds[b])
        b++;
    st->latency[b]++;
    st->latency_sum += secs;
    ugrpc_call_done_fn hook = call->srv->opts.on_call_done;
    if (hook != NULL) {
        ugrpc_call_info info = {code, (uint64_t)(secs * 1e9), call->bytes_in, call->bytes_out};
        hook(call, &info, call->srv->opts.on_call_done_data);
    }
}

/* Marks the call dead and tells the handler, once, if it is running. */
static void cancel(ugrpc_call *call)
{
    if (call->finished || call->dead) return;
    count_done(call, UGRPC_STATUS_CANCELLED);
    call->dead = 1;
    if (call->handler_started && call->method != NULL && call->method->on_cancel != NULL)
        call->method->on_cancel(call, call->method->data);
}

void ugrpc__call_detach(ugrpc_call *call)
{
    cancel(call);
    unlink_from_conn(call);
    ugrpc__call_unref(call); /* the stream's reference */
}

void ugrpc__call_on_stream_close(ugrpc_call *call, uint32_t error_code)
{
    (void)error_code;
    if (call->finished) call->srv->stats.calls_completed++;
    cancel(call);
    unlink_from_conn(call);
    ugrpc__call_unref(call);
}

/* ---- response submission ---- */

static void want_flush(ugrpc_call *call)
{
    if (call->conn != NULL) ugrpc__server_want_flush(call->srv, call->conn);
}

static int md_push(ugrpc_call *call, ugrpc__md_list *l, const char *name, const char *value,
                   size_t value_len)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        ugrpc__md *items = ugrpc__arena_alloc(&call->arena, cap * sizeof(*items));
        if (items == NULL) return UGRPC_ENOMEM;
        if (l->count) memcpy(items, l->items, l->count * sizeof(*items));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = (ugrpc__md){name, value, value_len};
    return 0;
}

static nghttp2_nv make_nv(const char *name, const char *value, size_t value_len)
{
    nghttp2_nv nv = {(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, strlen(name),
                     value_len, NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    return nv;
}

#define NV_LIT(n, v) make_nv(n, v, sizeof(v) - 1)

/* Builds the header list: fixed fields, then `md`. NULL on allocation failure. */
static nghttp2_nv *build_nv(ugrpc_call *call, const nghttp2_nv *fixed, size_t nfixed,
                            const ugrpc__md_list *md, size_t *count)
{
    size_t n = nfixed + md->count;
    nghttp2_nv *nva = ugrpc__arena_alloc(&call->arena, n * sizeof(*nva));
    if (nva == NULL) return NULL;
    memcpy(nva, fixed, nfixed * sizeof(*nva));
    for (size_t i = 0; i < md->count; i++)
        nva[nfixed + i] = make_nv(md->items[i].name, md->items[i].value, md->items[i].value_len);
    *count = n;
    return nva;
}

static size_t status_nv(ugrpc_call *call, nghttp2_nv *nv)
{
    size_t n = 0;
    nv[n++] = make_nv("grpc-status", ugrpc__status_text(call->status),
                      strlen(ugrpc__status_text(call->status)));
    if (call->status_msg != NULL)
        nv[n++] = make_nv("grpc-message", call->status_msg, strlen(call->status_msg));
    return n;
}

/* Last resort when even the response cannot be built: reset the stream so
 * the client sees an error instead of waiting forever. */
static void reset_stream(ugrpc_call *call)
{
    if (call->conn == NULL) return;
    /* Queuing the RST_STREAM takes memory too. Without it the client would
     * wait forever: close the connection instead (after what is already
     * produced), which takes none. */
    if (nghttp2_submit_rst_stream(call->conn->h2, NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_INTERNAL_ERROR) != 0)
        call->conn->close_after_flush = 1;
    want_flush(call);
}

static int start_response(ugrpc_call *call)
{
    nghttp2_nv fixed[] = {NV_LIT(":status", "200"), NV_LIT("content-type", "application/grpc"),
                          NV_LIT("grpc-accept-encoding", ACCEPT_ENCODING),
                          NV_LIT("grpc-encoding", "gzip")};
    size_t n;
    nghttp2_nv *nva = build_nv(call, fixed, call->resp_gzip ? 4 : 3, &call->initial_md, &n);
    if (nva == NULL) return UGRPC_ENOMEM;
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = ugrpc__call_read_data};
    if (nghttp2_submit_response(call->conn->h2, call->stream_id, nva, n, &prd) != 0)
        return UGRPC_ENOMEM;
    call->headers_sent = 1;
    return 0;
}

static void resume(ugrpc_call *call)
{
    if (call->deferred) {
        call->deferred = 0;
        nghttp2_session_resume_data(call->conn->h2, call->stream_id);
    }
    want_flush(call);
}

/* Decides the status and sends it: in the trailers after the messages, or as
 * a Trailers-Only response when nothing was sent yet. */
static int finish(ugrpc_call *call, int code, const char *message)
{
    call->finished = 1;
    count_done(call, code);
    ugrpc__deadlines_remove(&call->srv->deadlines, call);
    call->status = code;
    if (message != NULL && message[0] != '\0') {
        size_t len = strnlen(message, MAX_STATUS_MESSAGE);
        size_t need = ugrpc_percent_encode(message, len, NULL, 0);
        char *enc = ugrpc__arena_alloc(&call->arena, need + 1);
        if (enc != NULL) {
            ugrpc_percent_encode(message, len, enc, need + 1);
            call->status_msg = enc;
        }
    }
    if (call->headers_sent) {
        resume(call);
        return 0;
    }
    /* Trailers-Only cannot carry initial metadata: send headers first. */
    if (ugrpc__buf_avail(&call->out) > 0 || call->initial_md.count > 0) {
        if (start_response(call) < 0) {
            reset_stream(call);
            return UGRPC_ENOMEM;
        }
        want_flush(call);
        return 0;
    }
    nghttp2_nv fixed[4] = {NV_LIT(":status", "200"), NV_LIT("content-type", "application/grpc")};
    size_t nfixed = 2 + status_nv(call, fixed + 2);
    size_t n;
    nghttp2_nv *nva = build_nv(call, fixed, nfixed, &call->trailing_md, &n);
    if (nva == NULL || nghttp2_submit_response(call->conn->h2, call->stream_id, nva, n, NULL)) {
        reset_stream(call);
        return UGRPC_ENOMEM;
    }
    call->headers_sent = 1;
    want_flush(call);
    return 0;
}

/* Answers a request that is not gRPC with a short text body, so that plain
 * HTTP/2 clients (and h2spec) get a readable, non-empty response. */
static void respond_plain(ugrpc_call *call, const char *status, const char *body, size_t len)
{
    call->finished = 1;
    call->plain = 1;
    if (ugrpc__buf_append(&call->out, body, len) < 0) {
        reset_stream(call);
        return;
    }
    nghttp2_nv nva[] = {make_nv(":status", status, strlen(status)),
                        NV_LIT("content-type", "text/plain; charset=utf-8")};
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = ugrpc__call_read_data};
    if (nghttp2_submit_response(call->conn->h2, call->stream_id, nva, 2, &prd) != 0) {
        reset_stream(call);
        return;
    }
    call->headers_sent = 1;
    want_flush(call);
}

/* The library is about to end a call its handler holds (deadline, bad
 * request message): the handler learns it lost the call. While on_cancel
 * runs the call reads as dead, so the handler cannot answer it; the library
 * then sends the status itself. */
static void tell_handler_lost(ugrpc_call *call)
{
    if (!call->handler_started || call->method->on_cancel == NULL) return;
    call->dead = 1;
    call->method->on_cancel(call, call->method->data);
    call->dead = 0;
}

/* Fails a call the library itself rejects: a bad request, before or while
 * its handler runs. */
static void fail(ugrpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(ugrpc_call *call, int code, const char *fmt, ...)
{
    if (call->finished || call->dead || call->conn == NULL) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ugrpc__log(call->srv, UGRPC_LOG_DEBUG, "%.*s: %s: %s", (int)call->path_len,
               call->path ? call->path : "", ugrpc_status_name(code), msg);
    /* A streaming handler may be running (a bad request message): it loses
     * the call, as on expiry, and must hear so to release its state. */
    tell_handler_lost(call);
    finish(call, code, msg);
}

ssize_t ugrpc__call_read_data(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                              size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                              void *user_data)
{
    (void)user_data;
    ugrpc_call *call = source->ptr;
    size_t avail = ugrpc__buf_avail(&call->out);
    size_t n = avail < length ? avail : length;
    if (n > 0) {
        memcpy(buf, call->out.data + call->out.off, n);
        call->out.off += n;
    }
    if (call->writable_cb != NULL && avail - n <= call->srv->opts.max_send_queue / 2)
        ugrpc__server_want_writable(call->srv, call);
    if (n == avail) {
        ugrpc__buf_clear(&call->out);
        if (!call->finished) {
            if (n > 0) return (ssize_t)n;
            call->deferred = 1;
            return NGHTTP2_ERR_DEFERRED;
        }
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!call->plain) {
            nghttp2_nv nv[2];
            size_t nnv = status_nv(call, nv);
            size_t count;
            nghttp2_nv *nva = build_nv(call, nv, nnv, &call->trailing_md, &count);
            if (nva == NULL || nghttp2_submit_trailer(session, stream_id, nva, count) != 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
    }
    return (ssize_t)n;
}

void ugrpc__call_on_end_sent(ugrpc_call *call)
{
    /* The response ended before the request did (an early error): tell the
     * client to stop sending, as grpc-go does. */
    /* Plain HTTP answers leave the request stream to the client: the stream
     * stays open until it ends it, so protocol errors on it are still seen. */
    if (!call->remote_closed && !call->plain && call->conn != NULL)
        nghttp2_submit_rst_stream(call->conn->h2, NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_NO_ERROR);
}

/* ---- request ---- */

static int name_is(const uint8_t *name, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

int ugrpc__call_on_header(ugrpc_call *call, const uint8_t *name, size_t namelen,
                          const uint8_t *value, size_t valuelen)
{
    /* Counted as SETTINGS_MAX_HEADER_LIST_SIZE is: name + value + 32. */
    call->header_bytes += namelen + valuelen + 32;
    if (call->header_bytes > call->srv->opts.max_header_list_size) {
        call->headers_too_big = 1;
        /* Far over the limit (an HPACK bomb: one-byte references to a large
         * table entry): stop taking fields. nghttp2 validates every value
         * it hands us, a 20 KB block can expand to 64 MB of them, and that
         * validation is all the CPU time the bomb costs. Failing here makes
         * nghttp2 skip the rest of the block (still decoded, not validated)
         * and reset the stream with INTERNAL_ERROR instead of our 431. */
        if (call->header_bytes > 2 * (size_t)call->srv->opts.max_header_list_size)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return 0;
    }
    const char *v = (const char *)value;
    if (name[0] == ':') {
        if (name_is(name, namelen, ":method")) {
            call->is_post = valuelen == 4 && memcmp(v, "POST", 4) == 0;
        } else if (name_is(name, namelen, ":path")) {
            call->path = ugrpc__arena_strndup(&call->arena, v, valuelen);
            if (call->path == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            call->path_len = valuelen;
        }
        return 0;
    }
    if (name_is(name, namelen, "content-type")) {
        call->grpc_content_type = (unsigned)ugrpc__is_grpc_content_type(v, valuelen);
        return 0;
    }
    if (name_is(name, namelen, "grpc-timeout")) {
        uint64_t ms;
        if (ugrpc__parse_timeout(v, valuelen, &ms) != 0) {
            call->bad_timeout = 1;
        } else {
            uint64_t now = uv_now(call->srv->loop);
            call->deadline = now + ms;
            if (call->deadline == 0) call->deadline = 1;
        }
        return 0;
    }
    if (name_is(name, namelen, "grpc-encoding")) {
        call->encoding = ugrpc__arena_strndup(&call->arena, v, valuelen);
        if (call->encoding == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return 0;
    }
    if (name_is(name, namelen, "grpc-accept-encoding")) {
        if (ugrpc__accepts_encoding(v, valuelen, "gzip")) call->accepts_gzip = 1;
        return 0;
    }
    /* Other reserved grpc-* headers and hop-by-hop "te" are not metadata. */
    if ((namelen >= 5 && memcmp(name, "grpc-", 5) == 0) || name_is(name, namelen, "te")) return 0;
    const char *n = ugrpc__arena_strndup(&call->arena, (const char *)name, namelen);
    if (n == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    char *val;
    size_t len = valuelen;
    if (namelen > 4 && memcmp(name + namelen - 4, "-bin", 4) == 0) {
        val = ugrpc__arena_alloc(&call->arena, valuelen * 3 / 4 + 4);
        if (val == NULL) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        long dec = ugrpc__base64_decode(v, valuelen, (uint8_t *)val);
        if (dec < 0) {
            call->bad_metadata = 1;
            return 0;
        }
        len = (size_t)dec;
        val[len] = '\0';
    } else {
        val = ugrpc__arena_strndup(&call->arena, v, valuelen);
    }
    if (val == NULL || md_push(call, &call->md, n, val, len) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

void ugrpc__call_on_headers_done(ugrpc_call *call)
{
    ugrpc_server *srv = call->srv;
    if (call->headers_too_big) {
        respond_plain(call, "431", plain_431, sizeof(plain_431) - 1);
        return;
    }
    if (!call->grpc_content_type) {
        respond_plain(call, "415", plain_415, sizeof(plain_415) - 1);
        return;
    }
    if (!call->is_post) {
        respond_plain(call, "405", plain_405, sizeof(plain_405) - 1);
        return;
    }
    const char *path = call->path ? call->path : "";
    call->method = ugrpc__router_find(&srv->router, path, call->path_len);
    call->mstats =
        call->method ? ugrpc__router_stats(&srv->router, call->method) : &srv->router.unknown;
    call->mstats->started++;
    if (call->method == NULL) {
        size_t svc = ugrpc__path_service_len(path, call->path_len);
        if (svc == 0)
            fail(call, UGRPC_STATUS_UNIMPLEMENTED, "malformed method name: \"%s\"", path);
        else if (ugrpc__router_has_service(&srv->router, path, call->path_len))
            fail(call, UGRPC_STATUS_UNIMPLEMENTED, "unknown method %s for service %.*s",
                 path + svc + 1, (int)svc - 1, path + 1);
        else
            fail(call, UGRPC_STATUS_UNIMPLEMENTED, "unknown service %.*s", (int)svc - 1, path + 1);
        return;
    }
    if (call->bad_timeout) {
        fail(call, UGRPC_STATUS_INTERNAL, "malformed grpc-timeout");
        return;
    }
    if (call->bad_metadata) {
        fail(call, UGRPC_STATUS_INTERNAL, "malformed base64 in binary metadata");
        return;
    }
    if (call->encoding != NULL && strcmp(call->encoding, "identity") != 0 &&
        strcmp(call->encoding, "gzip") != 0) {
        if (md_push(call, &call->trailing_md, "grpc-accept-encoding", ACCEPT_ENCODING,
                    sizeof(ACCEPT_ENCODING) - 1) < 0) {
            reset_stream(call);
            return;
        }
        fail(call, UGRPC_STATUS_UNIMPLEMENTED, "grpc-encoding %s is not supported", call->encoding);
        return;
    }
    if (call->deadline != 0) {
        if (call->deadline <= uv_now(srv->loop)) {
            fail(call, UGRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded before the call started");
            return;
        }
        if (ugrpc__deadlines_add(&srv->deadlines, call) < 0) {
            fail(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory tracking the deadline");
            return;
        }
        ugrpc__server_arm_deadlines(srv);
    }
    if (call->method->type == UGRPC_CLIENT_STREAMING ||
        call->method->type == UGRPC_BIDI_STREAMING) {
        call->handler_started = 1;
        if (call->method->on_start != NULL) call->method->on_start(call, call->method->data);
    }
}

void ugrpc__call_expire(ugrpc_call *call)
{
    if (call->finished || call->dead || call->conn == NULL) return;
    tell_handler_lost(call);
    ugrpc__log(call->srv, UGRPC_LOG_DEBUG, "%s: deadline exceeded", call->path);
    finish(call, UGRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
}

/* protobuf-c allocator for streamed messages: they live only during
 * on_message, so they come from the hooked heap and are freed right after,
 * instead of piling up in the call's arena for the length of the stream. */
static void *heap_alloc(void *data, size_t size)
{
    (void)data;
    return ugrpc__malloc(size);
}

static void heap_free(void *data, void *p)
{
    (void)data;
    ugrpc__free(p);
}

static ProtobufCAllocator heap_pb = {heap_alloc, heap_free, NULL};

static int is_streaming_request(const ugrpc_call *call)
{
    return call->method->type == UGRPC_CLIENT_STREAMING ||
           call->method->type == UGRPC_BIDI_STREAMING;
}

static int deliver(ugrpc_call *call, const uint8_t *data, size_t len)
{
    const ProtobufCMessageDescriptor *type = call->method->request_type;
    if (!is_streaming_request(call)) {
        if (++call->nrecv > 1) {
            fail(call, UGRPC_STATUS_UNIMPLEMENTED,
                 "more than one request message for non-client-streaming method %s", call->path);
            return UGRPC_EPROTO;
        }
        call->request = protobuf_c_message_unpack(type, &call->arena.pb, len, data);
        if (call->request == NULL) {
            fail(call, UGRPC_STATUS_INTERNAL, "failed to decode request message as %s", type->name);
            return UGRPC_EPROTO;
        }
        call->mstats->msg_received++;
        return 0;
    }
    call->nrecv++;
    ProtobufCMessage *msg = protobuf_c_message_unpack(type, &heap_pb, len, data);
    if (msg == NULL) {
        fail(call, UGRPC_STATUS_INTERNAL, "failed to decode request message as %s", type->name);
        return UGRPC_EPROTO;
    }
    call->mstats->msg_received++;
    call->method->on_message(call, msg, call->method->data);
    protobuf_c_message_free_unpacked(msg, &heap_pb);
    /* The handler may have finished the call: stop delivering. */
    return call->finished || call->dead ? UGRPC_ECANCELLED : 0;
}

static int on_message(void *ud, int compressed, const uint8_t *data, size_t len)
{
    ugrpc_call *call = ud;
    if (!compressed) {
        call->last_compressed = 0;
        return deliver(call, data, len);
    }
    if (call->encoding == NULL || strcmp(call->encoding, "identity") == 0) {
        fail(call, UGRPC_STATUS_INTERNAL, "compressed flag set on a message without grpc-encoding");
        return UGRPC_EPROTO;
    }
    uint8_t *plain;
    size_t plain_len;
    size_t max = call->srv->opts.max_recv_message_size;
    int rv = ugrpc__gunzip(&call->srv->zstate, data, len, max, &plain, &plain_len);
    if (rv == UGRPC_ETOOBIG) {
        fail(call, UGRPC_STATUS_RESOURCE_EXHAUSTED,
             "decompressed message larger than max (over %zu bytes)", max);
        return rv;
    }
    if (rv < 0) {
        fail(call, rv == UGRPC_ENOMEM ? UGRPC_STATUS_RESOURCE_EXHAUSTED : UGRPC_STATUS_INTERNAL,
             "cannot decompress message (%s)", call->encoding);
        return rv;
    }
    call->last_compressed = 1;
    rv = deliver(call, plain, plain_len);
    ugrpc__free(plain);
    return rv;
}

void ugrpc__call_on_data(ugrpc_call *call, const uint8_t *data, size_t len)
{
    call->bytes_in += len;
    if (call->finished || call->dead || call->method == NULL) return;
    uint64_t size = 0;
    int rv = ugrpc__deframer_feed(&call->deframer, data, len, on_message, call, &size);
    if (rv == UGRPC_ETOOBIG)
        fail(call, UGRPC_STATUS_RESOURCE_EXHAUSTED,
             "received message larger than max (%llu vs. %zu)", (unsigned long long)size,
             call->srv->opts.max_recv_message_size);
    else if (rv == UGRPC_EPROTO)
        fail(call, UGRPC_STATUS_INTERNAL, "invalid message prefix");
    else if (rv == UGRPC_ENOMEM)
        fail(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory receiving a message");
    if (rv < 0) ugrpc__deframer_free(&call->deframer);
}

void ugrpc__call_on_end_stream(ugrpc_call *call)
{
    call->remote_closed = 1;
    if (call->finished || call->dead || call->method == NULL) return;
    if (!ugrpc__deframer_at_boundary(&call->deframer)) {
        fail(call, UGRPC_STATUS_INTERNAL, "request stream ended inside a message");
        return;
    }
    if (is_streaming_request(call)) {
        call->method->on_half_close(call, call->method->data);
        return;
    }
    if (call->nrecv != 1) {
        fail(call, UGRPC_STATUS_UNIMPLEMENTED,
             "no request message for non-client-streaming method %s", call->path);
        return;
    }
    call->handler_started = 1;
    call->method->on_request(call, call->request, call->method->data);
}

/* ---- public call API ---- */

const char *ugrpc_call_path(const ugrpc_call *call)
{
    return call->path ? call->path : "";
}

const char *ugrpc_call_metadata(const ugrpc_call *call, const char *name, size_t *len)
{
    for (size_t i = 0; i < call->md.count; i++) {
        if (strcmp(call->md.items[i].name, name) == 0) {
            if (len != NULL) *len = call->md.items[i].value_len;
            return call->md.items[i].value;
        }
    }
    return NULL;
}

size_t ugrpc_call_metadata_count(const ugrpc_call *call)
{
    return call->md.count;
}

int ugrpc_call_metadata_at(const ugrpc_call *call, size_t i, const char **name, const char **value,
                           size_t *len)
{
    if (i >= call->md.count) return UGRPC_EINVAL;
    *name = call->md.items[i].name;
    *value = call->md.items[i].value;
    if (len != NULL) *len = call->md.items[i].value_len;
    return 0;
}

uint64_t ugrpc_call_deadline(const ugrpc_call *call)
{
    return call->deadline;
}

int ugrpc_call_peer(const ugrpc_call *call, char *buf, size_t len)
{
    if (call->conn == NULL) return UGRPC_ECANCELLED;
    const struct sockaddr_storage *ss = &call->conn->peer;
    char host[64];
    int port, n;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, host, sizeof(host));
        port = ntohs(a->sin6_port);
        n = snprintf(buf, len, "[%s]:%d", host, port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, host, sizeof(host));
        port = ntohs(a->sin_port);
        n = snprintf(buf, len, "%s:%d", host, port);
    }
    if (n < 0 || (size_t)n >= len) return UGRPC_EINVAL;
    return n;
}

void ugrpc_call_set_data(ugrpc_call *call, void *data)
{
    call->user_data = data;
}

void *ugrpc_call_get_data(const ugrpc_call *call)
{
    return call->user_data;
}

void *ugrpc_call_alloc(ugrpc_call *call, size_t size)
{
    return ugrpc__arena_alloc(&call->arena, size);
}

static int check_live(const ugrpc_call *call)
{
    if (call->finished) return UGRPC_ESTATE;
    if (call->dead || call->conn == NULL || call->conn->closing) return UGRPC_ECANCELLED;
    return 0;
}

int ugrpc_call_add_metadata(ugrpc_call *call, int trailing, const char *name, const char *value,
                            size_t value_len)
{
    int rv = check_live(call);
    if (rv < 0) return rv;
    if (!trailing && call->headers_sent) return UGRPC_ESTATE;
    if (!ugrpc__valid_metadata_name(name) || (value == NULL && value_len > 0)) return UGRPC_EINVAL;
    size_t nlen = strlen(name);
    const char *n = ugrpc__arena_strndup(&call->arena, name, nlen);
    if (n == NULL) return UGRPC_ENOMEM;
    char *v;
    if (nlen > 4 && strcmp(name + nlen - 4, "-bin") == 0) {
        v = ugrpc__arena_alloc(&call->arena, ugrpc__base64_encoded_len(value_len) + 1);
        if (v == NULL) return UGRPC_ENOMEM;
        value_len = ugrpc__base64_encode((const uint8_t *)value, value_len, v);
    } else {
        if (!ugrpc__valid_metadata_value(value, value_len)) return UGRPC_EINVAL;
        v = ugrpc__arena_strndup(&call->arena, value ? value : "", value_len);
        if (v == NULL) return UGRPC_ENOMEM;
    }
    return md_push(call, trailing ? &call->trailing_md : &call->initial_md, n, v, value_len);
}

static int single_response(const ugrpc_call *call)
{
    return call->method->type == UGRPC_UNARY || call->method->type == UGRPC_CLIENT_STREAMING;
}

/* Frames one message into call->out, compressed when asked. */
static int enqueue(ugrpc_call *call, const ProtobufCMessage *msg, size_t size, int gz)
{
    ugrpc__buf *out = &call->out;
    if (!gz) {
        if (ugrpc__buf_reserve(out, UGRPC__PREFIX_LEN + size) < 0) return UGRPC_ENOMEM;
        uint8_t *p = out->data + out->len;
        ugrpc__frame_prefix(p, 0, (uint32_t)size);
        protobuf_c_message_pack(msg, p + UGRPC__PREFIX_LEN);
        out->len += UGRPC__PREFIX_LEN + size;
        return 0;
    }
    uint8_t *plain = ugrpc__malloc(size ? size : 1);
    if (plain == NULL) return UGRPC_ENOMEM;
    protobuf_c_message_pack(msg, plain);
    /* Reserving may compact the buffer, so the prefix is found again by its
     * distance from the readable start. */
    if (ugrpc__buf_reserve(out, UGRPC__PREFIX_LEN) < 0) {
        ugrpc__free(plain);
        return UGRPC_ENOMEM;
    }
    size_t rel = out->len - out->off;
    out->len += UGRPC__PREFIX_LEN;
    long n = ugrpc__gzip(&call->srv->zstate, plain, size, out);
    ugrpc__free(plain);
    if (n < 0 || (size_t)n > UINT32_MAX) {
        out->len = out->off + rel;
        return n < 0 ? (int)n : UGRPC_ETOOBIG;
    }
    ugrpc__frame_prefix(out->data + out->off + rel, 1, (uint32_t)n);
    return 0;
}

int ugrpc_call_send_flags(ugrpc_call *call, const ProtobufCMessage *msg, unsigned flags)
{
    int rv = check_live(call);
    if (rv < 0) return rv;
    if (msg == NULL) return UGRPC_EINVAL;
    if (single_response(call) && call->nsent > 0) return UGRPC_ESTATE;
    if (ugrpc__buf_avail(&call->out) >= call->srv->opts.max_send_queue) return UGRPC_EAGAIN;
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > call->srv->opts.max_send_message_size || size > UINT32_MAX) return UGRPC_ETOOBIG;
    if (!call->headers_sent) call->resp_gzip = call->compress && call->accepts_gzip;
    size_t queued = ugrpc__buf_avail(&call->out);
    rv = enqueue(call, msg, size, call->resp_gzip && !(flags & UGRPC_SEND_NO_COMPRESS));
    if (rv < 0) return rv;
    call->bytes_out += ugrpc__buf_avail(&call->out) - queued;
    call->nsent++;
    call->mstats->msg_sent++;
    if (!call->headers_sent) {
        /* A single reply is followed at once by finish(): let it submit the
         * headers so the whole response goes out in one go. */
        if (single_response(call)) return 0;
        if (start_response(call) < 0) return UGRPC_ENOMEM;
    }
    resume(call);
    return 0;
}

int ugrpc_call_send(ugrpc_call *call, const ProtobufCMessage *msg)
{
    return ugrpc_call_send_flags(call, msg, 0);
}

int ugrpc_call_on_writable(ugrpc_call *call, ugrpc_writable_fn cb, void *data)
{
    int rv = check_live(call);
    if (rv < 0) return rv;
    call->writable_cb = cb;
    call->writable_data = data;
    if (cb != NULL && ugrpc__buf_avail(&call->out) <= call->srv->opts.max_send_queue / 2)
        ugrpc__server_want_writable(call->srv, call);
    return 0;
}

void ugrpc__call_run_writable(ugrpc_call *call)
{
    ugrpc_writable_fn cb = call->writable_cb;
    if (cb == NULL || !ugrpc_call_is_alive(call)) return;
    if (ugrpc__buf_avail(&call->out) > call->srv->opts.max_send_queue / 2) return;
    call->writable_cb = NULL;
    cb(call, call->writable_data);
}

int ugrpc_call_set_compression(ugrpc_call *call, int enable)
{
    int rv = check_live(call);
    if (rv < 0) return rv;
    if (call->nsent > 0 || call->headers_sent) return UGRPC_ESTATE;
    call->compress = enable != 0;
    return 0;
}

int ugrpc_call_last_message_compressed(const ugrpc_call *call)
{
    return call->last_compressed;
}

int ugrpc_call_finish(ugrpc_call *call, int code, const char *message)
{
    int rv = check_live(call);
    if (rv < 0) return rv;
    if (code < 0 || code > 16) return UGRPC_EINVAL;
    return finish(call, code, message);
}

int ugrpc_call_reply(ugrpc_call *call, const ProtobufCMessage *msg)
{
    int rv = ugrpc_call_send(call, msg);
    if (rv == UGRPC_ETOOBIG) {
        char m[128];
        snprintf(m, sizeof(m), "response message larger than max (%zu vs. %zu)",
                 protobuf_c_message_get_packed_size(msg), call->srv->opts.max_send_message_size);
        finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, m);
        return rv;
    }
    if (rv == UGRPC_ECANCELLED || rv == UGRPC_ESTATE) return rv;
    if (rv < 0) {
        finish(call, UGRPC_STATUS_INTERNAL, ugrpc_strerror(rv));
        return rv;
    }
    return finish(call, UGRPC_STATUS_OK, NULL);
}
