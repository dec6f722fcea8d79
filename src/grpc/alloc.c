/* Allocation hook, arenas and byte buffers. */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#include "ugrpc.h"

static void *(*hook_malloc)(size_t) = malloc;
static void *(*hook_realloc)(void *, size_t) = realloc;
static void *(*hook_calloc)(size_t, size_t) = calloc;
static void (*hook_free)(void *) = free;

int ugrpc_replace_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                            void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *))
{
    int given =
        (malloc_fn != NULL) + (realloc_fn != NULL) + (calloc_fn != NULL) + (free_fn != NULL);
    if (given == 0) {
        hook_malloc = malloc;
        hook_realloc = realloc;
        hook_calloc = calloc;
        hook_free = free;
        return 0;
    }
    if (given != 4) return UGRPC_EINVAL;
    hook_malloc = malloc_fn;
    hook_realloc = realloc_fn;
    hook_calloc = calloc_fn;
    hook_free = free_fn;
    return 0;
}

void *ugrpc__malloc(size_t size)
{
    return hook_malloc(size);
}

void *ugrpc__calloc(size_t n, size_t size)
{
    return hook_calloc(n, size);
}

void *ugrpc__realloc(void *p, size_t size)
{
    return hook_realloc(p, size);
}

void ugrpc__free(void *p)
{
    hook_free(p);
}

char *ugrpc__strndup(const char *s, size_t len)
{
    char *d = hook_malloc(len + 1);
    if (d == NULL) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static void *mem_malloc(size_t size, void *ud)
{
    (void)ud;
    return hook_malloc(size);
}

static void mem_free(void *p, void *ud)
{
    (void)ud;
    hook_free(p);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
    (void)ud;
    return hook_calloc(n, size);
}

static void *mem_realloc(void *p, size_t size, void *ud)
{
    (void)ud;
    return hook_realloc(p, size);
}

nghttp2_mem *ugrpc__nghttp2_mem(void)
{
    static nghttp2_mem mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};
    return &mem;
}

/* ---- arena ---- */

#define ALIGN_UP(n, a) (((n) + ((a)-1)) & ~((size_t)(a)-1))
#define CHUNK_HDR      ALIGN_UP(sizeof(ugrpc__chunk), _Alignof(max_align_t))
#define CHUNK_MIN      4096u

static void *pb_alloc(void *data, size_t size)
{
    return ugrpc__arena_alloc(data, size);
}

static void pb_free(void *data, void *p)
{
    /* Arena memory is released with the arena. */
    (void)data;
    (void)p;
}

void ugrpc__arena_init(ugrpc__arena *a, void *inline_mem, size_t inline_size)
{
    a->head = a->first = NULL;
    if (inline_mem != NULL && inline_size > CHUNK_HDR + 64) {
        ugrpc__chunk *c = inline_mem;
        c->next = NULL;
        c->cap = inline_size - CHUNK_HDR;
        c->used = 0;
        a->head = a->first = c;
    }
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

void *ugrpc__arena_alloc(ugrpc__arena *a, size_t size)
{
    /* Rounding and the chunk header must not wrap around. */
    if (size > SIZE_MAX - CHUNK_HDR - _Alignof(max_align_t)) return NULL;
    size = ALIGN_UP(size ? size : 1, _Alignof(max_align_t));
    ugrpc__chunk *c = a->head;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > CHUNK_MIN ? size : CHUNK_MIN;
        if (c != NULL && c->cap * 2 > cap && c->cap * 2 <= 1u << 20) cap = c->cap * 2;
        ugrpc__chunk *n = hook_malloc(CHUNK_HDR + cap);
        if (n == NULL) return NULL;
        n->cap = cap;
        n->used = 0;
        n->next = c;
        a->head = c = n;
    }
    void *p = (char *)c + CHUNK_HDR + c->used;
    c->used += size;
    return p;
}

char *ugrpc__arena_strndup(ugrpc__arena *a, const char *s, size_t len)
{
    char *d = ugrpc__arena_alloc(a, len + 1);
    if (d == NULL) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void ugrpc__arena_reset(ugrpc__arena *a)
{
    ugrpc__chunk *c = a->head;
    while (c != NULL && c != a->first) {
        ugrpc__chunk *next = c->next;
        hook_free(c);
        c = next;
    }
    if (a->first != NULL) a->first->used = 0;
    a->head = a->first;
}

/* ---- byte buffer ---- */

int ugrpc__buf_reserve(ugrpc__buf *b, size_t extra)
{
    if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
    if (b->cap - b->len >= extra) return 0;
    /* Compact before growing: consumed bytes at the front are dead. */
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= extra) return 0;
    }
    size_t need = b->len + extra;
    if (need < extra) return UGRPC_ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return UGRPC_ENOMEM;
        cap *= 2;
    }
    uint8_t *d = hook_realloc(b->data, cap);
    if (d == NULL) return UGRPC_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int ugrpc__buf_append(ugrpc__buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    int rv = ugrpc__buf_reserve(b, n);
    if (rv < 0) return rv;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void ugrpc__buf_free(ugrpc__buf *b)
{
    hook_free(b->data);
    b->data = NULL;
    b->len = b->off = b->cap = 0;
}
