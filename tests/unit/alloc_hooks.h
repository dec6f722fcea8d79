/*
 * Allocators for ugrpc_replace_allocator() in unit tests: one that counts
 * every call, one that always fails, and one that fails the k-th allocation
 * while tracking live blocks (ah_*). Shared by the tests that check what the
 * library allocates.
 */
#ifndef TEST_ALLOC_HOOKS_H
#define TEST_ALLOC_HOOKS_H

#include <stdlib.h>
#include <string.h>

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

/*
 * Fault injection: an allocator that counts every allocation (malloc, calloc
 * and realloc alike) and the blocks still live, and refuses the k-th one
 * (1-based), or the k-th and every one after it. Used by test_allocfail.c;
 * header-only so an embedder can use it too while debugging:
 *
 *     ugrpc_replace_allocator(ah_malloc, ah_realloc, ah_calloc, ah_free);
 *     ah_arm_from_env("UGRPC_ALLOC_FAIL"); // "250": refuse the 250th; "250+": it and all after
 *     ... run, free the server ...
 *     ah_state.live                        // back to 0: nothing leaked
 *
 * Counters are updated atomically, but the library allocates on the loop
 * thread only.
 */
typedef struct ah_counters {
    unsigned long seen;    /* allocations asked for since ah_arm() */
    unsigned long fail_at; /* the first one refused (1-based); 0: none */
    int fail_rest;         /* refuse every allocation after fail_at too */
    unsigned long failed;  /* allocations refused */
    long live;             /* blocks handed out and not freed */
    int paused;            /* neither count nor refuse (ah_pause) */
} ah_counters;

static ah_counters ah_state;

/* Counts from zero again; fail_at 0 refuses nothing. `live` is kept. */
static TEST_UNUSED void ah_arm(unsigned long fail_at, int fail_rest)
{
    __atomic_store_n(&ah_state.seen, 0, __ATOMIC_SEQ_CST);
    ah_state.failed = 0;
    ah_state.paused = 0;
    ah_state.fail_rest = fail_rest;
    __atomic_store_n(&ah_state.fail_at, fail_at, __ATOMIC_SEQ_CST);
}

/* Stops refusing, keeping the counts. */
static TEST_UNUSED void ah_disarm(void)
{
    __atomic_store_n(&ah_state.fail_at, 0, __ATOMIC_SEQ_CST);
}

/* Lets allocations through uncounted until ah_resume(), as if they were
 * not there: a step in the middle of a run that must not fail. */
static TEST_UNUSED void ah_pause(void)
{
    __atomic_store_n(&ah_state.paused, 1, __ATOMIC_SEQ_CST);
}

static TEST_UNUSED void ah_resume(void)
{
    __atomic_store_n(&ah_state.paused, 0, __ATOMIC_SEQ_CST);
}

/* Arms from an environment variable holding "K" (refuse the K-th
 * allocation) or "K+" (the K-th and all after). Returns 1 when armed. */
static TEST_UNUSED int ah_arm_from_env(const char *var)
{
    const char *v = getenv(var);
    if (v == NULL || *v == '\0') return 0;
    char *end;
    unsigned long k = strtoul(v, &end, 10);
    if (k == 0 || (*end != '\0' && strcmp(end, "+") != 0)) return 0;
    ah_arm(k, *end == '+');
    return 1;
}

static TEST_UNUSED int ah_refuse(void)
{
    if (__atomic_load_n(&ah_state.paused, __ATOMIC_SEQ_CST)) return 0;
    unsigned long n = __atomic_add_fetch(&ah_state.seen, 1, __ATOMIC_SEQ_CST);
    unsigned long at = __atomic_load_n(&ah_state.fail_at, __ATOMIC_SEQ_CST);
    if (at == 0 || n < at || (n > at && !ah_state.fail_rest)) return 0;
    __atomic_add_fetch(&ah_state.failed, 1, __ATOMIC_SEQ_CST);
    return 1;
}

static TEST_UNUSED void *ah_malloc(size_t n)
{
    if (ah_refuse()) return NULL;
    void *p = malloc(n);
    if (p != NULL) __atomic_add_fetch(&ah_state.live, 1, __ATOMIC_SEQ_CST);
    return p;
}

static TEST_UNUSED void *ah_calloc(size_t n, size_t size)
{
    if (ah_refuse()) return NULL;
    void *p = calloc(n, size);
    if (p != NULL) __atomic_add_fetch(&ah_state.live, 1, __ATOMIC_SEQ_CST);
    return p;
}

static TEST_UNUSED void *ah_realloc(void *p, size_t n)
{
    if (ah_refuse()) return NULL;
    if (p != NULL && n == 0) {
        /* glibc frees here; count it as a free and hand out nothing. */
        __atomic_sub_fetch(&ah_state.live, 1, __ATOMIC_SEQ_CST);
        free(p);
        return NULL;
    }
    void *q = realloc(p, n);
    if (q != NULL && p == NULL) __atomic_add_fetch(&ah_state.live, 1, __ATOMIC_SEQ_CST);
    return q;
}

static TEST_UNUSED void ah_free(void *p)
{
    if (p != NULL) __atomic_sub_fetch(&ah_state.live, 1, __ATOMIC_SEQ_CST);
    free(p);
}

#endif
