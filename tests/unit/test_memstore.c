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

static todo_item *add(todo_store *s, const char *id, const char *title, const char *tag,
                      int32_t priority)
{
    todo_item in = GRPC__RESPONSE__TODO__INIT, *out = NULL;
    char err[128];
    in.id = (char *)id;
    in.title = (char *)title;
    in.tag = (char *)tag;
    in.priority = priority;
    int rv = s->ops->create(s, &in, 0, &out, err, sizeof(err));
    if (rv != 0) fail_msg("create %s: %d %s", title, rv, err);
    return out;
}

static void test_empty_and_inline(void **state)
{
    (void)state;
    todo_store *s = todo_memstore_new();
    assert_non_null(s);
    assert_int_equal(s->ops->blocking, 0); /* served on the loop thread */
    todo_item **items;
    size_t n = 99;
    todo_memstore_all(s, &items, &n);
    assert_int_equal(n, 0);
    char err[64];
    assert_int_equal(s->ops->ping(s, err, sizeof(err)), 0);
    s->ops->destroy(s);
}

static void test_seed_document(void **state)
{
    (void)state;
    todo_store *s = todo_memstore_new();
    assert_int_equal(todo_memstore_seed(s), 0);
    todo_item **items;
    size_t n;
    todo_memstore_all(s, &items, &n);
    assert_int_equal(n, 1);
    const todo_item *t = items[0];
    assert_ptr_equal(t->base.descriptor, &grpc__response__todo__descriptor);
    assert_string_equal(t->title, "Add my todos");
    assert_string_equal(t->tag, "default");
    assert_int_equal(t->priority, 1);
    assert_true(is_object_id(t->id));

    /* Exactly that document on the wire: these four fields and nothing else. */
    Grpc__Response resp = GRPC__RESPONSE__INIT;
    resp.n_todos = n;
    resp.todos = items;
    uint8_t wire[256];
    size_t len = grpc__response__get_packed_size(&resp);
    assert_true(len <= sizeof(wire));
    assert_int_equal(grpc__response__pack(&resp, wire), len);
    Grpc__Response *back = grpc__response__unpack(NULL, len, wire);
    assert_non_null(back);
    assert_int_equal(back->n_todos, 1);
    assert_string_equal(back->todos[0]->id, t->id);
    assert_string_equal(back->todos[0]->title, "Add my todos");
    assert_int_equal(back->todos[0]->base.n_unknown_fields, 0);
    grpc__response__free_unpacked(back, NULL);
    s->ops->destroy(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_ids_unique(void **state)
{
    (void)state;
    enum { N = 10000 };
    todo_store *s = todo_memstore_new();
    time_t before = time(NULL);
    for (int i = 0; i < N; i++)
        add(s, "", "t", "g", i);
    time_t after = time(NULL);
    todo_item **items;
    size_t n;
    todo_memstore_all(s, &items, &n);
    assert_int_equal(n, N);
    const char **ids = malloc(N * sizeof(*ids));
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        const char *id = items[i]->id;
        if (!is_object_id(id)) fail_msg("id %d \"%s\" is not 24 lower-case hex digits", i, id);
        assert_int_equal(items[i]->priority, i);
        ids[i] = id;
        /* ObjectId layout: 4-byte time, 5 bytes fixed per process, 3-byte counter. */
        char ts_hex[9];
        memcpy(ts_hex, id, 8);
        ts_hex[8] = '\0';
        unsigned long ts = strtoul(ts_hex, NULL, 16);
        assert_true(ts >= (unsigned long)(uint32_t)before && ts <= (unsigned long)(uint32_t)after);
        assert_memory_equal(id + 8, ids[0] + 8, 10);
    }
    qsort(ids, N, sizeof(*ids), cmp_str);
    for (int i = 1; i < N; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) fail_msg("duplicate id %s", ids[i]);
    free(ids);
    s->ops->destroy(s);
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
    assert_true(todo_valid_id(a));
    assert_false(todo_valid_id("zz"));
    assert_false(todo_valid_id("0123456789abcdef0123456")); /* 23 */
    assert_true(todo_valid_id("0123456789ABCDEF01234567"));
}

static void test_strings_copied(void **state)
{
    (void)state;
    todo_store *s = todo_memstore_new();
    char title[16] = "buy milk", tag[8] = "home";
    todo_item *t = add(s, "", title, tag, -3);
    strcpy(title, "XXXX");
    strcpy(tag, "YY");
    assert_string_equal(t->title, "buy milk");
    assert_string_equal(t->tag, "home");
    assert_int_equal(t->priority, -3);
    s->ops->destroy(s);
}

static void test_get_update_remove(void **state)
{
    (void)state;
    todo_store *s = todo_memstore_new();
    char err[128];
    todo_item *t = add(s, "0123456789abcdef01234567", "a", "x", 1), *out = NULL;
    assert_string_equal(t->id, "0123456789abcdef01234567");
    todo_item dup = GRPC__RESPONSE__TODO__INIT;
    dup.id = "0123456789ABCDEF01234567"; /* ids compare without case */
    dup.title = "b";
    dup.tag = "";
    assert_int_equal(s->ops->create(s, &dup, 0, &out, err, sizeof(err)), TODO_EEXIST);
    assert_int_equal(s->ops->get(s, "0123456789abcdef01234567", 0, &out, err, sizeof(err)), 0);
    assert_string_equal(out->title, "a");
    todo_item upd = GRPC__RESPONSE__TODO__INIT;
    upd.id = "0123456789abcdef01234567";
    upd.title = "ignored";
    upd.tag = "y";
    upd.priority = 7;
    assert_int_equal(
        s->ops->update(s, &upd, TODO_FIELD_TAG | TODO_FIELD_PRIORITY, 0, &out, err, sizeof(err)),
        0);
    assert_string_equal(out->title, "a");
    assert_string_equal(out->tag, "y");
    assert_int_equal(out->priority, 7);
    assert_int_equal(s->ops->remove(s, "0123456789abcdef01234567", 0, err, sizeof(err)), 0);
    assert_int_equal(s->ops->get(s, "0123456789abcdef01234567", 0, &out, err, sizeof(err)),
                     TODO_ENOTFOUND);
    assert_non_null(strstr(err, "0123456789abcdef01234567"));
    assert_int_equal(s->ops->remove(s, "0123456789abcdef01234567", 0, err, sizeof(err)),
                     TODO_ENOTFOUND);
    assert_int_equal(s->ops->update(s, &upd, TODO_FIELD_TAG, 0, &out, err, sizeof(err)),
                     TODO_ENOTFOUND);
    s->ops->destroy(s);
}

/* Walks every page of a query; checks the order and that no item repeats
 * or goes missing. */
static void walk(todo_store *s, todo_order order, const char *tag, size_t page, size_t expect)
{
    todo_query q = {.tag = tag, .order = order, .limit = page};
    size_t seen = 0;
    const todo_item *prev = NULL;
    char err[64];
    for (;;) {
        todo_items l;
        assert_int_equal(s->ops->list(s, &q, 0, &l, err, sizeof(err)), 0);
        assert_int_equal(l.owned, 0); /* borrowed from the store */
        for (size_t i = 0; i < l.n; i++) {
            const todo_item *t = l.v[i];
            if (tag) assert_string_equal(t->tag, tag);
            if (prev) {
                int idc = strcmp(prev->id, t->id);
                if (order == TODO_ORDER_ID)
                    assert_true(idc < 0);
                else if (order == TODO_ORDER_PRIORITY)
                    assert_true(prev->priority < t->priority ||
                                (prev->priority == t->priority && idc < 0));
                else
                    assert_true(prev->priority > t->priority ||
                                (prev->priority == t->priority && idc < 0));
            }
            prev = t;
            seen++;
        }
        size_t n = l.n;
        todo_items_free(&l);
        if (n < page) break;
        q.has_after = 1;
        q.after_priority = prev->priority;
        snprintf(q.after_id, sizeof(q.after_id), "%s", prev->id);
    }
    assert_int_equal(seen, expect);
}

static void test_list_pages(void **state)
{
    (void)state;
    todo_store *s = todo_memstore_new();
    for (int i = 0; i < 300; i++)
        add(s, "", "t", i % 3 ? "odd" : "three", (i * 7) % 11);
    for (size_t page = 1; page <= 301; page += 37) {
        walk(s, TODO_ORDER_ID, NULL, page, 300);
        walk(s, TODO_ORDER_PRIORITY, NULL, page, 300);
        walk(s, TODO_ORDER_PRIORITY_DESC, NULL, page, 300);
        walk(s, TODO_ORDER_PRIORITY, "three", page, 100);
        walk(s, TODO_ORDER_ID, "odd", page, 200);
    }
    walk(s, TODO_ORDER_ID, "none", 10, 0);
    s->ops->destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_inline), cmocka_unit_test(test_seed_document),
        cmocka_unit_test(test_ids_unique),       cmocka_unit_test(test_object_id_direct),
        cmocka_unit_test(test_strings_copied),   cmocka_unit_test(test_get_update_remove),
        cmocka_unit_test(test_list_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
