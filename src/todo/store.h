/*
 * The todo store interface and its two implementations.
 *
 * A todo is the API's own message, Grpc__Response__Todo, so a store's answer
 * is replied without conversion. The in-memory store runs on the loop thread
 * and lends out its items; the MongoDB store blocks, so the service only
 * calls it from worker threads, and it returns items the caller owns.
 */
#ifndef TODO_STORE_H
#define TODO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "todos.pb-c.h"

typedef Grpc__Response__Todo todo_item;

/* Results: 0, or one of these. */
enum {
    TODO_OK = 0,
    TODO_ENOTFOUND = -1,
    TODO_EEXIST = -2,
    TODO_EUNAVAILABLE = -3, /* the database cannot be reached */
    TODO_ETIMEOUT = -4,     /* the operation ran out of time */
    TODO_EINTERNAL = -5,    /* anything else the database reported */
    TODO_ENOMEM = -6,
};

#define TODO_ID_LEN        24 /* ObjectId, hex */
#define TODO_TITLE_MAX     256
#define TODO_TAG_MAX       64
#define TODO_PAGE_SIZE_MAX 1000

/* A list of todos. When `owned`, each item (one allocation with its
 * strings) belongs to the list; otherwise the items are borrowed from the
 * in-memory store and valid until the store next changes. */
typedef struct todo_items {
    todo_item **v;
    size_t n, cap;
    int owned;
    /* The sort key each item was ordered by, when it differs from the
     * int32 the API shows (a MongoDB priority stored as a larger int64 or a
     * double): keyset pages continue from the stored value. NULL: use the
     * items' priorities. */
    double *keys;
} todo_items;

/* Allocates an item and its strings as one block (free() releases it).
 * NULL on allocation failure. */
todo_item *todo_item_new(const char *id, const char *title, const char *tag, int32_t priority);
/* Appends; returns 0 or TODO_ENOMEM. */
int todo_items_push(todo_items *l, todo_item *item);
/* The stored sort key of item i (see todo_items.keys). */
double todo_items_key(const todo_items *l, size_t i);
/* Frees the array and, when owned, the items. */
void todo_items_free(todo_items *l);

typedef enum {
    TODO_ORDER_ID = 0,
    TODO_ORDER_PRIORITY = 1,
    TODO_ORDER_PRIORITY_DESC = 2
} todo_order;

/* What to list: a filter, an order, a keyset cursor (the last item of the
 * previous page) and a limit. */
typedef struct todo_query {
    const char *tag; /* NULL: every tag */
    todo_order order;
    int has_after;
    double after_priority; /* the stored sort key of the cursor item */
    char after_id[TODO_ID_LEN + 1];
    size_t limit; /* 0: no limit */
} todo_query;

/* Fields of an update. */
enum { TODO_FIELD_TITLE = 1, TODO_FIELD_TAG = 2, TODO_FIELD_PRIORITY = 4 };

typedef struct todo_store todo_store;

typedef struct todo_store_ops {
    /* Non-zero when the operations block (call them on worker threads). */
    int blocking;
    /* `timeout_ms` bounds the operation (0: the store's default). On
     * failure `err` gets a one-line reason. Out-parameters are set only on
     * success. */
    int (*list)(todo_store *s, const todo_query *q, uint64_t timeout_ms, todo_items *out, char *err,
                size_t errlen);
    int (*get)(todo_store *s, const char *id, uint64_t timeout_ms, todo_item **out, char *err,
               size_t errlen);
    /* Creates `in` (with in->id "" for a fresh id). *out is owned by the
     * caller for blocking stores, borrowed otherwise. */
    int (*create)(todo_store *s, const todo_item *in, uint64_t timeout_ms, todo_item **out,
                  char *err, size_t errlen);
    int (*update)(todo_store *s, const todo_item *in, unsigned fields, uint64_t timeout_ms,
                  todo_item **out, char *err, size_t errlen);
    int (*remove)(todo_store *s, const char *id, uint64_t timeout_ms, char *err, size_t errlen);
    /* Checks that the store answers. */
    int (*ping)(todo_store *s, char *err, size_t errlen);
    void (*destroy)(todo_store *s);
} todo_store_ops;

struct todo_store {
    const todo_store_ops *ops;
};

/* Non-zero when `id` is 24 hex digits. */
int todo_valid_id(const char *id);

/* Writes a new ObjectId (4-byte time, 5 random bytes, 3-byte counter, as
 * MongoDB makes them) as 24 lowercase hex digits into out[25]. */
void todo_object_id(char out[TODO_ID_LEN + 1]);

/* ---- the in-memory store ---- */

/* Creates an empty in-memory store; NULL on allocation failure. */
todo_store *todo_memstore_new(void);
/* Adds the original's seed document: title "Add my todos", tag "default",
 * priority 1. Returns 0 or TODO_ENOMEM. */
int todo_memstore_seed(todo_store *s);
/* Every item in insertion order, borrowed (the GetTodos fast path). */
void todo_memstore_all(todo_store *s, todo_item ***items, size_t *n);

/* ---- the MongoDB store ---- */

typedef struct todo_mongo_options {
    const char *uri; /* mongodb:// URI */
    const char *db;
    const char *collection;
    uint64_t timeout_ms; /* server selection, connect and socket timeout */
    unsigned pool_size;  /* clients: one per worker thread */
} todo_mongo_options;

/* Parses the URI and creates the client pool; connects lazily. Call
 * todo_mongo_global_init() once first. Returns NULL with a reason in err. */
todo_store *todo_mongostore_new(const todo_mongo_options *o, char *err, size_t errlen);
/* Inserts the seed document and `extra` unless a todo with the same title
 * and tag exists. Returns the number inserted, or a negative TODO_E* code. */
int todo_mongostore_seed(todo_store *s, const todo_items *extra, char *err, size_t errlen);
/* Parses a JSON array of {title, tag, priority} objects into owned items.
 * Returns 0, or -1 with a reason in err. */
int todo_parse_json_todos(const char *json, size_t len, todo_items *out, char *err, size_t errlen);

void todo_mongo_global_init(void);
/* Where the store's and the driver's log lines go (level as
 * ugrpc_log_level; any thread). Provided by the program. */
void todo_store_log(int level, const char *domain, const char *msg);
void todo_mongo_global_cleanup(void);

#endif
