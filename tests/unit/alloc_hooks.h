/*
 * Allocators for ugrpc_replace_allocator() in unit tests: one that counts
 * every call, one that always fails. Shared by the tests that check what the
 * library allocates.
 */
#ifndef TEST_ALLOC_HOOKS_H
#define TEST_ALLOC_HOOKS_H

#include <stdlib.h>

#define TEST_UNUSED __attribute__((unused))

static size_t n_malloc, n_realloc, n_calloc, n_free;

static TEST_UNUSED void reset_counts(void)
{
    n_malloc = n_realloc = n_calloc = n_free = 0;
}

/* Every allocation of any kind since the last reset. */
static TEST_UNUSED size_t n_allocs(void)
{
    return n_malloc + n_realloc + n_calloc;
}

static TEST_UNUSED void *count_malloc(size_t n)
{
    n_malloc++;
    return malloc(n);
}

static TEST_UNUSED void *count_realloc(void *p, size_t n)
{
    n_realloc++;
    return realloc(p, n);
}

static TEST_UNUSED void *count_calloc(size_t n, size_t size)
{
    n_calloc++;
    return calloc(n, size);
}

static TEST_UNUSED void count_free(void *p)
{
    if (p != NULL) n_free++;
    free(p);
}

static TEST_UNUSED void *fail_malloc(size_t n)
{
    (void)n;
    return NULL;
}

static TEST_UNUSED void *fail_realloc(void *p, size_t n)
{
    (void)p;
    (void)n;
    return NULL;
}

static TEST_UNUSED void *fail_calloc(size_t n, size_t size)
{
    (void)n;
    (void)size;
    return NULL;
}

#endif
