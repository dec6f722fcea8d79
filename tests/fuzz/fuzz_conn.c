/*
 * Fuzz target: a whole client connection, with no socket.
 *
 * Each input is the byte stream a client sends (after one split byte, see
 * fuzz_util.h). It is fed through ugrpc__conn_feed(), the seam in conn.h that
 * hands bytes to the connection exactly as a socket read would, to a fresh
 * server with real routing: a unary echo, a server-streaming and a bidi echo
 * method (gzip responses, trailing metadata, backpressure through a tiny send
 * queue and output buffer), health, reflection and the Todo service over
 * the in-memory store. What the server writes is dropped by the seam; the
 * libuv loop runs with UV_RUN_NOWAIT between reads so flushes, writable
 * callbacks and deadlines (short ones are waited for) happen as they would.
 * Every iteration ends with a shutdown (grace 0) that must complete, and
 * frees the server, so nothing carries over to the next input and LSan sees
 * any leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "call.h"
#include "conn.h"
#include "fuzz_util.h"
#include "grpc/health/v1/health.pb-c.h"
#include "server.h"
#include "service.h"
#include "store.h"
#include "ugrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const unsigned char todo_api_protoset[];
extern const size_t todo_api_protoset_len;

typedef Grpc__Health__V1__HealthCheckRequest echo_msg;

/* ---- the handlers ---- */

/* Touches every metadata entry the way a handler would, and echoes the
 * first "-bin" one back in the trailers. */
static void read_metadata(ugrpc_call *call)
{
    size_t n = ugrpc_call_metadata_count(call);
    int echoed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t len;
        if (ugrpc_call_metadata_at(call, i, &name, &value, &len) != 0) abort();
        size_t nlen = strlen(name);
        if (value[len] != '\0') abort();
        if (!echoed && nlen > 4 && strcmp(name + nlen - 4, "-bin") == 0) {
            echoed = 1;
            (void)ugrpc_call_add_metadata(call, 1, "x-echo-bin", value, len);
        }
    }
    (void)ugrpc_call_metadata(call, "user-agent", NULL);
    (void)ugrpc_call_deadline(call);
    char peer[64];
    (void)ugrpc_call_peer(call, peer, sizeof(peer));
}

static void echo_unary(ugrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)data;
    read_metadata(call);
    (void)ugrpc_call_set_compression(call, 1);
    (void)ugrpc_call_add_metadata(call, 0, "x-initial", "1", 1);
    const echo_msg *m = (const echo_msg *)req;
    if (strncmp(m->service, "fail", 4) == 0)
        (void)ugrpc_call_finish(call, UGRPC_STATUS_INVALID_ARGUMENT, "bad \xff request 100%\n");
    else
        (void)ugrpc_call_reply(call, req);
}

/* Server streaming: as many echoes as the request asks (its length), sent
 * while the send queue takes them and resumed when it is writable again. */
typedef struct stream_state {
    const ProtobufCMessage *req;
    unsigned left;
} stream_state;

static void stream_more(ugrpc_call *call, void *data)
{
    stream_state *st = data;
    while (st->left > 0) {
        int rv = ugrpc_call_send(call, st->req);
        if (rv == UGRPC_EAGAIN) {
            if (ugrpc_call_on_writable(call, stream_more, st) != 0) return;
            return;
        }
        if (rv < 0) return;
        st->left--;
    }
    (void)ugrpc_call_finish(call, UGRPC_STATUS_OK, NULL);
}

static void echo_stream(ugrpc_call *call, const ProtobufCMessage *req, void *data)
{
    (void)data;
    read_metadata(call);
    stream_state *st = ugrpc_call_alloc(call, sizeof(*st));
    if (st == NULL) {
        (void)ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    st->req = req;
    st->left = (unsigned)strlen(((const echo_msg *)req)->service) % 64 + 1;
    ugrpc_call_set_data(call, st);
    (void)ugrpc_call_set_compression(call, 1);
    stream_more(call, st);
}

static void bidi_start(ugrpc_call *call, void *data)
{
    (void)data;
    (void)ugrpc_call_set_compression(call, 1);
}

static void bidi_message(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    (void)data;
    if (strcmp(((const echo_msg *)msg)->service, "end") == 0)
        (void)ugrpc_call_finish(call, UGRPC_STATUS_ABORTED, "ended by the client's message");
    else
        (void)ugrpc_call_send_flags(
            call, msg, ugrpc_call_last_message_compressed(call) ? 0 : UGRPC_SEND_NO_COMPRESS);
}

static void bidi_half_close(ugrpc_call *call, void *data)
{
    (void)data;
    (void)ugrpc_call_finish(call, UGRPC_STATUS_OK, NULL);
}

static void on_cancel(ugrpc_call *call, void *data)
{
    (void)data;
    if (ugrpc_call_finish(call, UGRPC_STATUS_OK, NULL) != UGRPC_ECANCELLED) abort();
}

static int add_methods(ugrpc_server *srv)
{
    const ProtobufCMessageDescriptor *d = &grpc__health__v1__health_check_request__descriptor;
    const ugrpc_method methods[] = {
        {.path = "/fuzz.Echo/Unary",
         .type = UGRPC_UNARY,
         .request_type = d,
         .response_type = d,
         .on_request = echo_unary,
         .on_cancel = on_cancel},
        {.path = "/fuzz.Echo/Stream",
         .type = UGRPC_SERVER_STREAMING,
         .request_type = d,
         .response_type = d,
         .on_request = echo_stream,
         .on_cancel = on_cancel},
        {.path = "/fuzz.Echo/Bidi",
         .type = UGRPC_BIDI_STREAMING,
         .request_type = d,
         .response_type = d,
         .on_start = bidi_start,
         .on_message = bidi_message,
         .on_half_close = bidi_half_close,
         .on_cancel = on_cancel},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (ugrpc_server_add_method(srv, &methods[i]) != 0) return -1;
    return 0;
}

/* ---- the connection ---- */

/* FUZZ_VERBOSE=1 prints the library's log and every call's outcome, to
 * check what an input reaches. */
static int verbose = -1;

static void on_log(ugrpc_log_level level, const char *msg, void *data)
{
    (void)data;
    fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

static void on_call_done(const ugrpc_call *call, const ugrpc_call_info *info, void *data)
{
    (void)data;
    fprintf(stderr, "call %s: status %d, %llu bytes in, %llu out\n", ugrpc_call_path(call),
            info->code, (unsigned long long)info->bytes_in, (unsigned long long)info->bytes_out);
}

static void on_shutdown(ugrpc_server *srv, void *data)
{
    (void)srv;
    *(int *)data = 1;
}

/* Runs the loop without blocking; a deadline due within 2 ms is waited for,
 * so short grpc-timeouts expire inside the run. */
static void turn(uv_loop_t *loop, ugrpc_server *srv)
{
    if (srv->deadlines.count > 0 && srv->deadlines.heap[0]->deadline <= uv_now(loop) + 2) {
        uv_sleep(2);
        uv_update_time(loop);
    }
    uv_run(loop, UV_RUN_NOWAIT);
}

static void feed_all(uv_loop_t *loop, ugrpc_server *srv, ugrpc__conn *conn, const uint8_t *data,
                     size_t size, fz_split *split)
{
    size_t off = 0, n;
    /* The connection is freed by a loop turn once closed: it is the only
     * one, so it is alive while the server's list still holds it. */
    while (srv->conns == conn && (n = fz_split_next(split, size - off)) > 0) {
        int rv, spins = 0;
        /* Paused by backpressure: the loop drains the output, then reading
         * resumes, as on a socket whose peer reads. */
        while ((rv = ugrpc__conn_feed(conn, data + off, n)) == UGRPC_EAGAIN && spins++ < 64) {
            turn(loop, srv);
            if (srv->conns != conn) return;
        }
        if (rv != 0) return; /* closing, session over, or stuck */
        off += n;
        turn(loop, srv);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uv_loop_t loop;
    static int ready;
    if (!ready) {
        if (uv_loop_init(&loop) != 0) abort();
        ready = 1;
    }
    if (size < 1) return 0;
    fz_split split;
    fz_split_init(&split, data[0]);
    data++;
    size--;

    ugrpc_server_options o;
    ugrpc_server_options_init(&o);
    /* Small limits, so fuzzing reaches them. */
    o.max_recv_message_size = 64 * 1024;
    o.max_send_message_size = 64 * 1024;
    o.max_concurrent_streams = 8;
    o.max_header_list_size = 4096;
    o.max_output_buffer = 16 * 1024;
    o.max_send_queue = 1024;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose) {
        o.log = on_log;
        o.log_level = UGRPC_LOG_DEBUG;
        o.on_call_done = on_call_done;
    }
    ugrpc_server *srv;
    if (ugrpc_server_new(&loop, &o, &srv) != 0) abort();
    todo_store *store = todo_memstore_new();
    if (store == NULL || todo_memstore_seed(store) < 0) abort();
    todo_service svc = {.loop = &loop, .srv = srv, .store = store};
    if (add_methods(srv) != 0 || ugrpc_health_enable(srv) != 0 ||
        ugrpc_reflection_enable(srv, todo_api_protoset, todo_api_protoset_len) != 0 ||
        todo_service_start(&svc) != 0)
        abort();

    ugrpc__conn *conn = ugrpc__conn_new_unconnected(srv);
    if (conn == NULL) abort();
    feed_all(&loop, srv, conn, data, size, &split);
    /* Let streams, writable callbacks and short deadlines run out. */
    for (int i = 0; i < 16; i++)
        turn(&loop, srv);

    int done = 0;
    todo_service_stop(&svc);
    if (ugrpc_server_shutdown(srv, 0, on_shutdown, &done) != 0) abort();
    for (int i = 0; i < 1000 && !done; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (!done) abort(); /* a shutdown with no grace must end at once */
    if (verbose) {
        ugrpc_server_stats st;
        ugrpc_server_get_stats(srv, &st);
        fprintf(stderr, "calls %llu started, %llu completed; bytes %llu in, %llu out\n",
                (unsigned long long)st.calls_started, (unsigned long long)st.calls_completed,
                (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out);
    }
    if (ugrpc_server_free(srv) != 0) abort();
    store->ops->destroy(store);
    if (uv_loop_alive(&loop)) abort(); /* a handle outlived its server */
    return 0;
}
