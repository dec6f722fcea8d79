/* Status codes, error strings and grpc-message percent-encoding. */
#ifndef UGRPC_STATUS_H
#define UGRPC_STATUS_H

#include <stddef.h>

/* The decimal text of a status code 0..16 ("0".."16"), for grpc-status. */
const char *ugrpc__status_text(int code);

#endif
