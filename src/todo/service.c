/*
 * The Todos service handlers.
 *
 * GetTodos (as the original): every todo, no filter and no order beyond the
 * store's. The request's token is accepted and not checked, as the original
 * did.
 */
#include "service.h"

#include <stdlib.h>
#include <time.h>

static void reply_all(ugrpc_call *call, const todo_memstore *store)
{
    Grpc__Response res = GRPC__RESPONSE__INIT;
    res.n_todos = store->count;
    res.todos = store->items;
    ugrpc_call_reply(call, &res.base);
}

/* What an offloaded read carries: the worker only reads `ms`; `svc` is
 * used back on the loop thread. */
typedef struct delay_job {
    uint64_t ms;
    todo_service *svc;
} delay_job;

static void sleep_ms(void *arg)
{
    const delay_job *job = arg;
    struct timespec ts = {(time_t)(job->ms / 1000), (long)(job->ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void after_delay(ugrpc_call *call, void *arg, int status)
{
    delay_job *job = arg;
    if (status == 0) reply_all(call, job->svc->store);
    free(job);
}

static void get_todos(ugrpc_call *call, const ProtobufCMessage *request, void *data)
{
    todo_service *svc = data;
    (void)request;
    if (svc->delay_ms == 0) {
        reply_all(call, svc->store); /* fast path: never leaves the loop thread */
        return;
    }
    delay_job *job = malloc(sizeof(*job));
    if (job == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    job->ms = svc->delay_ms;
    job->svc = svc;
    int rv = ugrpc_call_offload(call, sleep_ms, after_delay, job);
    if (rv < 0) {
        free(job);
        if (rv == UGRPC_EBUSY)
            ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "worker queue full");
        else
            ugrpc_call_finish(call, UGRPC_STATUS_UNAVAILABLE, ugrpc_strerror(rv));
    }
}

int todo_service_register(ugrpc_server *srv, todo_service *svc)
{
    ugrpc_method m = {
        .path = "/grpc.Todos/GetTodos",
        .type = UGRPC_UNARY,
        .request_type = &grpc__request__descriptor,
        .response_type = &grpc__response__descriptor,
        .on_request = get_todos,
        .data = svc,
    };
    return ugrpc_server_add_method(srv, &m);
}
