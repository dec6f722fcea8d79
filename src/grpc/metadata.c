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

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes one item (no commas), padded or not. */
static long decode_item(const char *in, size_t len, uint8_t *out)
{
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    while (len > 0 && (in[0] == ' ' || in[0] == '\t'))
        in++, len--;
    size_t pad = 0;
    while (len > 0 && in[len - 1] == '=' && pad < 2)
        len--, pad++;
    if (pad > 0 && (len + pad) % 4 != 0) return UGRPC_EINVAL;
    if (len % 4 == 1) return UGRPC_EINVAL;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0) return UGRPC_EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)n;
}

long ugrpc__base64_decode(const char *in, size_t len, uint8_t *out)
{
    size_t total = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && in[i] != ',') continue;
        long n = decode_item(in + start, i - start, out + total);
        if (n < 0) return n;
        total += (size_t)n;
        start = i + 1;
    }
    return (long)total;
}

size_t ugrpc__base64_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

size_t ugrpc__base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t n = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = b64chars[v >> 18];
        out[n++] = b64chars[(v >> 12) & 63];
        out[n++] = b64chars[(v >> 6) & 63];
        out[n++] = b64chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[n++] = b64chars[v >> 18];
        out[n++] = b64chars[(v >> 12) & 63];
        if (i + 1 < len) out[n++] = b64chars[(v >> 6) & 63];
    }
    out[n] = '\0';
    return n;
}
