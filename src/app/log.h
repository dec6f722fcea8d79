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
 * format of the other lines, independent of LOG_LEVEL. Loop thread only. */
typedef struct todo_access_log {
    int on;
    unsigned sample; /* log 1 in `sample` OK calls; other codes always */
    uint64_t seen;   /* OK calls seen, for sampling */
} todo_access_log;

void todo_access_log_init(todo_access_log *al, int on, unsigned sample);

/* A ugrpc_call_done_fn; data is the todo_access_log. */
void todo_access_log_hook(const ugrpc_call *call, const ugrpc_call_info *info, void *data);

#endif
