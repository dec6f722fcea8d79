/*
 * grpc.health.v1.Health (doc/health-checking.md in grpc/grpc).
 *
 * Statuses live in a small array searched linearly: a server names a
 * handful of services, and Check is not a hot path. Watchers are a list of
 * open Watch calls; each remembers the status it last handed to
 * ugrpc_call_send() and the one the client should see next, so that a
 * refused send (UGRPC_EAGAIN) only delays the latest status, never loses it,
 * and a burst of changes while blocked collapses into one message.
 *
 * Lifetimes: a watcher is removed exactly when its call stops being ours:
 * in on_cancel (the call died), or just before we finish the call. Its
 * service name points into the request, which the call's arena keeps until
 * the call completes, so it is valid for as long as the watcher exists.
 */
#include "health.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "router.h"
#include "server.h"

#define CHECK_PATH "/grpc.health.v1.Health/Check"
#define WATCH_PATH "/grpc.health.v1.Health/Watch"

#define WIRE_SERVING     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define WIRE_NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define WIRE_SERVICE_UNKNOWN                                                                       \
    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

#define SHUTTING_DOWN "server is shutting down"

typedef struct hservice {
    char *name;
    ugrpc_health_status status;
} hservice;

typedef struct watcher {
    struct watcher *prev, *next;
    struct ugrpc__health *h;
    ugrpc_call *call;
    const char *service;
    int sent;         /* wire status last accepted by ugrpc_call_send, -1 for none */
    int latest;       /* wire status the client should end up seeing */
    unsigned blocked; /* a writable callback is pending: do not send before it */
} watcher;

struct ugrpc__health {
    hservice *services;
    size_t nservices, cap;
    watcher *watchers;
    int frozen;        /* shutdown began: every status is NOT_SERVING for good */
    int watches_ended; /* shutdown phase two ran: a new Watch ends at once */
};

/* ---- statuses ---- */

static hservice *find_service(struct ugrpc__health *h, const char *name)
{
    for (size_t i = 0; i < h->nservices; i++)
        if (strcmp(h->services[i].name, name) == 0) return &h->services[i];
    return NULL;
}

static int add_service(struct ugrpc__health *h, const char *name, ugrpc_health_status status)
{
    if (h->nservices == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        hservice *s = ugrpc__realloc(h->services, cap * sizeof(*s));
        if (s == NULL) return UGRPC_ENOMEM;
        h->services = s;
        h->cap = cap;
    }
    char *copy = ugrpc__strndup(name, strlen(name));
    if (copy == NULL) return UGRPC_ENOMEM;
    h->services[h->nservices++] = (hservice){copy, status};
    return 0;
}

/* The status a watcher of `name` is told: the public enum's values are the
 * wire's, and an unknown name is SERVICE_UNKNOWN. */
static int wire_status(struct ugrpc__health *h, const char *name)
{
    const hservice *s = find_service(h, name);
    return s != NULL ? (int)s->status : WIRE_SERVICE_UNKNOWN;
}

/* ---- watchers ---- */

static void unlink_watcher(struct ugrpc__health *h, watcher *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        h->watchers = w->next;
    if (w->next != NULL) w->next->prev = w->prev;
    ugrpc__free(w);
}

static void end_watch(watcher *w, int code, const char *msg)
{
    ugrpc_call *call = w->call;
    unlink_watcher(w->h, w);
    ugrpc_call_finish(call, code, msg);
}

static void push(watcher *w);

static void on_writable(ugrpc_call *call, void *data)
{
    /* Runs only while the call is alive, so the watcher still exists. */
    (void)call;
    watcher *w = data;
    w->blocked = 0;
    push(w);
}

/* Sends the latest status unless the client already has it or a send is
 * blocked (the writable callback will send whatever is latest by then). */
static void push(watcher *w)
{
    if (w->blocked || w->latest == w->sent) return;
    Grpc__Health__V1__HealthCheckResponse res = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    res.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)w->latest;
    int rv = ugrpc_call_send(w->call, &res.base);
    if (rv == 0) {
        w->sent = w->latest;
    } else if (rv == UGRPC_EAGAIN) {
        if (ugrpc_call_on_writable(w->call, on_writable, w) == 0) w->blocked = 1;
    } else if (rv != UGRPC_ECANCELLED) {
        /* ECANCELLED: on_cancel is on its way and removes the watcher. */
        end_watch(w, rv == UGRPC_ENOMEM ? UGRPC_STATUS_RESOURCE_EXHAUSTED : UGRPC_STATUS_INTERNAL,
                  ugrpc_strerror(rv));
    }
}

static void notify(struct ugrpc__health *h, const char *name, int status)
{
    watcher *w = h->watchers;
    while (w != NULL) {
        watcher *next = w->next; /* push may end and free w */
        if (strcmp(w->service, name) == 0) {
            w->latest = status;
            push(w);
        }
        w = next;
    }
}

/* ---- handlers ---- */

static const char *request_service(const ProtobufCMessage *req)
{
    const Grpc__Health__V1__HealthCheckRequest *r =
        (const Grpc__Health__V1__HealthCheckRequest *)req;
    return r->service != NULL ? r->service : "";
}

static void on_check(ugrpc_call *call, const ProtobufCMessage *req, void *data)
{
    ugrpc_server *srv = data;
    if (srv->health == NULL) {
        /* Left registered by a ugrpc_health_enable that failed half-way. */
        ugrpc_call_finish(call, UGRPC_STATUS_UNIMPLEMENTED, "health checking is not enabled");
        return;
    }
    const char *name = request_service(req);
    const hservice *s = find_service(srv->health, name);
    if (s == NULL) {
        char msg[256];
        snprintf(msg, sizeof(msg), "unknown service \"%.200s\"", name);
        ugrpc_call_finish(call, UGRPC_STATUS_NOT_FOUND, msg);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse res = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    res.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)s->status;
    ugrpc_call_reply(call, &res.base);
}

static void on_watch(ugrpc_call *call, const ProtobufCMessage *req, void *data)
{
    ugrpc_server *srv = data;
    struct ugrpc__health *h = srv->health;
    if (h == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_UNIMPLEMENTED, "health checking is not enabled");
        return;
    }
    if (h->watches_ended) {
        ugrpc_call_finish(call, UGRPC_STATUS_UNAVAILABLE, SHUTTING_DOWN);
        return;
    }
    watcher *w = ugrpc__calloc(1, sizeof(*w));
    if (w == NULL) {
        ugrpc_call_finish(call, UGRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->h = h;
    w->call = call;
    w->service = request_service(req);
    w->sent = -1;
    w->latest = wire_status(h, w->service);
    w->next = h->watchers;
    if (h->watchers != NULL) h->watchers->prev = w;
    h->watchers = w;
    push(w);
}

static void on_watch_cancel(ugrpc_call *call, void *data)
{
    ugrpc_server *srv = data;
    if (srv->health == NULL) return;
    for (watcher *w = srv->health->watchers; w != NULL; w = w->next) {
        if (w->call == call) {
            unlink_watcher(srv->health, w);
            return;
        }
    }
}

/* ---- public API and server hooks ---- */

/* Registers `m` unless this very handler is already there: a previous
 * enable that failed half-way left it behind, and it reads srv->health at
 * call time, so it simply starts working again. */
static int add_method(ugrpc_server *srv, const ugrpc_method *m)
{
    const ugrpc_method *old = ugrpc__router_find(&srv->router, m->path, strlen(m->path));
    if (old != NULL && old->on_request == m->on_request) return 0;
    return ugrpc_server_add_method(srv, m);
}

static int foreign(ugrpc_server *srv, const char *path, ugrpc_request_fn ours)
{
    const ugrpc_method *m = ugrpc__router_find(&srv->router, path, strlen(path));
    return m != NULL && m->on_request != ours;
}

int ugrpc_health_enable(ugrpc_server *srv)
{
    if (srv == NULL) return UGRPC_EINVAL;
    if (srv->health != NULL || foreign(srv, CHECK_PATH, on_check) ||
        foreign(srv, WATCH_PATH, on_watch))
        return UGRPC_EEXIST;
    struct ugrpc__health *h = ugrpc__calloc(1, sizeof(*h));
    if (h == NULL) return UGRPC_ENOMEM;
    ugrpc_method check = {
        .path = CHECK_PATH,
        .type = UGRPC_UNARY,
        .request_type = &grpc__health__v1__health_check_request__descriptor,
        .response_type = &grpc__health__v1__health_check_response__descriptor,
        .on_request = on_check,
        .data = srv,
    };
    ugrpc_method watch = check;
    watch.path = WATCH_PATH;
    watch.type = UGRPC_SERVER_STREAMING;
    watch.on_request = on_watch;
    watch.on_cancel = on_watch_cancel;
    int rv = add_service(h, "", UGRPC_HEALTH_SERVING);
    if (rv == 0) rv = add_method(srv, &check);
    if (rv == 0) rv = add_method(srv, &watch);
    if (rv < 0) {
        srv->health = h;
        ugrpc__health_free(srv);
        return rv;
    }
    srv->health = h;
    return 0;
}

int ugrpc_health_set(ugrpc_server *srv, const char *service, ugrpc_health_status status)
{
    if (srv == NULL || service == NULL) return UGRPC_EINVAL;
    struct ugrpc__health *h = srv->health;
    if (h == NULL) return UGRPC_ESTATE;
    if (status != UGRPC_HEALTH_SERVING && status != UGRPC_HEALTH_NOT_SERVING) return UGRPC_EINVAL;
    /* Once shutdown has begun nothing may flip back to SERVING: load
     * balancers must keep seeing NOT_SERVING until the server is gone. */
    if (h->frozen) return 0;
    hservice *s = find_service(h, service);
    if (s == NULL) {
        int rv = add_service(h, service, status);
        if (rv < 0) return rv;
    } else if (s->status == status) {
        return 0; /* watchers hear about changes only */
    } else {
        s->status = status;
    }
    notify(h, service, (int)status);
    return 0;
}

void ugrpc__health_shutdown(ugrpc_server *srv)
{
    struct ugrpc__health *h = srv->health;
    if (h == NULL || h->frozen) return;
    h->frozen = 1;
    for (size_t i = 0; i < h->nservices; i++) {
        if (h->services[i].status == UGRPC_HEALTH_NOT_SERVING) continue;
        h->services[i].status = UGRPC_HEALTH_NOT_SERVING;
        notify(h, h->services[i].name, WIRE_NOT_SERVING);
    }
}

void ugrpc__health_end_watches(ugrpc_server *srv)
{
    struct ugrpc__health *h = srv->health;
    if (h == NULL) return;
    h->watches_ended = 1;
    while (h->watchers != NULL) {
        watcher *w = h->watchers;
        /* A watcher still blocked gets one last try at its latest status
         * (NOT_SERVING by now); if its client still is not reading, the
         * status is all it misses. */
        w->blocked = 0;
        if (w->latest != w->sent) {
            Grpc__Health__V1__HealthCheckResponse res =
                GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
            res.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)w->latest;
            ugrpc_call_send(w->call, &res.base);
        }
        end_watch(w, UGRPC_STATUS_UNAVAILABLE, SHUTTING_DOWN);
    }
}

void ugrpc__health_free(ugrpc_server *srv)
{
    struct ugrpc__health *h = srv->health;
    if (h == NULL) return;
    /* Every call is gone by now; any watcher left is only memory. */
    while (h->watchers != NULL)
        unlink_watcher(h, h->watchers);
    for (size_t i = 0; i < h->nservices; i++)
        ugrpc__free(h->services[i].name);
    ugrpc__free(h->services);
    ugrpc__free(h);
    srv->health = NULL;
}
