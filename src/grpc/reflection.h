/*
 * grpc.reflection.v1 and v1alpha ServerReflectionInfo, answered from an
 * embedded FileDescriptorSet. Loop thread only. State hangs off
 * ugrpc_server.reflection.
 */
#ifndef UGRPC_REFLECTION_H
#define UGRPC_REFLECTION_H

#include "ugrpc.h"

/* Frees the reflection index. NULL-safe: a no-op when never enabled. */
void ugrpc__reflection_free(ugrpc_server *srv);

#endif
