/* The Todos gRPC service (package grpc, service Todos). */
#ifndef TODO_SERVICE_H
#define TODO_SERVICE_H

#include <stdint.h>

#include "store.h"
#include "ugrpc.h"

typedef struct todo_service {
    todo_memstore *store;
    /* When non-zero, every read runs on the worker pool after this many
     * milliseconds, as a slow backend would (STORE_DELAY_MS). */
    uint64_t delay_ms;
} todo_service;

/* Registers the Todos methods on `srv`. `svc` must outlive the server.
 * Returns 0 or a negative UGRPC_E* code. */
int todo_service_register(ugrpc_server *srv, todo_service *svc);

#endif
