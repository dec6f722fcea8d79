/*
 * Allocation: the library's one allocator hook, per-call arenas and growable
 * byte buffers. Everything here is loop-thread only except the hook itself.
 */
#ifndef UGRPC_ALLOC_H
#define UGRPC_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <protobuf-c/protobuf-c.h>

/* The hooked allocator (ugrpc_replace_allocator). Return NULL on failure. */
void *ugrpc__malloc(size_t size);
void *ugrpc__calloc(size_t n, size_t size);
void *ugrpc__realloc(void *p, size_t size);
void ugrpc__free(void *p);
char *ugrpc__strndup(const char *s, size_t len);

/* An nghttp2_mem routed through the hook, for nghttp2_session_server_new3. */
nghttp2_mem *ugrpc__nghttp2_mem(void);

/*
 * A bump arena: a chain of chunks freed all at once. The first chunk may be
 * supplied by the owner (embedded in the call) so that small calls allocate
 * nothing beyond the call itself.
 */
typedef struct ugrpc__chunk {
    struct ugrpc__chunk *next;
    size_t cap;
    size_t used;
    /* data follows, max_align_t aligned */
} ugrpc__chunk;

typedef struct ugrpc__arena {
    ugrpc__chunk *head;    /* the chunk being filled */
    ugrpc__chunk *first;   /* the owner's inline chunk, never freed, or NULL */
    ProtobufCAllocator pb; /* protobuf-c allocator drawing from this arena */
} ugrpc__arena;

/* Initialises an arena whose first chunk is `inline_mem` of `inline_size`
 * bytes (may be NULL/0). The arena must not move afterwards (pb points at it). */
void ugrpc__arena_init(ugrpc__arena *a, void *inline_mem, size_t inline_size);
/* Returns `size` bytes aligned for any type, or NULL on allocation failure. */
void *ugrpc__arena_alloc(ugrpc__arena *a, size_t size);
/* Copies len bytes and appends a NUL; NULL on failure. */
char *ugrpc__arena_strndup(ugrpc__arena *a, const char *s, size_t len);
/* Frees every chunk except the inline one and empties the arena. */
void ugrpc__arena_reset(ugrpc__arena *a);

/* A growable byte buffer with a read offset. */
typedef struct ugrpc__buf {
    uint8_t *data;
    size_t len; /* bytes written */
    size_t off; /* bytes already consumed from the front */
    size_t cap;
} ugrpc__buf;

/* Ensures room for `extra` more bytes after len. Returns 0 or UGRPC_ENOMEM. */
int ugrpc__buf_reserve(ugrpc__buf *b, size_t extra);
/* Appends bytes. Returns 0 or UGRPC_ENOMEM (buffer unchanged). */
int ugrpc__buf_append(ugrpc__buf *b, const void *p, size_t n);
/* Readable bytes (len - off). */
static inline size_t ugrpc__buf_avail(const ugrpc__buf *b)
{
    return b->len - b->off;
}
/* Empties the buffer, keeping its memory. */
static inline void ugrpc__buf_clear(ugrpc__buf *b)
{
    b->len = b->off = 0;
}
/* Releases the buffer's memory. */
void ugrpc__buf_free(ugrpc__buf *b);

#endif
