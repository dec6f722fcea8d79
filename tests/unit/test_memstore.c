/* Unit tests for src/todo/memstore.c: the in-memory todo store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store.h"
#include "todos.pb-c.h"

static int is_object_id(const char *id)
{
    if (id == NULL || strlen(id) != 24) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static void test_init_empty(void **state)
{
    (void)state;
    todo_memstore s;
    memset(&s, 0xAB, sizeof(s));
    assert_int_equal(todo_memstore_init(&s), 0);
    assert_int_equal(s.count, 0);
    assert_null(s.items);
    todo_memstore_free(&s);
    assert_int_equal(s.count, 0);
    assert_null(s.items);
}

static void test_seed_document(void **state)
{
    (void)state;
    todo_memstore s;
    assert_int_equal(todo_memstore_init(&s), 0);
    assert_int_equal(todo_memstore_seed(&s), 0);
    assert_int_equal(s.count, 1);
    const Grpc__Response__Todo *t = s.items[0];
    assert_non_null(t);
    assert_ptr_equal(t->base.descriptor, &grpc__response__todo__descriptor);
    assert_string_equal(t->title, "Add my todos");
    assert_string_equal(t->tag, "default");
    assert_int_equal(t->priority, 1);
    assert_true(is_object_id(t->id));

    /* Exactly that document on the wire: these four fields and nothing else. */
    Grpc__Response resp = GRPC__RESPONSE__INIT;
    resp.n_todos = s.count;
    resp.todos = s.items;
    uint8_t wire[256];
    size_t n = grpc__response__get_packed_size(&resp);
    assert_true(n <= sizeof(wire));
    assert_int_equal(grpc__response__pack(&resp, wire), n);
    Grpc__Response *back = grpc__response__unpack(NULL, n, wire);
    assert_non_null(back);
    assert_int_equal(back->n_todos, 1);
    assert_string_equal(back->todos[0]->id, t->id);
    assert_string_equal(back->todos[0]->title, "Add my todos");
    assert_string_equal(back->todos[0]->tag, "default");
    assert_int_equal(back->todos[0]->priority, 1);
    assert_int_equal(back->todos[0]->base.n_unknown_fields, 0);
    grpc__response__free_unpacked(back, NULL);
    todo_memstore_free(&s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_ids_unique(void **state)
{
    (void)state;
    enum { N = 10000 };
    todo_memstore s;
    assert_int_equal(todo_memstore_init(&s), 0);
    time_t before = time(NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(todo_memstore_add(&s, "t", "g", i), 0);
    time_t after = time(NULL);
    assert_int_equal(s.count, N);

    const char **ids = malloc(N * sizeof(*ids));
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        const char *id = s.items[i]->id;
        if (!is_object_id(id)) fail_msg("id %d \"%s\" is not 24 lower-case hex digits", i, id);
        assert_int_equal(s.items[i]->priority, i);
        ids[i] = id;
        /* ObjectId layout: 4-byte time, 5 bytes fixed per process, 3-byte counter. */
        char ts_hex[9];
        memcpy(ts_hex, id, 8);
        ts_hex[8] = '\0';
        unsigned long ts = strtoul(ts_hex, NULL, 16);
        assert_true(ts >= (unsigned long)(uint32_t)before && ts <= (unsigned long)(uint32_t)after);
        assert_memory_equal(id + 8, ids[0] + 8, 10);
        if (i > 0) {
            unsigned long c0 = strtoul(ids[i - 1] + 18, NULL, 16);
            unsigned long c1 = strtoul(id + 18, NULL, 16);
            assert_int_equal(c1, (c0 + 1) & 0xFFFFFFul);
        }
    }
    qsort(ids, N, sizeof(*ids), cmp_str);
    for (int i = 1; i < N; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) fail_msg("duplicate id %s", ids[i]);
    free(ids);
    todo_memstore_free(&s);
}

static void test_object_id_direct(void **state)
{
    (void)state;
    char a[25], b[25];
    memset(a, 'X', sizeof(a));
    todo_object_id(a);
    assert_int_equal(a[24], '\0');
    assert_true(is_object_id(a));
    todo_object_id(b);
    assert_true(is_object_id(b));
    assert_string_not_equal(a, b);
}

static void test_strings_copied(void **state)
{
    (void)state;
    todo_memstore s;
    assert_int_equal(todo_memstore_init(&s), 0);
    char title[] = "buy milk";
    char tag[] = "home";
    assert_int_equal(todo_memstore_add(&s, title, tag, -3), 0);
    const Grpc__Response__Todo *t = s.items[0];
    assert_ptr_not_equal(t->title, title);
    assert_ptr_not_equal(t->tag, tag);
    strcpy(title, "CHANGED");
    strcpy(tag, "XXXX");
    assert_string_equal(t->title, "buy milk");
    assert_string_equal(t->tag, "home");
    assert_int_equal(t->priority, -3);

    /* Empty strings and UTF-8 are kept as given. */
    assert_int_equal(todo_memstore_add(&s, "", "caf\xC3\xA9", INT32_MAX), 0);
    assert_string_equal(s.items[1]->title, "");
    assert_string_equal(s.items[1]->tag, "caf\xC3\xA9");
    assert_int_equal(s.items[1]->priority, INT32_MAX);
    todo_memstore_free(&s);
}

static void test_growth_keeps_items(void **state)
{
    (void)state;
    todo_memstore s;
    assert_int_equal(todo_memstore_init(&s), 0);
    assert_int_equal(todo_memstore_seed(&s), 0);
    char title[32];
    for (int i = 0; i < 100; i++) {
        snprintf(title, sizeof(title), "todo %d", i);
        assert_int_equal(todo_memstore_add(&s, title, "tag", i), 0);
    }
    assert_int_equal(s.count, 101);
    assert_true(s.cap >= s.count);
    assert_string_equal(s.items[0]->title, "Add my todos");
    for (int i = 0; i < 100; i++) {
        snprintf(title, sizeof(title), "todo %d", i);
        assert_string_equal(s.items[i + 1]->title, title);
        assert_int_equal(s.items[i + 1]->priority, i);
    }
    todo_memstore_free(&s);
    assert_int_equal(s.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),     cmocka_unit_test(test_seed_document),
        cmocka_unit_test(test_ids_unique),     cmocka_unit_test(test_object_id_direct),
        cmocka_unit_test(test_strings_copied), cmocka_unit_test(test_growth_keeps_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
