/* gzip per message. */
#include "compress.h"

#include <string.h>
#include <zlib.h>

#include "ugrpc.h"

struct ugrpc__zstate {
    z_stream def;
    z_stream inf;
    int def_ready, inf_ready;
};

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return ugrpc__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    ugrpc__free(p);
}

static ugrpc__zstate *get(ugrpc__zstate **z)
{
    if (*z == NULL) *z = ugrpc__calloc(1, sizeof(**z));
    return *z;
}

void ugrpc__zstate_free(ugrpc__zstate **z)
{
    if (*z == NULL) return;
    if ((*z)->def_ready) deflateEnd(&(*z)->def);
    if ((*z)->inf_ready) inflateEnd(&(*z)->inf);
    ugrpc__free(*z);
    *z = NULL;
}

long ugrpc__gzip(ugrpc__zstate **zp, const uint8_t *in, size_t len, ugrpc__buf *out)
{
    ugrpc__zstate *z = get(zp);
    if (z == NULL || len > UINT32_MAX) return UGRPC_ENOMEM;
    z_stream *s = &z->def;
    if (!z->def_ready) {
        s->zalloc = z_alloc;
        s->zfree = z_free;
        /* windowBits 15 + 16: a gzip wrapper, as grpc "gzip" means. */
        if (deflateInit2(s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            return UGRPC_ENOMEM;
        z->def_ready = 1;
    } else if (deflateReset(s) != Z_OK) {
        return UGRPC_EIO;
    }
    size_t bound = deflateBound(s, (uLong)len);
    if (ugrpc__buf_reserve(out, bound) < 0) return UGRPC_ENOMEM;
    s->next_in = (Bytef *)(uintptr_t)in;
    s->avail_in = (uInt)len;
    s->next_out = out->data + out->len;
    s->avail_out = (uInt)bound;
    if (deflate(s, Z_FINISH) != Z_STREAM_END) return UGRPC_EIO;
    size_t n = bound - s->avail_out;
    out->len += n;
    return (long)n;
}

int ugrpc__gunzip(ugrpc__zstate **zp, const uint8_t *in, size_t len, size_t max, uint8_t **out,
                  size_t *outlen)
{
    ugrpc__zstate *z = get(zp);
    if (z == NULL || len > UINT32_MAX) return UGRPC_ENOMEM;
    z_stream *s = &z->inf;
    if (!z->inf_ready) {
        s->zalloc = z_alloc;
        s->zfree = z_free;
        if (inflateInit2(s, 15 + 16) != Z_OK) return UGRPC_ENOMEM;
        z->inf_ready = 1;
    } else if (inflateReset(s) != Z_OK) {
        return UGRPC_EIO;
    }
    /* Grow the output in steps, never past max + 1 byte: one byte more than
     * allowed is enough to know the message is too big. */
    size_t cap = len * 4 + 64;
    if (cap > max + 1) cap = max + 1;
    uint8_t *buf = ugrpc__malloc(cap);
    if (buf == NULL) return UGRPC_ENOMEM;
    s->next_in = (Bytef *)(uintptr_t)in;
    s->avail_in = (uInt)len;
    size_t have = 0;
    for (;;) {
        s->next_out = buf + have;
        s->avail_out = (uInt)(cap - have);
        int rv = inflate(s, Z_NO_FLUSH);
        have = cap - s->avail_out;
        if (rv == Z_STREAM_END) break;
        if (have > max) {
            ugrpc__free(buf);
            return UGRPC_ETOOBIG;
        }
        if (rv == Z_BUF_ERROR && s->avail_in == 0) {
            ugrpc__free(buf);
            return UGRPC_EPROTO; /* truncated */
        }
        if (rv != Z_OK && rv != Z_BUF_ERROR) {
            ugrpc__free(buf);
            return rv == Z_MEM_ERROR ? UGRPC_ENOMEM : UGRPC_EPROTO;
        }
        if (s->avail_out == 0) {
            if (cap > max) {
                ugrpc__free(buf);
                return UGRPC_ETOOBIG;
            }
            size_t ncap = cap * 2;
            if (ncap > max + 1) ncap = max + 1;
            uint8_t *nb = ugrpc__realloc(buf, ncap);
            if (nb == NULL) {
                ugrpc__free(buf);
                return UGRPC_ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
    }
    if (have > max) {
        ugrpc__free(buf);
        return UGRPC_ETOOBIG;
    }
    *out = buf;
    *outlen = have;
    return 0;
}

int ugrpc__accepts_encoding(const char *list, size_t len, const char *coding)
{
    size_t clen = strlen(coding);
    size_t i = 0;
    while (i < len) {
        while (i < len && (list[i] == ' ' || list[i] == ','))
            i++;
        size_t start = i;
        while (i < len && list[i] != ',' && list[i] != ' ')
            i++;
        if (i - start == clen && memcmp(list + start, coding, clen) == 0) return 1;
    }
    return 0;
}
