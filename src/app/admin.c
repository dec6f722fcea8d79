/* The admin HTTP/1.1 endpoint and the Prometheus exposition. */
#include "admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "log.h"

#define MAX_REQUEST  8192u /* request head limit: larger gets 431 */
#define READ_TIMEOUT 5000u /* a client that does not finish its request by then is dropped */
#define MAX_CONNS    64    /* open admin connections; more are accepted and closed at once */

struct todo_admin {
    uv_tcp_t listener;
    uv_loop_t *loop;
    todo_admin_source src;
    int port;
    int nconns; /* open connections, plus the refusal while it closes */
    int stopping;
    int listener_closed;
    struct admin_conn *conns; /* open admin connections */
    /* A connection over MAX_CONNS (or one we lack the memory for) must still
     * be accepted, or libuv stops polling the listener for good; it is
     * accepted into this handle and closed. One at a time: another waiting
     * meanwhile is taken when the close completes. */
    uv_tcp_t refusal;
    int refusing, refuse_pending;
};

typedef struct admin_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    todo_admin *admin;
    char req[MAX_REQUEST + 1];
    size_t len;
    char *resp;
    int closing;
    int handles;
    struct admin_conn *prev, *next;
} admin_conn;

/* ---- request parsing ---- */

int todo_admin_parse(char *buf, size_t len, size_t max, const char **path, int *head_only)
{
    /* The head ends at the first empty line. */
    char *end = NULL;
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n') {
            end = buf + i;
            break;
        }
        if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            end = buf + i;
            break;
        }
    }
    if (end == NULL) return len >= max ? 431 : 0;
    /* The request line ends at the first newline, which may be the one that
     * starts the blank line. */
    size_t span = (size_t)(end - buf) + 2;
    char *eol = memchr(buf, '\n', span < len ? span : len);
    if (eol == NULL) return 400;
    if (eol > buf && eol[-1] == '\r') eol--;
    *eol = '\0';
    /* METHOD SP TARGET SP HTTP/1.x, nothing else. */
    char *sp1 = strchr(buf, ' ');
    if (sp1 == NULL) return 400;
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (sp2 == NULL || sp2 == target || target[0] != '/') return 400;
    *sp2 = '\0';
    const char *version = sp2 + 1;
    if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) return 400;
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F) return 400;
    for (const char *p = buf; p < sp1; p++)
        if (*p < 'A' || *p > 'Z') return 400;
    size_t mlen = (size_t)(sp1 - buf);
    *head_only = mlen == 4 && memcmp(buf, "HEAD", 4) == 0;
    if (!(mlen == 3 && memcmp(buf, "GET", 3) == 0) && !*head_only) return 405;
    char *q = strchr(target, '?');
    if (q) *q = '\0';
    *path = target;
    return 200;
}

/* ---- metrics ---- */

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 16384;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(t->p, cap);
        if (np == NULL) return;
        t->p = np;
        t->cap = cap;
    }
}

static void histogram(text *t, const char *name, const char *lab, const double *bounds, int nbounds,
                      const uint64_t *counts, double sum);

static const char *const type_names[] = {"unary", "server_stream", "client_stream", "bidi_stream"};

/* Splits "/pkg.Svc/Method" into its labels. */
static void labels(const ugrpc_method_stats *st, char *svc, size_t slen, char *m, size_t mlen)
{
    if (st->path[0] == '\0') {
        snprintf(svc, slen, "unknown");
        snprintf(m, mlen, "unknown");
        return;
    }
    const char *slash = strchr(st->path + 1, '/');
    snprintf(svc, slen, "%.*s", slash ? (int)(slash - st->path - 1) : 0, st->path + 1);
    snprintf(m, mlen, "%s", slash ? slash + 1 : "");
}

typedef struct pass {
    text *t;
    int which;
} pass;

static void method_line(const ugrpc_method_stats *st, void *data)
{
    pass *p = data;
    char svc[128], m[128];
    labels(st, svc, sizeof(svc), m, sizeof(m));
    const char *type = type_names[st->type & 3];
    char lab[400];
    snprintf(lab, sizeof(lab), "grpc_type=\"%s\",grpc_service=\"%s\",grpc_method=\"%s\"", type, svc,
             m);
    switch (p->which) {
    case 0:
        put(p->t, "grpc_server_started_total{%s} %llu\n", lab, (unsigned long long)st->started);
        break;
    case 1:
        for (int c = 0; c <= 16; c++)
            if (st->handled[c] || c == 0)
                put(p->t, "grpc_server_handled_total{%s,grpc_code=\"%s\"} %llu\n", lab,
                    ugrpc_status_name(c), (unsigned long long)st->handled[c]);
        break;
    case 2:
        put(p->t, "grpc_server_msg_received_total{%s} %llu\n", lab,
            (unsigned long long)st->msg_received);
        break;
    case 3:
        put(p->t, "grpc_server_msg_sent_total{%s} %llu\n", lab, (unsigned long long)st->msg_sent);
        break;
    case 4:
        histogram(p->t, "grpc_server_handling_seconds", lab, ugrpc_latency_bounds,
                  UGRPC_LATENCY_BUCKETS, st->latency, st->latency_sum);
        break;
    }
}

/* One histogram series from per-bucket (not cumulative) counts, +Inf last. */
static void histogram(text *t, const char *name, const char *lab, const double *bounds, int nbounds,
                      const uint64_t *counts, double sum)
{
    const char *sep = lab[0] ? "," : "";
    uint64_t cum = 0;
    for (int b = 0; b < nbounds; b++) {
        cum += counts[b];
        put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lab, sep, bounds[b],
            (unsigned long long)cum);
    }
    cum += counts[nbounds];
    put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lab, sep, (unsigned long long)cum);
    put(t, "%s_sum%s%s%s %.9f\n", name, lab[0] ? "{" : "", lab, lab[0] ? "}" : "", sum);
    put(t, "%s_count%s%s%s %llu\n", name, lab[0] ? "{" : "", lab, lab[0] ? "}" : "",
        (unsigned long long)cum);
}

static void service_metrics(text *t, const todo_service_stats *s)
{
    put(t,
        "# HELP todo_store_operations_total Operations started on the todo store "
        "(reads shared by single flight count once).\n"
        "# TYPE todo_store_operations_total counter\ntodo_store_operations_total %llu\n",
        (unsigned long long)s->store_ops);
    put(t,
        "# HELP todo_single_flight_hits_total Calls answered by an identical read already in "
        "flight instead of a store operation of their own.\n"
        "# TYPE todo_single_flight_hits_total counter\ntodo_single_flight_hits_total %llu\n",
        (unsigned long long)s->single_flight_hits);
    put(t, "# HELP todo_store_query_duration_seconds Time store operations took, by "
           "operation (ping: the database health check).\n"
           "# TYPE todo_store_query_duration_seconds histogram\n");
    char lab[64];
    for (int op = 0; op < TODO_STORE_OPS; op++) {
        snprintf(lab, sizeof(lab), "operation=\"%s\"", todo_store_op_names[op]);
        histogram(t, "todo_store_query_duration_seconds", lab, todo_store_bounds,
                  TODO_STORE_BUCKETS, s->latency[op], s->latency_sum[op]);
    }
    put(t, "# HELP todo_store_errors_total Store operations that failed (unavailable, timed "
           "out, database errors; not NOT_FOUND or ALREADY_EXISTS), by operation.\n"
           "# TYPE todo_store_errors_total counter\n");
    for (int op = 0; op < TODO_STORE_OPS; op++)
        put(t, "todo_store_errors_total{operation=\"%s\"} %llu\n", todo_store_op_names[op],
            (unsigned long long)s->errors[op]);
}

static void process_metrics(text *t)
{
    FILE *f = fopen("/proc/self/stat", "r");
    unsigned long long ut = 0, st = 0, start = 0;
    long rss = 0;
    if (f != NULL) {
        /* Fields 14, 15 (utime, stime), 22 (starttime), 24 (rss pages). */
        char buf[1024];
        if (fgets(buf, sizeof(buf), f) != NULL) {
            char *p = strrchr(buf, ')');
            if (p != NULL)
                sscanf(p + 2,
                       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                       "%*d %*d %*d %llu %*u %ld",
                       &ut, &st, &start, &rss);
        }
        fclose(f);
    }
    double hz = (double)sysconf(_SC_CLK_TCK);
    double boot = 0;
    f = fopen("/proc/stat", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof(line), f) != NULL)
            if (sscanf(line, "btime %lf", &boot) == 1) break;
        fclose(f);
    }
    int fds = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (dir != NULL) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL)
            if (e->d_name[0] != '.') fds++;
        closedir(dir);
        fds--; /* the directory stream itself */
    }
    put(t,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n",
        (double)(ut + st) / hz);
    put(t,
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n",
        rss * sysconf(_SC_PAGESIZE));
    put(t,
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\nprocess_open_fds %d\n",
        fds);
    put(t,
        "# HELP process_start_time_seconds Start time of the process since unix epoch in "
        "seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
        boot + (double)start / hz);
}

static char *render_metrics(todo_admin *a, size_t *len)
{
    static const char *const heads[] = {
        "# HELP grpc_server_started_total Total number of RPCs started on the server.\n"
        "# TYPE grpc_server_started_total counter\n",
        "# HELP grpc_server_handled_total Total number of RPCs completed on the server, "
        "regardless of success or failure.\n# TYPE grpc_server_handled_total counter\n",
        "# HELP grpc_server_msg_received_total Total number of RPC stream messages received on "
        "the server.\n# TYPE grpc_server_msg_received_total counter\n",
        "# HELP grpc_server_msg_sent_total Total number of gRPC stream messages sent by the "
        "server.\n# TYPE grpc_server_msg_sent_total counter\n",
        "# HELP grpc_server_handling_seconds Histogram of response latency (seconds) of gRPC that "
        "had been application-level handled by the server.\n"
        "# TYPE grpc_server_handling_seconds histogram\n",
    };
    text t = {0};
    for (int i = 0; i < 5; i++) {
        put(&t, "%s", heads[i]);
        pass p = {&t, i};
        ugrpc_server_foreach_method(a->src.srv, method_line, &p);
    }
    ugrpc_server_stats s;
    ugrpc_server_get_stats(a->src.srv, &s);
    put(&t,
        "# HELP ugrpc_connections_open Open client connections.\n"
        "# TYPE ugrpc_connections_open gauge\nugrpc_connections_open %llu\n",
        (unsigned long long)s.connections_open);
    put(&t,
        "# HELP ugrpc_connections_accepted_total Client connections accepted.\n"
        "# TYPE ugrpc_connections_accepted_total counter\n"
        "ugrpc_connections_accepted_total %llu\n",
        (unsigned long long)s.connections_accepted);
    put(&t,
        "# HELP ugrpc_streams_active Calls in progress.\n"
        "# TYPE ugrpc_streams_active gauge\nugrpc_streams_active %llu\n",
        (unsigned long long)s.calls_active);
    put(&t,
        "# HELP ugrpc_worker_queue_depth Jobs queued or running on the worker pool.\n"
        "# TYPE ugrpc_worker_queue_depth gauge\nugrpc_worker_queue_depth %llu\n",
        (unsigned long long)s.work_pending);
    put(&t,
        "# HELP ugrpc_received_bytes_total Bytes read from clients.\n"
        "# TYPE ugrpc_received_bytes_total counter\nugrpc_received_bytes_total %llu\n",
        (unsigned long long)s.bytes_in);
    put(&t,
        "# HELP ugrpc_sent_bytes_total Bytes written to clients.\n"
        "# TYPE ugrpc_sent_bytes_total counter\nugrpc_sent_bytes_total %llu\n",
        (unsigned long long)s.bytes_out);
    put(&t, "# HELP ugrpc_worker_queue_wait_seconds Time offloaded jobs waited for a worker "
            "thread.\n# TYPE ugrpc_worker_queue_wait_seconds histogram\n");
    histogram(&t, "ugrpc_worker_queue_wait_seconds", "", ugrpc_wait_bounds, UGRPC_WAIT_BUCKETS,
              s.work_wait, s.work_wait_sum);
    put(&t, "# HELP ugrpc_goaways_sent_total Final GOAWAY frames sent to clients, by reason.\n"
            "# TYPE ugrpc_goaways_sent_total counter\n");
    for (int r = 0; r < UGRPC_GOAWAY_REASONS; r++)
        put(&t, "ugrpc_goaways_sent_total{reason=\"%s\"} %llu\n", ugrpc_goaway_reason_name(r),
            (unsigned long long)s.goaways_sent[r]);
    if (a->src.svc_stats != NULL) service_metrics(&t, a->src.svc_stats);
    process_metrics(&t);
    *len = t.len;
    return t.p;
}

/* ---- connections ---- */

/* The admin state goes when its listener and last connection have. */
static void admin_release(todo_admin *a)
{
    if (--a->nconns == 0 && a->listener_closed) free(a);
}

static void refuse(todo_admin *a);

static void on_refused(uv_handle_t *h)
{
    todo_admin *a = h->data;
    a->refusing = 0;
    if (a->refuse_pending && !a->stopping) {
        a->refuse_pending = 0;
        refuse(a);
    }
    admin_release(a);
}

static void refuse(todo_admin *a)
{
    if (a->refusing) {
        a->refuse_pending = 1;
        return;
    }
    a->refusing = 1;
    a->nconns++;
    uv_tcp_init(a->loop, &a->refusal);
    a->refusal.data = a;
    (void)uv_accept((uv_stream_t *)&a->listener, (uv_stream_t *)&a->refusal);
    uv_close((uv_handle_t *)&a->refusal, on_refused);
}

static void on_handle_closed(uv_handle_t *h)
{
    admin_conn *c = h->data;
    if (--c->handles > 0) return;
    todo_admin *a = c->admin;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->resp);
    free(c);
    admin_release(a);
}

static void conn_close(admin_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the client's EOF (or the timer) closes the connection */
}

static void on_written(uv_write_t *req, int status)
{
    admin_conn *c = req->data;
    /* Half-close and let the client finish: closing with its unread bytes
     * still queued would reset the connection before it read the answer. */
    if (status < 0 || uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

static void respond(admin_conn *c, int code, const char *ctype, const char *body, size_t blen,
                    int head_only)
{
    const char *reason = code == 200   ? "OK"
                         : code == 400 ? "Bad Request"
                         : code == 404 ? "Not Found"
                         : code == 405 ? "Method Not Allowed"
                         : code == 431 ? "Request Header Fields Too Large"
                                       : "Service Unavailable";
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason, ctype, blen);
    size_t total = (size_t)n + (head_only ? 0 : blen);
    c->resp = malloc(total);
    if (c->resp == NULL) {
        conn_close(c);
        return;
    }
    memcpy(c->resp, head, (size_t)n);
    if (!head_only && blen) memcpy(c->resp + n, body, blen);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)total);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) conn_close(c);
}

static void serve(admin_conn *c, const char *path, int head_only)
{
    todo_admin *a = c->admin;
    if (strcmp(path, "/metrics") == 0) {
        size_t len;
        char *body = render_metrics(a, &len);
        respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", body ? body : "",
                body ? len : 0, head_only);
        free(body);
    } else if (strcmp(path, "/healthz") == 0) {
        respond(c, 200, "text/plain", "ok\n", 3, head_only);
    } else if (strcmp(path, "/readyz") == 0) {
        int ready = a->src.ready == NULL || a->src.ready(a->src.ready_data);
        respond(c, ready ? 200 : 503, "text/plain", ready ? "ready\n" : "not ready\n",
                ready ? 6 : 10, head_only);
    } else {
        respond(c, 404, "text/plain", "not found\n", 10, head_only);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    admin_conn *c = h->data;
    (void)suggested;
    /* After the answer, whatever else arrives is read into the same space and
     * dropped. */
    if (c->resp != NULL) c->len = 0;
    *buf = uv_buf_init(c->req + c->len, (unsigned)(MAX_REQUEST - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    admin_conn *c = s->data;
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (c->resp != NULL) return; /* answered: draining until EOF */
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    const char *path = NULL;
    int head_only = 0;
    int code = todo_admin_parse(c->req, c->len, MAX_REQUEST, &path, &head_only);
    if (code == 0) return; /* wait for the rest */
    if (code == 200)
        serve(c, path, head_only);
    else
        respond(c, code, "text/plain", "bad request\n", 12, 0);
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_connection(uv_stream_t *l, int status)
{
    todo_admin *a = l->data;
    if (status < 0) return;
    admin_conn *c = a->nconns - a->refusing < MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL) {
        refuse(a);
        return;
    }
    c->admin = a;
    c->tcp.data = c->timer.data = c;
    uv_tcp_init(a->loop, &c->tcp);
    uv_timer_init(a->loop, &c->timer);
    c->handles = 2;
    a->nconns++;
    c->next = a->conns;
    if (a->conns) a->conns->prev = c;
    a->conns = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, READ_TIMEOUT, 0);
}

static void on_listener_closed(uv_handle_t *h);

todo_admin *todo_admin_start(uv_loop_t *loop, const char *host, int port,
                             const todo_admin_source *src)
{
    todo_admin *a = calloc(1, sizeof(*a));
    if (a == NULL) return NULL;
    a->loop = loop;
    a->src = *src;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        free(a);
        return NULL;
    }
    uv_tcp_init(loop, &a->listener);
    a->listener.data = a;
    int rv = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0);
    if (rv == 0) rv = uv_listen((uv_stream_t *)&a->listener, 64, on_connection);
    if (rv != 0) {
        todo_log(UGRPC_LOG_ERROR, "admin endpoint: listen on %s:%d: %s", host, port,
                 uv_strerror(rv));
        a->listener_closed = 0;
        uv_close((uv_handle_t *)&a->listener, on_listener_closed);
        return NULL;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    uv_tcp_getsockname(&a->listener, (struct sockaddr *)&bound, &blen);
    a->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return a;
}

int todo_admin_port(const todo_admin *a)
{
    return a->port;
}

static void on_listener_closed(uv_handle_t *h)
{
    todo_admin *a = h->data;
    a->listener_closed = 1;
    if (a->nconns == 0) free(a);
}

void todo_admin_stop(todo_admin *a)
{
    if (a == NULL || a->stopping) return;
    a->stopping = 1;
    for (admin_conn *c = a->conns; c != NULL; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&a->listener, on_listener_closed);
}
