/* Request header parsing: grpc-timeout, content-type, metadata names. */
#ifndef UGRPC_METADATA_H
#define UGRPC_METADATA_H

#include <stddef.h>
#include <stdint.h>

/* Parses a grpc-timeout value: 1 to 8 ASCII digits and one unit of
 * H M S m u n. Stores the timeout in milliseconds, rounded up so that a
 * positive timeout never becomes 0, in *ms. Returns 0 or UGRPC_EINVAL
 * (*ms untouched). */
int ugrpc__parse_timeout(const char *v, size_t len, uint64_t *ms);

/* Non-zero when a content-type names gRPC: "application/grpc" alone or
 * followed by '+' (a codec suffix) or ';' (parameters). */
int ugrpc__is_grpc_content_type(const char *v, size_t len);

/* Non-zero when `name` is a valid custom metadata name: [0-9a-z_.-]+ and not
 * starting with "grpc-". */
int ugrpc__valid_metadata_name(const char *name);

/* Non-zero when `v` is a valid ASCII metadata value: bytes 0x20..0x7E. */
int ugrpc__valid_metadata_value(const char *v, size_t len);

/* Base64 for "-bin" metadata: decoding accepts padded and unpadded input
 * and, as the spec asks, a comma-separated list whose items are decoded
 * one by one and concatenated. Returns the decoded length (out needs
 * len * 3 / 4 + 3 bytes), or UGRPC_EINVAL for bad input. */
long ugrpc__base64_decode(const char *in, size_t len, uint8_t *out);
/* Encodes without padding, as gRPC emits it; out needs
 * ugrpc__base64_encoded_len(len) + 1 bytes (NUL-terminated). */
size_t ugrpc__base64_encoded_len(size_t len);
size_t ugrpc__base64_encode(const uint8_t *in, size_t len, char *out);

#endif
