/* Transitional: replaced by the health service implementation. */
#include "health.h"
#include "server.h"
void ugrpc__health_free(ugrpc_server *srv)
{
    (void)srv;
}
void ugrpc__health_shutdown(ugrpc_server *srv)
{
    (void)srv;
}
void ugrpc__health_end_watches(ugrpc_server *srv)
{
    (void)srv;
}
