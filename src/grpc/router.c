/* Method routing. */
#include "router.h"

#include <string.h>

#include "alloc.h"

static uint64_t hash(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void ugrpc__router_init(ugrpc__router *r)
{
    memset(r, 0, sizeof(*r));
    r->unknown.path = "";
}

void ugrpc__router_free(ugrpc__router *r)
{
    ugrpc__free(r->slots);
    ugrpc__free(r->stats);
    memset(r, 0, sizeof(*r));
}

size_t ugrpc__path_service_len(const char *path, size_t len)
{
    if (len < 4 || path[0] != '/') return 0;
    const char *slash = memchr(path + 1, '/', len - 1);
    if (slash == NULL) return 0;
    size_t svc = (size_t)(slash - path);
    if (svc < 2 || svc + 1 >= len) return 0;
    if (memchr(slash + 1, '/', len - svc - 1) != NULL) return 0;
    return svc;
}

static ugrpc_method *slot_for(ugrpc_method *slots, size_t cap, const char *path, size_t len)
{
    size_t i = (size_t)hash(path, len) & (cap - 1);
    for (;;) {
        ugrpc_method *s = &slots[i];
        if (s->path == NULL || (strlen(s->path) == len && memcmp(s->path, path, len) == 0))
            return s;
        i = (i + 1) & (cap - 1);
    }
}

static int grow(ugrpc__router *r)
{
    size_t cap = r->cap ? r->cap * 2 : 16;
    ugrpc_method *slots = ugrpc__calloc(cap, sizeof(*slots));
    ugrpc_method_stats *stats = ugrpc__calloc(cap, sizeof(*stats));
    if (slots == NULL || stats == NULL) {
        ugrpc__free(slots);
        ugrpc__free(stats);
        return UGRPC_ENOMEM;
    }
    for (size_t i = 0; i < r->cap; i++) {
        if (r->slots[i].path == NULL) continue;
        ugrpc_method *s = slot_for(slots, cap, r->slots[i].path, strlen(r->slots[i].path));
        *s = r->slots[i];
        stats[s - slots] = r->stats[i];
    }
    ugrpc__free(r->slots);
    ugrpc__free(r->stats);
    r->slots = slots;
    r->stats = stats;
    r->cap = cap;
    return 0;
}

int ugrpc__router_add(ugrpc__router *r, const ugrpc_method *m)
{
    size_t len = strlen(m->path);
    if (ugrpc__path_service_len(m->path, len) == 0) return UGRPC_EINVAL;
    if (ugrpc__router_find(r, m->path, len) != NULL) return UGRPC_EEXIST;
    /* Keep the load factor under one half so probes stay short. */
    if ((r->count + 1) * 2 > r->cap) {
        int rv = grow(r);
        if (rv < 0) return rv;
    }
    ugrpc_method *s = slot_for(r->slots, r->cap, m->path, len);
    *s = *m;
    ugrpc_method_stats *st = &r->stats[s - r->slots];
    memset(st, 0, sizeof(*st));
    st->path = m->path;
    st->type = m->type;
    r->count++;
    return 0;
}

ugrpc_method_stats *ugrpc__router_stats(ugrpc__router *r, const ugrpc_method *m)
{
    return &r->stats[m - r->slots];
}

const ugrpc_method *ugrpc__router_find(const ugrpc__router *r, const char *path, size_t len)
{
    if (r->cap == 0) return NULL;
    const ugrpc_method *s = slot_for(r->slots, r->cap, path, len);
    return s->path != NULL ? s : NULL;
}

int ugrpc__router_has_service(const ugrpc__router *r, const char *path, size_t len)
{
    size_t svc = ugrpc__path_service_len(path, len);
    if (svc == 0) return 0;
    for (size_t i = 0; i < r->cap; i++) {
        const char *p = r->slots[i].path;
        if (p != NULL && strncmp(p, path, svc + 1) == 0) return 1;
    }
    return 0;
}
