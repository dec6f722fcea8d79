/* Logging to stderr, and the access log. */
#include "log.h"
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int json;
static ugrpc_log_level max_level = UGRPC_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void todo_log_setup(const char *format, const char *level)
{
    json = format != NULL && strcmp(format, "json") == 0;
    for (int i = 0; i < 4; i++)
        if (level != NULL && strcmp(level, names[i]) == 0) max_level = (ugrpc_log_level)i;
}

ugrpc_log_level todo_log_level(void)
{
    return max_level;
}

/* A line being built; written with one write(2) so lines from this process
 * never interleave and stderr's lack of buffering costs one syscall. */
typedef struct line {
    char buf[2048];
    size_t len;
} line;

static void add(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(line *l, const char *fmt, ...)
{
    if (l->len >= sizeof(l->buf)) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
    va_end(ap);
    if (n > 0) l->len += (size_t)n;
    if (l->len > sizeof(l->buf) - 1) l->len = sizeof(l->buf) - 1; /* truncated */
}

/* Appends s: as the body of a JSON string, or (text) with control bytes
 * shown as '?'. Always leaves room for the closing of the line. */
static void add_str(line *l, const char *s)
{
    const size_t room = sizeof(l->buf) - 8;
    for (; *s && l->len < room; s++) {
        unsigned char c = (unsigned char)*s;
        if (!json)
            l->buf[l->len++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
        else if (c == '"' || c == '\\') {
            l->buf[l->len++] = '\\';
            l->buf[l->len++] = (char)c;
        } else if (c < 0x20)
            l->len += (size_t)snprintf(l->buf + l->len, 8, "\\u%04x", c);
        else
            l->buf[l->len++] = (char)c;
    }
}

/* Starts a line with the timestamp and level (and opens "msg" in JSON). */
static void start(line *l, ugrpc_log_level level)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    l->len = 0;
    if (json)
        add(l, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when, ts.tv_nsec / 1000000,
            names[level]);
    else
        add(l, "%s.%03ldZ %-5s ", when, ts.tv_nsec / 1000000, names[level]);
}

static void finish(line *l)
{
    if (l->len > sizeof(l->buf) - 3) l->len = sizeof(l->buf) - 3;
    if (json) l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    size_t off = 0;
    while (off < l->len) {
        ssize_t n = write(STDERR_FILENO, l->buf + off, l->len - off);
        if (n <= 0) break; /* nowhere to report a failing stderr */
        off += (size_t)n;
    }
}

static void emit(ugrpc_log_level level, const char *msg)
{
    line l;
    start(&l, level);
    add_str(&l, msg);
    if (json) add(&l, "\"");
    finish(&l);
}

void todo_log(ugrpc_log_level level, const char *fmt, ...)
{
    if (level > max_level) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    emit(level, text);
}

void todo_log_hook(ugrpc_log_level level, const char *msg, void *data)
{
    (void)data;
    if (level <= max_level) emit(level, msg);
}

void todo_store_log(int level, const char *domain, const char *msg)
{
    todo_log((ugrpc_log_level)level, "%s: %s", domain, msg);
}

/* ---- access log ---- */

void todo_access_log_init(todo_access_log *al, int on, unsigned sample)
{
    al->on = on;
    al->sample = sample ? sample : 1;
    al->seen = 0;
}

void todo_access_log_hook(const ugrpc_call *call, const ugrpc_call_info *info, void *data)
{
    todo_access_log *al = data;
    if (!al->on) return;
    /* 1 in `sample` successful calls (the first, then every sample-th);
     * every error. */
    if (info->code == UGRPC_STATUS_OK && al->seen++ % al->sample != 0) return;
    char peer[64];
    if (ugrpc_call_peer(call, peer, sizeof(peer)) < 0) snprintf(peer, sizeof(peer), "-");
    const char *path = ugrpc_call_path(call);
    double ms = (double)info->duration_ns / 1e6;
    line l;
    start(&l, UGRPC_LOG_INFO);
    if (json) {
        add(&l, "access\",\"method\":\"");
        add_str(&l, path ? path : "");
        add(&l,
            "\",\"code\":\"%s\",\"duration_ms\":%.3f,\"peer\":\"%s\",\"bytes_in\":%llu,"
            "\"bytes_out\":%llu",
            ugrpc_status_name(info->code), ms, peer, (unsigned long long)info->bytes_in,
            (unsigned long long)info->bytes_out);
        if (al->sample > 1) add(&l, ",\"sample\":%u", al->sample);
    } else {
        add(&l, "access ");
        add_str(&l, path ? path : "");
        add(&l, " %s %.3fms peer=%s in=%llu out=%llu", ugrpc_status_name(info->code), ms, peer,
            (unsigned long long)info->bytes_in, (unsigned long long)info->bytes_out);
    }
    finish(&l);
}
