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

#endif
