/* Logging to stderr. */
#include "log.h"
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* Writes s as the body of a JSON string. */
static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void emit(ugrpc_log_level level, const char *msg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    if (json) {
        fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when,
                ts.tv_nsec / 1000000, names[level]);
        json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s.%03ldZ %-5s %s\n", when, ts.tv_nsec / 1000000, names[level], msg);
    }
}

void todo_log(ugrpc_log_level level, const char *fmt, ...)
{
    if (level > max_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    emit(level, line);
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
