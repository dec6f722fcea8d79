/*
 * The in-memory store: the embedded default. It lives on the loop thread, so
 * it needs no locks, and it lends its items out: a reply is encoded before
 * the store can change again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "store.h"

typedef struct memstore {
    todo_store base;
    todo_items items; /* owned, in insertion order */
} memstore;

/* ---- shared helpers (store.h) ---- */

todo_item *todo_item_new(const char *id, const char *title, const char *tag, int32_t priority)
{
    size_t li = strlen(id) + 1, lt = strlen(title) + 1, lg = strlen(tag) + 1;
    todo_item *t = malloc(sizeof(*t) + li + lt + lg);
    if (t == NULL) return NULL;
    grpc__response__todo__init(t);
    char *p = (char *)(t + 1);
    t->id = memcpy(p, id, li);
    t->title = memcpy(p + li, title, lt);
    t->tag = memcpy(p + li + lt, tag, lg);
    t->priority = priority;
    return t;
}

int todo_items_push(todo_items *l, todo_item *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        todo_item **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) return TODO_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = item;
    return 0;
}

double todo_items_key(const todo_items *l, size_t i)
{
    return l->keys ? l->keys[i] : (double)l->v[i]->priority;
}

void todo_items_free(todo_items *l)
{
    free(l->keys);
    l->keys = NULL;
    if (l->owned)
        for (size_t i = 0; i < l->n; i++)
            free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int todo_valid_id(const char *id)
{
    size_t i = 0;
    for (; id[i]; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 0;
    }
    return i == TODO_ID_LEN;
}

void todo_object_id(char out[TODO_ID_LEN + 1])
{
    static uint8_t process_random[5];
    static uint32_t counter;
    static int ready;
    if (!ready) {
        uint8_t seed[8];
        if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
            uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&seed;
            memcpy(seed, &t, sizeof(seed));
        }
        memcpy(process_random, seed, 5);
        counter = (uint32_t)seed[5] << 16 | (uint32_t)seed[6] << 8 | seed[7];
        ready = 1;
    }
    uint32_t t = (uint32_t)time(NULL);
    uint32_t c = counter++ & 0xFFFFFFu;
    snprintf(out, TODO_ID_LEN + 1, "%08x%02x%02x%02x%02x%02x%06x", t, process_random[0],
             process_random[1], process_random[2], process_random[3], process_random[4], c);
}

/* ---- the store ---- */

static ssize_t find(const memstore *m, const char *id)
{
    for (size_t i = 0; i < m->items.n; i++)
        if (strcasecmp(m->items.v[i]->id, id) == 0) return (ssize_t)i;
    return -1;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(todo_item *const *)a)->id, (*(todo_item *const *)b)->id);
}

static int by_priority(const void *a, const void *b)
{
    const todo_item *x = *(todo_item *const *)a, *y = *(todo_item *const *)b;
    if (x->priority != y->priority) return x->priority < y->priority ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int by_priority_desc(const void *a, const void *b)
{
    const todo_item *x = *(todo_item *const *)a, *y = *(todo_item *const *)b;
    if (x->priority != y->priority) return x->priority > y->priority ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Whether `t` comes after the query's cursor in the query's order. */
static int after_cursor(const todo_query *q, const todo_item *t)
{
    if (!q->has_after) return 1;
    int idc = strcmp(t->id, q->after_id);
    switch (q->order) {
    case TODO_ORDER_PRIORITY:
        return t->priority > q->after_priority ||
               ((double)t->priority == q->after_priority && idc > 0);
    case TODO_ORDER_PRIORITY_DESC:
        return t->priority < q->after_priority ||
               ((double)t->priority == q->after_priority && idc > 0);
    default:
        return idc > 0;
    }
}

static int mem_list(todo_store *s, const todo_query *q, uint64_t timeout_ms, todo_items *out,
                    char *err, size_t errlen)
{
    memstore *m = (memstore *)s;
    (void)timeout_ms;
    (void)err;
    (void)errlen;
    todo_items l = {0};
    for (size_t i = 0; i < m->items.n; i++) {
        todo_item *t = m->items.v[i];
        if (q->tag != NULL && strcmp(t->tag, q->tag) != 0) continue;
        if (!after_cursor(q, t)) continue;
        if (todo_items_push(&l, t) < 0) {
            todo_items_free(&l);
            return TODO_ENOMEM;
        }
    }
    int (*cmp)(const void *, const void *) = q->order == TODO_ORDER_PRIORITY ? by_priority
                                             : q->order == TODO_ORDER_PRIORITY_DESC
                                                 ? by_priority_desc
                                                 : by_id;
    if (l.n > 1) qsort(l.v, l.n, sizeof(*l.v), cmp);
    if (q->limit && l.n > q->limit) l.n = q->limit;
    *out = l;
    return 0;
}

static int mem_get(todo_store *s, const char *id, uint64_t timeout_ms, todo_item **out, char *err,
                   size_t errlen)
{
    memstore *m = (memstore *)s;
    (void)timeout_ms;
    ssize_t i = find(m, id);
    if (i < 0) {
        snprintf(err, errlen, "no todo with id %s", id);
        return TODO_ENOTFOUND;
    }
    *out = m->items.v[i];
    return 0;
}

static int mem_create(todo_store *s, const todo_item *in, uint64_t timeout_ms, todo_item **out,
                      char *err, size_t errlen)
{
    memstore *m = (memstore *)s;
    (void)timeout_ms;
    char id[TODO_ID_LEN + 1];
    if (in->id[0] != '\0') {
        if (find(m, in->id) >= 0) {
            snprintf(err, errlen, "a todo with id %s already exists", in->id);
            return TODO_EEXIST;
        }
        snprintf(id, sizeof(id), "%s", in->id);
        for (char *p = id; *p; p++)
            if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
    } else {
        todo_object_id(id);
    }
    todo_item *t = todo_item_new(id, in->title, in->tag, in->priority);
    if (t == NULL || todo_items_push(&m->items, t) < 0) {
        free(t);
        return TODO_ENOMEM;
    }
    *out = t;
    return 0;
}

static int mem_update(todo_store *s, const todo_item *in, unsigned fields, uint64_t timeout_ms,
                      todo_item **out, char *err, size_t errlen)
{
    memstore *m = (memstore *)s;
    (void)timeout_ms;
    ssize_t i = find(m, in->id);
    if (i < 0) {
        snprintf(err, errlen, "no todo with id %s", in->id);
        return TODO_ENOTFOUND;
    }
    todo_item *old = m->items.v[i];
    todo_item *t = todo_item_new(old->id, fields & TODO_FIELD_TITLE ? in->title : old->title,
                                 fields & TODO_FIELD_TAG ? in->tag : old->tag,
                                 fields & TODO_FIELD_PRIORITY ? in->priority : old->priority);
    if (t == NULL) return TODO_ENOMEM;
    m->items.v[i] = t;
    free(old);
    *out = t;
    return 0;
}

static int mem_remove(todo_store *s, const char *id, uint64_t timeout_ms, char *err, size_t errlen)
{
    memstore *m = (memstore *)s;
    (void)timeout_ms;
    ssize_t i = find(m, id);
    if (i < 0) {
        snprintf(err, errlen, "no todo with id %s", id);
        return TODO_ENOTFOUND;
    }
    free(m->items.v[i]);
    memmove(&m->items.v[i], &m->items.v[i + 1], (m->items.n - (size_t)i - 1) * sizeof(todo_item *));
    m->items.n--;
    return 0;
}

static int mem_ping(todo_store *s, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    return 0;
}

static void mem_destroy(todo_store *s)
{
    memstore *m = (memstore *)s;
    todo_items_free(&m->items);
    free(m);
}

static const todo_store_ops mem_ops = {
    .blocking = 0,
    .list = mem_list,
    .get = mem_get,
    .create = mem_create,
    .update = mem_update,
    .remove = mem_remove,
    .ping = mem_ping,
    .destroy = mem_destroy,
};

todo_store *todo_memstore_new(void)
{
    memstore *m = calloc(1, sizeof(*m));
    if (m == NULL) return NULL;
    m->base.ops = &mem_ops;
    m->items.owned = 1;
    return &m->base;
}

int todo_memstore_seed(todo_store *s)
{
    todo_item seed = GRPC__RESPONSE__TODO__INIT;
    seed.id = "";
    seed.title = "Add my todos";
    seed.tag = "default";
    seed.priority = 1;
    todo_item *out;
    char err[64];
    return mem_create(s, &seed, 0, &out, err, sizeof(err));
}

void todo_memstore_all(todo_store *s, todo_item ***items, size_t *n)
{
    memstore *m = (memstore *)s;
    *items = m->items.v;
    *n = m->items.n;
}
