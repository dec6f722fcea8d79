/* Status names, error strings and grpc-message percent-encoding. */
#include "status.h"

#include "ugrpc.h"

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

static const char *const status_texts[] = {"0", "1",  "2",  "3",  "4",  "5",  "6",  "7", "8",
                                           "9", "10", "11", "12", "13", "14", "15", "16"};

const char *ugrpc_status_name(int code)
{
    if (code < 0 || code > 16) return "UNKNOWN";
    return status_names[code];
}

const char *ugrpc__status_text(int code)
{
    if (code < 0 || code > 16) return "2";
    return status_texts[code];
}

const char *ugrpc_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case UGRPC_ENOMEM:
        return "out of memory";
    case UGRPC_EINVAL:
        return "invalid argument";
    case UGRPC_EEXIST:
        return "already registered";
    case UGRPC_ECANCELLED:
        return "call cancelled";
    case UGRPC_ESTATE:
        return "invalid state for this operation";
    case UGRPC_EBUSY:
        return "limit reached";
    case UGRPC_ETOOBIG:
        return "message too large";
    case UGRPC_EIO:
        return "I/O error";
    case UGRPC_EPROTO:
        return "protocol error";
    case UGRPC_EADDR:
        return "cannot listen on address";
    case UGRPC_EAGAIN:
        return "send queue full: wait until writable";
    default:
        return "unknown error";
    }
}

static const char hexdigits[] = "0123456789ABCDEF";

size_t ugrpc_percent_encode(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;       /* length the full encoding needs */
    size_t written = 0; /* bytes actually stored: whole characters and escapes only */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        size_t w = (c >= 0x20 && c <= 0x7E && c != '%') ? 1 : 3;
        if (n == written && n + w < cap) {
            if (w == 1) {
                out[n] = (char)c;
            } else {
                out[n] = '%';
                out[n + 1] = hexdigits[c >> 4];
                out[n + 2] = hexdigits[c & 15];
            }
            written += w;
        }
        n += w;
    }
    if (cap > 0) out[written] = '\0';
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t ugrpc_percent_decode(char *s, size_t len)
{
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        if (s[r] == '%' && r + 2 < len) {
            int hi = hexval(s[r + 1]), lo = hexval(s[r + 2]);
            if (hi >= 0 && lo >= 0) {
                s[w++] = (char)(hi << 4 | lo);
                r += 2;
                continue;
            }
        }
        s[w++] = s[r];
    }
    if (w < len) s[w] = '\0';
    return w;
}
