/*
 * The admin endpoint: a small, strict HTTP/1.1 server on the service's loop
 * for operators and probes. GET /metrics (Prometheus text format), /healthz
 * (the process is alive) and /readyz (the health service's overall status);
 * anything else 404, a malformed request 400, an oversized one 431, a method
 * other than GET or HEAD 405. One request per connection (Connection: close).
 */
#ifndef TODO_ADMIN_H
#define TODO_ADMIN_H

#include <stdint.h>

#include "service.h"
#include "ugrpc.h"

typedef struct todo_admin todo_admin;

/* What the endpoint reports: filled by the program, read on each request. */
typedef struct todo_admin_source {
    ugrpc_server *srv;
    int (*ready)(void *data); /* non-zero when serving */
    void *ready_data;
    const todo_service_stats *svc_stats; /* the Todo service's counters, or NULL */
} todo_admin_source;

/* Starts listening on host:port. Returns NULL and logs on failure. */
todo_admin *todo_admin_start(uv_loop_t *loop, const char *host, int port,
                             const todo_admin_source *src);
/* The port it listens on (for port 0). */
int todo_admin_port(const todo_admin *a);
/* Closes the listener and open admin connections; frees on close. */
void todo_admin_stop(todo_admin *a);

/* Request parsing, exposed for tests and fuzzing: parses the request head in
 * buf[0..len). Returns the HTTP status to answer (200 with *path set to the
 * target, NUL-terminated in place; or 400, 405, 431), or 0 when more bytes
 * are needed. */
int todo_admin_parse(char *buf, size_t len, size_t max, const char **path, int *head_only);

#endif
