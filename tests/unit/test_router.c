/* Unit tests for src/grpc/router.c: method routing by ":path". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"
#include "ugrpc.h"

static int tag_a, tag_b;

static ugrpc_method method(const char *path, void *data)
{
    ugrpc_method m;
    memset(&m, 0, sizeof(m));
    m.path = path;
    m.type = UGRPC_UNARY;
    m.data = data;
    return m;
}

static const ugrpc_method *find(const ugrpc__router *r, const char *path)
{
    return ugrpc__router_find(r, path, strlen(path));
}

static int has_service(const ugrpc__router *r, const char *path)
{
    return ugrpc__router_has_service(r, path, strlen(path));
}

static void test_empty_router(void **state)
{
    (void)state;
    ugrpc__router r;
    ugrpc__router_init(&r);
    assert_int_equal(r.count, 0);
    assert_null(find(&r, "/pkg.Svc/M"));
    assert_false(has_service(&r, "/pkg.Svc/M"));
    ugrpc__router_free(&r);
}

static void test_add_find(void **state)
{
    (void)state;
    ugrpc__router r;
    ugrpc__router_init(&r);
    ugrpc_method a = method("/pkg.Svc/A", &tag_a);
    ugrpc_method b = method("/pkg.Svc/B", &tag_b);
    b.type = UGRPC_BIDI_STREAMING;
    assert_int_equal(ugrpc__router_add(&r, &a), 0);
    assert_int_equal(ugrpc__router_add(&r, &b), 0);
    assert_int_equal(r.count, 2);

    const ugrpc_method *m = find(&r, "/pkg.Svc/A");
    assert_non_null(m);
    assert_string_equal(m->path, "/pkg.Svc/A");
    assert_ptr_equal(m->data, &tag_a);
    assert_int_equal(m->type, UGRPC_UNARY);
    /* A copy is stored: changing the caller's struct changes nothing. */
    a.data = &tag_b;
    assert_ptr_equal(find(&r, "/pkg.Svc/A")->data, &tag_a);

    m = find(&r, "/pkg.Svc/B");
    assert_non_null(m);
    assert_ptr_equal(m->data, &tag_b);
    assert_int_equal(m->type, UGRPC_BIDI_STREAMING);

    /* Exact, case-sensitive matches only. */
    assert_null(find(&r, "/pkg.Svc/C"));
    assert_null(find(&r, "/pkg.Svc/a"));
    assert_null(find(&r, "/pkg.svc/A"));
    assert_null(find(&r, "/pkg.Svc/AA"));
    assert_null(ugrpc__router_find(&r, "/pkg.Svc/A", 9)); /* a prefix */
    /* The length bounds the lookup: the buffer need not be NUL-terminated. */
    const char buf[] = "/pkg.Svc/AXYZ";
    m = ugrpc__router_find(&r, buf, 10);
    assert_non_null(m);
    assert_ptr_equal(m->data, &tag_a);
    ugrpc__router_free(&r);
    assert_int_equal(r.count, 0);
    assert_null(r.slots);
}

static void test_duplicate_eexist(void **state)
{
    (void)state;
    ugrpc__router r;
    ugrpc__router_init(&r);
    ugrpc_method a = method("/pkg.Svc/A", &tag_a);
    ugrpc_method again = method("/pkg.Svc/A", &tag_b);
    assert_int_equal(ugrpc__router_add(&r, &a), 0);
    assert_int_equal(ugrpc__router_add(&r, &again), UGRPC_EEXIST);
    assert_int_equal(r.count, 1);
    /* The first registration stays. */
    assert_ptr_equal(find(&r, "/pkg.Svc/A")->data, &tag_a);
    /* A different string with the same contents is still a duplicate. */
    char copy[] = "/pkg.Svc/A";
    ugrpc_method c = method(copy, NULL);
    assert_int_equal(ugrpc__router_add(&r, &c), UGRPC_EEXIST);
    assert_int_equal(r.count, 1);
    ugrpc__router_free(&r);
}

static void test_malformed_paths_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "/", "/a", "a/b", "/svc/", "//m", "/a/b/c", "//", "///", "svc/m", "/svc//m", "/svc/m/",
    };
    ugrpc__router r;
    ugrpc__router_init(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ugrpc_method m = method(bad[i], NULL);
        assert_int_equal(ugrpc__router_add(&r, &m), UGRPC_EINVAL);
        assert_int_equal(ugrpc__path_service_len(bad[i], strlen(bad[i])), 0);
        assert_false(has_service(&r, bad[i]));
    }
    assert_int_equal(r.count, 0);
    /* The shortest valid path. */
    ugrpc_method ok = method("/a/b", NULL);
    assert_int_equal(ugrpc__router_add(&r, &ok), 0);
    assert_non_null(find(&r, "/a/b"));
    ugrpc__router_free(&r);
}

static void test_path_service_len(void **state)
{
    (void)state;
    assert_int_equal(ugrpc__path_service_len("/pkg.Svc/Method", 15), 8);
    assert_int_equal(ugrpc__path_service_len("/a/b", 4), 2);
    assert_int_equal(ugrpc__path_service_len("/grpc.health.v1.Health/Check", 28), 22);
    /* Only `len` bytes count. */
    assert_int_equal(ugrpc__path_service_len("/a/b/c", 4), 2);
    assert_int_equal(ugrpc__path_service_len("/a/b", 3), 0);
    assert_int_equal(ugrpc__path_service_len("/abc/d", 5), 0);
    assert_int_equal(ugrpc__path_service_len("", 0), 0);
    assert_int_equal(ugrpc__path_service_len("/x/y/z", 6), 0);
}

static void test_growth_past_16(void **state)
{
    (void)state;
    enum { N = 17 };
    static char paths[N][32];
    static int tags[N];
    ugrpc__router r;
    ugrpc__router_init(&r);
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/pkg.Svc/M%d", i);
        ugrpc_method m = method(paths[i], &tags[i]);
        assert_int_equal(ugrpc__router_add(&r, &m), 0);
        assert_int_equal(r.count, (size_t)i + 1);
        /* Everything added so far is still found after each growth. */
        for (int j = 0; j <= i; j++) {
            const ugrpc_method *f = find(&r, paths[j]);
            assert_non_null(f);
            assert_ptr_equal(f->data, &tags[j]);
        }
    }
    assert_true(r.cap >= 2 * r.count);
    assert_int_equal(r.cap & (r.cap - 1), 0);
    assert_null(find(&r, "/pkg.Svc/M17"));
    ugrpc__router_free(&r);
}

static void test_growth_past_100(void **state)
{
    (void)state;
    enum { N = 150 };
    static char paths[N][48];
    static int tags[N];
    ugrpc__router r;
    ugrpc__router_init(&r);
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/pkg.Service%d/Method%d", i % 7, i);
        ugrpc_method m = method(paths[i], &tags[i]);
        assert_int_equal(ugrpc__router_add(&r, &m), 0);
    }
    assert_int_equal(r.count, N);
    assert_true(r.cap >= 2 * r.count);
    assert_int_equal(r.cap & (r.cap - 1), 0);
    for (int i = 0; i < N; i++) {
        const ugrpc_method *f = find(&r, paths[i]);
        assert_non_null(f);
        assert_ptr_equal(f->data, &tags[i]);
        assert_string_equal(f->path, paths[i]);
        ugrpc_method dup = method(paths[i], NULL);
        assert_int_equal(ugrpc__router_add(&r, &dup), UGRPC_EEXIST);
    }
    assert_int_equal(r.count, N);
    /* Misses terminate and return NULL in a well-filled table. */
    char miss[48];
    for (int i = N; i < N + 200; i++) {
        snprintf(miss, sizeof(miss), "/pkg.Service%d/Method%d", i % 7, i);
        assert_null(find(&r, miss));
    }
    ugrpc__router_free(&r);
}

static void test_has_service(void **state)
{
    (void)state;
    ugrpc__router r;
    ugrpc__router_init(&r);
    ugrpc_method a = method("/pkg.Svc/A", NULL);
    ugrpc_method b = method("/other.Thing/Do", NULL);
    assert_int_equal(ugrpc__router_add(&r, &a), 0);
    assert_int_equal(ugrpc__router_add(&r, &b), 0);

    /* Unknown method of a known service. */
    assert_null(find(&r, "/pkg.Svc/Missing"));
    assert_true(has_service(&r, "/pkg.Svc/Missing"));
    assert_true(has_service(&r, "/pkg.Svc/A"));
    assert_true(has_service(&r, "/other.Thing/X"));
    /* Unknown service. */
    assert_false(has_service(&r, "/pkg.Nope/A"));
    /* A service whose name is a prefix, or an extension, of a known one. */
    assert_false(has_service(&r, "/pkg.Sv/A"));
    assert_false(has_service(&r, "/pkg.SvcX/A"));
    assert_false(has_service(&r, "/pkg.Svc.Inner/A"));
    assert_false(has_service(&r, "/pkg/A"));
    /* Case matters. */
    assert_false(has_service(&r, "/pkg.svc/A"));
    /* Only `len` bytes count. */
    assert_true(ugrpc__router_has_service(&r, "/pkg.Svc/Zzz/extra", 12));
    assert_false(ugrpc__router_has_service(&r, "/pkg.Svc/Zzz", 8));
    ugrpc__router_free(&r);
}

static void test_reuse_after_free(void **state)
{
    (void)state;
    ugrpc__router r;
    ugrpc__router_init(&r);
    ugrpc_method a = method("/pkg.Svc/A", &tag_a);
    assert_int_equal(ugrpc__router_add(&r, &a), 0);
    ugrpc__router_free(&r);
    assert_null(find(&r, "/pkg.Svc/A"));
    assert_int_equal(ugrpc__router_add(&r, &a), 0);
    assert_non_null(find(&r, "/pkg.Svc/A"));
    ugrpc__router_free(&r);
}

static void *fail_malloc(size_t n)
{
    (void)n;
    return NULL;
}

static void *fail_realloc(void *p, size_t n)
{
    (void)p;
    (void)n;
    return NULL;
}

static void *fail_calloc(size_t n, size_t size)
{
    (void)n;
    (void)size;
    return NULL;
}

static int restore_allocator(void **state)
{
    (void)state;
    return ugrpc_replace_allocator(NULL, NULL, NULL, NULL);
}

static void test_add_enomem(void **state)
{
    (void)state;
    ugrpc__router r;
    ugrpc__router_init(&r);
    assert_int_equal(ugrpc_replace_allocator(fail_malloc, fail_realloc, fail_calloc, free), 0);
    ugrpc_method a = method("/pkg.Svc/A", NULL);
    assert_int_equal(ugrpc__router_add(&r, &a), UGRPC_ENOMEM);
    assert_int_equal(r.count, 0);
    assert_null(find(&r, "/pkg.Svc/A"));
    assert_int_equal(ugrpc_replace_allocator(NULL, NULL, NULL, NULL), 0);
    assert_int_equal(ugrpc__router_add(&r, &a), 0);
    assert_non_null(find(&r, "/pkg.Svc/A"));
    ugrpc__router_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_router),
        cmocka_unit_test(test_add_find),
        cmocka_unit_test(test_duplicate_eexist),
        cmocka_unit_test(test_malformed_paths_rejected),
        cmocka_unit_test(test_path_service_len),
        cmocka_unit_test(test_growth_past_16),
        cmocka_unit_test(test_growth_past_100),
        cmocka_unit_test(test_has_service),
        cmocka_unit_test(test_reuse_after_free),
        cmocka_unit_test_teardown(test_add_enomem, restore_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
