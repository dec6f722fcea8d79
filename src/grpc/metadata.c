/* Request header parsing. */
#include "metadata.h"

#include <string.h>

#include "ugrpc.h"

int ugrpc__parse_timeout(const char *v, size_t len, uint64_t *ms)
{
    if (len < 2 || len > 9) return UGRPC_EINVAL;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] < '0' || v[i] > '9') return UGRPC_EINVAL;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    uint64_t out;
    switch (v[len - 1]) {
    case 'H':
        out = n * 3600000u;
        break;
    case 'M':
        out = n * 60000u;
        break;
    case 'S':
        out = n * 1000u;
        break;
    case 'm':
        out = n;
        break;
    case 'u':
        out = (n + 999u) / 1000u;
        break;
    case 'n':
        out = (n + 999999u) / 1000000u;
        break;
    default:
        return UGRPC_EINVAL;
    }
    *ms = out;
    return 0;
}

int ugrpc__is_grpc_content_type(const char *v, size_t len)
{
    static const char base[] = "application/grpc";
    size_t blen = sizeof(base) - 1;
    if (len < blen || strncmp(v, base, blen) != 0) return 0;
    return len == blen || v[blen] == '+' || v[blen] == ';';
}

int ugrpc__valid_metadata_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || strncmp(name, "grpc-", 5) == 0) return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int ugrpc__valid_metadata_value(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7E) return 0;
    return 1;
}
