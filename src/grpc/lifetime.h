/*
 * Connection lifetime: handshake timeout, keepalive PINGs and their
 * enforcement, max idle, max age with jitter and its grace period.
 * One sweep timer per server checks every connection; its period is a
 * quarter of the shortest configured duration (at most 1 s), so a timeout
 * fires within 25% of its value. Loop thread only.
 */
#ifndef UGRPC_LIFETIME_H
#define UGRPC_LIFETIME_H

#include <stdint.h>

#include "ugrpc.h"

typedef struct ugrpc__conn ugrpc__conn;

/* Stamps a new connection (creation time, jittered age deadline). */
void ugrpc__lifetime_on_accept(ugrpc__conn *conn);

/* A PING from the client: applies the keepalive enforcement policy and may
 * queue GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") and close. */
void ugrpc__lifetime_on_ping(ugrpc__conn *conn);

/* The ACK of our keepalive PING. */
void ugrpc__lifetime_on_ping_ack(ugrpc__conn *conn);

/* The sweep period for the server's options, in milliseconds. */
uint64_t ugrpc__lifetime_period(const ugrpc_server_options *o);

/* Checks every connection of the server against its deadlines. */
void ugrpc__lifetime_sweep(ugrpc_server *srv);

#endif
