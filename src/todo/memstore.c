/* The in-memory todo store. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int todo_memstore_init(todo_memstore *s)
{
    memset(s, 0, sizeof(*s));
    return 0;
}

static void free_todo(Grpc__Response__Todo *t)
{
    free(t->id);
    free(t->title);
    free(t->tag);
    free(t);
}

void todo_memstore_free(todo_memstore *s)
{
    for (size_t i = 0; i < s->count; i++)
        free_todo(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

void todo_object_id(char out[25])
{
    static uint8_t process_random[5];
    static uint32_t counter;
    static int ready;
    if (!ready) {
        uint8_t seed[8];
        if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
            uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&seed;
            memcpy(seed, &t, sizeof(seed));
        }
        memcpy(process_random, seed, 5);
        counter = (uint32_t)seed[5] << 16 | (uint32_t)seed[6] << 8 | seed[7];
        ready = 1;
    }
    uint32_t t = (uint32_t)time(NULL);
    uint32_t c = counter++ & 0xFFFFFFu;
    snprintf(out, 25, "%08x%02x%02x%02x%02x%02x%06x", t, process_random[0], process_random[1],
             process_random[2], process_random[3], process_random[4], c);
}

int todo_memstore_add(todo_memstore *s, const char *title, const char *tag, int32_t priority)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        Grpc__Response__Todo **items = realloc(s->items, cap * sizeof(*items));
        if (items == NULL) return -1;
        s->items = items;
        s->cap = cap;
    }
    Grpc__Response__Todo *t = malloc(sizeof(*t));
    if (t == NULL) return -1;
    grpc__response__todo__init(t);
    char id[25];
    todo_object_id(id);
    t->id = strdup(id);
    t->title = strdup(title);
    t->tag = strdup(tag);
    t->priority = priority;
    if (t->id == NULL || t->title == NULL || t->tag == NULL) {
        free_todo(t);
        return -1;
    }
    s->items[s->count++] = t;
    return 0;
}

int todo_memstore_seed(todo_memstore *s)
{
    return todo_memstore_add(s, "Add my todos", "default", 1);
}
