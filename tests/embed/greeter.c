/*
 * A complete program embedding ugrpc: one unary method that may offload to
 * the worker pool, one server-streaming method with flow control, optional
 * TLS, and a clean shutdown on SIGINT/SIGTERM. docs/embedding.md walks
 * through it; `make test` builds it against build/ugrpc.pc and calls it.
 *
 *   greeter PORT [CERT KEY]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greeter.pb-c.h"
#include "ugrpc.h"

/* ---- SayHello: unary, inline or offloaded ---- */

typedef struct slow_job {
    char name[64]; /* a copy: the worker never sees the call or its arena */
    char message[96];
} slow_job;

static void greet(ugrpc_call *call, const char *name)
{
    char text[96];
    snprintf(text, sizeof(text), "Hello, %s!", name);
    Example__HelloReply reply = EXAMPLE__HELLO_REPLY__INIT;
    reply.message = text;
    ugrpc_call_reply(call, &reply.base); /* encodes now: `text` may go away */
}

static void slow_work(void *arg) /* a worker thread */
{
    slow_job *job = arg;
    usleep(50 * 1000); /* stands for a blocking database query */
    snprintf(job->message, sizeof(job->message), "Hello, %s, slowly!", job->name);
}

static void slow_done(ugrpc_call *call, void *arg, int status) /* the loop thread */
{
    slow_job *job = arg;
    if (status == 0) { /* still alive: answer it */
        Example__HelloReply reply = EXAMPLE__HELLO_REPLY__INIT;
        reply.message = job->message;
        ugrpc_call_reply(call, &reply.base);
    }
    free(job); /* always ours to free, alive or cancelled */
}

static void say_hello(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Example__HelloRequest *req = (const Example__HelloRequest *)msg;
    (void)data;
    if (req->name[0] == '\0') {
        ugrpc_call_finish(call, UGRPC_STATUS_INVALID_ARGUMENT, "name is required");
        return;
    }
    if (!req->slow) {
        greet(call, req->name);
        return;
    }
    slow_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    snprintf(job->name, sizeof(job->name), "%s", req->name);
    int rv = ugrpc_call_offload(call, slow_work, slow_done, job);
    if (rv < 0) { /* neither callback will run */
        free(job);
        ugrpc_call_finish(call, UGRPC_STATUS_UNAVAILABLE, ugrpc_strerror(rv));
    }
}

/* ---- SayHellos: server streaming with flow control ---- */

typedef struct stream_state {
    char name[64];
    uint32_t next, count;
} stream_state;

static void pump(ugrpc_call *call, void *arg)
{
    stream_state *st = arg;
    while (st->next < st->count) {
        char text[96];
        snprintf(text, sizeof(text), "Hello #%u, %s!", st->next + 1, st->name);
        Example__HelloReply reply = EXAMPLE__HELLO_REPLY__INIT;
        reply.message = text;
        int rv = ugrpc_call_send(call, &reply.base);
        if (rv == UGRPC_EAGAIN) { /* the send queue is full: resume later */
            ugrpc_call_on_writable(call, pump, st);
            return;
        }
        if (rv < 0) return; /* cancelled: st lives in the arena, nothing to free */
        st->next++;
    }
    ugrpc_call_finish(call, UGRPC_STATUS_OK, NULL);
}

static void say_hellos(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Example__HelloRequest *req = (const Example__HelloRequest *)msg;
    (void)data;
    /* State in the call's arena lives exactly as long as the call. */
    stream_state *st = ugrpc_call_alloc(call, sizeof(*st));
    if (st == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    snprintf(st->name, sizeof(st->name), "%s", req->name);
    st->next = 0;
    st->count = req->count;
    pump(call, st);
}

/* ---- main ---- */

static ugrpc_server *server;

static void on_stopped(ugrpc_server *srv, void *data)
{
    (void)srv;
    uv_close((uv_handle_t *)data, NULL); /* the signal handle */
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_signal_stop(h);
    ugrpc_server_shutdown(server, 5000, on_stopped, h);
}

static void log_line(ugrpc_log_level level, const char *msg, void *data)
{
    (void)data;
    fprintf(stderr, "greeter [%d] %s\n", (int)level, msg);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: greeter PORT [CERT KEY]\n");
        return 2;
    }
    uv_loop_t *loop = uv_default_loop();
    ugrpc_server_options opts;
    ugrpc_server_options_init(&opts);
    opts.log = log_line;
    if (ugrpc_server_new(loop, &opts, &server) < 0) return 1;

    ugrpc_method hello = {
        .path = "/example.Greeter/SayHello",
        .type = UGRPC_UNARY,
        .request_type = &example__hello_request__descriptor,
        .response_type = &example__hello_reply__descriptor,
        .on_request = say_hello,
    };
    ugrpc_method hellos = hello;
    hellos.path = "/example.Greeter/SayHellos";
    hellos.type = UGRPC_SERVER_STREAMING;
    hellos.on_request = say_hellos;
    if (ugrpc_server_add_method(server, &hello) < 0 || ugrpc_server_add_method(server, &hellos) < 0)
        return 1;
    if (ugrpc_health_enable(server) < 0) return 1;

    int port = atoi(argv[1]), rv;
    if (argc == 4) {
        ugrpc_tls_options tls = {.cert_file = argv[2], .key_file = argv[3]};
        rv = ugrpc_server_listen_tls(server, "127.0.0.1", port, &tls);
    } else {
        rv = ugrpc_server_listen(server, "127.0.0.1", port);
    }
    if (rv < 0) {
        fprintf(stderr, "greeter: listen: %s\n", ugrpc_strerror(rv));
        return 1;
    }
    printf("listening on %d\n", ugrpc_server_port(server));
    fflush(stdout);

    uv_signal_t sig;
    uv_signal_init(loop, &sig);
    uv_signal_start(&sig, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT); /* returns once shutdown has closed everything */
    ugrpc_server_free(server);
    uv_loop_close(loop);
    return 0;
}
