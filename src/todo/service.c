/*
 * The Todos service handlers.
 *
 * Every method follows one path: check the token, validate, describe the
 * store operation as a job holding copies of its inputs, then either run it
 * at once (the in-memory store, on the loop thread) or offload it to the
 * worker pool (MongoDB) and reply from the done callback. Reads that are
 * identical (GetTodos, the same ListTodos page) share one job while it is in
 * flight: the calls that arrive meanwhile wait on it as extra waiters.
 */
#include "service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/field_mask.pb-c.h"

typedef enum { OP_ALL, OP_LIST, OP_GET, OP_CREATE, OP_UPDATE, OP_DELETE } op_kind;

/* The store operation each kind runs, as counted (OP_ALL and OP_LIST list). */
enum { STORE_LIST, STORE_GET, STORE_CREATE, STORE_UPDATE, STORE_DELETE, STORE_PING };
static const int store_op_of[] = {STORE_LIST,   STORE_LIST,   STORE_GET,
                                  STORE_CREATE, STORE_UPDATE, STORE_DELETE};
const char *const todo_store_op_names[TODO_STORE_OPS] = {"list",   "get",    "create",
                                                         "update", "delete", "ping"};
const double todo_store_bounds[TODO_STORE_BUCKETS] = {
    .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Counts one store operation's outcome (loop thread). */
static void count_store(todo_service *svc, int op, int rv, uint64_t ns)
{
    todo_service_stats *st = &svc->stats;
    double secs = (double)ns / 1e9;
    size_t b = 0;
    while (b < TODO_STORE_BUCKETS && secs > todo_store_bounds[b])
        b++;
    st->latency[op][b]++;
    st->latency_sum[op] += secs;
    if (rv < 0 && rv != TODO_ENOTFOUND && rv != TODO_EEXIST) st->errors[op]++;
}

typedef struct waiter {
    ugrpc_call *call;
    struct waiter *prev, *next;
    todo_flight *flight;
} waiter;

struct todo_flight {
    char key[TODO_TAG_MAX + 96];
    waiter *waiters;
    todo_flight *next;
};

typedef struct job {
    todo_service *svc;
    op_kind op;
    /* Inputs, copied: the worker never sees the call or its arena. */
    todo_query q;
    char tag[TODO_TAG_MAX + 1];
    size_t page_size;
    char id[TODO_ID_LEN + 1];
    char title[TODO_TITLE_MAX + 1];
    char item_tag[TODO_TAG_MAX + 1];
    int32_t priority;
    unsigned fields;
    uint64_t timeout_ms;
    /* Outputs. */
    int rv;
    uint64_t store_ns; /* how long the store operation took */
    char err[256];
    todo_items items;
    todo_item *item;
    todo_flight *flight;
} job;

/* ---- replies ---- */

static int grpc_code(int rv)
{
    switch (rv) {
    case TODO_ENOTFOUND:
        return UGRPC_STATUS_NOT_FOUND;
    case TODO_EEXIST:
        return UGRPC_STATUS_ALREADY_EXISTS;
    case TODO_EUNAVAILABLE:
        return UGRPC_STATUS_UNAVAILABLE;
    case TODO_ETIMEOUT:
        return UGRPC_STATUS_DEADLINE_EXCEEDED;
    case TODO_ENOMEM:
        return UGRPC_STATUS_RESOURCE_EXHAUSTED;
    default:
        return UGRPC_STATUS_INTERNAL;
    }
}

static void encode_page_token(const job *j, const todo_item *last, double key, char *out,
                              size_t len);

static void reply(ugrpc_call *call, const job *j)
{
    if (j->rv < 0) {
        ugrpc_call_finish(call, grpc_code(j->rv), j->err[0] ? j->err : "store error");
        return;
    }
    switch (j->op) {
    case OP_ALL: {
        Grpc__Response res = GRPC__RESPONSE__INIT;
        res.n_todos = j->items.n;
        res.todos = j->items.v;
        ugrpc_call_reply(call, &res.base);
        break;
    }
    case OP_LIST: {
        Grpc__ListTodosResponse res = GRPC__LIST_TODOS_RESPONSE__INIT;
        char token[2 * (TODO_TAG_MAX + 64) + 1] = "";
        res.n_todos = j->items.n > j->page_size ? j->page_size : j->items.n;
        res.todos = j->items.v;
        /* One item more than the page was asked for: there is a next page. */
        if (j->items.n > j->page_size)
            encode_page_token(j, j->items.v[j->page_size - 1],
                              todo_items_key(&j->items, j->page_size - 1), token, sizeof(token));
        res.next_page_token = token;
        ugrpc_call_reply(call, &res.base);
        break;
    }
    case OP_GET:
    case OP_CREATE:
    case OP_UPDATE:
        ugrpc_call_reply(call, &j->item->base);
        break;
    case OP_DELETE: {
        Grpc__DeleteTodoResponse res = GRPC__DELETE_TODO_RESPONSE__INIT;
        ugrpc_call_reply(call, &res.base);
        break;
    }
    }
}

/* ---- running a job ---- */

static void execute(job *j)
{
    todo_store *s = j->svc->store;
    const todo_store_ops *o = s->ops;
    todo_item in = GRPC__RESPONSE__TODO__INIT;
    in.id = j->id;
    in.title = j->title;
    in.tag = j->item_tag;
    in.priority = j->priority;
    size_t e = sizeof(j->err);
    uint64_t t0 = now_ns();
    switch (j->op) {
    case OP_ALL:
    case OP_LIST:
        j->rv = o->list(s, &j->q, j->timeout_ms, &j->items, j->err, e);
        break;
    case OP_GET:
        j->rv = o->get(s, j->id, j->timeout_ms, &j->item, j->err, e);
        break;
    case OP_CREATE:
        j->rv = o->create(s, &in, j->timeout_ms, &j->item, j->err, e);
        break;
    case OP_UPDATE:
        j->rv = o->update(s, &in, j->fields, j->timeout_ms, &j->item, j->err, e);
        break;
    case OP_DELETE:
        j->rv = o->remove(s, j->id, j->timeout_ms, j->err, e);
        break;
    }
    j->store_ns = now_ns() - t0;
}

static void job_free(job *j)
{
    todo_items_free(&j->items);
    if (j->svc->store->ops->blocking) free(j->item); /* owned only then */
    free(j);
}

static void set_db_state(todo_service *svc, int up, const char *why)
{
    if (svc->db_up == up) return;
    if (up)
        todo_store_log(2, "store", "database reachable: serving");
    else
        todo_store_log(1, "store", why && why[0] ? why : "database unreachable");
    svc->db_up = up;
    snprintf(svc->db_error, sizeof(svc->db_error), "database unavailable (%.200s)", why ? why : "");
    ugrpc_health_status st = up ? UGRPC_HEALTH_SERVING : UGRPC_HEALTH_NOT_SERVING;
    ugrpc_health_set(svc->srv, "", st);
    ugrpc_health_set(svc->srv, "grpc.Todos", st);
}

static void work(void *arg) /* a worker thread */
{
    job *j = arg;
    if (j->svc->store->ops->blocking) {
        execute(j);
        return;
    }
    /* The memory store belongs to the loop thread: only the delay runs here. */
    struct timespec ts = {(time_t)(j->svc->delay_ms / 1000),
                          (long)(j->svc->delay_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void flight_remove(todo_service *svc, todo_flight *f)
{
    for (todo_flight **p = &svc->flights; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
}

static void check_db(todo_service *svc);

static void done(ugrpc_call *call, void *arg, int status) /* the loop thread */
{
    job *j = arg;
    todo_service *svc = j->svc;
    if (!svc->store->ops->blocking) execute(j);
    count_store(svc, store_op_of[j->op], j->rv, j->store_ns);
    /* One connection's failure is not the database's: a ping decides, at
     * once, whether calls fail fast from now on. */
    if (j->rv == TODO_EUNAVAILABLE) check_db(svc);
    if (j->flight != NULL) {
        /* Every caller still waiting gets the same answer. Dead callers
         * left the list in on_cancel, so each one here is alive. */
        todo_flight *f = j->flight;
        flight_remove(svc, f);
        waiter *w;
        while ((w = f->waiters) != NULL) {
            f->waiters = w->next;
            ugrpc_call_set_data(w->call, NULL);
            reply(w->call, j);
        }
        free(f);
    } else if (status == 0) {
        reply(call, j);
    }
    job_free(j);
}

static void on_cancel(ugrpc_call *call, void *data)
{
    (void)data;
    waiter *w = ugrpc_call_get_data(call);
    if (w == NULL) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->flight->waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    ugrpc_call_set_data(call, NULL);
}

static void flight_key(const job *j, char *out, size_t len)
{
    if (j->op == OP_ALL)
        snprintf(out, len, "all");
    else
        snprintf(out, len, "list|%d|%s|%d|%.17g|%s|%zu", (int)j->q.order, j->q.tag ? j->q.tag : "*",
                 j->q.has_after, j->q.after_priority, j->q.after_id, j->page_size);
}

static int add_waiter(ugrpc_call *call, todo_flight *f)
{
    waiter *w = ugrpc_call_alloc(call, sizeof(*w)); /* lives as long as the call */
    if (w == NULL) return -1;
    w->call = call;
    w->flight = f;
    w->prev = NULL;
    w->next = f->waiters;
    if (f->waiters) f->waiters->prev = w;
    f->waiters = w;
    ugrpc_call_set_data(call, w);
    return 0;
}

/* Runs the job now or on the worker pool; takes ownership of it. */
static void run(ugrpc_call *call, job *j)
{
    todo_service *svc = j->svc;
    int blocking = svc->store->ops->blocking;
    if (!blocking && svc->delay_ms == 0) {
        svc->stats.store_ops++;
        execute(j); /* fast path: never leaves the loop thread */
        count_store(svc, store_op_of[j->op], j->rv, j->store_ns);
        reply(call, j);
        job_free(j);
        return;
    }
    if (blocking && !svc->db_up) {
        ugrpc_call_finish(call, UGRPC_STATUS_UNAVAILABLE,
                          svc->db_error[0] ? svc->db_error : "database unavailable");
        job_free(j);
        return;
    }
    uint64_t deadline = ugrpc_call_deadline(call), now = uv_now(svc->loop);
    if (deadline) j->timeout_ms = deadline > now ? deadline - now : 1;
    if (svc->single_flight && (j->op == OP_ALL || j->op == OP_LIST)) {
        char key[sizeof(((todo_flight *)0)->key)];
        flight_key(j, key, sizeof(key));
        for (todo_flight *f = svc->flights; f; f = f->next) {
            if (strcmp(f->key, key) == 0) {
                if (add_waiter(call, f) < 0)
                    ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                else
                    svc->stats.single_flight_hits++;
                job_free(j);
                return;
            }
        }
        todo_flight *f = calloc(1, sizeof(*f));
        if (f == NULL || add_waiter(call, f) < 0) {
            free(f);
            ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            job_free(j);
            return;
        }
        snprintf(f->key, sizeof(f->key), "%s", key);
        f->next = svc->flights;
        svc->flights = f;
        j->flight = f;
    }
    int rv = ugrpc_call_offload(call, work, done, j);
    if (rv < 0) {
        if (j->flight) {
            flight_remove(svc, j->flight);
            ugrpc_call_set_data(call, NULL);
            free(j->flight);
        }
        job_free(j);
        if (rv == UGRPC_EBUSY)
            ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED,
                              "worker queue full: too many calls in progress");
        else
            ugrpc_call_finish(call, UGRPC_STATUS_UNAVAILABLE, ugrpc_strerror(rv));
        return;
    }
    svc->stats.store_ops++;
}

/* ---- validation and auth ---- */

static job *new_job(ugrpc_call *call, todo_service *svc, op_kind op)
{
    job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    j->svc = svc;
    j->op = op;
    j->items.owned = svc->store->ops->blocking;
    return j;
}

static int invalid(ugrpc_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(ugrpc_call *call, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ugrpc_call_finish(call, UGRPC_STATUS_INVALID_ARGUMENT, msg);
    return -1;
}

static int check_id(ugrpc_call *call, const char *id)
{
    if (!todo_valid_id(id))
        return invalid(call, "invalid id \"%.64s\": expected 24 hexadecimal digits", id);
    return 0;
}

static int check_fields(ugrpc_call *call, const char *title, const char *tag, int need_title)
{
    size_t tl = strlen(title);
    if ((need_title && tl == 0) || tl > TODO_TITLE_MAX)
        return invalid(call, "invalid title: must be 1 to %d bytes", TODO_TITLE_MAX);
    if (strlen(tag) > TODO_TAG_MAX)
        return invalid(call, "invalid tag: at most %d bytes", TODO_TAG_MAX);
    return 0;
}

/* Every request message has `string token = 1`; find it generically. */
static const char *request_token(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "token");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING) return "";
    const char *t = *(char *const *)(const void *)((const char *)msg + f->offset);
    return t ? t : "";
}

static int token_ok(const todo_service *svc, const char *t)
{
    if (t == NULL || t[0] == '\0') return 0;
    for (size_t i = 0; i < svc->ntokens; i++)
        if (strcmp(svc->tokens[i], t) == 0) return 1;
    return 0;
}

static int authorized(ugrpc_call *call, const todo_service *svc, const ProtobufCMessage *msg)
{
    if (svc->ntokens == 0) return 1;
    if (token_ok(svc, request_token(msg))) return 1;
    const char *auth = ugrpc_call_metadata(call, "authorization", NULL);
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 && token_ok(svc, auth + 7)) return 1;
    ugrpc_call_finish(call, UGRPC_STATUS_UNAUTHENTICATED,
                      "a valid token is required (request token or authorization: Bearer)");
    return 0;
}

/* ---- page tokens ---- */

/* A page token names the last item of the page and the query it belongs
 * to, so it cannot be replayed against another filter or order. Hex keeps
 * it opaque-looking and safe in any transport. */
static void encode_page_token(const job *j, const todo_item *last, double key, char *out,
                              size_t len)
{
    char raw[TODO_TAG_MAX + 64];
    int n = snprintf(raw, sizeof(raw), "1|%d|%.17g|%s|%s", (int)j->q.order, key, last->id,
                     j->q.tag ? j->q.tag : "");
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < len; i++)
        k += (size_t)snprintf(out + k, len - k, "%02x", (unsigned char)raw[i]);
    out[k] = '\0';
}

static int decode_page_token(const char *tok, job *j)
{
    size_t len = strlen(tok);
    char raw[TODO_TAG_MAX + 64];
    if (len % 2 || len / 2 >= sizeof(raw)) return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(tok + 2 * i, "%2x", &v) != 1) return -1;
        raw[i] = (char)v;
    }
    raw[len / 2] = '\0';
    int order, used = 0;
    double prio;
    char id[TODO_ID_LEN + 1];
    if (sscanf(raw, "1|%d|%lf|%24[0-9a-fA-F]|%n", &order, &prio, id, &used) != 3 || used == 0)
        return -1;
    const char *tag = raw + used;
    if (order != (int)j->q.order || strcmp(tag, j->q.tag ? j->q.tag : "") != 0 ||
        !todo_valid_id(id))
        return -1;
    j->q.has_after = 1;
    j->q.after_priority = prio;
    memcpy(j->q.after_id, id, sizeof(id));
    return 0;
}

/* ---- handlers ---- */

static void get_todos(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    todo_service *svc = data;
    if (!authorized(call, svc, msg)) return;
    job *j = new_job(call, svc, OP_ALL);
    if (j != NULL) run(call, j);
}

static void list_todos(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    todo_service *svc = data;
    const Grpc__ListTodosRequest *req = (const Grpc__ListTodosRequest *)msg;
    if (!authorized(call, svc, msg)) return;
    if (req->page_size < 0) {
        invalid(call, "invalid page_size %d: must not be negative", req->page_size);
        return;
    }
    todo_order order;
    if (req->order_by[0] == '\0' || strcmp(req->order_by, "id") == 0)
        order = TODO_ORDER_ID;
    else if (strcmp(req->order_by, "priority") == 0)
        order = TODO_ORDER_PRIORITY;
    else if (strcmp(req->order_by, "priority desc") == 0)
        order = TODO_ORDER_PRIORITY_DESC;
    else {
        invalid(call, "invalid order_by \"%.64s\": use \"id\", \"priority\" or \"priority desc\"",
                req->order_by);
        return;
    }
    if (strlen(req->tag) > TODO_TAG_MAX) {
        invalid(call, "invalid tag: at most %d bytes", TODO_TAG_MAX);
        return;
    }
    job *j = new_job(call, svc, OP_LIST);
    if (j == NULL) return;
    j->page_size = req->page_size == 0                   ? 100
                   : req->page_size > TODO_PAGE_SIZE_MAX ? TODO_PAGE_SIZE_MAX
                                                         : (size_t)req->page_size;
    j->q.order = order;
    if (req->tag[0] != '\0') {
        snprintf(j->tag, sizeof(j->tag), "%s", req->tag);
        j->q.tag = j->tag;
    }
    j->q.limit = j->page_size + 1; /* one more tells whether a next page exists */
    if (req->page_token[0] != '\0' && decode_page_token(req->page_token, j) < 0) {
        job_free(j);
        invalid(call, "invalid page_token: not one this query returned");
        return;
    }
    run(call, j);
}

static void get_todo(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    todo_service *svc = data;
    const Grpc__GetTodoRequest *req = (const Grpc__GetTodoRequest *)msg;
    if (!authorized(call, svc, msg) || check_id(call, req->id) < 0) return;
    job *j = new_job(call, svc, OP_GET);
    if (j == NULL) return;
    snprintf(j->id, sizeof(j->id), "%s", req->id);
    run(call, j);
}

static void create_todo(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    todo_service *svc = data;
    const Grpc__CreateTodoRequest *req = (const Grpc__CreateTodoRequest *)msg;
    if (!authorized(call, svc, msg) || check_fields(call, req->title, req->tag, 1) < 0) return;
    if (req->id[0] != '\0' && check_id(call, req->id) < 0) return;
    job *j = new_job(call, svc, OP_CREATE);
    if (j == NULL) return;
    snprintf(j->id, sizeof(j->id), "%s", req->id);
    snprintf(j->title, sizeof(j->title), "%s", req->title);
    snprintf(j->item_tag, sizeof(j->item_tag), "%s", req->tag);
    j->priority = req->priority;
    run(call, j);
}

static void update_todo(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    todo_service *svc = data;
    const Grpc__UpdateTodoRequest *req = (const Grpc__UpdateTodoRequest *)msg;
    if (!authorized(call, svc, msg)) return;
    if (req->todo == NULL) {
        invalid(call, "invalid request: todo is required");
        return;
    }
    const todo_item *t = req->todo;
    if (check_id(call, t->id) < 0) return;
    unsigned fields = 0;
    size_t npaths = req->update_mask ? req->update_mask->n_paths : 0;
    for (size_t i = 0; i < npaths; i++) {
        const char *p = req->update_mask->paths[i];
        if (strcmp(p, "title") == 0)
            fields |= TODO_FIELD_TITLE;
        else if (strcmp(p, "tag") == 0)
            fields |= TODO_FIELD_TAG;
        else if (strcmp(p, "priority") == 0)
            fields |= TODO_FIELD_PRIORITY;
        else {
            invalid(call, "invalid update_mask path \"%.64s\": use title, tag or priority", p);
            return;
        }
    }
    if (fields == 0) fields = TODO_FIELD_TITLE | TODO_FIELD_TAG | TODO_FIELD_PRIORITY;
    if (check_fields(call, fields & TODO_FIELD_TITLE ? t->title : "x",
                     fields & TODO_FIELD_TAG ? t->tag : "", 1) < 0)
        return;
    job *j = new_job(call, svc, OP_UPDATE);
    if (j == NULL) return;
    snprintf(j->id, sizeof(j->id), "%s", t->id);
    snprintf(j->title, sizeof(j->title), "%s", t->title);
    snprintf(j->item_tag, sizeof(j->item_tag), "%s", t->tag);
    j->priority = t->priority;
    j->fields = fields;
    run(call, j);
}

static void delete_todo(ugrpc_call *call, const ProtobufCMessage *msg, void *data)
{
    todo_service *svc = data;
    const Grpc__DeleteTodoRequest *req = (const Grpc__DeleteTodoRequest *)msg;
    if (!authorized(call, svc, msg) || check_id(call, req->id) < 0) return;
    job *j = new_job(call, svc, OP_DELETE);
    if (j == NULL) return;
    snprintf(j->id, sizeof(j->id), "%s", req->id);
    run(call, j);
}

/* ---- database health ---- */

static void ping_work(uv_work_t *req)
{
    todo_service *svc = req->data;
    uint64_t t0 = now_ns();
    svc->ping_rv = svc->store->ops->ping(svc->store, svc->ping_error, sizeof(svc->ping_error));
    svc->ping_ns = now_ns() - t0;
}

static void ping_done(uv_work_t *req, int status)
{
    todo_service *svc = req->data;
    (void)status;
    svc->ping_busy = 0;
    count_store(svc, STORE_PING, svc->ping_rv, svc->ping_ns);
    set_db_state(svc, svc->ping_rv == 0, svc->ping_error);
}

/* Pings the database now unless a ping is out already; its answer sets the
 * service's state (and health) either way. */
static void check_db(todo_service *svc)
{
    if (svc->ping_busy || svc->stopping) return;
    svc->ping_req.data = svc;
    if (uv_queue_work(svc->loop, &svc->ping_req, ping_work, ping_done) == 0) svc->ping_busy = 1;
}

static void on_health_timer(uv_timer_t *t)
{
    check_db(t->data);
}

int todo_service_start(todo_service *svc)
{
    static const struct {
        const char *name;
        const ProtobufCMessageDescriptor *in, *out;
        ugrpc_request_fn fn;
    } methods[] = {
        {"GetTodos", &grpc__request__descriptor, &grpc__response__descriptor, get_todos},
        {"CreateTodo", &grpc__create_todo_request__descriptor, &grpc__response__todo__descriptor,
         create_todo},
        {"GetTodo", &grpc__get_todo_request__descriptor, &grpc__response__todo__descriptor,
         get_todo},
        {"UpdateTodo", &grpc__update_todo_request__descriptor, &grpc__response__todo__descriptor,
         update_todo},
        {"DeleteTodo", &grpc__delete_todo_request__descriptor,
         &grpc__delete_todo_response__descriptor, delete_todo},
        {"ListTodos", &grpc__list_todos_request__descriptor, &grpc__list_todos_response__descriptor,
         list_todos},
    };
    static char paths[sizeof(methods) / sizeof(methods[0])][48];
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        snprintf(paths[i], sizeof(paths[i]), "/grpc.Todos/%s", methods[i].name);
        ugrpc_method m = {
            .path = paths[i],
            .type = UGRPC_UNARY,
            .request_type = methods[i].in,
            .response_type = methods[i].out,
            .on_request = methods[i].fn,
            .on_cancel = on_cancel,
            .data = svc,
        };
        int rv = ugrpc_server_add_method(svc->srv, &m);
        if (rv < 0) return rv;
    }
    svc->db_up = !svc->store->ops->blocking;
    ugrpc_health_status st = svc->db_up ? UGRPC_HEALTH_SERVING : UGRPC_HEALTH_NOT_SERVING;
    ugrpc_health_set(svc->srv, "", st);
    ugrpc_health_set(svc->srv, "grpc.Todos", st);
    if (svc->store->ops->blocking) {
        snprintf(svc->db_error, sizeof(svc->db_error), "database unavailable: not reached yet");
        uv_timer_init(svc->loop, &svc->health_timer);
        svc->health_timer.data = svc;
        uint64_t every = svc->health_interval_ms ? svc->health_interval_ms : 1000;
        uv_timer_start(&svc->health_timer, on_health_timer, 0, every);
    }
    return 0;
}

void todo_service_stop(todo_service *svc)
{
    svc->stopping = 1;
    if (svc->store->ops->blocking && !uv_is_closing((uv_handle_t *)&svc->health_timer))
        uv_close((uv_handle_t *)&svc->health_timer, NULL);
}
