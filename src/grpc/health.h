/*
 * grpc.health.v1.Health: per-service status, Check, and Watch streams.
 * Loop thread only. State hangs off ugrpc_server.health.
 */
#ifndef UGRPC_HEALTH_H
#define UGRPC_HEALTH_H

#include "ugrpc.h"

/* Frees the health state and forgets the watchers (their calls are owned by
 * their connections). NULL-safe: a no-op when health was never enabled. */
void ugrpc__health_free(ugrpc_server *srv);

/* Shutdown, phase one: every service NOT_SERVING; watchers are told. */
void ugrpc__health_shutdown(ugrpc_server *srv);

/* Shutdown, phase two: finishes every Watch call (UNAVAILABLE, "server is
 * shutting down") so that its connection can drain. */
void ugrpc__health_end_watches(ugrpc_server *srv);

#endif
