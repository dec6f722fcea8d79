/*
 * The todo store. The in-memory store lives on the loop thread and hands out
 * ready-made protobuf-c messages, so GetTodos replies without copying.
 */
#ifndef TODO_STORE_H
#define TODO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "todos.pb-c.h"

typedef struct todo_memstore {
    Grpc__Response__Todo **items; /* owned, each with owned strings */
    size_t count, cap;
} todo_memstore;

/* Creates an empty store. Returns 0 or -1 (out of memory). */
int todo_memstore_init(todo_memstore *s);
void todo_memstore_free(todo_memstore *s);

/* Adds a todo with a fresh ObjectId-style id (24 hex digits). The strings
 * are copied. Returns 0 or -1 (out of memory). */
int todo_memstore_add(todo_memstore *s, const char *title, const char *tag, int32_t priority);

/* Seeds the original service's seed document: title "Add my todos", tag
 * "default", priority 1. */
int todo_memstore_seed(todo_memstore *s);

/* Writes a new 24-hex-digit ObjectId (4-byte time, 5 random bytes, 3-byte
 * counter, as MongoDB makes them) into out[25]. */
void todo_object_id(char out[25]);

#endif
