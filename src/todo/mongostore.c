/*
 * The MongoDB store, through mongo-c-driver. Every operation blocks, so the
 * service runs them on worker threads only; a mongoc_client_pool_t (which
 * is thread-safe) hands each one a client. The data model is the original
 * service's: {_id: ObjectId, title, tag, priority: int32} in TodosDB.todos.
 *
 * Documents written by other tools are read leniently: a priority stored as
 * int64 or double is converted (clamped to int32), missing strings read as
 * "", a missing priority as 0, and an _id that is not an ObjectId as its
 * string form.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "store.h"

typedef struct mongostore {
    todo_store base;
    mongoc_client_pool_t *pool;
    mongoc_uri_t *uri;
    char *db, *collection;
    uint64_t timeout_ms;
} mongostore;

/* The driver logs from worker threads; its lines go to our log, warnings at
 * debug level (FerretDB, for one, answers "no such command: endSessions" on
 * every client shutdown). */
static void driver_log(mongoc_log_level_t level, const char *domain, const char *msg, void *ud)
{
    (void)ud;
    char where[64];
    snprintf(where, sizeof(where), "mongoc %s", domain);
    todo_store_log(level <= MONGOC_LOG_LEVEL_CRITICAL ? 0 : 3, where, msg);
}

void todo_mongo_global_init(void)
{
    /* The driver's counters would otherwise live in a shared-memory file per
     * process (/dev/shm/mongoc-PID, read by mongoc-stat, which we do not
     * use) that a killed process leaves behind; where that file cannot be
     * made the driver says so on stderr. Plain memory it is, and the handler
     * goes in first so that anything mongoc_init() says reaches our log. */
    setenv("MONGOC_DISABLE_SHM", "1", 0);
    mongoc_log_set_handler(driver_log, NULL);
    mongoc_init();
}

void todo_mongo_global_cleanup(void)
{
    mongoc_cleanup();
}

/* Maps a driver error to a store result and a one-line reason. */
static int fail(const bson_error_t *e, char *err, size_t errlen)
{
    snprintf(err, errlen, "database: %s", e->message);
    if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM ||
        e->domain == MONGOC_ERROR_CLIENT)
        return strstr(e->message, "timed out") && e->domain == MONGOC_ERROR_STREAM
                   ? TODO_ETIMEOUT
                   : TODO_EUNAVAILABLE;
    if (e->code == 50) return TODO_ETIMEOUT;  /* MaxTimeMSExpired */
    if (e->code == 11000) return TODO_EEXIST; /* duplicate key */
    return TODO_EINTERNAL;
}

static int32_t clamp32(double d)
{
    if (isnan(d)) return 0;
    if (d >= (double)INT32_MAX) return INT32_MAX;
    if (d <= (double)INT32_MIN) return INT32_MIN;
    return (int32_t)d;
}

/* Reads one document into an owned item; *key (when not NULL) gets the
 * stored priority before clamping. */
static todo_item *read_doc_key(const bson_t *doc, double *key);

static todo_item *read_doc(const bson_t *doc)
{
    return read_doc_key(doc, NULL);
}

static todo_item *read_doc_key(const bson_t *doc, double *key)
{
    double raw = 0;
    char id[64] = "";
    const char *title = "", *tag = "";
    int32_t priority = 0;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) return NULL;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        bson_type_t t = bson_iter_type(&it);
        if (strcmp(k, "_id") == 0) {
            if (t == BSON_TYPE_OID)
                bson_oid_to_string(bson_iter_oid(&it), id);
            else if (t == BSON_TYPE_UTF8)
                snprintf(id, sizeof(id), "%s", bson_iter_utf8(&it, NULL));
            else if (t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64)
                snprintf(id, sizeof(id), "%lld", (long long)bson_iter_as_int64(&it));
        } else if (strcmp(k, "title") == 0 && t == BSON_TYPE_UTF8) {
            title = bson_iter_utf8(&it, NULL);
        } else if (strcmp(k, "tag") == 0 && t == BSON_TYPE_UTF8) {
            tag = bson_iter_utf8(&it, NULL);
        } else if (strcmp(k, "priority") == 0) {
            if (t == BSON_TYPE_INT32)
                raw = bson_iter_int32(&it);
            else if (t == BSON_TYPE_INT64)
                raw = (double)bson_iter_int64(&it);
            else if (t == BSON_TYPE_DOUBLE)
                raw = bson_iter_double(&it);
            priority = clamp32(raw);
        }
    }
    if (key != NULL) *key = raw;
    return todo_item_new(id, title, tag, priority);
}

typedef struct session {
    mongoc_client_t *client;
    mongoc_collection_t *coll;
} session;

static void open_session(mongostore *m, session *s)
{
    s->client = mongoc_client_pool_pop(m->pool);
    s->coll = mongoc_client_get_collection(s->client, m->db, m->collection);
}

static void close_session(mongostore *m, session *s)
{
    mongoc_collection_destroy(s->coll);
    mongoc_client_pool_push(m->pool, s->client);
}

/* Documents asked for in one batch when a list has no limit. Not more: the
 * batch size asked for costs the server even when the answer is small
 * (measured on FerretDB: 1,000,000 cut GetTodos on 10 documents to a third
 * of its rate; 1,000 costs nothing measurable). */
#define FIND_BATCH_MAX 1000

static int64_t max_time(const mongostore *m, uint64_t timeout_ms)
{
    uint64_t t = timeout_ms ? timeout_ms : m->timeout_ms;
    return t > INT32_MAX ? INT32_MAX : (int64_t)t;
}

static void append_oid_or_string(bson_t *b, const char *key, const char *id)
{
    bson_oid_t oid;
    if (bson_oid_is_valid(id, strlen(id))) {
        bson_oid_init_from_string(&oid, id);
        BSON_APPEND_OID(b, key, &oid);
    } else {
        BSON_APPEND_UTF8(b, key, id);
    }
}

static int m_list(todo_store *st, const todo_query *q, uint64_t timeout_ms, todo_items *out,
                  char *err, size_t errlen)
{
    mongostore *m = (mongostore *)st;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    if (q->tag != NULL) BSON_APPEND_UTF8(&filter, "tag", q->tag);
    if (q->has_after) {
        bson_t c;
        if (q->order == TODO_ORDER_ID) {
            bson_t gt;
            BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &gt);
            append_oid_or_string(&gt, "$gt", q->after_id);
            bson_append_document_end(&filter, &gt);
        } else {
            /* (priority, _id) after the cursor: a strictly later priority,
             * or the same one and a later id. */
            const char *cmp = q->order == TODO_ORDER_PRIORITY ? "$gt" : "$lt";
            bson_t or, a, b, pa, ib;
            BSON_APPEND_ARRAY_BEGIN(&filter, "$or", & or);
            BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
            BSON_APPEND_DOCUMENT_BEGIN(&a, "priority", &pa);
            BSON_APPEND_DOUBLE(&pa, cmp, q->after_priority);
            bson_append_document_end(&a, &pa);
            bson_append_document_end(& or, &a);
            BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
            BSON_APPEND_DOUBLE(&b, "priority", q->after_priority);
            BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &ib);
            append_oid_or_string(&ib, "$gt", q->after_id);
            bson_append_document_end(&b, &ib);
            bson_append_document_end(& or, &b);
            bson_append_array_end(&filter, & or);
        }
        (void)c;
    }
    bson_t sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    if (q->order != TODO_ORDER_ID)
        BSON_APPEND_INT32(&sort, "priority", q->order == TODO_ORDER_PRIORITY ? 1 : -1);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    if (q->limit) BSON_APPEND_INT64(&opts, "limit", (int64_t)q->limit);
    /* The whole answer in the find's reply (up to FIND_BATCH_MAX documents
     * or the server's 16 MiB per batch) instead of 101 documents and then
     * getMore round trips: fewer trips, and no cursor left open on the
     * server between them for a time limit or a busy server to kill
     * ("cursor id ... not found"). */
    BSON_APPEND_INT64(&opts, "batchSize", q->limit ? (int64_t)q->limit : FIND_BATCH_MAX);
    BSON_APPEND_INT64(&opts, "maxTimeMS", max_time(m, timeout_ms));

    session s;
    open_session(m, &s);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s.coll, &filter, &opts, NULL);
    todo_items l = {.owned = 1};
    const bson_t *doc;
    int rv = 0;
    size_t kcap = 0;
    while (rv == 0 && mongoc_cursor_next(cur, &doc)) {
        double key;
        todo_item *t = read_doc_key(doc, &key);
        if (t == NULL || todo_items_push(&l, t) < 0) {
            free(t);
            rv = TODO_ENOMEM;
            break;
        }
        if (l.n > kcap) {
            kcap = l.cap;
            double *k = realloc(l.keys, kcap * sizeof(*k));
            if (k == NULL) {
                rv = TODO_ENOMEM;
                break;
            }
            l.keys = k;
        }
        l.keys[l.n - 1] = key;
    }
    bson_error_t e;
    if (rv == 0 && mongoc_cursor_error(cur, &e)) rv = fail(&e, err, errlen);
    mongoc_cursor_destroy(cur);
    close_session(m, &s);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rv < 0) {
        todo_items_free(&l);
        return rv;
    }
    *out = l;
    return 0;
}

static int find_one(mongostore *m, session *s, const char *id, uint64_t timeout_ms, todo_item **out,
                    char *err, size_t errlen)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    append_oid_or_string(&filter, "_id", id);
    BSON_APPEND_INT64(&opts, "limit", 1);
    BSON_APPEND_INT64(&opts, "maxTimeMS", max_time(m, timeout_ms));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s->coll, &filter, &opts, NULL);
    const bson_t *doc;
    int rv = TODO_ENOTFOUND;
    if (mongoc_cursor_next(cur, &doc)) {
        *out = read_doc(doc);
        rv = *out ? 0 : TODO_ENOMEM;
    } else {
        bson_error_t e;
        if (mongoc_cursor_error(cur, &e))
            rv = fail(&e, err, errlen);
        else
            snprintf(err, errlen, "no todo with id %s", id);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return rv;
}

static int m_get(todo_store *st, const char *id, uint64_t timeout_ms, todo_item **out, char *err,
                 size_t errlen)
{
    mongostore *m = (mongostore *)st;
    session s;
    open_session(m, &s);
    int rv = find_one(m, &s, id, timeout_ms, out, err, errlen);
    close_session(m, &s);
    return rv;
}

static int m_create(todo_store *st, const todo_item *in, uint64_t timeout_ms, todo_item **out,
                    char *err, size_t errlen)
{
    mongostore *m = (mongostore *)st;
    bson_oid_t oid;
    if (in->id[0] != '\0')
        bson_oid_init_from_string(&oid, in->id);
    else
        bson_oid_init(&oid, NULL);
    bson_t doc = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &oid);
    BSON_APPEND_UTF8(&doc, "title", in->title);
    BSON_APPEND_UTF8(&doc, "tag", in->tag);
    BSON_APPEND_INT32(&doc, "priority", in->priority);
    (void)timeout_ms; /* insert has no maxTimeMS; the socket timeout bounds it */
    session s;
    open_session(m, &s);
    bson_error_t e;
    int rv = 0;
    if (!mongoc_collection_insert_one(s.coll, &doc, &opts, NULL, &e)) {
        rv = fail(&e, err, errlen);
        if (rv == TODO_EEXIST) snprintf(err, errlen, "a todo with id %s already exists", in->id);
    }
    close_session(m, &s);
    bson_destroy(&doc);
    bson_destroy(&opts);
    if (rv < 0) return rv;
    char id[25];
    bson_oid_to_string(&oid, id);
    *out = todo_item_new(id, in->title, in->tag, in->priority);
    return *out ? 0 : TODO_ENOMEM;
}

static int m_update(todo_store *st, const todo_item *in, unsigned fields, uint64_t timeout_ms,
                    todo_item **out, char *err, size_t errlen)
{
    mongostore *m = (mongostore *)st;
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, reply;
    append_oid_or_string(&sel, "_id", in->id);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    if (fields & TODO_FIELD_TITLE) BSON_APPEND_UTF8(&set, "title", in->title);
    if (fields & TODO_FIELD_TAG) BSON_APPEND_UTF8(&set, "tag", in->tag);
    if (fields & TODO_FIELD_PRIORITY) BSON_APPEND_INT32(&set, "priority", in->priority);
    bson_append_document_end(&upd, &set);
    session s;
    open_session(m, &s);
    bson_error_t e;
    int rv = 0;
    if (!mongoc_collection_update_one(s.coll, &sel, &upd, NULL, &reply, &e)) {
        rv = fail(&e, err, errlen);
    } else {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) == 0) {
            snprintf(err, errlen, "no todo with id %s", in->id);
            rv = TODO_ENOTFOUND;
        }
    }
    bson_destroy(&reply);
    if (rv == 0) rv = find_one(m, &s, in->id, timeout_ms, out, err, errlen);
    close_session(m, &s);
    bson_destroy(&sel);
    bson_destroy(&upd);
    return rv;
}

static int m_remove(todo_store *st, const char *id, uint64_t timeout_ms, char *err, size_t errlen)
{
    mongostore *m = (mongostore *)st;
    (void)timeout_ms;
    bson_t sel = BSON_INITIALIZER, reply;
    append_oid_or_string(&sel, "_id", id);
    session s;
    open_session(m, &s);
    bson_error_t e;
    int rv = 0;
    if (!mongoc_collection_delete_one(s.coll, &sel, NULL, &reply, &e)) {
        rv = fail(&e, err, errlen);
    } else {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) == 0) {
            snprintf(err, errlen, "no todo with id %s", id);
            rv = TODO_ENOTFOUND;
        }
    }
    bson_destroy(&reply);
    close_session(m, &s);
    bson_destroy(&sel);
    return rv;
}

static int m_ping(todo_store *st, char *err, size_t errlen)
{
    mongostore *m = (mongostore *)st;
    mongoc_client_t *c = mongoc_client_pool_pop(m->pool);
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bson_error_t e;
    int rv = 0;
    if (!mongoc_client_command_simple(c, "admin", &cmd, NULL, NULL, &e)) rv = fail(&e, err, errlen);
    bson_destroy(&cmd);
    mongoc_client_pool_push(m->pool, c);
    return rv;
}

static void m_destroy(todo_store *st)
{
    mongostore *m = (mongostore *)st;
    mongoc_client_pool_destroy(m->pool);
    mongoc_uri_destroy(m->uri);
    free(m->db);
    free(m->collection);
    free(m);
}

static const todo_store_ops mongo_ops = {
    .blocking = 1,
    .list = m_list,
    .get = m_get,
    .create = m_create,
    .update = m_update,
    .remove = m_remove,
    .ping = m_ping,
    .destroy = m_destroy,
};

todo_store *todo_mongostore_new(const todo_mongo_options *o, char *err, size_t errlen)
{
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(o->uri, &e);
    if (uri == NULL) {
        snprintf(err, errlen, "%s", e.message);
        return NULL;
    }
    /* Calls must fail fast when the database is away, not hang for the
     * driver's 30 s default: every wait is bounded by DB_TIMEOUT unless the
     * URI says otherwise. */
    int32_t t = o->timeout_ms > INT32_MAX ? INT32_MAX : (int32_t)o->timeout_ms;
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, t);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, t);
    /* The socket waits a second longer than the server's own time limit
     * (maxTimeMS), so that a slow query ends with the server's clean "time
     * limit exceeded" (DEADLINE_EXCEEDED) and not with a dropped connection
     * that looks like a database outage. */
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS,
                                       t > INT32_MAX - 1000 ? INT32_MAX : t + 1000);
    /* A retried read would wait a second DB_TIMEOUT; the client retries
     * UNAVAILABLE itself, against a pod that may see a healthier database. */
    if (!mongoc_uri_has_option(uri, MONGOC_URI_RETRYREADS))
        mongoc_uri_set_option_as_bool(uri, MONGOC_URI_RETRYREADS, false);
    mongostore *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        mongoc_uri_destroy(uri);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->base.ops = &mongo_ops;
    m->uri = uri;
    m->timeout_ms = o->timeout_ms;
    m->db = strdup(o->db);
    m->collection = strdup(o->collection);
    m->pool = mongoc_client_pool_new(uri);
    if (m->pool == NULL || m->db == NULL || m->collection == NULL) {
        snprintf(err, errlen, "cannot create the client pool for this URI");
        if (m->pool) mongoc_client_pool_destroy(m->pool);
        free(m->db);
        free(m->collection);
        mongoc_uri_destroy(uri);
        free(m);
        return NULL;
    }
    mongoc_client_pool_set_error_api(m->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_max_size(m->pool, o->pool_size ? o->pool_size : 4);
    mongoc_client_pool_set_appname(m->pool, "todo-api");
    return &m->base;
}

/* Inserts `t` unless a todo with its title and tag exists. Returns 1 when
 * inserted, 0 when it was there, or a negative TODO_E* code. */
static int upsert_seed(session *s, const todo_item *t, char *err, size_t errlen)
{
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, soi, opts = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&sel, "title", t->title);
    BSON_APPEND_UTF8(&sel, "tag", t->tag);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$setOnInsert", &soi);
    BSON_APPEND_INT32(&soi, "priority", t->priority);
    bson_append_document_end(&upd, &soi);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bson_error_t e;
    int rv;
    if (!mongoc_collection_update_one(s->coll, &sel, &upd, &opts, &reply, &e)) {
        rv = fail(&e, err, errlen);
    } else {
        bson_iter_t it;
        rv = bson_iter_init_find(&it, &reply, "upsertedCount") && bson_iter_as_int64(&it) > 0;
    }
    bson_destroy(&reply);
    bson_destroy(&sel);
    bson_destroy(&upd);
    bson_destroy(&opts);
    return rv;
}

int todo_mongostore_seed(todo_store *st, const todo_items *extra, char *err, size_t errlen)
{
    mongostore *m = (mongostore *)st;
    int rv = m_ping(st, err, errlen);
    if (rv < 0) return rv;
    todo_item seed = GRPC__RESPONSE__TODO__INIT;
    seed.title = "Add my todos";
    seed.tag = "default";
    seed.priority = 1;
    session s;
    open_session(m, &s);
    int inserted = 0;
    rv = upsert_seed(&s, &seed, err, errlen);
    for (size_t i = 0; rv >= 0 && extra != NULL && i < extra->n; i++) {
        inserted += rv;
        rv = upsert_seed(&s, extra->v[i], err, errlen);
    }
    close_session(m, &s);
    return rv < 0 ? rv : inserted + rv;
}

int todo_parse_json_todos(const char *json, size_t len, todo_items *out, char *err, size_t errlen)
{
    /* libbson parses JSON objects: wrap the array in one. */
    size_t wlen = len + 16;
    char *w = malloc(wlen);
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = snprintf(w, wlen, "{\"a\": %.*s}", (int)len, json);
    bson_error_t e;
    bson_t *doc = bson_new_from_json((const uint8_t *)w, n, &e);
    free(w);
    if (doc == NULL) {
        snprintf(err, errlen, "not valid JSON: %s", e.message);
        return -1;
    }
    bson_iter_t it, arr;
    int rv = 0;
    todo_items l = {.owned = 1};
    if (!bson_iter_init_find(&it, doc, "a") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr)) {
        snprintf(err, errlen, "expected a JSON array of {title, tag, priority} objects");
        rv = -1;
    }
    size_t idx = 0;
    while (rv == 0 && bson_iter_next(&arr)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) {
            snprintf(err, errlen, "item %zu: expected an object", idx);
            rv = -1;
            break;
        }
        uint32_t dlen;
        const uint8_t *data;
        bson_iter_document(&arr, &dlen, &data);
        bson_t item;
        todo_item *t = NULL;
        const char *bad = NULL;
        if (bson_init_static(&item, data, dlen)) {
            /* Strict about what a file may say: read_doc is lenient by design. */
            bson_iter_t f;
            bson_iter_init(&f, &item);
            while (bad == NULL && bson_iter_next(&f)) {
                const char *k = bson_iter_key(&f);
                bson_type_t ty = bson_iter_type(&f);
                if ((strcmp(k, "title") == 0 || strcmp(k, "tag") == 0) && ty != BSON_TYPE_UTF8)
                    bad = k;
                else if (strcmp(k, "priority") == 0 && ty != BSON_TYPE_INT32 &&
                         ty != BSON_TYPE_INT64 &&
                         (ty != BSON_TYPE_DOUBLE ||
                          bson_iter_double(&f) != (int32_t)bson_iter_double(&f)))
                    bad = k;
            }
            if (bad != NULL) {
                snprintf(err, errlen, "item %zu: \"%s\" has the wrong type", idx, bad);
                rv = -1;
                break;
            }
            t = read_doc(&item);
        }
        if (t == NULL || todo_items_push(&l, t) < 0) {
            free(t);
            snprintf(err, errlen, "out of memory");
            rv = -1;
        } else if (t->title[0] == '\0' || strlen(t->title) > TODO_TITLE_MAX ||
                   strlen(t->tag) > TODO_TAG_MAX) {
            snprintf(err, errlen, "item %zu: title must be 1..%d bytes and tag at most %d", idx,
                     TODO_TITLE_MAX, TODO_TAG_MAX);
            rv = -1;
        }
        idx++;
    }
    bson_destroy(doc);
    if (rv < 0) {
        todo_items_free(&l);
        return -1;
    }
    *out = l;
    return 0;
}
