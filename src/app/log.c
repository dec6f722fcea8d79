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

/* Appends an ASCII string that needs no escaping; like add() without printf. */
static void lit(line *l, const char *s)
{
    size_t n = strlen(s), room = sizeof(l->buf) - 8 - l->len;
    if (l->len > sizeof(l->buf) - 8) return;
    if (n > room) n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Appends v in decimal, zero-padded to at least `width` digits. */
static void num(line *l, uint64_t v, int width)
{
    char t[24];
    int i = 0;
    do {
        t[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || i < width);
    if (l->len + (size_t)i > sizeof(l->buf) - 8) return;
    while (i > 0)
        l->buf[l->len++] = t[--i];
}

/* Starts a line with the timestamp and level (and opens "msg" in JSON). */
static void start(line *l, ugrpc_log_level level)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* The calendar part changes once a second: format it then only. */
    static _Thread_local time_t last_sec = -1;
    static _Thread_local char when[32];
    if (ts.tv_sec != last_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        last_sec = ts.tv_sec;
    }
    static const char *const padded[] = {"error ", "warn  ", "info  ", "debug "};
    l->len = 0;
    if (json) lit(l, "{\"ts\":\"");
    lit(l, when);
    lit(l, ".");
    num(l, (uint64_t)ts.tv_nsec / 1000000, 3);
    if (json) {
        lit(l, "Z\",\"level\":\"");
        lit(l, names[level]);
        lit(l, "\",\"msg\":\"");
    } else {
        lit(l, "Z ");
        lit(l, padded[level]);
    }
}

static void write_all(const char *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(STDERR_FILENO, p + off, len - off);
        if (n <= 0) break; /* nowhere to report a failing stderr */
        off += (size_t)n;
    }
}

/* Closes the line. */
static void end(line *l)
{
    if (l->len > sizeof(l->buf) - 3) l->len = sizeof(l->buf) - 3;
    if (json) l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
}

static void finish(line *l)
{
    end(l);
    write_all(l->buf, l->len);
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

static void flush(todo_access_log *al)
{
    write_all(al->buf, al->len);
    al->len = 0;
}

static void on_prepare(uv_prepare_t *h)
{
    todo_access_log *al = h->data;
    if (al->len) flush(al);
}

void todo_access_log_start(todo_access_log *al, uv_loop_t *loop, int on, unsigned sample)
{
    al->on = on;
    al->sample = sample ? sample : 1;
    al->seen = 0;
    al->len = 0;
    al->started = 0;
    if (!on || uv_prepare_init(loop, &al->prepare) != 0) return;
    al->prepare.data = al;
    if (uv_prepare_start(&al->prepare, on_prepare) == 0) {
        uv_unref((uv_handle_t *)&al->prepare); /* never what keeps the loop running */
        al->started = 1;
    } else {
        uv_close((uv_handle_t *)&al->prepare, NULL);
    }
}

void todo_access_log_stop(todo_access_log *al)
{
    if (al->len) flush(al);
    if (!al->started) return;
    al->started = 0;
    uv_close((uv_handle_t *)&al->prepare, NULL);
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
    uint64_t us = info->duration_ns / 1000;
    /* Hand-formatted: this runs once per call. */
    line l;
    start(&l, UGRPC_LOG_INFO);
    lit(&l, json ? "access\",\"method\":\"" : "access ");
    add_str(&l, path ? path : "");
    lit(&l, json ? "\",\"code\":\"" : " ");
    lit(&l, ugrpc_status_name(info->code));
    lit(&l, json ? "\",\"duration_ms\":" : " ");
    num(&l, us / 1000, 1);
    lit(&l, ".");
    num(&l, us % 1000, 3);
    lit(&l, json ? ",\"peer\":\"" : "ms peer=");
    lit(&l, peer);
    lit(&l, json ? "\",\"bytes_in\":" : " in=");
    num(&l, info->bytes_in, 1);
    lit(&l, json ? ",\"bytes_out\":" : " out=");
    num(&l, info->bytes_out, 1);
    if (json && al->sample > 1) {
        lit(&l, ",\"sample\":");
        num(&l, al->sample, 1);
    }
    if (!al->started) {
        finish(&l);
        return;
    }
    /* Batched: written before the loop next waits for I/O. */
    end(&l);
    if (al->len + l.len > sizeof(al->buf)) flush(al);
    memcpy(al->buf + al->len, l.buf, l.len);
    al->len += l.len;
}
