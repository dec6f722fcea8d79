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

/* Store operations, as counted in todo_service_stats (names in
 * todo_store_op_names: "list", "get", "create", "update", "delete",
 * "ping"). */
#define TODO_STORE_OPS 6
extern const char *const todo_store_op_names[TODO_STORE_OPS];

/* Store latency buckets, upper bounds in seconds: .0001 .00025 .0005 .001
 * .0025 .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10; a last bucket is +Inf. */
#define TODO_STORE_BUCKETS 16
extern const double todo_store_bounds[TODO_STORE_BUCKETS];

/* The service's counters. Loop thread only: a worker measures a store
 * operation's duration and hands the figure back with its result. */
typedef struct todo_service_stats {
    uint64_t store_ops;          /* operations started on the store */
    uint64_t single_flight_hits; /* calls answered by a read already in flight */
    /* Time each store operation took (count per bucket, not cumulative, +Inf
     * last) and its sum in seconds; errors: the operation failed for another
     * reason than not found / already exists. */
    uint64_t latency[TODO_STORE_OPS][TODO_STORE_BUCKETS + 1];
    double latency_sum[TODO_STORE_OPS];
    uint64_t errors[TODO_STORE_OPS];
} todo_service_stats;

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
    uint64_t ping_ns; /* written by the worker, read in its after-work callback */
    char ping_error[256];
    uv_work_t ping_req;
    uv_timer_t health_timer;

    todo_flight *flights;     /* reads in flight, for single flight */
    todo_service_stats stats; /* for the admin endpoint */
    int stopping;             /* shutdown began: not ready */
} todo_service;

/* Registers the Todos methods on `srv` and, for a blocking store, starts
 * polling the database (health "" and "grpc.Todos" NOT_SERVING until it
 * answers). `svc` (with loop, srv, store and options filled in) must outlive
 * the server. Returns 0 or a negative UGRPC_E* code. */
int todo_service_start(todo_service *svc);

/* Stops the health polling (at shutdown). */
void todo_service_stop(todo_service *svc);

#endif
