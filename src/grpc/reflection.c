/* Transitional: replaced by the reflection service implementation. */
#include "reflection.h"
#include "server.h"
void ugrpc__reflection_free(ugrpc_server *srv)
{
    (void)srv;
}
