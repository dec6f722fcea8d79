/*
 * Method routing: an open-addressing hash table from ":path" to a method.
 * Built at registration time; lookups on the hot path do no allocation.
 */
#ifndef UGRPC_ROUTER_H
#define UGRPC_ROUTER_H

#include <stddef.h>

#include "ugrpc.h"

typedef struct ugrpc__router {
    ugrpc_method *slots;        /* capacity entries; path == NULL marks an empty slot */
    ugrpc_method_stats *stats;  /* counters of slots[i] at stats[i] */
    ugrpc_method_stats unknown; /* calls to paths no method serves */
    size_t cap;                 /* a power of two */
    size_t count;
} ugrpc__router;

void ugrpc__router_init(ugrpc__router *r);
void ugrpc__router_free(ugrpc__router *r);

/* Adds a copy of *m. Returns 0, UGRPC_EEXIST, UGRPC_EINVAL (path not of the
 * form "/pkg.Service/Method"), or UGRPC_ENOMEM. */
int ugrpc__router_add(ugrpc__router *r, const ugrpc_method *m);

/* The counters of a method returned by ugrpc__router_find(). */
ugrpc_method_stats *ugrpc__router_stats(ugrpc__router *r, const ugrpc_method *m);

/* Finds the method for a path of `len` bytes, or NULL. */
const ugrpc_method *ugrpc__router_find(const ugrpc__router *r, const char *path, size_t len);

/* Non-zero when any registered method belongs to the service named by the
 * path's first segment ("/pkg.Service/..."). Used to tell an unknown method
 * from an unknown service in the UNIMPLEMENTED message. */
int ugrpc__router_has_service(const ugrpc__router *r, const char *path, size_t len);

/* Checks a path's shape: "/" service "/" method, both non-empty, no further
 * "/". Returns the length of "/service" (the index of the second slash) or 0
 * when malformed. */
size_t ugrpc__path_service_len(const char *path, size_t len);

#endif
