/*
 * The grpc_bench echo workload on ugrpc: /helloworld.Greeter/SayHello
 * answers a HelloReply carrying the request's Hello back, inline on the loop
 * thread. Built like any outside program, through build/ugrpc.pc.
 *
 *   ugrpc-echo PORT
 *
 * The connection limit is lifted (max_connections = 0) so the memory scenario
 * can hold 10,000 idle connections; everything else is the library default.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "helloworld.pb-c.h"
#include "ugrpc.h"

static void say_hello(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)msg;
    (void)data;
    Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
    reply.response = req->request; /* encoded now, while the request lives */
    ugrpc_call_reply(call, &reply.base);
}

static ugrpc_server *server;

static void on_stopped(ugrpc_server *srv, void *data)
{
    (void)srv;
    uv_close((uv_handle_t *)data, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_signal_stop(h);
    ugrpc_server_shutdown(server, 1000, on_stopped, h);
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    ugrpc_server_options opts;
    ugrpc_server_options_init(&opts);
    opts.max_connections = 0;
    if (ugrpc_server_new(loop, &opts, &server) < 0) return 1;
    ugrpc_method hello = {
        .path = "/helloworld.Greeter/SayHello",
        .type = UGRPC_UNARY,
        .request_type = &helloworld__hello_request__descriptor,
        .response_type = &helloworld__hello_reply__descriptor,
        .on_request = say_hello,
    };
    if (ugrpc_server_add_method(server, &hello) < 0) return 1;
    int rv = ugrpc_server_listen(server, "127.0.0.1", argc > 1 ? atoi(argv[1]) : 50051);
    if (rv < 0) {
        fprintf(stderr, "ugrpc-echo: listen: %s\n", ugrpc_strerror(rv));
        return 1;
    }
    printf("listening on %d\n", ugrpc_server_port(server));
    fflush(stdout);
    uv_signal_t sigterm, sigint;
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_unref((uv_handle_t *)&sigint);
    uv_run(loop, UV_RUN_DEFAULT);
    ugrpc_server_free(server);
    return 0;
}
