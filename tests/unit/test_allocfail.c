/*
 * Allocation failure sweep (issue #8): the library's real paths under an
 * allocator that refuses the k-th allocation (alloc_hooks.h, ah_*).
 *
 * One run of the scenario: a server on a fresh loop (ugrpc_server_new, six
 * methods, health and reflection, a loopback listener), then one connection
 * and call each from the test client (h2_client.h): a unary call with
 * metadata, a deadline and a gzip request and response; a server-streaming
 * call; a client-streaming call with a message spanning DATA frames; a bidi
 * call; a unary call whose handler offloads to the worker pool; an unknown
 * method; a health Check; a reflection stream; a held stream ended by its
 * deadline. Then, with allocation restored, a follow-up call; then a
 * shutdown under a held-open stream, and the server freed.
 *
 * A counting run finds N, the allocations the library makes. Then for every
 * k in 1..N, once refusing only the k-th allocation and once the k-th and
 * every one after it, the run must show: no crash or sanitizer report; no
 * hang (every loop run is bounded); the API that failed during set-up said
 * UGRPC_ENOMEM; the call hit by the failure ended with an error status, a
 * reset stream or a closed connection, or with OK and an intact response;
 * every call before it (and, when only one allocation was refused, every
 * call after it) succeeded intact; the follow-up call succeeded; and once
 * the server was freed no block the library allocated was still live, no
 * handle was left on the loop, and every offloaded job's done callback had
 * run.
 *
 * ALLOCFAIL=K (or K+) runs only that failure point and prints what happened;
 * ALLOCFAIL_LOG=1 prints the server's log lines. See tests/unit/README.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zlib.h>

#include "alloc_hooks.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "h2_client.h"
#include "server.h" /* ugrpc__listener: to time a shutdown against a refusal */
#include "todos.pb-c.h"

/* The descriptor set todo-api serves (build/gen/todo_api_protoset.c). */
extern const unsigned char todo_api_protoset[];
extern const size_t todo_api_protoset_len;
#include "ugrpc.h"

#define WAIT_MS   3000 /* any one wait; nothing healthy takes more than a few ms */
#define MAX_STEPS 4000 /* failure points per mode; a stride beyond that */
#define TOKEN     "token-1234"
#define GRACE_MS  2 /* shutdown grace: the held stream is cut after it */

/* ---- the scenario's phases ------------------------------------------------ */

enum {
    PH_SETUP,
    PH_UNARY,
    PH_SSTREAM,
    PH_CSTREAM,
    PH_BIDI,
    PH_OFFLOAD,
    PH_UNKNOWN,
    PH_HEALTH,
    PH_REFLECT,
    PH_DEADLINE,
    PH_SHUTDOWN,
    PH_N
};

static const char *const phase_names[PH_N] = {"set-up",
                                              "unary (metadata, deadline, gzip)",
                                              "server streaming",
                                              "client streaming",
                                              "bidi streaming",
                                              "offloaded unary",
                                              "unknown method",
                                              "health Check",
                                              "reflection (list, file by symbol)",
                                              "deadline expiring on a held stream",
                                              "shutdown under a held stream"};

static const char *const paths[PH_N] = {NULL,
                                        "/test.AllocFail/Unary",
                                        "/test.AllocFail/ServerStream",
                                        "/test.AllocFail/ClientStream",
                                        "/test.AllocFail/Bidi",
                                        "/test.AllocFail/Offload",
                                        "/test.AllocFail/Missing",
                                        "/grpc.health.v1.Health/Check",
                                        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                        "/test.AllocFail/Held",
                                        "/test.AllocFail/Held"};

/* ---- handlers ------------------------------------------------------------- */

/* What a handler answers when its request did not arrive intact: never an
 * acceptable outcome, whatever allocation failed. */
#define ST_DAMAGED UGRPC_STATUS_DATA_LOSS

static long args_live; /* offload arguments whose done callback has not run */

/* Ends a call after an API error, as a careful handler would. */
static void finish_error(ugrpc_call *call, int rv)
{
    ugrpc_call_finish(call,
                      rv == UGRPC_ENOMEM || rv == UGRPC_EBUSY ? UGRPC_STATUS_RESOURCE_EXHAUSTED
                                                              : UGRPC_STATUS_INTERNAL,
                      ugrpc_strerror(rv));
}

static int send_todo(ugrpc_call *call, const char *title, const char *tag, int reply)
{
    Grpc__Response__Todo todo = GRPC__RESPONSE__TODO__INIT, *todos[1] = {&todo};
    todo.id = "0123456789abcdef01234567";
    todo.title = (char *)title;
    todo.tag = (char *)tag;
    todo.priority = 7;
    Grpc__Response resp = GRPC__RESPONSE__INIT;
    resp.n_todos = 1;
    resp.todos = todos;
    /* ugrpc_call_reply() finishes the call itself when sending fails. */
    if (reply) return ugrpc_call_reply(call, &resp.base);
    return ugrpc_call_send(call, &resp.base);
}

static void on_unary(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    const Grpc__Request *req = (const Grpc__Request *)msg;
    size_t len = 0;
    const char *user = ugrpc_call_metadata(call, "x-user", NULL);
    const char *trace = ugrpc_call_metadata(call, "x-trace-bin", &len);
    if (strcmp(req->token, TOKEN) != 0 || user == NULL || strcmp(user, "alice") != 0 ||
        trace == NULL || len != 3 || memcmp(trace, "\1\2\3", 3) != 0 ||
        !ugrpc_call_last_message_compressed(call) || ugrpc_call_deadline(call) == 0) {
        ugrpc_call_finish(call, ST_DAMAGED, "request damaged");
        return;
    }
    int rv = ugrpc_call_set_compression(call, 1);
    if (rv == 0) rv = ugrpc_call_add_metadata(call, 0, "x-served-by", "allocfail", 9);
    if (rv == 0) rv = ugrpc_call_add_metadata(call, 1, "x-cost-bin", "\0\1", 2);
    if (rv < 0) {
        finish_error(call, rv);
        return;
    }
    send_todo(call, req->token, user, 1);
}

static void on_server_stream(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    const Grpc__Request *req = (const Grpc__Request *)msg;
    if (strcmp(req->token, TOKEN) != 0) {
        ugrpc_call_finish(call, ST_DAMAGED, "request damaged");
        return;
    }
    static const char *const titles[] = {"s0", "s1", "s2"};
    for (size_t i = 0; i < 3; i++) {
        int rv = send_todo(call, titles[i], "stream", 0);
        if (rv < 0) {
            finish_error(call, rv);
            return;
        }
    }
    ugrpc_call_finish(call, UGRPC_STATUS_OK, NULL);
}

/* The client-streaming handler's state: bytes and the first letter of
 * each message. */
typedef struct collected {
    size_t bytes;
    char firsts[8];
    size_t n;
} collected;

static void on_cs_start(ugrpc_call *call, void *data)
{
    (void)data;
    collected *s = ugrpc_call_alloc(call, sizeof(*s));
    if (s == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    memset(s, 0, sizeof(*s));
    ugrpc_call_set_data(call, s);
}

static void on_cs_message(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    collected *s = ugrpc_call_get_data(call);
    const char *t = ((const Grpc__Request *)msg)->token;
    if (s == NULL || s->n + 1 >= sizeof(s->firsts) || t[0] == '\0') {
        ugrpc_call_finish(call, ST_DAMAGED, "request damaged");
        return;
    }
    s->firsts[s->n++] = t[0];
    s->bytes += strlen(t);
}

static void on_cs_half_close(ugrpc_call *call, void *data)
{
    (void)data;
    collected *s = ugrpc_call_get_data(call);
    char title[32] = "";
    if (s != NULL) snprintf(title, sizeof(title), "%zu:%s", s->bytes, s->firsts);
    send_todo(call, title, "collected", 1);
}

static void on_bidi_message(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    int rv = send_todo(call, ((const Grpc__Request *)msg)->token, "echo", 0);
    if (rv < 0) finish_error(call, rv);
}

static void on_bidi_half_close(ugrpc_call *call, void *data)
{
    (void)data;
    ugrpc_call_finish(call, UGRPC_STATUS_OK, NULL);
}

typedef struct job_arg {
    char in[32], out[32];
} job_arg;

static void offload_work(void *p)
{
    job_arg *a = p;
    size_t i = 0;
    for (; a->in[i] != '\0'; i++)
        a->out[i] = (char)(a->in[i] >= 'a' && a->in[i] <= 'z' ? a->in[i] - 32 : a->in[i]);
    a->out[i] = '\0';
}

static void offload_done(ugrpc_call *call, void *p, int status)
{
    job_arg *a = p;
    if (status == 0) send_todo(call, a->out, "offloaded", 1);
    free(a);
    args_live--;
}

static void on_offload(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    const char *t = ((const Grpc__Request *)msg)->token;
    job_arg *a = calloc(1, sizeof(*a));
    if (a == NULL || strlen(t) >= sizeof(a->in)) {
        free(a);
        ugrpc_call_finish(call, ST_DAMAGED, "request damaged");
        return;
    }
    strcpy(a->in, t);
    args_live++;
    int rv = ugrpc_call_offload(call, offload_work, offload_done, a);
    if (rv < 0) {
        free(a);
        args_live--;
        finish_error(call, rv);
    }
}

/* Sends one message and leaves the stream open: the shutdown ends it. */
static void on_held(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)msg;
    (void)data;
    int rv = send_todo(call, "held", "held", 0);
    if (rv < 0) finish_error(call, rv);
}

static void on_cancel(ugrpc_call *call, void *data)
{
    (void)call;
    (void)data;
}

static const ugrpc_method methods[] = {
    {.path = "/test.AllocFail/Unary",
     .type = UGRPC_UNARY,
     .request_type = &grpc__request__descriptor,
     .response_type = &grpc__response__descriptor,
     .on_request = on_unary,
     .on_cancel = on_cancel},
    {.path = "/test.AllocFail/ServerStream",
     .type = UGRPC_SERVER_STREAMING,
     .request_type = &grpc__request__descriptor,
     .response_type = &grpc__response__descriptor,
     .on_request = on_server_stream,
     .on_cancel = on_cancel},
    {.path = "/test.AllocFail/ClientStream",
     .type = UGRPC_CLIENT_STREAMING,
     .request_type = &grpc__request__descriptor,
     .response_type = &grpc__response__descriptor,
     .on_start = on_cs_start,
     .on_message = on_cs_message,
     .on_half_close = on_cs_half_close,
     .on_cancel = on_cancel},
    {.path = "/test.AllocFail/Bidi",
     .type = UGRPC_BIDI_STREAMING,
     .request_type = &grpc__request__descriptor,
     .response_type = &grpc__response__descriptor,
     .on_message = on_bidi_message,
     .on_half_close = on_bidi_half_close,
     .on_cancel = on_cancel},
    {.path = "/test.AllocFail/Offload",
     .type = UGRPC_UNARY,
     .request_type = &grpc__request__descriptor,
     .response_type = &grpc__response__descriptor,
     .on_request = on_offload,
     .on_cancel = on_cancel},
    {.path = "/test.AllocFail/Held",
     .type = UGRPC_SERVER_STREAMING,
     .request_type = &grpc__request__descriptor,
     .response_type = &grpc__response__descriptor,
     .on_request = on_held,
     .on_cancel = on_cancel},
};

/* ---- the client's side ---------------------------------------------------- */

static size_t gzip_bytes(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream s;
    memset(&s, 0, sizeof(s));
    if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    s.next_in = (Bytef *)(uintptr_t)in;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    if (deflate(&s, Z_FINISH) != Z_STREAM_END) abort();
    deflateEnd(&s);
    return cap - s.avail_out;
}

/* Appends one framed request message, gzip-compressed when asked. */
static void add_message(tc *c, const ProtobufCMessage *m, int gz)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *plain = malloc(n + 1), *packed = malloc(n + 64);
    assert_non_null(plain);
    assert_non_null(packed);
    protobuf_c_message_pack(m, plain);
    const uint8_t *body = plain;
    if (gz) {
        n = gzip_bytes(plain, n, packed, n + 64);
        body = packed;
    }
    uint8_t prefix[5] = {gz ? 1 : 0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                         (uint8_t)n};
    tc_bytes_add(&c->req, prefix, 5);
    tc_bytes_add(&c->req, body, n);
    free(plain);
    free(packed);
}

static void add_request(tc *c, const char *token, int gz)
{
    Grpc__Request r = GRPC__REQUEST__INIT;
    r.token = (char *)token;
    add_message(c, &r.base, gz);
}

/* tc_start_call() with extra request headers (literal names). */
static void start_call(tc *c, const char *path, const nghttp2_nv *extra, size_t nextra)
{
    nghttp2_nv nva[12] = {TC_NV(":method", "POST"),
                          TC_NV(":scheme", "http"),
                          TC_NV(":path", path),
                          TC_NV(":authority", "test"),
                          TC_NV("content-type", "application/grpc"),
                          TC_NV("te", "trailers")};
    size_t n = 6;
    for (size_t i = 0; i < nextra && n < sizeof(nva) / sizeof(nva[0]); i++)
        nva[n++] = extra[i];
    nghttp2_data_provider prd = {.read_callback = tc_read_body};
    c->stream_id = nghttp2_submit_request(c->h2, NULL, nva, n, &prd, c);
    tc_flush(c);
}

/* The i-th response message, gunzipped if it came compressed; NULL when
 * missing or not decodable. Free with protobuf_c_message_free_unpacked(m,
 * NULL). */
static ProtobufCMessage *message_at(const tc *c, size_t i, const ProtobufCMessageDescriptor *type)
{
    size_t off = 0;
    for (size_t k = 0; off + 5 <= c->resp.len; k++) {
        const uint8_t *p = c->resp.data + off;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (off + 5 + n > c->resp.len) return NULL;
        if (k < i) {
            off += 5 + n;
            continue;
        }
        if (p[0] == 0) return protobuf_c_message_unpack(type, NULL, n, p + 5);
        uint8_t plain[1024];
        z_stream s;
        memset(&s, 0, sizeof(s));
        if (inflateInit2(&s, 15 + 16) != Z_OK) return NULL;
        s.next_in = (Bytef *)(uintptr_t)(p + 5);
        s.avail_in = (uInt)n;
        s.next_out = plain;
        s.avail_out = sizeof(plain);
        int rv = inflate(&s, Z_FINISH);
        size_t have = sizeof(plain) - s.avail_out;
        inflateEnd(&s);
        return rv == Z_STREAM_END ? protobuf_c_message_unpack(type, NULL, have, plain) : NULL;
    }
    return NULL;
}

static Grpc__Response *response_at(const tc *c, size_t i)
{
    return (Grpc__Response *)message_at(c, i, &grpc__response__descriptor);
}

/* The health Check answered SERVING for "". */
static int health_intact(const tc *c)
{
    Grpc__Health__V1__HealthCheckResponse *r = (Grpc__Health__V1__HealthCheckResponse *)message_at(
        c, 0, &grpc__health__v1__health_check_response__descriptor);
    if (r == NULL) return 0;
    int ok = r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return ok && tc_count(c) == 1;
}

/* Reflection answered the service list (naming the test's service) and the
 * file declaring grpc.Todos. */
static int reflection_intact(const tc *c)
{
    if (tc_count(c) != 2) return 0;
    int ok = 0;
    Grpc__Reflection__V1__ServerReflectionResponse *r =
        (Grpc__Reflection__V1__ServerReflectionResponse *)message_at(
            c, 0, &grpc__reflection__v1__server_reflection_response__descriptor);
    if (r != NULL &&
        r->message_response_case ==
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE) {
        for (size_t i = 0; i < r->list_services_response->n_service; i++)
            if (strcmp(r->list_services_response->service[i]->name, "test.AllocFail") == 0) ok = 1;
    }
    if (r != NULL) protobuf_c_message_free_unpacked(&r->base, NULL);
    r = (Grpc__Reflection__V1__ServerReflectionResponse *)message_at(
        c, 1, &grpc__reflection__v1__server_reflection_response__descriptor);
    ok =
        ok && r != NULL &&
        r->message_response_case ==
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE &&
        r->file_descriptor_response->n_file_descriptor_proto >= 1;
    if (r != NULL) protobuf_c_message_free_unpacked(&r->base, NULL);
    return ok;
}

static size_t response_count(const tc *c)
{
    return tc_count(c);
}

/* Non-zero when the i-th response holds one todo with this title and tag. */
static int response_is(const tc *c, size_t i, const char *title, const char *tag)
{
    Grpc__Response *r = response_at(c, i);
    if (r == NULL) return 0;
    int ok = r->n_todos == 1 && strcmp(r->todos[0]->title, title) == 0 &&
             strcmp(r->todos[0]->tag, tag) == 0 &&
             strcmp(r->todos[0]->id, "0123456789abcdef01234567") == 0 && r->todos[0]->priority == 7;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return ok;
}

/* Whether a successful call's response is what the handler sent. */
static int response_intact(const tc *c, int ph)
{
    switch (ph) {
    case PH_UNARY:
        return response_count(c) == 1 && c->resp.len > 0 && c->resp.data[0] == 1 &&
               response_is(c, 0, TOKEN, "alice");
    case PH_SSTREAM:
        return response_count(c) == 3 && response_is(c, 0, "s0", "stream") &&
               response_is(c, 1, "s1", "stream") && response_is(c, 2, "s2", "stream");
    case PH_CSTREAM:
        return response_count(c) == 1 && response_is(c, 0, "20002:abc", "collected");
    case PH_BIDI:
        return response_count(c) == 3 && response_is(c, 0, "a", "echo") &&
               response_is(c, 1, "b", "echo") && response_is(c, 2, "c", "echo");
    case PH_OFFLOAD:
        return response_count(c) == 1 && response_is(c, 0, "TOKEN-1234", "offloaded");
    case PH_HEALTH:
        return health_intact(c);
    case PH_REFLECT:
        return reflection_intact(c);
    default:
        return 0;
    }
}

typedef enum {
    OUT_NONE = 0,  /* not run */
    OUT_OK,        /* OK with the intact response */
    OUT_ERROR,     /* an error status */
    OUT_CLOSED,    /* the stream was reset or the connection closed */
    OUT_HANG,      /* nothing within WAIT_MS */
    OUT_DAMAGED,   /* OK with a wrong response, or the handler saw a damaged request */
    OUT_BAD_STATUS /* an error status no allocation failure explains */
} outcome;

static const char *const outcome_names[] = {
    "not run", "OK", "error status", "reset/closed", "HANG", "DAMAGED", "unexpected status"};

/* tc_connect() without Nagle: the client's small writes would otherwise
 * wait for delayed ACKs, and the sweep runs the scenario hundreds of times. */
static void connect_client(tc *c, uv_loop_t *loop, int port)
{
    tc_connect(c, loop, port, 65535);
    uv_tcp_nodelay(&c->tcp, 1);
}

static int connected_or_closed(void *arg)
{
    tc *c = arg;
    return c->connected || c->closed;
}

/* One call of phase `ph` on a new connection. *status gets the grpc-status
 * seen, or -1. */
static outcome run_call(uv_loop_t *loop, int port, int ph, int *status)
{
    tc c;
    connect_client(&c, loop, port);
    static const nghttp2_nv unary_md[] = {TC_NV("grpc-timeout", "30S"),
                                          TC_NV("grpc-encoding", "gzip"),
                                          TC_NV("grpc-accept-encoding", "identity,gzip"),
                                          TC_NV("x-user", "alice"), TC_NV("x-trace-bin", "AQID")};
    /* The held stream's handler never finishes: the deadline ends it. */
    static const nghttp2_nv short_deadline[] = {TC_NV("grpc-timeout", "5m")};
    if (ph == PH_CSTREAM) {
        /* The last message spans two DATA frames: reassembled, not zero-copy. */
        char *big = malloc(20001);
        assert_non_null(big);
        memset(big, 'c', 20000);
        big[20000] = '\0';
        add_request(&c, "a", 0);
        add_request(&c, "b", 0);
        add_request(&c, big, 0);
        free(big);
    } else if (ph == PH_HEALTH) {
        Grpc__Health__V1__HealthCheckRequest h = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        add_message(&c, &h.base, 0);
    } else if (ph == PH_REFLECT) {
        Grpc__Reflection__V1__ServerReflectionRequest q =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
        q.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
        q.list_services = "";
        add_message(&c, &q.base, 0);
        q.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
        q.file_containing_symbol = "grpc.Todos";
        add_message(&c, &q.base, 0);
    } else if (ph == PH_BIDI) {
        add_request(&c, "a", 0);
        add_request(&c, "b", 0);
        add_request(&c, "c", 0);
    } else {
        add_request(&c, TOKEN, ph == PH_UNARY);
    }
    outcome out = OUT_HANG;
    *status = -1;
    if (!tc_run_until(loop, connected_or_closed, &c, WAIT_MS)) goto done;
    if (!c.closed) {
        if (ph == PH_UNARY)
            start_call(&c, paths[ph], unary_md, sizeof(unary_md) / sizeof(unary_md[0]));
        else if (ph == PH_DEADLINE)
            start_call(&c, paths[ph], short_deadline, 1);
        else
            start_call(&c, paths[ph], NULL, 0);
    }
    if (!tc_run_until(loop, tc_is_closed, &c, WAIT_MS)) goto done;
    *status = c.grpc_status;
    if (ph == PH_UNKNOWN && c.grpc_status == UGRPC_STATUS_UNIMPLEMENTED)
        out = c.resp.len == 0 ? OUT_OK : OUT_DAMAGED; /* what it should get */
    else if (ph == PH_DEADLINE && c.grpc_status == UGRPC_STATUS_DEADLINE_EXCEEDED)
        out = tc_count(&c) == 0 || (tc_count(&c) == 1 && response_is(&c, 0, "held", "held"))
                  ? OUT_OK
                  : OUT_DAMAGED;
    else if (c.grpc_status == UGRPC_STATUS_OK)
        out = response_intact(&c, ph) ? OUT_OK : OUT_DAMAGED;
    else if (c.grpc_status == ST_DAMAGED)
        out = OUT_DAMAGED;
    else if (c.grpc_status == UGRPC_STATUS_RESOURCE_EXHAUSTED ||
             c.grpc_status == UGRPC_STATUS_INTERNAL || c.grpc_status == UGRPC_STATUS_UNAVAILABLE ||
             c.grpc_status == UGRPC_STATUS_CANCELLED)
        out = OUT_ERROR;
    else if (c.grpc_status > 0)
        out = OUT_BAD_STATUS;
    else
        out = OUT_CLOSED;
done:
    tc_close(&c);
    return out;
}

static int has_message_or_closed(void *arg)
{
    tc *c = arg;
    return tc_count(c) >= 1 || c->closed;
}

/* The last phase: a server-streaming call that stays open (one message
 * sent), then ugrpc_server_shutdown() under it: GOAWAY in two phases, the
 * grace period, the connection closed, the handler cancelled. *shut tells
 * whether the shutdown completed. OUT_OK means the message arrived and the
 * stream then ended with the connection, as without failures. */
static outcome run_shutdown(uv_loop_t *loop, ugrpc_server *srv, int port, int *status, int *shut)
{
    tc c;
    connect_client(&c, loop, port);
    add_request(&c, TOKEN, 0);
    int waited = tc_run_until(loop, connected_or_closed, &c, WAIT_MS);
    if (waited && !c.closed) start_call(&c, paths[PH_SHUTDOWN], NULL, 0);
    waited = waited && tc_run_until(loop, has_message_or_closed, &c, WAIT_MS);
    int done = 0;
    *shut = ugrpc_server_shutdown(srv, GRACE_MS, tc_on_shutdown, &done) == 0 &&
            tc_run_until(loop, tc_flag_set, &done, WAIT_MS);
    int ended = tc_run_until(loop, tc_is_closed, &c, WAIT_MS);
    *status = c.grpc_status;
    outcome out;
    if (!waited || !ended)
        out = OUT_HANG;
    else if (c.grpc_status < 0 && tc_count(&c) == 0)
        out = OUT_CLOSED;
    else if (c.grpc_status < 0)
        out = tc_count(&c) == 1 && response_is(&c, 0, "held", "held") ? OUT_OK : OUT_DAMAGED;
    else if (c.grpc_status == UGRPC_STATUS_RESOURCE_EXHAUSTED ||
             c.grpc_status == UGRPC_STATUS_INTERNAL)
        out = OUT_ERROR;
    else
        out = OUT_BAD_STATUS;
    tc_close(&c);
    return out;
}

/* ---- one run of the scenario ---------------------------------------------- */

typedef struct run_result {
    int setup_rv;                  /* the first set-up error, or 0 */
    outcome out[PH_N];             /* per call */
    int status[PH_N];              /* grpc-status seen per call, or -1 */
    unsigned long start[PH_N + 1]; /* allocation count when each phase began */
    unsigned long seen, failed;    /* allocations asked for / refused while armed */
    outcome followup;              /* the follow-up call, allocation restored */
    int freed, loop_closed;        /* server shut down and freed; loop empty */
    long live;                     /* library blocks live after free */
    long args_live;                /* offload arguments never given back */
} run_result;

static int log_on;

static void print_log(ugrpc_log_level level, const char *msg, void *data)
{
    (void)data;
    fprintf(stderr, "    [server %d] %s\n", (int)level, msg);
}

static void run_scenario(unsigned long k, int rest, run_result *r)
{
    memset(r, 0, sizeof(*r));
    uv_loop_t loop;
    uv_loop_init(&loop);
    ah_state.live = 0;
    args_live = 0;
    ah_arm(k, rest);

    ugrpc_server_options o;
    ugrpc_server_options_init(&o);
    if (log_on) {
        o.log = print_log;
        o.log_level = UGRPC_LOG_DEBUG;
    }
    ugrpc_server *srv = NULL;
    int rv = ugrpc_server_new(&loop, &o, &srv);
    if (rv < 0) srv = NULL;
    for (size_t i = 0; rv == 0 && i < sizeof(methods) / sizeof(methods[0]); i++)
        rv = ugrpc_server_add_method(srv, &methods[i]);
    if (rv == 0) rv = ugrpc_health_enable(srv);
    if (rv == 0) rv = ugrpc_reflection_enable(srv, todo_api_protoset, todo_api_protoset_len);
    if (rv == 0) rv = ugrpc_server_listen(srv, "127.0.0.1", 0);
    r->setup_rv = rv;
    int port = rv == 0 ? ugrpc_server_port(srv) : -1;
    for (int ph = PH_UNARY; ph < PH_SHUTDOWN; ph++) {
        r->start[ph] = ah_state.seen;
        if (port > 0) r->out[ph] = run_call(&loop, port, ph, &r->status[ph]);
    }
    /* The follow-up call, with allocation restored (and not counted). */
    ah_pause();
    if (port > 0) {
        int st;
        r->followup = run_call(&loop, port, PH_UNARY, &st);
    }
    ah_resume();
    r->start[PH_SHUTDOWN] = ah_state.seen;
    int shut = 0;
    if (port > 0)
        r->out[PH_SHUTDOWN] = run_shutdown(&loop, srv, port, &r->status[PH_SHUTDOWN], &shut);
    r->start[PH_N] = ah_state.seen;
    r->seen = ah_state.seen;
    r->failed = ah_state.failed;
    ah_disarm();

    if (port > 0)
        r->freed = shut && ugrpc_server_free(srv) == 0;
    else
        r->freed = srv == NULL || tc_server_free(&loop, srv, GRACE_MS);
    /* Whatever is still queued (closes of the client's handles) runs now. */
    uv_run(&loop, UV_RUN_DEFAULT);
    r->live = ah_state.live;
    r->args_live = args_live;
    r->loop_closed = uv_loop_close(&loop) == 0;
}

/* The phase in which the first refused allocation fell, or -1. */
static int failed_phase(const run_result *r, unsigned long k)
{
    if (r->failed == 0) return -1;
    for (int ph = PH_N - 1; ph >= PH_SETUP; ph--)
        if (ph == PH_SETUP || k > r->start[ph]) return ph;
    return -1;
}

/* Checks one run; writes the first violation into why. Returns 0 if fine. */
static int judge(const run_result *r, unsigned long k, int rest, char *why, size_t cap)
{
    int fph = failed_phase(r, k);
    if (r->setup_rv != 0 && r->setup_rv != UGRPC_ENOMEM) {
        snprintf(why, cap, "set-up failed with %s", ugrpc_strerror(r->setup_rv));
        return -1;
    }
    if (r->setup_rv != 0 && fph != PH_SETUP) {
        snprintf(why, cap, "set-up failed with no allocation refused in it");
        return -1;
    }
    for (int ph = PH_UNARY; r->setup_rv == 0 && ph < PH_N; ph++) {
        outcome o = r->out[ph];
        int hit = fph == ph || (rest && fph >= 0 && ph > fph);
        int fine = o == OUT_OK || (hit && (o == OUT_ERROR || o == OUT_CLOSED));
        if (!fine) {
            snprintf(why, cap, "%s call: %s (grpc-status %d)%s", phase_names[ph], outcome_names[o],
                     r->status[ph], hit ? "" : ", though no allocation of it was refused");
            return -1;
        }
    }
    if (r->setup_rv == 0 && r->followup != OUT_OK) {
        snprintf(why, cap, "follow-up call with allocation restored: %s",
                 outcome_names[r->followup]);
        return -1;
    }
    if (!r->freed) {
        snprintf(why, cap, "the server did not shut down");
        return -1;
    }
    if (r->live != 0) {
        snprintf(why, cap, "%ld block(s) leaked", r->live);
        return -1;
    }
    if (r->args_live != 0) {
        snprintf(why, cap, "%ld offload done callback(s) never ran", r->args_live);
        return -1;
    }
    if (!r->loop_closed) {
        snprintf(why, cap, "handles left on the loop");
        return -1;
    }
    (void)k;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_run(const run_result *r, unsigned long k, int rest)
{
    int fph = failed_phase(r, k);
    printf("  k=%lu%s: %lu allocation(s), %lu refused, in %s; set-up %s\n", k, rest ? "+" : "",
           r->seen, r->failed, fph >= 0 ? phase_names[fph] : "none",
           r->setup_rv ? ugrpc_strerror(r->setup_rv) : "ok");
    for (int ph = PH_UNARY; ph < PH_N; ph++)
        printf("    %-34s %s (grpc-status %d)\n", phase_names[ph], outcome_names[r->out[ph]],
               r->status[ph]);
    printf("    follow-up: %s; freed %d, live %ld, loop closed %d\n", outcome_names[r->followup],
           r->freed, r->live, r->loop_closed);
}

static int install(void **state)
{
    (void)state;
    log_on = getenv("ALLOCFAIL_LOG") != NULL;
    return ugrpc_replace_allocator(ah_malloc, ah_realloc, ah_calloc, ah_free);
}

static int restore(void **state)
{
    (void)state;
    return ugrpc_replace_allocator(NULL, NULL, NULL, NULL);
}

static void test_sweep(void **state)
{
    (void)state;
    run_result r;
    char why[256];

    /* ALLOCFAIL=K or K+: that failure point alone, for debugging. */
    if (ah_arm_from_env("ALLOCFAIL")) {
        unsigned long k = ah_state.fail_at;
        int rest = ah_state.fail_rest;
        run_scenario(k, rest, &r);
        print_run(&r, k, rest);
        if (judge(&r, k, rest, why, sizeof(why)) != 0) fail_msg("k=%lu: %s", k, why);
        return;
    }

    double t0 = now_s();
    run_scenario(0, 0, &r);
    if (judge(&r, 0, 0, why, sizeof(why)) != 0) {
        print_run(&r, 0, 0);
        fail_msg("without failures: %s", why);
    }
    unsigned long n = r.seen;
    printf("  %lu allocations in one run:", n);
    for (int ph = PH_SETUP; ph < PH_N; ph++)
        printf(" %s %lu%s", phase_names[ph], r.start[ph + 1] - r.start[ph],
               ph + 1 < PH_N ? "," : "\n");
    assert_true(n > 0);

    unsigned long stride = n > MAX_STEPS ? (n + MAX_STEPS - 1) / MAX_STEPS : 1;
    unsigned long runs = 0, problems = 0, hit[PH_N] = {0}, seen_out[2][OUT_BAD_STATUS + 1] = {{0}};
    unsigned long setup_enomem = 0;
    for (int rest = 0; rest <= 1; rest++) {
        for (unsigned long k = 1; k <= n; k += stride) {
            run_scenario(k, rest, &r);
            runs++;
            int fph = failed_phase(&r, k);
            if (fph >= 0 && !rest) hit[fph]++;
            if (fph > PH_SETUP) seen_out[rest][r.out[fph]]++;
            if (fph == PH_SETUP && r.setup_rv == UGRPC_ENOMEM) setup_enomem++;
            if (judge(&r, k, rest, why, sizeof(why)) != 0) {
                if (problems++ < 20) {
                    printf("  FAIL k=%lu%s: %s\n", k, rest ? "+" : "", why);
                    print_run(&r, k, rest);
                }
            }
        }
    }
    printf("  %lu runs (k=1..%lu%s, each once failing only the k-th allocation and once "
           "every one from it) in %.1f s\n",
           runs, n, stride > 1 ? " with a stride" : "", now_s() - t0);
    printf("  refused allocations by phase:");
    for (int ph = PH_SETUP; ph < PH_N; ph++)
        printf(" %s %lu%s", phase_names[ph], hit[ph], ph + 1 < PH_N ? "," : "\n");
    for (int rest = 0; rest <= 1; rest++)
        printf("  the call hit, %s: OK %lu, error status %lu, reset/closed %lu; set-up "
               "UGRPC_ENOMEM %lu\n",
               rest ? "failing from k on" : "failing the k-th only", seen_out[rest][OUT_OK],
               seen_out[rest][OUT_ERROR], seen_out[rest][OUT_CLOSED], setup_enomem);
    if (problems > 0) fail_msg("%lu failure point(s) mishandled (first 20 above)", problems);
}

/* ---- connections refused for lack of memory -------------------------------- */

typedef struct refusal {
    ugrpc_server *srv;
    int shut, done;
} refusal;

/* Shuts the server down in the loop turn in which a refusal began, while
 * the refused connection's handle (inside the listener) is still closing. */
static void shutdown_while_refusing(uv_check_t *h)
{
    refusal *f = h->data;
    if (f->shut || f->srv->listeners == NULL || !f->srv->listeners->refusing) return;
    f->shut = 1;
    assert_int_equal(ugrpc_server_shutdown(f->srv, GRACE_MS, tc_on_shutdown, &f->done), 0);
}

static int all_closed(void *arg)
{
    tc *c = arg;
    return c[0].closed && c[1].closed && c[2].closed;
}

static void test_refused_connections(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    ah_arm(0, 0);
    ah_state.live = 0;
    refusal f = {0};
    f.srv = tc_server_new(&loop, NULL);
    assert_non_null(f.srv);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        assert_int_equal(ugrpc_server_add_method(f.srv, &methods[i]), 0);
    int port = tc_server_listen(f.srv);
    assert_true(port > 0);

    /* No memory at all: connections arriving together are each accepted
     * and closed, one after the other through the listener's one handle. */
    ah_arm(1, 1);
    tc c[3];
    for (int i = 0; i < 3; i++)
        connect_client(&c[i], &loop, port);
    assert_true(tc_run_until(&loop, all_closed, c, WAIT_MS));
    for (int i = 0; i < 3; i++)
        tc_close(&c[i]);
    assert_true(ah_state.failed >= 3);

    /* Memory is back: the listener still accepts. */
    ah_disarm();
    int st;
    assert_int_equal(run_call(&loop, port, PH_BIDI, &st), OUT_OK);

    /* No memory again, and the server shuts down in the very loop turn a
     * refusal starts: the listener is freed only after its handle closed. */
    ah_arm(1, 1);
    uv_check_t check;
    uv_check_init(&loop, &check);
    check.data = &f;
    uv_check_start(&check, shutdown_while_refusing);
    connect_client(&c[0], &loop, port);
    assert_true(tc_run_until(&loop, tc_flag_set, &f.done, WAIT_MS));
    assert_true(f.shut);
    assert_true(tc_run_until(&loop, tc_is_closed, &c[0], WAIT_MS));
    tc_close(&c[0]);
    uv_close((uv_handle_t *)&check, NULL);
    ah_disarm();
    assert_int_equal(ugrpc_server_free(f.srv), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(ah_state.live, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    /* A peer that closed makes writes fail with EPIPE instead of killing us,
     * as in any server process. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sweep, install, restore),
        cmocka_unit_test_setup_teardown(test_refused_connections, install, restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
