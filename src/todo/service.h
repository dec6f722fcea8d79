/*
 * The Todos gRPC service (package grpc, service Todos): request validation,
 * optional token auth, page tokens, single flight for identical reads, and
 * the hand-off of blocking store operations to the worker pool. Database
 * health is polled here and reported through the health service.
 * Loop thread only, except the store operations it offloads.
 */
#ifndef TODO_SERVICE_H
#define TODO_SERVICE_H

#include <stdint.h>

#include "store.h"
#include "ugrpc.h"

typedef struct todo_flight todo_flight;

typedef struct todo_service {
    uv_loop_t *loop;
    ugrpc_server *srv;
    todo_store *store;
    /* When non-zero (memory store only), every operation waits this long on
     * the worker pool first, as a slow backend would (STORE_DELAY_MS). */
    uint64_t delay_ms;
    /* Identical concurrent reads share one store operation. */
    int single_flight;
    /* Accepted tokens; none configured means no auth, as the original. */
    char **tokens;
    size_t ntokens;

    /* Database health (blocking stores): polled every health_interval_ms. */
    uint64_t health_interval_ms;
    int db_up;
    char db_error[256];
    int ping_busy;
    int ping_rv;
    char ping_error[256];
    uv_work_t ping_req;
    uv_timer_t health_timer;

    todo_flight *flights; /* reads in flight, for single flight */
    uint64_t store_ops;   /* operations started on the store (for logs and tests) */
    int stopping;         /* shutdown began: not ready */
} todo_service;

/* Registers the Todos methods on `srv` and, for a blocking store, starts
 * polling the database (health "" and "grpc.Todos" NOT_SERVING until it
 * answers). `svc` (with loop, srv, store and options filled in) must outlive
 * the server. Returns 0 or a negative UGRPC_E* code. */
int todo_service_start(todo_service *svc);

/* Stops the health polling (at shutdown). */
void todo_service_stop(todo_service *svc);

#endif
