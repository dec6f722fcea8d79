/*
 * Fuzz target: protobuf decoding of every request type the server accepts
 * (todo-api's grpc.Todos requests, grpc.health.v1, grpc.reflection v1 and
 * v1alpha), through a per-call arena exactly as call.c decodes them.
 *
 * Input: one byte choosing the type, then the encoded message. A message
 * that decodes is packed again; the packed size must match what was
 * written, and decoding that must give the same bytes once more (a
 * canonical round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "todos.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const types[] = {
    &grpc__request__descriptor,
    &grpc__create_todo_request__descriptor,
    &grpc__get_todo_request__descriptor,
    &grpc__update_todo_request__descriptor,
    &grpc__delete_todo_request__descriptor,
    &grpc__list_todos_request__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__reflection__v1__server_reflection_request__descriptor,
    &grpc__reflection__v1alpha__server_reflection_request__descriptor,
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len ? *len : 1);
    if (p == NULL) abort();
    if (protobuf_c_message_pack(m, p) != *len) abort();
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const ProtobufCMessageDescriptor *desc = types[data[0] % NTYPES];
    data++;
    size--;
    /* A small inline chunk, like the call object's, so chunk chaining runs. */
    uint8_t inline_mem[256];
    ugrpc__arena arena;
    ugrpc__arena_init(&arena, inline_mem, sizeof(inline_mem));
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &arena.pb, size, data);
    if (m != NULL) {
        if (!protobuf_c_message_check(m)) abort();
        size_t len1, len2;
        uint8_t *p1 = pack(m, &len1);
        /* protobuf-c keeps an unknown field with an overlong-encoded tag of
         * field number 0 and re-packs it in a form it then refuses (found by
         * this target; corpus/proto/regress-*). The server never re-encodes a
         * request, so such a message only ends the round trip here. */
        ProtobufCMessage *again = protobuf_c_message_unpack(desc, &arena.pb, len1, p1);
        if (again != NULL) {
            uint8_t *p2 = pack(again, &len2);
            if (len1 != len2 || memcmp(p1, p2, len1) != 0) abort();
            free(p2);
            /* Messages live in the arena: freeing them is the arena's reset,
             * but free_unpacked through the arena allocator must be harmless. */
            protobuf_c_message_free_unpacked(again, &arena.pb);
        }
        free(p1);
    }
    ugrpc__arena_reset(&arena);
    return 0;
}
