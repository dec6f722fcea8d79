/* todo-api logging: one line per event on stderr, as text or JSON. */
#ifndef TODO_LOG_H
#define TODO_LOG_H

#include "ugrpc.h"

/* Sets the format ("text" or "json") and the least severe level logged
 * ("error", "warn", "info", "debug"). Unknown names keep the defaults. */
void todo_log_setup(const char *format, const char *level);

/* The current level, for ugrpc_server_options.log_level. */
ugrpc_log_level todo_log_level(void);

void todo_log(ugrpc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A ugrpc_log_fn that forwards the library's lines (data unused). */
void todo_log_hook(ugrpc_log_level level, const char *msg, void *data);

/* The access log: one line per call (ACCESS_LOG, ACCESS_LOG_SAMPLE), in the
 * format of the other lines, independent of LOG_LEVEL. Loop thread only.
 * Lines are gathered and written once per loop turn, before the loop waits
 * for I/O (a uv_prepare handle), not with one write(2) each. */
typedef struct todo_access_log {
    int on;
    unsigned sample; /* log 1 in `sample` OK calls; other codes always */
    uint64_t seen;   /* OK calls seen, for sampling */
    int started;     /* batching through `prepare` */
    uv_prepare_t prepare;
    size_t len;
    char buf[32768];
} todo_access_log;

/* Sets the access log up on `loop` (batching only when on). */
void todo_access_log_start(todo_access_log *al, uv_loop_t *loop, int on, unsigned sample);
/* Writes what is gathered and closes the handle (at shutdown); later lines
 * are written at once. */
void todo_access_log_stop(todo_access_log *al);

/* A ugrpc_call_done_fn; data is the todo_access_log. */
void todo_access_log_hook(const ugrpc_call *call, const ugrpc_call_info *info, void *data);

#endif
