/* Unit tests for src/grpc/alloc.c: the allocator hook, arenas and buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "alloc_hooks.h"
#include "ugrpc.h"
#include "todos.pb-c.h"

/* ---- allocators --------------------------------------------------------- */

static void install_counting(void)
{
    reset_counts();
    assert_int_equal(ugrpc_replace_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
}

static void install_failing(void)
{
    assert_int_equal(ugrpc_replace_allocator(fail_malloc, fail_realloc, fail_calloc, free), 0);
}

static int restore_allocator(void **state)
{
    (void)state;
    return ugrpc_replace_allocator(NULL, NULL, NULL, NULL);
}

#define ALIGN _Alignof(max_align_t)

static int aligned(const void *p)
{
    return (uintptr_t)p % ALIGN == 0;
}

/* An inline chunk for the arena, as a call would embed it. */
typedef union inline_mem {
    max_align_t align;
    unsigned char bytes[1024];
} inline_mem;

static int inside(const void *p, const void *base, size_t size)
{
    return (const char *)p >= (const char *)base && (const char *)p < (const char *)base + size;
}

/* ---- arena -------------------------------------------------------------- */

static void test_arena_alignment(void **state)
{
    (void)state;
    inline_mem mem;
    ugrpc__arena a;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    enum { N = 300 };
    unsigned char *ptrs[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)(i % 37) + (i % 5 == 0 ? 0 : 1) + (i % 50 == 0 ? 5000 : 0);
        ptrs[i] = ugrpc__arena_alloc(&a, sizes[i]);
        assert_non_null(ptrs[i]);
        if (!aligned(ptrs[i])) fail_msg("allocation %d of %zu bytes misaligned", i, sizes[i]);
        memset(ptrs[i], i & 0xFF, sizes[i]);
    }
    /* No two allocations overlap: each still holds its own pattern. */
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            assert_int_equal(ptrs[i][k], i & 0xFF);
    /* A zero-byte allocation still gets its own address. */
    void *z1 = ugrpc__arena_alloc(&a, 0), *z2 = ugrpc__arena_alloc(&a, 0);
    assert_non_null(z1);
    assert_non_null(z2);
    assert_ptr_not_equal(z1, z2);
    ugrpc__arena_reset(&a);
}

static void test_arena_inline_then_spill(void **state)
{
    (void)state;
    install_counting();
    inline_mem mem;
    ugrpc__arena a;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    assert_ptr_equal(a.first, (void *)&mem);
    assert_ptr_equal(a.head, a.first);

    /* Small allocations come from the inline chunk: no heap at all. */
    void *first = ugrpc__arena_alloc(&a, 16);
    assert_non_null(first);
    assert_true(inside(first, &mem, sizeof(mem)));
    size_t used = 16;
    while (used + 64 < sizeof(mem) / 2) {
        void *p = ugrpc__arena_alloc(&a, 64);
        assert_true(inside(p, &mem, sizeof(mem)));
        assert_true((char *)p + 64 <= (char *)&mem + sizeof(mem));
        used += 64;
    }
    assert_int_equal(n_malloc + n_calloc + n_realloc, 0);

    /* More than is left: a heap chunk. */
    void *big = ugrpc__arena_alloc(&a, sizeof(mem));
    assert_non_null(big);
    assert_false(inside(big, &mem, sizeof(mem)));
    assert_true(aligned(big));
    memset(big, 0xAB, sizeof(mem));
    assert_int_equal(n_malloc, 1);
    /* The next small one fits in the new chunk's remainder (at least 4 KiB). */
    void *after = ugrpc__arena_alloc(&a, 32);
    assert_false(inside(after, &mem, sizeof(mem)));
    assert_int_equal(n_malloc, 1);

    /* Reset frees the heap chunk and keeps the inline one, emptied. */
    ugrpc__arena_reset(&a);
    assert_int_equal(n_free, 1);
    assert_ptr_equal(a.head, a.first);
    assert_ptr_equal(a.first, (void *)&mem);
    void *again = ugrpc__arena_alloc(&a, 16);
    assert_ptr_equal(again, first);
    assert_int_equal(n_malloc, 1);
    ugrpc__arena_reset(&a);
    assert_int_equal(n_free, 1); /* the inline chunk is never freed */
}

static void test_arena_without_inline(void **state)
{
    (void)state;
    install_counting();
    ugrpc__arena a;
    ugrpc__arena_init(&a, NULL, 0);
    assert_null(a.head);
    assert_null(a.first);
    char *p = ugrpc__arena_alloc(&a, 10);
    assert_non_null(p);
    assert_true(aligned(p));
    assert_int_equal(n_malloc, 1);
    /* Many small allocations share chunks. */
    for (int i = 0; i < 100; i++)
        assert_non_null(ugrpc__arena_alloc(&a, 10));
    assert_int_equal(n_malloc, 1);
    ugrpc__arena_reset(&a);
    assert_null(a.head);
    assert_int_equal(n_free, n_malloc);

    /* An inline buffer too small to be useful is ignored. */
    inline_mem mem;
    ugrpc__arena_init(&a, &mem, 16);
    assert_null(a.first);
    p = ugrpc__arena_alloc(&a, 8);
    assert_false(inside(p, &mem, sizeof(mem)));
    ugrpc__arena_reset(&a);
    assert_int_equal(n_free, n_malloc);
}

static void test_arena_large_allocations(void **state)
{
    (void)state;
    install_counting();
    inline_mem mem;
    ugrpc__arena a;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    const size_t sizes[] = {4097, (1u << 20) + 1, 8u << 20, 100, 3u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = ugrpc__arena_alloc(&a, sizes[i]);
        assert_non_null(p);
        assert_true(aligned(p));
        memset(p, (int)i, sizes[i]);
        assert_int_equal(p[0], i);
        assert_int_equal(p[sizes[i] - 1], i);
    }
    ugrpc__arena_reset(&a);
    assert_int_equal(n_free, n_malloc);
    assert_ptr_equal(a.head, (void *)&mem);
}

/* Records the size asked for and fails, so that nothing huge is allocated. */
static size_t n_requests, last_request;

static void *record_fail_malloc(size_t n)
{
    n_requests++;
    last_request = n;
    return NULL;
}

static void test_arena_size_overflow(void **state)
{
    (void)state;
    assert_int_equal(ugrpc_replace_allocator(record_fail_malloc, fail_realloc, fail_calloc, free),
                     0);
    inline_mem mem;
    ugrpc__arena a;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    assert_non_null(ugrpc__arena_alloc(&a, 16));
    /* Sizes whose rounding or chunk header would wrap around must fail,
     * not return a block smaller than asked for. */
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 20, SIZE_MAX - 40};
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        n_requests = last_request = 0;
        void *p = ugrpc__arena_alloc(&a, huge[i]);
        if (p != NULL)
            fail_msg("ugrpc__arena_alloc(SIZE_MAX - %zu) returned %p", SIZE_MAX - huge[i], p);
        if (n_requests > 0 && last_request < huge[i])
            fail_msg("ugrpc__arena_alloc(SIZE_MAX - %zu) asked the allocator for %zu bytes",
                     SIZE_MAX - huge[i], last_request);
    }
    /* The arena is still usable. */
    void *p = ugrpc__arena_alloc(&a, 16);
    assert_non_null(p);
    assert_true(inside(p, &mem, sizeof(mem)));
    ugrpc__arena_reset(&a);
}

static void test_arena_strndup(void **state)
{
    (void)state;
    inline_mem mem;
    ugrpc__arena a;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    char *s = ugrpc__arena_strndup(&a, "hello world", 5);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    char *e = ugrpc__arena_strndup(&a, "", 0);
    assert_non_null(e);
    assert_string_equal(e, "");
    char *t = ugrpc__arena_strndup(&a, "a\0b", 3);
    assert_memory_equal(t, "a\0b\0", 4);
    ugrpc__arena_reset(&a);

    char *h = ugrpc__strndup("abcdef", 3);
    assert_non_null(h);
    assert_string_equal(h, "abc");
    ugrpc__free(h);
}

static void test_arena_protobuf_unpack(void **state)
{
    (void)state;
    /* A small request decodes entirely inside the inline chunk. */
    Grpc__Request req = GRPC__REQUEST__INIT;
    req.token = "xyz";
    uint8_t wire[4096];
    size_t n = grpc__request__get_packed_size(&req);
    assert_int_equal(grpc__request__pack(&req, wire), n);

    install_counting();
    inline_mem mem;
    ugrpc__arena a;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    Grpc__Request *got =
        (Grpc__Request *)protobuf_c_message_unpack(&grpc__request__descriptor, &a.pb, n, wire);
    assert_non_null(got);
    assert_string_equal(got->token, "xyz");
    assert_true(inside(got, &mem, sizeof(mem)));
    assert_true(inside(got->token, &mem, sizeof(mem)));
    assert_int_equal(n_malloc, 0);
    /* Freeing through the arena allocator is a no-op; reset releases. */
    protobuf_c_message_free_unpacked(&got->base, &a.pb);
    assert_int_equal(n_free, 0);
    ugrpc__arena_reset(&a);

    /* A token larger than the inline chunk spills to the heap. */
    char token[3000];
    memset(token, 't', sizeof(token) - 1);
    token[sizeof(token) - 1] = '\0';
    req.token = token;
    n = grpc__request__get_packed_size(&req);
    assert_true(n <= sizeof(wire));
    assert_int_equal(grpc__request__pack(&req, wire), n);
    got = (Grpc__Request *)protobuf_c_message_unpack(&grpc__request__descriptor, &a.pb, n, wire);
    assert_non_null(got);
    assert_string_equal(got->token, token);
    assert_true(aligned(got));
    assert_true(n_malloc >= 1);
    ugrpc__arena_reset(&a);
    assert_int_equal(n_free, n_malloc);

    /* A failing allocator makes unpacking fail cleanly. */
    install_failing();
    ugrpc__arena_init(&a, NULL, 0);
    got = (Grpc__Request *)protobuf_c_message_unpack(&grpc__request__descriptor, &a.pb, n, wire);
    assert_null(got);
    ugrpc__arena_reset(&a);
}

static void test_arena_protobuf_response(void **state)
{
    (void)state;
    enum { N = 100 };
    Grpc__Response__Todo todos[N], *ptrs[N];
    char ids[N][32], titles[N][32];
    for (int i = 0; i < N; i++) {
        grpc__response__todo__init(&todos[i]);
        snprintf(ids[i], sizeof(ids[i]), "%024x", i);
        snprintf(titles[i], sizeof(titles[i]), "todo number %d", i);
        todos[i].id = ids[i];
        todos[i].title = titles[i];
        todos[i].tag = "tag";
        todos[i].priority = i - 50;
        ptrs[i] = &todos[i];
    }
    Grpc__Response resp = GRPC__RESPONSE__INIT;
    resp.n_todos = N;
    resp.todos = ptrs;
    size_t n = grpc__response__get_packed_size(&resp);
    uint8_t *wire = malloc(n);
    assert_non_null(wire);
    assert_int_equal(grpc__response__pack(&resp, wire), n);

    install_counting();
    inline_mem mem;
    ugrpc__arena a;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    Grpc__Response *got = grpc__response__unpack(&a.pb, n, wire);
    assert_non_null(got);
    assert_int_equal(got->n_todos, N);
    for (int i = 0; i < N; i++) {
        assert_string_equal(got->todos[i]->id, ids[i]);
        assert_string_equal(got->todos[i]->title, titles[i]);
        assert_string_equal(got->todos[i]->tag, "tag");
        assert_int_equal(got->todos[i]->priority, i - 50);
    }
    assert_true(n_malloc >= 1);
    ugrpc__arena_reset(&a);
    assert_int_equal(n_free, n_malloc);
    free(wire);
}

/* ---- buffers ------------------------------------------------------------ */

static void test_buf_append(void **state)
{
    (void)state;
    ugrpc__buf b = {0};
    assert_int_equal(ugrpc__buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.off, 0);
    assert_true(b.cap >= 3);
    assert_int_equal(ugrpc__buf_avail(&b), 3);
    assert_memory_equal(b.data, "abc", 3);
    assert_int_equal(ugrpc__buf_append(&b, "defg", 4), 0);
    assert_memory_equal(b.data, "abcdefg", 7);

    /* Growth keeps the contents. */
    unsigned char big[5000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 13);
    assert_int_equal(ugrpc__buf_append(&b, big, sizeof(big)), 0);
    assert_int_equal(b.len, 7 + sizeof(big));
    assert_true(b.cap >= b.len);
    assert_memory_equal(b.data, "abcdefg", 7);
    assert_memory_equal(b.data + 7, big, sizeof(big));

    /* Appending nothing changes nothing. */
    size_t cap = b.cap;
    assert_int_equal(ugrpc__buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 7 + sizeof(big));
    assert_int_equal(b.cap, cap);

    /* Clear keeps the memory. */
    uint8_t *data = b.data;
    ugrpc__buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(ugrpc__buf_avail(&b), 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);

    ugrpc__buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* Freeing twice is harmless. */
    ugrpc__buf_free(&b);
}

static void test_buf_append_nothing_allocates_nothing(void **state)
{
    (void)state;
    install_counting();
    ugrpc__buf b = {0};
    assert_int_equal(ugrpc__buf_append(&b, "", 0), 0);
    assert_null(b.data);
    assert_int_equal(n_malloc + n_realloc + n_calloc, 0);
    assert_int_equal(ugrpc__buf_reserve(&b, 0), 0);
    ugrpc__buf_free(&b);
}

static void test_buf_reserve(void **state)
{
    (void)state;
    ugrpc__buf b = {0};
    assert_int_equal(ugrpc__buf_reserve(&b, 1000), 0);
    assert_true(b.cap >= 1000);
    assert_int_equal(b.len, 0);
    size_t cap = b.cap;
    uint8_t *data = b.data;
    /* The reserved room can be written without reallocation. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ugrpc__buf_append(&b, "x", 1), 0);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.data, data);
    /* Reserving what is already there does nothing. */
    assert_int_equal(ugrpc__buf_reserve(&b, b.cap - b.len), 0);
    assert_int_equal(b.cap, cap);
    ugrpc__buf_free(&b);
}

static void test_buf_compaction(void **state)
{
    (void)state;
    ugrpc__buf b = {0};
    assert_int_equal(ugrpc__buf_reserve(&b, 100), 0);
    size_t cap = b.cap;
    uint8_t *data = b.data;
    /* Fill to cap with a pattern, consume most of it. */
    for (size_t i = 0; i < cap; i++) {
        uint8_t c = (uint8_t)i;
        assert_int_equal(ugrpc__buf_append(&b, &c, 1), 0);
    }
    assert_int_equal(b.len, cap);
    b.off = cap - 10;
    assert_int_equal(ugrpc__buf_avail(&b), 10);
    /* Room for 50 more comes from compacting, not growing. */
    assert_int_equal(ugrpc__buf_reserve(&b, 50), 0);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(b.data[i], (uint8_t)(cap - 10 + i));

    /* Compaction that is not enough is followed by growth, contents kept. */
    b.off = 5;
    assert_int_equal(ugrpc__buf_reserve(&b, cap), 0);
    assert_true(b.cap >= 5 + cap);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(b.data[i], (uint8_t)(cap - 5 + i));

    /* Everything consumed: the buffer rewinds. */
    b.off = b.len;
    assert_int_equal(ugrpc__buf_append(&b, "zz", 2), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "zz", 2);
    ugrpc__buf_free(&b);
}

static void test_buf_overflow(void **state)
{
    (void)state;
    ugrpc__buf b = {0};
    assert_int_equal(ugrpc__buf_append(&b, "abc", 3), 0);
    size_t cap = b.cap;
    uint8_t *data = b.data;
    assert_int_equal(ugrpc__buf_reserve(&b, SIZE_MAX), UGRPC_ENOMEM);
    assert_int_equal(ugrpc__buf_reserve(&b, SIZE_MAX - 2), UGRPC_ENOMEM);
    assert_int_equal(ugrpc__buf_reserve(&b, SIZE_MAX / 2 + 2), UGRPC_ENOMEM);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    ugrpc__buf_free(&b);
}

/* ---- the allocator hook ------------------------------------------------- */

static void test_counting_allocator_sees_library(void **state)
{
    (void)state;
    install_counting();
    void *p = ugrpc__malloc(10);
    assert_int_equal(n_malloc, 1);
    p = ugrpc__realloc(p, 20);
    assert_int_equal(n_realloc, 1);
    ugrpc__free(p);
    assert_int_equal(n_free, 1);
    p = ugrpc__calloc(3, 4);
    assert_int_equal(n_calloc, 1);
    assert_memory_equal(p, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
    ugrpc__free(p);
    char *s = ugrpc__strndup("abc", 3);
    assert_int_equal(n_malloc, 2);
    ugrpc__free(s);
    assert_int_equal(n_free, 3);

    /* Buffers and arenas go through it. */
    reset_counts();
    ugrpc__buf b = {0};
    assert_int_equal(ugrpc__buf_append(&b, "x", 1), 0);
    assert_true(n_malloc + n_realloc >= 1);
    ugrpc__buf_free(&b);
    assert_int_equal(n_free, 1);
    reset_counts();
    ugrpc__arena a;
    ugrpc__arena_init(&a, NULL, 0);
    assert_non_null(ugrpc__arena_alloc(&a, 8));
    assert_int_equal(n_malloc, 1);
    ugrpc__arena_reset(&a);
    assert_int_equal(n_free, 1);

    /* So does nghttp2's allocator. */
    reset_counts();
    nghttp2_mem *mem = ugrpc__nghttp2_mem();
    p = mem->malloc(16, mem->mem_user_data);
    assert_int_equal(n_malloc, 1);
    p = mem->realloc(p, 32, mem->mem_user_data);
    assert_int_equal(n_realloc, 1);
    mem->free(p, mem->mem_user_data);
    p = mem->calloc(2, 8, mem->mem_user_data);
    assert_int_equal(n_calloc, 1);
    mem->free(p, mem->mem_user_data);
    assert_int_equal(n_free, 2);
}

static void test_partial_allocator_rejected(void **state)
{
    (void)state;
    install_counting();
    assert_int_equal(ugrpc_replace_allocator(malloc, NULL, NULL, NULL), UGRPC_EINVAL);
    assert_int_equal(ugrpc_replace_allocator(NULL, realloc, calloc, free), UGRPC_EINVAL);
    assert_int_equal(ugrpc_replace_allocator(malloc, realloc, calloc, NULL), UGRPC_EINVAL);
    assert_int_equal(ugrpc_replace_allocator(NULL, NULL, NULL, free), UGRPC_EINVAL);
    /* A rejected set leaves the current one in place. */
    reset_counts();
    void *p = ugrpc__malloc(8);
    assert_int_equal(n_malloc, 1);
    ugrpc__free(p);
    assert_int_equal(n_free, 1);
}

static void test_null_restores_default(void **state)
{
    (void)state;
    install_counting();
    assert_int_equal(ugrpc_replace_allocator(NULL, NULL, NULL, NULL), 0);
    reset_counts();
    void *p = ugrpc__malloc(8);
    p = ugrpc__realloc(p, 16);
    ugrpc__free(p);
    p = ugrpc__calloc(1, 8);
    ugrpc__free(p);
    assert_int_equal(n_malloc + n_realloc + n_calloc + n_free, 0);
}

static void test_failing_allocator(void **state)
{
    (void)state;
    install_failing();
    assert_null(ugrpc__malloc(1));
    assert_null(ugrpc__strndup("abc", 3));

    /* Arena without inline memory. */
    ugrpc__arena a;
    ugrpc__arena_init(&a, NULL, 0);
    assert_null(ugrpc__arena_alloc(&a, 8));
    assert_null(ugrpc__arena_strndup(&a, "abc", 3));
    assert_null(a.head);
    ugrpc__arena_reset(&a);

    /* Arena with inline memory: works until the inline chunk is full. */
    inline_mem mem;
    ugrpc__arena_init(&a, &mem, sizeof(mem));
    assert_non_null(ugrpc__arena_alloc(&a, 64));
    assert_null(ugrpc__arena_alloc(&a, sizeof(mem)));
    assert_ptr_equal(a.head, (void *)&mem);
    assert_non_null(ugrpc__arena_alloc(&a, 64)); /* still usable */
    ugrpc__arena_reset(&a);

    /* Buffers: UGRPC_ENOMEM and the buffer unchanged. */
    ugrpc__buf b = {0};
    assert_int_equal(ugrpc__buf_append(&b, "abc", 3), UGRPC_ENOMEM);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(ugrpc__buf_reserve(&b, 10), UGRPC_ENOMEM);

    /* A buffer that has memory keeps it when growth fails. */
    assert_int_equal(ugrpc_replace_allocator(NULL, NULL, NULL, NULL), 0);
    assert_int_equal(ugrpc__buf_append(&b, "abc", 3), 0);
    size_t cap = b.cap;
    uint8_t *data = b.data;
    install_failing();
    unsigned char big[8192] = {0};
    assert_int_equal(ugrpc__buf_append(&b, big, sizeof(big)), UGRPC_ENOMEM);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    /* Appends that fit still work. */
    assert_int_equal(ugrpc__buf_append(&b, "d", 1), 0);
    assert_memory_equal(b.data, "abcd", 4);
    ugrpc__buf_free(&b);

    nghttp2_mem *nm = ugrpc__nghttp2_mem();
    assert_null(nm->malloc(16, nm->mem_user_data));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alignment),
        cmocka_unit_test_teardown(test_arena_inline_then_spill, restore_allocator),
        cmocka_unit_test_teardown(test_arena_without_inline, restore_allocator),
        cmocka_unit_test_teardown(test_arena_large_allocations, restore_allocator),
        cmocka_unit_test_teardown(test_arena_size_overflow, restore_allocator),
        cmocka_unit_test(test_arena_strndup),
        cmocka_unit_test_teardown(test_arena_protobuf_unpack, restore_allocator),
        cmocka_unit_test_teardown(test_arena_protobuf_response, restore_allocator),
        cmocka_unit_test(test_buf_append),
        cmocka_unit_test_teardown(test_buf_append_nothing_allocates_nothing, restore_allocator),
        cmocka_unit_test(test_buf_reserve),
        cmocka_unit_test(test_buf_compaction),
        cmocka_unit_test(test_buf_overflow),
        cmocka_unit_test_teardown(test_counting_allocator_sees_library, restore_allocator),
        cmocka_unit_test_teardown(test_partial_allocator_rejected, restore_allocator),
        cmocka_unit_test_teardown(test_null_restores_default, restore_allocator),
        cmocka_unit_test_teardown(test_failing_allocator, restore_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
