/*
 * interop-server: grpc.testing.TestService on the ugrpc library, for the
 * official gRPC interop clients (grpc/grpc doc/interop-test-descriptions.md).
 *
 * It uses the library only through ugrpc.h, as any embedder would.
 *
 *   interop-server [--port=N] [--host=ADDR] [--use_tls=true|false]
 *                  [--tls_cert_file=PEM --tls_key_file=PEM] [--verbose]
 *
 * It prints "listening on PORT" on stdout once it accepts connections
 * (--port=0 picks a free port), and exits 0 after SIGTERM or SIGINT.
 *
 * Methods: EmptyCall, UnaryCall, StreamingOutputCall, StreamingInputCall,
 * FullDuplexCall and HalfDuplexCall. UnimplementedCall, CacheableUnaryCall
 * and the whole grpc.testing.UnimplementedService are deliberately left
 * unregistered, so UNIMPLEMENTED comes from the library's router (unknown
 * method of a known service, and unknown service).
 *
 * Streaming calls keep per-call state (a queue of pending responses and a
 * timer for interval_us); it is found from the call through a list, released
 * when the handler completes the call or in on_cancel, and the timer's memory
 * only in its close callback.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/messages.pb-c.h"
#include "ugrpc.h"

typedef Grpc__Testing__SimpleRequest SimpleRequest;
typedef Grpc__Testing__SimpleResponse SimpleResponse;
typedef Grpc__Testing__StreamingInputCallRequest StreamingInputCallRequest;
typedef Grpc__Testing__StreamingInputCallResponse StreamingInputCallResponse;
typedef Grpc__Testing__StreamingOutputCallRequest StreamingOutputCallRequest;
typedef Grpc__Testing__StreamingOutputCallResponse StreamingOutputCallResponse;
typedef Grpc__Testing__BoolValue BoolValue;
typedef Grpc__Testing__Payload Payload;
typedef Grpc__Testing__TestOrcaReport TestOrcaReport;

#define SERVER_ID "ugrpc-interop-server"

/* The official test certificates (SAN *.test.google.fr), as shipped by
 * Debian's ruby-grpc. */
#define TESTDATA                                                                                   \
    "/usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/gems/grpc-1.51.1/src/ruby/spec/testdata"
#define DEFAULT_CERT TESTDATA "/server1.pem"
#define DEFAULT_KEY  TESTDATA "/server1.key"

#define ECHO_INITIAL  "x-grpc-test-echo-initial"
#define ECHO_TRAILING "x-grpc-test-echo-trailing-bin"
#define ORCA_TRAILER  "endpoint-load-metrics-bin"

/* Responses a client may have queued on one stream before the server stops
 * accepting more (the queue grows only while intervals or flow control hold
 * the answers back). */
#define MAX_QUEUED 4096u

/* Payload bodies are zero bytes: up to this size they point into this
 * never-written array (in .bss, so it costs nothing until read). */
static uint8_t zeros[4u << 20];

static ugrpc_log_level log_level = UGRPC_LOG_INFO;

/* ---- per-call state of streaming calls ---- */

enum { ITEM_RESPONSE, ITEM_STATUS };

typedef struct item {
    int kind;
    int32_t size;        /* ITEM_RESPONSE: payload bytes */
    int32_t interval_us; /* ITEM_RESPONSE: wait this long before sending */
    int compress;        /* ITEM_RESPONSE: send compressed if the call compresses */
    int waited;          /* ITEM_RESPONSE: the interval is over */
    int32_t code;        /* ITEM_STATUS */
    char *message;       /* ITEM_STATUS, heap */
} item;

typedef struct stream {
    struct stream *prev, *next;
    ugrpc_call *call;
    uv_timer_t timer; /* interval_us; initialised only when has_timer */
    int has_timer;
    int buffer_all;  /* HalfDuplexCall: answer only after half-close */
    int half_closed; /* no more requests will come */
    int busy;        /* waiting for the timer or for the call to be writable */
    int ended;       /* a status is queued: later requests are ignored */
    item *items;
    size_t head, len, cap;
    int64_t aggregated; /* StreamingInputCall */
} stream;

static stream *streams; /* every live stream state */

static void item_clear(item *it)
{
    free(it->message);
    it->message = NULL;
}

static stream *stream_find(const ugrpc_call *call)
{
    for (stream *s = streams; s != NULL; s = s->next)
        if (s->call == call) return s;
    return NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Forgets the call (already completed or dead) and frees the state, the
 * timer's part only once libuv is done with it. */
static void stream_destroy(stream *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        streams = s->next;
    if (s->next != NULL) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->call = NULL;
    for (size_t i = s->head; i < s->len; i++)
        item_clear(&s->items[i]);
    free(s->items);
    s->items = NULL;
    if (s->has_timer) {
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    } else {
        free(s);
    }
}

static stream *stream_new(ugrpc_call *call, int with_timer)
{
    stream *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->call = call;
    if (with_timer) {
        uv_timer_init(uv_default_loop(), &s->timer);
        s->timer.data = s;
        s->has_timer = 1;
    }
    s->next = streams;
    if (streams != NULL) streams->prev = s;
    streams = s;
    return s;
}

static item *stream_push(stream *s)
{
    if (s->len - s->head >= MAX_QUEUED) return NULL;
    if (s->len == s->cap) {
        if (s->head > 0) {
            memmove(s->items, s->items + s->head, (s->len - s->head) * sizeof(*s->items));
            s->len -= s->head;
            s->head = 0;
        } else {
            size_t cap = s->cap ? s->cap * 2 : 8;
            item *items = realloc(s->items, cap * sizeof(*items));
            if (items == NULL) return NULL;
            s->items = items;
            s->cap = cap;
        }
    }
    item *it = &s->items[s->len++];
    memset(it, 0, sizeof(*it));
    return it;
}

/* Completes the call and releases its state. */
static void stream_finish(stream *s, int code, const char *message)
{
    int rv = ugrpc_call_finish(s->call, code, message);
    if (rv == UGRPC_EINVAL) /* a code outside 0..16 in an echoed status */
        rv = ugrpc_call_finish(s->call, UGRPC_STATUS_UNKNOWN, message);
    if (rv < 0 && rv != UGRPC_ECANCELLED)
        fprintf(stderr, "interop-server: finishing %s: %s\n", ugrpc_call_path(s->call),
                ugrpc_strerror(rv));
    stream_destroy(s);
}

/* ---- helpers ---- */

static void log_line(ugrpc_log_level level, const char *msg, void *data)
{
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    (void)data;
    fprintf(stderr, "interop-server: %s: %s\n", names[level <= UGRPC_LOG_DEBUG ? level : 3], msg);
}

/* Echoes the interop test metadata: the initial one into the response
 * headers, the binary one into the trailers. */
static void echo_metadata(ugrpc_call *call)
{
    size_t len;
    const char *v = ugrpc_call_metadata(call, ECHO_INITIAL, &len);
    int rv;
    if (v != NULL && (rv = ugrpc_call_add_metadata(call, 0, ECHO_INITIAL, v, len)) < 0)
        fprintf(stderr, "interop-server: echo %s: %s\n", ECHO_INITIAL, ugrpc_strerror(rv));
    v = ugrpc_call_metadata(call, ECHO_TRAILING, &len);
    if (v != NULL && (rv = ugrpc_call_add_metadata(call, 1, ECHO_TRAILING, v, len)) < 0)
        fprintf(stderr, "interop-server: echo %s: %s\n", ECHO_TRAILING, ugrpc_strerror(rv));
}

/* The C++ interop server's rule: expect_compressed true needs the request
 * to have arrived compressed, false needs it uncompressed. */
static int compression_as_expected(const ugrpc_call *call, const BoolValue *expect)
{
    if (expect == NULL) return 1;
    int got = ugrpc_call_last_message_compressed(call) != 0;
    return got == (expect->value != 0);
}

/* A zero-filled payload of `size` bytes; *heap is set when the body had to
 * be allocated (free it after sending). */
static int make_payload(Payload *pl, int32_t size, uint8_t **heap)
{
    grpc__testing__payload__init(pl);
    pl->type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
    *heap = NULL;
    if (size < 0) return -1;
    if ((size_t)size <= sizeof(zeros)) {
        pl->body.data = zeros;
    } else {
        if ((*heap = calloc((size_t)size, 1)) == NULL) return -1;
        pl->body.data = *heap;
    }
    pl->body.len = (size_t)size;
    return 0;
}

/* Maps a failed send to the status the call ends with; returns 0 if the
 * call is dead (its on_cancel has run or will run). */
static int send_failure_status(int rv, const char **msg)
{
    switch (rv) {
    case UGRPC_ECANCELLED:
        return 0;
    case UGRPC_ETOOBIG:
        *msg = "response message larger than the server's limit";
        return UGRPC_STATUS_RESOURCE_EXHAUSTED;
    default:
        *msg = ugrpc_strerror(rv);
        return UGRPC_STATUS_INTERNAL;
    }
}

/* ---- ORCA per-call load report (orca_per_rpc) ----
 *
 * The report goes back in the trailer endpoint-load-metrics-bin as a
 * serialized xds.data.orca.v3.OrcaLoadReport: cpu_utilization = 1,
 * mem_utilization = 2 (doubles), request_cost = 4 and utilization = 5
 * (map<string, double>). Its proto is not in grpc-proto, so it is written
 * here by hand. */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_double(uint8_t *p, unsigned field, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    p[0] = (uint8_t)(field << 3 | 1);
    for (int i = 0; i < 8; i++)
        p[1 + i] = (uint8_t)(bits >> (8 * i));
    return 9;
}

static size_t put_map_entry(uint8_t *p, unsigned field, const char *key, double value)
{
    size_t klen = strlen(key); /* < 128 (the caller checks): its length is one byte */
    size_t n = 0;
    p[n++] = (uint8_t)(field << 3 | 2);
    n += put_varint(p + n, 2 + klen + 9);
    p[n++] = 0x0a;
    p[n++] = (uint8_t)klen;
    memcpy(p + n, key, klen);
    n += klen;
    n += put_double(p + n, 2, value);
    return n;
}

static int add_orca_report(ugrpc_call *call, const TestOrcaReport *r)
{
    size_t cap = 18;
    for (size_t i = 0; i < r->n_request_cost; i++) {
        if (strlen(r->request_cost[i]->key) >= 128) return UGRPC_EINVAL;
        cap += 16 + strlen(r->request_cost[i]->key);
    }
    for (size_t i = 0; i < r->n_utilization; i++) {
        if (strlen(r->utilization[i]->key) >= 128) return UGRPC_EINVAL;
        cap += 16 + strlen(r->utilization[i]->key);
    }
    uint8_t *buf = ugrpc_call_alloc(call, cap);
    if (buf == NULL) return UGRPC_ENOMEM;
    size_t n = 0;
    if (r->cpu_utilization != 0) n += put_double(buf + n, 1, r->cpu_utilization);
    if (r->memory_utilization != 0) n += put_double(buf + n, 2, r->memory_utilization);
    for (size_t i = 0; i < r->n_request_cost; i++)
        n += put_map_entry(buf + n, 4, r->request_cost[i]->key, r->request_cost[i]->value);
    for (size_t i = 0; i < r->n_utilization; i++)
        n += put_map_entry(buf + n, 5, r->utilization[i]->key, r->utilization[i]->value);
    return ugrpc_call_add_metadata(call, 1, ORCA_TRAILER, (const char *)buf, n);
}

/* ---- EmptyCall, UnaryCall ---- */

static void empty_call(ugrpc_call *call, const ProtobufCMessage *request, void *data)
{
    (void)request;
    (void)data;
    Grpc__Testing__Empty resp = GRPC__TESTING__EMPTY__INIT;
    ugrpc_call_reply(call, &resp.base);
}

static void unary_call(ugrpc_call *call, const ProtobufCMessage *request, void *data)
{
    const SimpleRequest *req = (const SimpleRequest *)request;
    (void)data;
    echo_metadata(call);
    if (!compression_as_expected(call, req->expect_compressed)) {
        ugrpc_call_finish(call, UGRPC_STATUS_INVALID_ARGUMENT,
                          "Compressed request expectation not met.");
        return;
    }
    if (req->response_status != NULL && req->response_status->code != 0) {
        if (ugrpc_call_finish(call, req->response_status->code, req->response_status->message) ==
            UGRPC_EINVAL)
            ugrpc_call_finish(call, UGRPC_STATUS_UNKNOWN, req->response_status->message);
        return;
    }
    if (req->orca_per_query_report != NULL) {
        int rv = add_orca_report(call, req->orca_per_query_report);
        if (rv < 0) {
            ugrpc_call_finish(call, UGRPC_STATUS_INTERNAL, "cannot add the ORCA load report");
            return;
        }
    }
    SimpleResponse resp = GRPC__TESTING__SIMPLE_RESPONSE__INIT;
    Payload pl;
    uint8_t *heap;
    if (make_payload(&pl, req->response_size, &heap) < 0) {
        ugrpc_call_finish(call,
                          req->response_size < 0 ? UGRPC_STATUS_INVALID_ARGUMENT
                                                 : UGRPC_STATUS_RESOURCE_EXHAUSTED,
                          "cannot make a payload of the requested response_size");
        return;
    }
    resp.payload = &pl;
    if (req->fill_server_id) resp.server_id = SERVER_ID;
    unsigned flags = 0;
    if (req->response_compressed != NULL) {
        if (req->response_compressed->value)
            ugrpc_call_set_compression(call, 1);
        else
            flags = UGRPC_SEND_NO_COMPRESS;
    }
    int rv = ugrpc_call_send_flags(call, &resp.base, flags);
    free(heap);
    const char *msg = NULL;
    if (rv < 0) {
        int code = send_failure_status(rv, &msg);
        if (code != 0) ugrpc_call_finish(call, code, msg);
        return;
    }
    ugrpc_call_finish(call, UGRPC_STATUS_OK, NULL);
}

/* ---- streaming responses (StreamingOutputCall, FullDuplexCall,
 * HalfDuplexCall) ---- */

static void pump(stream *s);

static void on_timer(uv_timer_t *t)
{
    stream *s = t->data;
    s->busy = 0;
    pump(s);
}

static void on_writable(ugrpc_call *call, void *data)
{
    stream *s = data;
    (void)call;
    s->busy = 0;
    pump(s);
}

/* Sends what is queued, in order, until a wait (interval or flow control)
 * or the end; finishes the call after the last response once the client
 * has half-closed, or at a queued status. */
static void pump(stream *s)
{
    while (!s->busy && s->head < s->len) {
        item *it = &s->items[s->head];
        if (it->kind == ITEM_STATUS) {
            stream_finish(s, it->code, it->message);
            return;
        }
        if (it->interval_us > 0 && !it->waited) {
            it->waited = 1;
            s->busy = 1;
            uv_timer_start(&s->timer, on_timer, ((uint64_t)it->interval_us + 999) / 1000, 0);
            return;
        }
        StreamingOutputCallResponse resp = GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
        Payload pl;
        uint8_t *heap;
        if (make_payload(&pl, it->size, &heap) < 0) {
            stream_finish(s, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        resp.payload = &pl;
        int rv =
            ugrpc_call_send_flags(s->call, &resp.base, it->compress ? 0 : UGRPC_SEND_NO_COMPRESS);
        free(heap);
        if (rv == UGRPC_EAGAIN) {
            /* The send queue is full: HTTP/2 flow control holds the rest. */
            if (ugrpc_call_on_writable(s->call, on_writable, s) == 0) s->busy = 1;
            return; /* on failure the call is dead and on_cancel frees s */
        }
        if (rv < 0) {
            const char *msg = NULL;
            int code = send_failure_status(rv, &msg);
            if (code != 0) stream_finish(s, code, msg);
            return;
        }
        s->head++;
    }
    if (s->busy) return;
    s->head = s->len = 0;
    if (s->half_closed) stream_finish(s, UGRPC_STATUS_OK, NULL);
}

/* Queues the answers to one request: its response_status if it carries a
 * non-OK one (as grpc-go's FullDuplexCall: the status instead of the
 * responses), else one response per ResponseParameters. Returns -1 when it
 * had to finish the call (the state is gone), else 0. */
static int enqueue_request(stream *s, const StreamingOutputCallRequest *req)
{
    if (s->ended) return 0;
    item *it;
    if (req->response_status != NULL && req->response_status->code != 0) {
        if ((it = stream_push(s)) == NULL) goto full;
        it->kind = ITEM_STATUS;
        it->code = req->response_status->code;
        if (req->response_status->message != NULL)
            it->message = strdup(req->response_status->message);
        s->ended = 1;
        return 0;
    }
    int want_compression = 0;
    for (size_t i = 0; i < req->n_response_parameters; i++) {
        const Grpc__Testing__ResponseParameters *p = req->response_parameters[i];
        if ((it = stream_push(s)) == NULL) goto full;
        if (p->size < 0 || p->interval_us < 0) {
            it->kind = ITEM_STATUS;
            it->code = UGRPC_STATUS_INVALID_ARGUMENT;
            it->message = strdup("negative size or interval_us in response_parameters");
            s->ended = 1;
            return 0;
        }
        it->kind = ITEM_RESPONSE;
        it->size = p->size;
        it->interval_us = p->interval_us;
        it->compress = p->compressed != NULL && p->compressed->value;
        want_compression |= it->compress;
    }
    /* Compression is chosen per call before the first response; messages
     * not asked compressed are then sent with UGRPC_SEND_NO_COMPRESS. */
    if (want_compression) {
        int rv = ugrpc_call_set_compression(s->call, 1);
        if (rv < 0 && rv != UGRPC_ECANCELLED)
            fprintf(stderr, "interop-server: %s: compression not enabled: %s\n",
                    ugrpc_call_path(s->call), ugrpc_strerror(rv));
    }
    return 0;
full:
    /* The client keeps asking faster than the answers can go out. */
    stream_finish(s, UGRPC_STATUS_RESOURCE_EXHAUSTED, "too many queued responses");
    return -1;
}

static void streaming_output_call(ugrpc_call *call, const ProtobufCMessage *request, void *data)
{
    (void)data;
    stream *s = stream_new(call, 1);
    if (s == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    echo_metadata(call);
    if (enqueue_request(s, (const StreamingOutputCallRequest *)request) < 0) return;
    s->half_closed = 1;
    pump(s);
}

static void duplex_start(ugrpc_call *call, void *data)
{
    stream *s = stream_new(call, 1);
    if (s == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    s->buffer_all = data != NULL; /* HalfDuplexCall */
    echo_metadata(call);
}

static void duplex_message(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    stream *s = stream_find(call);
    if (s == NULL) return;
    if (enqueue_request(s, (const StreamingOutputCallRequest *)msg) < 0) return;
    if (!s->buffer_all || s->ended) pump(s);
}

static void duplex_half_close(ugrpc_call *call, void *data)
{
    (void)data;
    stream *s = stream_find(call);
    if (s == NULL) return;
    s->half_closed = 1;
    pump(s);
}

/* ---- StreamingInputCall ---- */

static void input_start(ugrpc_call *call, void *data)
{
    (void)data;
    if (stream_new(call, 0) == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    echo_metadata(call);
}

static void input_message(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const StreamingInputCallRequest *req = (const StreamingInputCallRequest *)msg;
    (void)data;
    stream *s = stream_find(call);
    if (s == NULL) return;
    if (!compression_as_expected(call, req->expect_compressed)) {
        stream_finish(s, UGRPC_STATUS_INVALID_ARGUMENT, "Compressed request expectation not met.");
        return;
    }
    if (req->payload != NULL) s->aggregated += (int64_t)req->payload->body.len;
}

static void input_half_close(ugrpc_call *call, void *data)
{
    (void)data;
    stream *s = stream_find(call);
    if (s == NULL) return;
    StreamingInputCallResponse resp = GRPC__TESTING__STREAMING_INPUT_CALL_RESPONSE__INIT;
    resp.aggregated_payload_size = s->aggregated > INT32_MAX ? INT32_MAX : (int32_t)s->aggregated;
    ugrpc_call_reply(call, &resp.base);
    stream_destroy(s);
}

/* Every method: a call that dies (client RST_STREAM, deadline, lost
 * connection, shutdown) before the handler completed it. */
static void on_cancel(ugrpc_call *call, void *data)
{
    (void)data;
    stream *s = stream_find(call);
    if (s != NULL) stream_destroy(s);
}

/* ---- registration ---- */

static int halfduplex_marker; /* method data of HalfDuplexCall: non-NULL */

static const ugrpc_method methods[] = {
    {.path = "/grpc.testing.TestService/EmptyCall",
     .type = UGRPC_UNARY,
     .request_type = &grpc__testing__empty__descriptor,
     .response_type = &grpc__testing__empty__descriptor,
     .on_request = empty_call,
     .on_cancel = on_cancel},
    {.path = "/grpc.testing.TestService/UnaryCall",
     .type = UGRPC_UNARY,
     .request_type = &grpc__testing__simple_request__descriptor,
     .response_type = &grpc__testing__simple_response__descriptor,
     .on_request = unary_call,
     .on_cancel = on_cancel},
    {.path = "/grpc.testing.TestService/StreamingOutputCall",
     .type = UGRPC_SERVER_STREAMING,
     .request_type = &grpc__testing__streaming_output_call_request__descriptor,
     .response_type = &grpc__testing__streaming_output_call_response__descriptor,
     .on_request = streaming_output_call,
     .on_cancel = on_cancel},
    {.path = "/grpc.testing.TestService/StreamingInputCall",
     .type = UGRPC_CLIENT_STREAMING,
     .request_type = &grpc__testing__streaming_input_call_request__descriptor,
     .response_type = &grpc__testing__streaming_input_call_response__descriptor,
     .on_start = input_start,
     .on_message = input_message,
     .on_half_close = input_half_close,
     .on_cancel = on_cancel},
    {.path = "/grpc.testing.TestService/FullDuplexCall",
     .type = UGRPC_BIDI_STREAMING,
     .request_type = &grpc__testing__streaming_output_call_request__descriptor,
     .response_type = &grpc__testing__streaming_output_call_response__descriptor,
     .on_start = duplex_start,
     .on_message = duplex_message,
     .on_half_close = duplex_half_close,
     .on_cancel = on_cancel},
    {.path = "/grpc.testing.TestService/HalfDuplexCall",
     .type = UGRPC_BIDI_STREAMING,
     .request_type = &grpc__testing__streaming_output_call_request__descriptor,
     .response_type = &grpc__testing__streaming_output_call_response__descriptor,
     .on_start = duplex_start,
     .on_message = duplex_message,
     .on_half_close = duplex_half_close,
     .on_cancel = on_cancel,
     .data = &halfduplex_marker},
};

/* ---- main ---- */

typedef struct app {
    ugrpc_server *srv;
    uv_signal_t sigterm, sigint;
    int signals;
} app;

static void on_shutdown(ugrpc_server *srv, void *data)
{
    app *a = data;
    (void)srv;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
}

static void on_shutdown_failed(ugrpc_server *srv, void *data)
{
    (void)srv;
    (void)data;
}

static void on_signal(uv_signal_t *h, int signum)
{
    app *a = h->data;
    if (++a->signals > 1) {
        fprintf(stderr, "interop-server: second signal (%s): exiting now\n", strsignal(signum));
        exit(1);
    }
    if (log_level >= UGRPC_LOG_INFO)
        fprintf(stderr, "interop-server: %s: shutting down\n", strsignal(signum));
    ugrpc_server_shutdown(a->srv, 2000, on_shutdown, a);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: interop-server [--port=N] [--host=ADDR] [--use_tls=true|false]\n"
               "                      [--tls_cert_file=PEM] [--tls_key_file=PEM] [--verbose]\n"
               "  --port=N        TCP port, 0 picks a free one (default 10000); prints\n"
               "                  \"listening on PORT\" on stdout when ready\n"
               "  --host=ADDR     numeric IPv4 or IPv6 address to bind (default 0.0.0.0)\n"
               "  --use_tls=BOOL  serve TLS with the interop test certificate (server1.pem,\n"
               "                  SAN *.test.google.fr) instead of h2c (default false)\n"
               "  --tls_cert_file, --tls_key_file   the certificate chain and key (default:\n"
               "                  " TESTDATA "/server1.{pem,key})\n"
               "  --verbose       log the library's debug lines on stderr\n");
}

/* "--name=value" or "--name value" (one dash is fine too, as Go flags
 * allow); returns the value or NULL. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (a[0] != '-') return NULL;
    a += a[1] == '-' ? 2 : 1;
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = 0;
        return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    int port = 10000, use_tls = 0;
    const char *host = "0.0.0.0", *cert = DEFAULT_CERT, *key = DEFAULT_KEY, *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--use_tls") == 0 || strcmp(a, "-use_tls") == 0) {
            use_tls = 1;
        } else if (strcmp(a, "--verbose") == 0) {
            log_level = UGRPC_LOG_DEBUG;
        } else if ((v = flag_value(argc, argv, &i, "port")) != NULL) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || p < 0 || p > 65535) {
                fprintf(stderr, "interop-server: --port: not a port number: %s\n", v);
                return 2;
            }
            port = (int)p;
        } else if ((v = flag_value(argc, argv, &i, "host")) != NULL) {
            host = v;
        } else if ((v = flag_value(argc, argv, &i, "use_tls")) != NULL) {
            if (parse_bool(v, &use_tls) < 0) {
                fprintf(stderr, "interop-server: --use_tls: expected true or false, got %s\n", v);
                return 2;
            }
        } else if ((v = flag_value(argc, argv, &i, "tls_cert_file")) != NULL) {
            cert = v;
        } else if ((v = flag_value(argc, argv, &i, "tls_key_file")) != NULL) {
            key = v;
        } else {
            fprintf(stderr, "interop-server: unknown argument: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (use_tls && (access(cert, R_OK) != 0 || access(key, R_OK) != 0)) {
        fprintf(stderr,
                "interop-server: --use_tls=true needs a readable certificate and key "
                "(--tls_cert_file=%s --tls_key_file=%s; Debian package ruby-grpc ships the "
                "interop test ones)\n",
                cert, key);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t *loop = uv_default_loop();
    ugrpc_server_options opts;
    ugrpc_server_options_init(&opts);
    opts.log = log_line;
    opts.log_level = log_level;
    app a = {0};
    int rv = ugrpc_server_new(loop, &opts, &a.srv);
    if (rv < 0) {
        fprintf(stderr, "interop-server: cannot create the server: %s\n", ugrpc_strerror(rv));
        return 1;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if ((rv = ugrpc_server_add_method(a.srv, &methods[i])) < 0) {
            fprintf(stderr, "interop-server: registering %s: %s\n", methods[i].path,
                    ugrpc_strerror(rv));
            return 1;
        }
    }
    if (use_tls) {
        ugrpc_tls_options tls = {.cert_file = cert, .key_file = key};
        rv = ugrpc_server_listen_tls(a.srv, host, port, &tls);
    } else {
        rv = ugrpc_server_listen(a.srv, host, port);
    }
    if (rv < 0) {
        fprintf(stderr, "interop-server: cannot listen on %s:%d: %s\n", host, port,
                ugrpc_strerror(rv));
        /* The server's handles live on the loop: shut down, then free. */
        ugrpc_server_shutdown(a.srv, 0, on_shutdown_failed, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        ugrpc_server_free(a.srv);
        uv_loop_close(loop);
        return 1;
    }
    printf("listening on %d\n", ugrpc_server_port(a.srv));
    fflush(stdout);

    uv_signal_init(loop, &a.sigterm);
    uv_signal_init(loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);

    uv_run(loop, UV_RUN_DEFAULT);

    int code = 0;
    if (streams != NULL) {
        fprintf(stderr, "interop-server: BUG: stream state left after shutdown\n");
        code = 1;
    }
    if ((rv = ugrpc_server_free(a.srv)) < 0) {
        fprintf(stderr, "interop-server: server free: %s\n", ugrpc_strerror(rv));
        code = 1;
    }
    if ((rv = uv_loop_close(loop)) != 0) {
        fprintf(stderr, "interop-server: BUG: handles left open on the loop: %s\n",
                uv_strerror(rv));
        code = 1;
    }
    return code;
}
